"""The guided tour's nine steps: what each says in plain words, and the live computation it runs on the real window.

A step's ``run(tour)`` is a generator: it drives the window through the tabs' public methods and
yields a wait (``tour.awaiting(event)`` or ``tour.until(condition)``) whenever a computation runs
in the background; the tour resumes it with the result, and ``tour.say`` puts what came out in
the panel ("It now says 3"). A step that finds what it needs already done (the blind spot of the
step before) uses it instead of computing it again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import Qt

from blindspot_gui.core.attack.goal import Goal

from blindspot_gui.qt.tabs.results import NOISE_DRAWS
from blindspot_gui.qt.transfer_view import ATTACKED

PLAIN_NETWORK = "FC100-100-10"
ROBUST_NETWORK = "FC100-100-10 (adversarial)"
PHOTO_NETWORK = "EfficientNet-Lite0"
PHOTO_SAMPLE = "Espresso"
PHOTO_TARGET = "ostrich"
TOUR_DIGIT = 0
"""MNIST test image 0, a 7: FC100-100-10 takes it for a 3 after a change of RMS 0.027; the adversarially trained
FC100-100-10 needs 0.061 (the same for every seed of the search)."""
CONFIDENT = 0.9
"""The goal of the transfer step: a change after which the network is 90% sure of the wrong answer."""


class StepFailed(Exception):
    """A step's computation could not be done; the message says what happened and what to try."""


@dataclass(frozen=True)
class Step:
    """One page of the tour: its title, two or three plain sentences, and its live computation."""

    title: str
    text: str
    run: Callable


# --- what the steps share ------------------------------------------------------------------------------------------
def use_network(tour, name: str):
    """Make ``name`` the network of the blind-spot tab (loading it if need be)."""
    view = tour.view
    tour.window.tabs.setCurrentWidget(view)
    if not view.network_panel.is_available(name) and view.is_running("catalogue"):
        tour.say("Looking for the photo networks…")  # their weights are known once this start-up look is done
        yield tour.until(lambda: not view.is_running("catalogue"))
    if not view.network_panel.is_available(name):
        raise StepFailed(f"{name} has no weights on this computer, so this step cannot run. Choose it in the "
                         "Networks list to see how to get them, or press Next to go on.")
    if view.network_name != name:
        view.network_panel.select(name, announce=False)
        view.select_network(name)
        yield tour.until(lambda: view.network_name == name and not view.is_running("network"))


def answer(view) -> tuple[str, float]:
    """What the network in use says of the image shown, and how sure it is."""
    probabilities = view.original_probabilities
    best = int(probabilities.argmax())
    return view.classifier.class_name(best), float(probabilities[best])


def show_digit(tour, network: str, index: int):
    """Test digit ``index`` with ``network``, once the network has answered: (its answer, its confidence)."""
    yield from use_network(tour, network)
    view = tour.view
    if view.choice is None or view.choice.index != index:
        view.image_source.choose_index(index)
    yield tour.until(lambda: view.choice is not None and view.choice.index == index
                     and view.original_probabilities is not None)
    return answer(view)


def set_goal(view, confidence: float | None) -> None:
    """The paper's smallest change (None), or a change after which the network is that sure of the wrong answer."""
    if hasattr(view.search_panel, "choose_goal"):  # the Confident goal (issue 15, item 1)
        view.search_panel.choose_goal(Goal(confidence=confidence))


def search(tour, target, confidence: float | None = None, compare_goals: bool = True):
    """Run the tab's search for ``target`` and wait for it: the result, once it fools the network (``compare_goals``
    off: a confident goal is searched alone, without the smallest change first)."""
    view = tour.view
    view.search_panel.choose(target)
    set_goal(view, confidence)
    finished = tour.awaiting("search")
    view.run_search(compare_goals)
    result = yield finished
    if result.cancelled or not result.success or result.distortion == 0:
        raise StepFailed("The search ended without fooling the network"
                         + (" (it was cancelled)" if result.cancelled else f": {result.message}")
                         + ". Press Back and Next to run this step again, or Next to go on.")
    tour.remember(result, confidence)
    return result


def blind_spot(tour):
    """The smallest change that fools FC100-100-10 on the tour's digit: the one shown if it is that, else a new one."""
    yield from show_digit(tour, PLAIN_NETWORK, TOUR_DIGIT)
    view = tour.view
    if view.is_running("search"):
        yield tour.until(lambda: not view.is_running("search"))
    known = tour.recalled(PLAIN_NETWORK, view.choice.source, None)
    if known is not None and view.result is known:
        return known
    return (yield from search(tour, "none"))


def said(view, result) -> tuple[str, float]:
    after = int(result.adversarial_prediction)
    return view.classifier.class_name(after), float(result.probabilities_after[after])


# --- the steps -------------------------------------------------------------------------------------------------------
def right_answer(tour):
    name, confidence = yield from show_digit(tour, PLAIN_NETWORK, TOUR_DIGIT)
    label = tour.view.choice.label
    verdict = "right" if name == str(label) else f"wrong: it is a {label}"
    tour.say(f"It says “{name}”, {confidence:.0%} sure: {verdict}.")


def its_blind_spot(tour):
    yield from show_digit(tour, PLAIN_NETWORK, TOUR_DIGIT)
    label = tour.view.choice.label
    tour.say("Searching for the smallest change that fools it…")
    result = yield from search(tour, "none")
    after, confidence = said(tour.view, result)
    factor = tour.view.viewer.magnification_factor
    magnified = f"magnified ×{factor}" if factor else "magnified until it can be seen"
    tour.say(f"It now says “{after}” ({confidence:.0%} sure), though we still see a {label}. The change (middle, "
             f"{magnified}) is {100 * result.distortion:.1f}% of full brightness on average.")


def noise_of_same_size(tour):
    yield from blind_spot(tour)
    box = tour.view.search_panel.noise
    shown = tour.awaiting("noise")
    if box.isChecked():
        box.setChecked(False)
    box.setChecked(True)
    tour.say(f"Adding {NOISE_DRAWS} random changes of the same size…")
    rate = yield shown
    fooled = round(rate * NOISE_DRAWS)
    tour.say(f"Random noise of the same size fooled it {fooled} times out of {NOISE_DRAWS} (right-hand picture): "
             "the blind spot is one very particular direction.")


def transfer_rows(view) -> tuple[int, int]:
    """(networks fooled, other networks asked) in the transfer table."""
    table = view.transfer_view.table
    others = [row for row in range(table.rowCount()) if not table.item(row, 0).data(ATTACKED)]
    return sum(table.item(row, 3).text() == "yes" for row in others), len(others)


def other_networks(tour):
    yield from blind_spot(tour)
    view = tour.view
    tour.say(f"Searching for a change that makes it {CONFIDENT:.0%} sure of the wrong answer, then showing it to "
             "the other networks…")
    result = yield from search(tour, "none", CONFIDENT if hasattr(view.search_panel, "choose_goal") else None)
    yield tour.until(lambda: view.transfer_view.table.rowCount() > 0)
    fooled, asked = transfer_rows(view)
    tour.say(f"A change of {100 * result.distortion:.1f}% of full brightness, still hard to see, fools {fooled} of "
             f"the {asked} other digit networks too (the table, bottom right).")


def sample_path(view, label: str) -> str:
    samples = view.photo_source.sample_list
    for row in range(samples.count()):
        if samples.item(row).text() == label:
            return samples.item(row).data(Qt.ItemDataRole.UserRole)
    raise StepFailed("The sample photos could not be read, so this step cannot run; press Next to go on.")


def photo_to_ostrich(tour):
    yield from use_network(tour, PHOTO_NETWORK)
    view = tour.view
    path = sample_path(view, PHOTO_SAMPLE)
    if view.choice is None or view.choice.path != path:
        view.photo_source.open_path(path)
    yield tour.until(lambda: view.choice is not None and view.choice.path == path
                     and view.original_probabilities is not None)
    before, _ = answer(view)
    tour.say(f"It says “{before}”. Searching for a small change after which it is {CONFIDENT:.0%} sure it sees "
             f"“{PHOTO_TARGET}”…")
    result = yield from search(tour, PHOTO_TARGET, CONFIDENT, compare_goals=False)
    after, confidence = said(view, result)
    tour.say(f"It now says “{after}” ({confidence:.0%} sure) for the espresso, yet no pixel moved by more than "
             f"{255 * result.linf:.0f} of 255 brightness levels.")


def explorer_on(tour, name: str):
    """The unit explorer, shown, with ``name`` loaded."""
    explorer = tour.window.unit_explorer
    tour.window.tabs.setCurrentWidget(explorer)
    if explorer.model.findText(name) < 0:
        raise StepFailed(f"{name} has no weights on this computer, so this step cannot run; press Next to go on.")
    if explorer.model.currentText() != name:
        explorer.model.setCurrentText(name)
    yield tour.until(lambda: explorer.network is not None and bool(explorer.layer.currentText()))
    return explorer


def units_quiz(tour):
    explorer = yield from explorer_on(tour, PLAIN_NETWORK)
    shown = tour.awaiting("rows")
    explorer.start_quiz()
    tour.say("Ranking the 10,000 test digits…")
    yield shown
    tour.say(f"Each row: the digits that most excite one direction of layer “{explorer.layer.currentText()}”. "
             "Which rows are single units? Vote, then press Next.")


def reveal(tour):
    explorer = yield from explorer_on(tour, PLAIN_NETWORK)
    explorer.reveal()
    compared = tour.awaiting("statistics")
    explorer.compare_purity()
    tour.say("Measuring many units against as many random directions…")
    summary = yield compared
    units, randoms = summary["unit_purity"], summary["random_purity"]
    if abs(units - randoms) < 0.05:
        verdict = "about the same: the meaning is spread over the whole layer, as the paper found."
    elif units > randoms:
        verdict = ("units a little more alike here; Bau et al. (2017) found the same in photo networks, the paper "
                   "the opposite.")
    else:
        verdict = "random directions even more alike: the meaning is in the whole layer, not in single units."
    tour.say(f"How often a row's digits agree: units {units:.0%}, random directions {randoms:.0%} — {verdict}")


def adversarial_training(tour):
    plain = tour.recalled(PLAIN_NETWORK, f"MNIST test image {TOUR_DIGIT}", None)
    if plain is None:
        yield from show_digit(tour, PLAIN_NETWORK, TOUR_DIGIT)
        tour.say(f"First the smallest change that fools {PLAIN_NETWORK}…")
        plain = yield from search(tour, "none")
    yield from show_digit(tour, ROBUST_NETWORK, TOUR_DIGIT)
    tour.say(f"Now the same search against {ROBUST_NETWORK}…")
    robust = yield from search(tour, "none")
    tour.say(f"Fooling it takes a change of {100 * robust.distortion:.1f}% instead of {100 * plain.distortion:.1f}% "
             f"— {robust.distortion / plain.distortion:.1f} times larger. Harder to find, but still there.")


def your_turn(tour):
    index = random.randrange(len(tour.window.test_set))
    name, confidence = yield from show_digit(tour, PLAIN_NETWORK, index)
    tour.say(f"Here is test digit {index}, a {tour.view.choice.label}: it says “{name}” ({confidence:.0%}). Press "
             "Space to find its blind spot.")


STEPS = (
    Step("A digit it gets right",
         "This handwritten digit comes from the test set: the network never saw it while it learned from 60,000 "
         "others. Watch what it answers.", right_answer),
    Step("Its blind spot",
         "Now we look for the smallest change to the picture that fools the network. The middle picture shows "
         "that change, magnified so you can see it; on the right is the changed picture.", its_blind_spot),
    Step("Random noise does not fool it",
         "Is any small change enough? We add random noise of exactly the same size, a hundred times over.",
         noise_of_same_size),
    Step("It fools other networks too",
         "The same changed picture goes to ten other networks: different sizes, some trained on other digits. "
         "We make the change just large enough for the network to be sure of its mistake.", other_networks),
    Step("A photo becomes an ostrich",
         "Photo networks have blind spots too. We ask for a change too small to see after which this one is "
         "90% sure it sees an ostrich in a cup of coffee, as the paper did.", photo_to_ostrich),
    Step("Units or random directions? A quiz",
         "Inside the network, do single units (neurons) stand for something, like “round digits”? Some rows "
         "follow one unit, the others a random mix of all units; the labels are hidden.", units_quiz),
    Step("The answer",
         "Here are the labels, and a count over many rows: how often the digits of a row share one label.",
         reveal),
    Step("Training on blind spots",
         "This network learned from changed pictures like these as well as from the digits. How much larger must "
         "the change be now?", adversarial_training),
    Step("Your turn",
         "Choose any network on the left and any digit or photo, and press Space. The Experiments tab reruns the "
         "paper's tables; F1 brings this tour back.", your_turn),
)
