"""What the Blind spots view is looking at, Qt-free: network, image, its answer, goal, results; the window renders it.

One :class:`BlindspotSession` owns the state the tab used to keep in widget attributes: the
network in use (its Classifier says whether it is a photo or a digit network), the image, the
network's answer for it, the device, the search goal and the noise control, the results of each
goal for the image, and the result on screen. Each change raises a plain event (psygnal), and
whatever a change makes stale goes with it: a new network or image clears the answer and the
result, and a new goal the result, so no view can show a result of another image or goal. Searches are built from the same
:class:`SearchRequest` policy the command line uses, the confident chain included.
"""

from __future__ import annotations

import random

import numpy as np
from psygnal import Signal

from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.core.attack.request import SearchRequest
from blindspot_gui.core.attack.search import AttackResult
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.session.goals import GoalResults, failure_advice
from blindspot_gui.session.image import ImageChoice


class BlindspotSession:
    """The Blind spots view's state and its rules (see the module docstring)."""

    network_changed = Signal(str, object)
    """(name, Classifier): the network in use changed (its answer and any result are gone)."""
    image_changed = Signal(object)
    """the ImageChoice on screen changed (its answer and any result are gone)."""
    answer_changed = Signal(object)
    """the network's probabilities for the image, or None while it is being asked."""
    result_changed = Signal(object)
    """the AttackResult on screen, or None: cleared, or another network or image."""
    goal_changed = Signal(object)
    """the search goal (a Goal: the smallest change, a Confident p or a Robust share of changed copies)."""
    noise_changed = Signal(bool)
    vote_changed = Signal(bool)
    device_changed = Signal(str)

    def __init__(self):
        self.network_name: str | None = None
        self.classifier: Classifier | None = None
        self.image: ImageChoice | None = None
        self.answer: np.ndarray | None = None
        self.result: AttackResult | None = None
        self.goal = Goal()
        self.noise = False
        self.vote = False
        """whether the Survival view shows the floating-window vote (core/defence.py) on the result."""
        self.device = "cpu"
        self.goals = GoalResults()
        self.searching: tuple | None = None
        """(network, image, requested target) of the search under way, the key of its results."""
        self.confident_next: SearchRequest | None = None
        """a confident or robust request whose smallest change is being searched first."""

    # --- what the user chooses -------------------------------------------------------------------
    def use_network(self, name: str, classifier: Classifier) -> None:
        self.network_name, self.classifier = name, classifier
        self.answer = None
        self.abandon_search()
        self.network_changed.emit(name, classifier)
        self.clear_result()

    def use_image(self, image: ImageChoice) -> None:
        self.image = image
        self.answer = None
        self.abandon_search()
        self.image_changed.emit(image)
        self.clear_result()

    def show_answer(self, probabilities: np.ndarray | None) -> None:
        self.answer = probabilities
        self.answer_changed.emit(probabilities)

    def set_goal(self, goal: Goal) -> None:
        """The goal of the next search: a result on screen found for another goal goes with it (its views would
        describe a blind spot the window no longer asks for); each goal's last result stays known for the readout."""
        if goal != self.goal:
            self.goal = goal
            self.goal_changed.emit(goal)
            if self.result is not None:
                self.clear_result()

    def set_noise(self, on: bool) -> None:
        if on != self.noise:
            self.noise = on
            self.noise_changed.emit(on)

    def set_vote(self, on: bool) -> None:
        if on != self.vote:
            self.vote = on
            self.vote_changed.emit(on)

    def set_device(self, device: str) -> None:
        if device != self.device:
            self.device = device
            self.device_changed.emit(device)

    @property
    def is_digit_network(self) -> bool:
        """Whether the network in use classifies MNIST digits (its Classifier says; no network: digits)."""
        return self.classifier is None or self.classifier.is_digit_network

    def ready(self) -> bool:
        """A network and an image it can read."""
        return (self.classifier is not None and self.image is not None
                and self.image.fits(self.classifier.input_shape))

    # --- searches ------------------------------------------------------------------------------------
    def labels(self) -> list[int] | None:
        """The image's true label, for a digit network that knows it (a photo's label is not the network's)."""
        image = self.image
        return [image.label] if image.label is not None and self.is_digit_network else None

    def begin_search(self, target, compare: bool = True) -> SearchRequest | AttackResult:
        """Plan a search for ``target`` under the current goal: the request to run first, or the known result when
        a confident or robust goal is asked for an image whose smallest change already failed (nothing to search).
        ``compare``: such a goal searches the smallest change first, to show both (else that goal alone)."""
        request = SearchRequest(target=target, confidence=self.goal.confidence, robust=self.goal.robust,
                                seed=random.randrange(2**31))
        self.clear_result()
        self.searching, self.confident_next = (self.network_name, self.image, target), None
        if not request.confident:
            return request
        minimal = self.goals.get("minimal", *self.searching)
        if minimal is None:
            self.confident_next = request if compare else None
            return request.minimal() if compare else request
        following = request.after_minimal(minimal)
        if following is None:
            self.show_result(minimal)
            return minimal
        return following

    def finish_search(self, result: AttackResult) -> tuple[AttackResult, str, SearchRequest | None]:
        """A search ended: (the result to show, a note when it is not the one asked for, the next stage or None).

        A confident or robust search that found nothing leaves the smallest change on screen (with the advice why);
        the smallest change of such a chain is followed by the search of that goal for the same answer.
        """
        self.goals.remember(*self.searching, result)
        shown, note = result, ""
        minimal = self.goals.get("minimal", *self.searching)
        if result.goal != "minimal" and not result.success and not result.cancelled and minimal and minimal.success:
            shown = minimal
            what = "digit" if self.is_digit_network else "photo"
            note = failure_advice(result, self.classifier.class_name, what)
        chained, self.confident_next = self.confident_next, None
        following = chained.after_minimal(result) if chained is not None else None
        self.show_result(shown)
        return shown, note, following

    @property
    def result_network(self) -> str | None:
        """The network the result on screen was found for (a new network clears the result)."""
        return self.network_name if self.result is not None else None

    def show_result(self, result: AttackResult | None) -> None:
        self.result = result
        self.result_changed.emit(result)

    def clear_result(self) -> None:
        """No result on screen."""
        self.show_result(None)

    def abandon_search(self) -> None:
        self.searching, self.confident_next = None, None

    def known(self, goal: str) -> AttackResult | None:
        """The last finished ``goal`` result for the network, image and target of the search shown."""
        return self.goals.get(goal, *self.searching) if self.searching is not None else None

    def compare_target(self, chosen):
        """The target to compare methods on: the search's shown (the answer it reached), else ``chosen``."""
        if self.result is not None:
            return "none" if self.result.target is None else self.result.target
        return chosen
