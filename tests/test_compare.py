"""Compare methods on one image: the core on real MNIST digits and FC100-100-10, the `blindspot compare` command, and the
window's dialog driven through its button, Cancel, Close and a network switch."""

import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication
from torch import nn

from blindspot_gui import api
from blindspot_gui.cli import main
from blindspot_gui.core.attack.compare import (
    DIGIT_BUDGETS,
    METHODS,
    NAMES,
    PHOTO_BUDGETS,
    Budgets,
    budgets_for,
    compare_methods,
)
from blindspot_gui.core.attack.search import distortion_measures
from blindspot_gui.core.models.classifier import as_classifier
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.qt.compare_view import DESIGN_SIZE, LARGEST_TEXT
from cut_text import cut_texts
from blindspot_gui.core.attack.goal import Goal

QUICK = Budgets(fgsm_grid=12, fgsm_bisections=10, deepfool_steps=20, ddn_steps=100, cw_searches=5, cw_steps=300)
"""Small budgets, so that a comparison on a digit takes a fraction of a second."""
SLOW_CW = Budgets(fgsm_grid=12, fgsm_bisections=10, deepfool_steps=20, ddn_steps=100, cw_searches=9, cw_steps=1000)
"""Quick, but the published C&W (about 3 s on a digit): long enough to be cancelled in the middle."""
SEVEN = 0
"""MNIST test image 0: a 7, which FC100-100-10 reads correctly and with confidence."""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One PyTorch thread, as `blindspot` chooses on a busy two-core machine: these networks are small, and spinning
    threads that lost their core slow a search down many times (see core/threads.py); put back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    return api.load_mnist("test")


def answer(model, pixels) -> int:
    return int(model.probabilities(pixels).argmax())


def test_ours_finds_the_smallest_change_of_all_five_at_their_published_budgets(fc100, digits):
    images, labels = digits
    results = compare_methods(fc100, images[SEVEN], int(labels[SEVEN]))
    assert budgets_for(fc100) == DIGIT_BUDGETS
    assert [result.method for result in results] == list(METHODS)
    assert all(result.ran and result.success for result in results), [result.message for result in results]
    for result in results:
        assert answer(fc100, result.adversarial) == result.prediction != 7
        assert (result.distortion, result.l2, result.linf) == pytest.approx(distortion_measures(result.perturbation))
        assert np.allclose(result.adversarial - result.perturbation, images[SEVEN].numpy(), atol=1e-6)
        assert 0 <= result.adversarial.min() and result.adversarial.max() <= 1
    ours, fgsm, deepfool, ddn, cw = results
    # DDN and C&W at 1000 steps reach the same minimum as the exact search to within 1%; the one-step and the
    # linearised attacks stop further out.
    assert all(ours.distortion <= other.distortion * 1.01 for other in (fgsm, deepfool, ddn, cw))
    assert fgsm.distortion > 1.2 * ours.distortion and deepfool.distortion > 1.02 * ours.distortion
    assert cw.budget == "9 × 1000 steps" and ddn.budget == "1000 steps"


def test_each_finished_method_is_sent_at_once_and_the_bar_names_it(fc100, digits):
    images, _ = digits
    events, fractions = [], []

    def on_progress(fraction, message):
        fractions.append(fraction)
        events.append(("progress", message))

    monitor = Monitor(on_progress=on_progress, on_partial=lambda result: events.append(("partial", result.method)))
    compare_methods(fc100, images[1], None, "none", budgets=QUICK, monitor=monitor)
    partials = [index for index, (kind, _) in enumerate(events) if kind == "partial"]
    assert [events[index][1] for index in partials] == list(METHODS)
    for index, method in zip(partials, METHODS):  # after its own progress, before the next method's
        assert events[index - 1][1].startswith(NAMES[method])
        following = events[index + 1][1]
        assert following == "done" if method == METHODS[-1] else following.startswith(NAMES[METHODS[METHODS.index(method) + 1]])
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_chosen_target_is_reached_by_all_but_deepfool_which_says_why_it_did_not_run(fc100, digits):
    images, labels = digits
    results = {result.method: result for result in
               compare_methods(fc100, images[SEVEN], int(labels[SEVEN]), "next", budgets=QUICK)}
    deepfool = results.pop("deepfool")
    assert not deepfool.ran and not deepfool.success and deepfool.adversarial is None
    assert "nearest wrong class" in deepfool.message and "not run" in deepfool.message
    for result in results.values():
        assert result.success and result.target == 8 and answer(fc100, result.adversarial) == 8


def test_fgsm_is_at_its_smallest_fooling_step(fc100, digits):
    images, _ = digits
    fgsm, = compare_methods(fc100, images[SEVEN], None, methods=("fgsm",))
    original = images[SEVEN].numpy()
    assert answer(fc100, fgsm.adversarial) != 7
    assert answer(fc100, np.clip(original + 0.98 * fgsm.perturbation, 0, 1)) == 7
    assert fgsm.linf == pytest.approx(np.abs(fgsm.perturbation).max())


def test_cancel_stops_inside_a_foolbox_attack_within_a_tenth_of_a_second(fc100, digits):
    images, _ = digits
    cancelled_at = []

    def on_progress(fraction, message):
        if message.startswith("C&W L2: pass 300") and not cancelled_at:
            cancelled_at.append(time.perf_counter())
            monitor.cancel()

    monitor = Monitor(on_progress=on_progress)
    started = time.perf_counter()
    results = compare_methods(fc100, images[SEVEN], None, methods=("ours", "cw"), budgets=SLOW_CW, monitor=monitor)
    stopped = time.perf_counter()
    ours, cw = results
    assert ours.success and not ours.cancelled
    assert cancelled_at, "C&W never reached its 300th pass"
    assert cw.cancelled and not cw.success and cw.message == "cancelled"
    assert stopped - cancelled_at[0] < 0.1, f"C&W took {stopped - cancelled_at[0]:.3f} s to stop"
    assert stopped - started < 2.0  # far from the ~3 s of the whole 9 × 1000 steps


def test_without_foolbox_its_rows_say_so_and_ours_and_fgsm_still_run(fc100, digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "foolbox", None)  # `import foolbox` now fails as if it were not installed
    images, _ = digits
    results = compare_methods(fc100, images[SEVEN], None, budgets=QUICK)
    assert [result.success for result in results] == [True, True, False, False, False]
    for result in results[2:]:
        assert not result.ran and "foolbox could not be imported" in result.message


def test_a_target_the_network_already_answers_is_refused(fc100, digits):
    images, _ = digits
    with pytest.raises(ValueError, match="already answers '7'"):
        compare_methods(fc100, images[SEVEN], None, 7)


def test_a_colour_network_of_photo_size_gets_the_photo_budgets_and_all_methods_run():
    torch.manual_seed(0)
    network = nn.Sequential(nn.Flatten(), nn.Linear(3 * 64 * 64, 10))
    model = as_classifier(network, (3, 64, 64))
    image = torch.rand(3, 64, 64)
    assert budgets_for(model) == PHOTO_BUDGETS
    results = compare_methods(model, image, None, "none", budgets=QUICK)
    assert all(result.success for result in results), [result.message for result in results]
    assert all(result.adversarial.shape == (3, 64, 64) for result in results)
    assert results[1].budget == "1 gradient + 22 forward passes"


# --- the command line ----------------------------------------------------------------------------------
def test_cli_compare_prints_the_table_and_saves_8_bit_pngs_that_still_fool(fc100, tmp_path, capsys):
    out = tmp_path / "compared"
    assert main(["compare", "--model", "fc100-100-10", "--image", "test:0", "--methods", "ours,fgsm,ddn",
                 "--save", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MNIST test image 0 (a 7) through FC100-100-10, which says '7'; target the nearest wrong class" in printed
    header = next(line for line in printed.splitlines() if line.startswith("method"))
    assert header.split() == ["method", "budget", "fooled", "answer", "RMS", "×", "ours", "L2", "L∞", "time"]
    rows = {line.split("  ")[0]: line for line in printed.splitlines() if line.startswith(("Ours", "FGSM", "DDN"))}
    assert set(rows) == {"Ours: L-BFGS (the paper)", "FGSM (smallest ε)", "DDN"}
    assert " 1.00 " in rows["Ours: L-BFGS (the paper)"] and "1000 steps" in rows["DDN"]
    assert sorted(path.name for path in out.iterdir()) == ["ddn.png", "fgsm.png", "original.png", "ours.png"]
    for name in ("ours", "fgsm", "ddn"):
        pixels = np.asarray(Image.open(out / f"{name}.png"), dtype=np.float32) / 255.0
        assert answer(fc100, pixels) != 7, f"{name}.png no longer fools the network"
    assert answer(fc100, np.asarray(Image.open(out / "original.png"), dtype=np.float32) / 255.0) == 7


@pytest.mark.parametrize("arguments, says", [
    (["--model", "fc100-100-10", "--image", "test:0:5"], "compare takes one image"),
    (["--model", "efficientnet-lite0", "--image", "test:3"], "is an MNIST digit"),
    (["--model", "fc100-100-10", "--image", "cat.png"], "classifies MNIST digits, not photos"),
    (["--model", "fc100-100-10", "--image", "test:0", "--methods", "ours,pgd"], "unknown method 'pgd'"),
    (["--model", "fc100-100-10", "--image", "test:0", "--classes", "names.txt"], "--classes is not used"),
])
def test_cli_compare_refuses_what_does_not_go_together(arguments, says, capsys):
    assert main(["compare", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("blindspot compare: ") and says in error


# --- the window --------------------------------------------------------------------------------------
def use_budgets(monkeypatch, budgets: Budgets) -> None:
    """The budgets of the comparisons the dialog starts from now on."""
    from blindspot_gui.qt.compare_view import CompareView

    monkeypatch.setattr(CompareView, "budgets", budgets)


def open_comparison(qtbot, window):
    """Click "Compare methods…" once the network and its answer are there; the dialog."""
    tab = window.blindspots
    qtbot.waitUntil(lambda: tab.original_probabilities is not None and not tab.is_running("network"), timeout=10000)
    qtbot.mouseClick(tab.compare_button, Qt.MouseButton.LeftButton)
    view = window.blindspots.compare_view
    assert view is not None and view.isVisible() and not view.isModal()
    return view


def test_the_button_opens_one_card_per_method_with_its_values(qtbot, window, monkeypatch):
    use_budgets(monkeypatch, QUICK)
    view = open_comparison(qtbot, window)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=30000) as blocker:
        pass
    results = blocker.args[0]
    assert list(results) == list(METHODS) and all(result.success for result in results.values())
    ours = results["ours"].distortion
    for method, result in results.items():
        card = view.cards[method]
        assert card.distortion.text() == f"RMS {result.distortion:.4f}"
        assert card.answer.text() == f"says {result.prediction}  ({100 * result.probability:.0f}%)"
        assert card.ratio.text() == ("ours" if method == "ours" else f"{result.distortion / ours:.2f}× ours")
        assert card.adversarial.picture is not None and card.change.picture is not None
        assert card.budget.text() == result.budget
    assert view.verdict.text().startswith("Ours finds the smallest change")
    assert "FC100-100-10 on MNIST test image 0" in view.heading.text()
    assert view.progress.format().startswith("done in")
    hint = view.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 680, "the dialog does not fit a 1280×720 projector"
    view.resize(1280, 680)
    qtbot.wait(200)
    assert cut_texts(view) == []


def test_cancel_keeps_the_finished_cards_and_asking_again_runs_only_the_rest(qtbot, window, monkeypatch):
    use_budgets(monkeypatch, SLOW_CW)
    view = open_comparison(qtbot, window)
    qtbot.waitUntil(lambda: "ddn" in view.results and view.progress.format().startswith("C&W"), timeout=20000)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=2000) as blocker:
        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    kept = blocker.args[0]
    assert [method for method, result in kept.items() if not result.cancelled] == ["ours", "fgsm", "deepfool", "ddn"]
    assert kept["cw"].cancelled and "cancelled" in view.cards["cw"].adversarial.text
    assert view.cards["ddn"].distortion.text() == f"RMS {kept['ddn'].distortion:.4f}"
    use_budgets(monkeypatch, QUICK)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=20000) as blocker:
        window.findChild(QAction, "action_compare").trigger()  # Search ▸ Compare methods… (Ctrl+M)
    finished = blocker.args[0]
    assert all(finished[method] is kept[method] for method in ("ours", "fgsm", "deepfool", "ddn"))
    assert finished["cw"].success and finished["cw"].budget == "5 × 300 steps"


def test_closing_the_dialog_or_switching_the_network_during_a_comparison_loses_nothing(qtbot, window, monkeypatch):
    from window_actions import click_model

    use_budgets(monkeypatch, SLOW_CW)
    view = open_comparison(qtbot, window)
    qtbot.waitUntil(lambda: view.progress.format().startswith("C&W"), timeout=20000)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=2000):
        view.close()
    assert not view.isVisible() and not window.runner.is_running("compare")
    assert len([result for result in view.results.values() if not result.cancelled]) == 4
    view = open_comparison(qtbot, window)  # the same image: only C&W runs again, and the network changes meanwhile
    assert view.is_running("compare") and view.progress.format().startswith("C&W")
    assert all(view.cards[method].distortion.text().startswith("RMS") for method in ("ours", "fgsm", "deepfool", "ddn"))
    click_model(qtbot, window, "FC10(1e-4)")
    assert window.runner.is_running("compare")
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=20000) as blocker:
        pass
    results = blocker.args[0]
    assert all(result.success for result in results.values())
    assert "FC100-100-10" in view.heading.text()
    fc100 = window.blindspots.models.get("FC100-100-10")
    assert all(answer(fc100, result.adversarial) == result.prediction != 7 for result in results.values())


def test_another_image_replaces_the_comparison_running(qtbot, window, monkeypatch):
    use_budgets(monkeypatch, SLOW_CW)
    view = open_comparison(qtbot, window)
    qtbot.waitUntil(lambda: view.progress.format().startswith("C&W"), timeout=20000)
    use_budgets(monkeypatch, QUICK)
    with qtbot.waitSignal(window.blindspots.sig_answer_shown, timeout=10000):
        window.blindspots.step_image(1)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=20000) as blocker:
        assert open_comparison(qtbot, window) is view
    results = blocker.args[0]
    assert "MNIST test image 1" in view.heading.text()
    assert all(result.success and result.original_prediction == 2 for result in results.values())
    assert results["cw"].budget == "5 × 300 steps"


def test_compare_runs_beside_a_search(qtbot, window, monkeypatch):
    use_budgets(monkeypatch, QUICK)
    finished = []
    window.blindspots.sig_search_finished.connect(finished.append)
    qtbot.mouseClick(window.blindspots.search_panel.run_button, Qt.MouseButton.LeftButton)
    view = open_comparison(qtbot, window)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=30000) as blocker:
        pass
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=20000)
    assert all(result.success for result in blocker.args[0].values())
    assert finished[0].success


def test_the_cards_text_grows_with_the_dialog_and_with_the_windows_text_size(qtbot, window, monkeypatch):
    use_budgets(monkeypatch, QUICK)
    view = open_comparison(qtbot, window)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=30000):
        pass
    card = view.cards["ours"]

    def sizes():
        return card.distortion.font().pointSizeF(), card.details.font().pointSizeF(), view.heading.font().pointSizeF()

    view.resize(DESIGN_SIZE)
    designed = sizes()
    view.resize(int(DESIGN_SIZE.width() * 1.5), int(DESIGN_SIZE.height() * 1.5))  # 1860x1020: a 1080p screen
    grown = sizes()
    assert all(big == pytest.approx(1.5 * small) for big, small in zip(grown, designed))
    assert grown[0] / grown[1] == pytest.approx(1.35 / 0.95)  # the distortion stays the card's largest number
    view.resize(4000, 2500)
    assert sizes()[0] == pytest.approx(LARGEST_TEXT * designed[0])
    view.resize(DESIGN_SIZE)
    window.change_font_size(+2)  # the window's "Larger text" reaches the dialog, its proportions kept
    try:
        base = QApplication.font().pointSizeF()
        qtbot.waitUntil(lambda: sizes()[0] == pytest.approx(1.35 * base), timeout=2000)  # Qt posts the font change
        assert sizes()[1] == pytest.approx(0.95 * base) and sizes()[2] == pytest.approx(1.3 * base)
    finally:
        window.change_font_size(-2)  # the application's font outlives the window


def test_the_confident_goal_judges_every_method_by_it(fc100, digits):
    images, labels = digits
    results = {result.method: result for result in
               compare_methods(fc100, images[SEVEN], int(labels[SEVEN]), "next", budgets=QUICK, confidence=0.9)}
    minimal, = compare_methods(fc100, images[SEVEN], int(labels[SEVEN]), "next", budgets=QUICK, methods=("ours",))
    ours = results["ours"]  # ours aims at the goal: p >= 0.9, with a larger change than the boundary's
    assert ours.success and ours.confidence == 0.9 and ours.prediction == 8
    assert fc100.probabilities(ours.adversarial)[8] >= 0.9 - 1e-6 and ours.distortion > minimal.distortion
    fgsm = results["fgsm"]  # one gradient's sign may never make it that sure: then it says so
    assert fgsm.success or fgsm.message == "no step size up to 1 makes the network 90% sure"
    for result in results.values():  # the others are judged by the goal, whatever they aimed at
        if result.success:
            assert fc100.probabilities(result.adversarial)[8] >= 0.9 - 1e-6
        elif result.ran and result.adversarial is None and "short of the goal" in result.message:
            assert "% sure" in result.message


def test_the_dialog_compares_for_the_confident_goal_the_window_has(qtbot, window, monkeypatch):
    use_budgets(monkeypatch, QUICK)
    window.blindspots.search_panel.choose_goal(Goal(confidence=0.8))
    view = open_comparison(qtbot, window)
    with qtbot.waitSignal(view.sig_comparison_finished, timeout=30000) as blocker:
        pass
    assert "at least 80% sure" in view.heading.text()
    ours = blocker.args[0]["ours"]
    assert ours.confidence == 0.8 and ours.success and ours.probability >= 0.8 - 1e-6
