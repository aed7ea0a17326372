"""The guided tour on the real window: walked with the presenter keys, every step's live computation, Back, leaving."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from blindspot_gui.qt.app import build_parser
from blindspot_gui.qt.tour_steps import PHOTO_NETWORK, PHOTO_TARGET, PLAIN_NETWORK, ROBUST_NETWORK, TOUR_DIGIT

STEP_TIMEOUT = 120000
"""Milliseconds a step's computation may take on a loaded machine (the photo search takes 5-10 s here)."""


def step_done(qtbot, tour, index: int) -> str:
    """Wait for step ``index`` to finish its computation; what it found, as the panel says it."""
    qtbot.waitUntil(lambda: tour.index == index and not tour.busy, timeout=STEP_TIMEOUT)
    assert tour.failure is None, tour.failure
    return tour.panel.result.text()


def press(qtbot, window, key) -> None:
    qtbot.keyClick(window.focusWidget() or window, key)


def captions(explorer) -> list[str]:
    return [label.text() for label in explorer.grids.findChildren(QLabel, "row_title") if label.isVisible()]


def test_the_tour_walks_from_start_to_end_with_the_keys(qtbot, window):
    tour, view, explorer = window.tour, window.blindspots, window.unit_explorer
    view.image_source.choose_index(5)  # the tour brings its own digit
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert tour.active and tour.dock.isVisible() and tour.panel.counter.text() == "Step 1 of 9"
    assert "says “7”" in step_done(qtbot, tour, 0) and "right" in tour.panel.result.text()
    assert view.network_name == PLAIN_NETWORK and view.choice.index == TOUR_DIGIT

    press(qtbot, window, Qt.Key.Key_PageDown)  # 2: the blind spot
    found = step_done(qtbot, tour, 1)
    result = view.result
    assert result.success and 0 < result.distortion < 0.05 and int(result.adversarial_prediction) != 7
    assert f"It now says “{result.adversarial_prediction}”" in found
    assert view.viewer.adversarial_panel.image.image is not None

    press(qtbot, window, Qt.Key.Key_PageDown)  # 3: noise of the same size
    assert "out of 100" in step_done(qtbot, tour, 2)
    assert view.viewer.noise_panel.isVisible() and "/100 fooled" in view.viewer.noise_panel.answer.text()
    assert view.result is result  # the step used the blind spot of the step before

    press(qtbot, window, Qt.Key.Key_PageDown)  # 4: other networks
    assert "other digit networks" in step_done(qtbot, tour, 3)
    assert view.transfer_view.table.rowCount() > 1

    press(qtbot, window, Qt.Key.Key_PageDown)  # 5: a photo pushed to "ostrich"
    assert f"It now says “{PHOTO_TARGET}”" in step_done(qtbot, tour, 4)
    assert view.network_name == PHOTO_NETWORK and view.choice.path.endswith("coffee.png")
    assert view.classifier.class_name(int(view.result.adversarial_prediction)) == PHOTO_TARGET

    press(qtbot, window, Qt.Key.Key_PageDown)  # 6: the quiz hides which rows are units
    step_done(qtbot, tour, 5)
    assert window.tabs.currentWidget() is explorer and explorer.grids.quizzing
    assert captions(explorer) and not any("unit" in text or "random" in text.lower() for text in captions(explorer))

    press(qtbot, window, Qt.Key.Key_PageDown)  # 7: reveal, and a count over many rows
    assert "units" in step_done(qtbot, tour, 6) and not explorer.grids.quizzing
    assert any("unit" in text for text in captions(explorer))
    press(qtbot, window, Qt.Key.Key_PageUp)  # Back: the quiz again
    step_done(qtbot, tour, 5)
    assert explorer.grids.quizzing
    press(qtbot, window, Qt.Key.Key_PageDown)
    step_done(qtbot, tour, 6)

    press(qtbot, window, Qt.Key.Key_PageDown)  # 8: adversarial training needs a larger change
    assert "times larger" in step_done(qtbot, tour, 7)
    plain = tour.recalled(PLAIN_NETWORK, f"MNIST test image {TOUR_DIGIT}", None)
    robust = tour.recalled(ROBUST_NETWORK, f"MNIST test image {TOUR_DIGIT}", None)
    assert window.tabs.currentWidget() is view and view.network_name == ROBUST_NETWORK
    assert robust.success and robust.distortion > 1.5 * plain.distortion

    press(qtbot, window, Qt.Key.Key_PageDown)  # 9: your turn
    assert "Press Space" in step_done(qtbot, tour, 8) and tour.panel.next.text() == "Finish"
    assert view.network_name == PLAIN_NETWORK and view.original_probabilities is not None
    press(qtbot, window, Qt.Key.Key_PageDown)
    assert not tour.active and not tour.dock.isVisible()


def test_leaving_mid_tour_keeps_the_window_where_it_was(qtbot, window):
    tour, view = window.tour, window.blindspots
    tour.start()
    step_done(qtbot, tour, 0)
    qtbot.mouseClick(tour.panel.next, Qt.MouseButton.LeftButton)
    assert tour.index == 1 and tour.busy and view.is_running("search")
    with qtbot.waitSignal(view.sig_search_finished, timeout=STEP_TIMEOUT):
        press(qtbot, window, Qt.Key.Key_Escape)  # leaves the tour; the search under way goes on
        assert not tour.active and not tour.dock.isVisible() and view.is_running("search")
    qtbot.waitUntil(lambda: view.transfer_view.table.rowCount() > 0 and not view.is_running("transfer"),
                    timeout=STEP_TIMEOUT)
    result = view.result
    assert result.success and view.network_name == PLAIN_NETWORK and view.choice.index == TOUR_DIGIT
    assert tour.panel.result.text() == "Searching for the smallest change that fools it…"  # no longer followed
    press(qtbot, window, Qt.Key.Key_PageDown)  # the presenter key steps the image again
    assert view.choice.index == TOUR_DIGIT + 1 and view.result is None
    qtbot.waitUntil(lambda: view.original_probabilities is not None, timeout=STEP_TIMEOUT)

    tour.start(1)  # back in, then out from Back's button row: nothing is reset
    step_done(qtbot, tour, 1)
    shown = (view.network_name, view.choice, view.result, window.tabs.currentWidget())
    qtbot.mouseClick(tour.panel.leave, Qt.MouseButton.LeftButton)
    assert not tour.active and (view.network_name, view.choice, view.result, window.tabs.currentWidget()) == shown
    qtbot.waitUntil(lambda: not view.is_running("transfer"), timeout=STEP_TIMEOUT)


def test_blindspot_gui_takes_tour():
    assert build_parser().parse_args(["--tour"]).tour
