"""The guided tour on the real window: walked with the presenter keys, every step's live computation, Back, leaving."""

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from blindspot_gui.qt.app import build_parser
from blindspot_gui.qt.tour_steps import PHOTO_NETWORK, PHOTO_TARGET, PLAIN_NETWORK, ROBUST_NETWORK, TOUR_DIGIT
from blindspot_gui.core.attack.goal import Goal

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


def test_the_tour_starts_clean_and_leaving_it_gives_back_the_users_choices(qtbot, window):
    tour, view = window.tour, window.blindspots
    view.network_panel.select("ConvNet")
    qtbot.waitUntil(lambda: view.network_name == "ConvNet" and view.original_probabilities is not None, timeout=20000)
    view.image_source.choose_index(5)
    view.search_panel.choose_goal(Goal(confidence=0.8))
    view.search_panel.choose("random")
    qtbot.waitUntil(lambda: view.choice.index == 5 and view.original_probabilities is not None, timeout=20000)
    with qtbot.waitSignal(view.sig_search_finished, timeout=STEP_TIMEOUT):
        view.run_search()
    qtbot.waitUntil(lambda: not view.is_running("transfer"), timeout=STEP_TIMEOUT)
    assert view.result is not None and len(view.search_panel.curve.getData()[0]) > 0

    qtbot.keyClick(window, Qt.Key.Key_F1)  # a clean slate: the last search is not shown as the tour's, nor its curve
    assert view.result is None and tour.active and window.presentation.state.touring
    assert view.search_panel.curve.getData()[0] is None or len(view.search_panel.curve.getData()[0]) == 0
    step_done(qtbot, tour, 0)
    press(qtbot, window, Qt.Key.Key_PageDown)
    assert tour.index == 1 and tour.busy
    assert view.network_name == PLAIN_NETWORK and view.choice.index == TOUR_DIGIT
    press(qtbot, window, Qt.Key.Key_Escape)  # leaves the tour: the user's own network, image, goal and target
    assert not tour.active and not tour.dock.isVisible() and not window.presentation.state.touring
    qtbot.waitUntil(lambda: view.network_name == "ConvNet" and view.choice.index == 5
                    and view.original_probabilities is not None, timeout=20000)
    assert view.search_panel.goal_choice() == Goal(confidence=0.8) and view.search_panel.target_choice() == "random"
    assert window.settings.value("search/goal") == "confident" and int(window.settings.value("search/confidence")) == 80
    press(qtbot, window, Qt.Key.Key_PageDown)  # the presenter key steps the image again
    assert view.choice.index == 6
    qtbot.waitUntil(lambda: not view.is_running("classify") and not view.is_running("search"), timeout=STEP_TIMEOUT)


def test_blindspot_gui_takes_tour():
    assert build_parser().parse_args(["--tour"]).tour


def test_a_left_tour_never_comes_back_with_full_screen_or_a_layout(qtbot, window):
    """F1, Esc, F5, F11 (the ghost panel of issue 24), then Reset layout and a quit and reopen."""
    tour = window.tour
    qtbot.keyClick(window, Qt.Key.Key_F1)
    step_done(qtbot, tour, 0)
    press(qtbot, window, Qt.Key.Key_Escape)
    for key in (Qt.Key.Key_F5, Qt.Key.Key_F11):
        press(qtbot, window, key)
        assert not tour.dock.isVisible() and not tour.active
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    assert window.model_dock.isVisible() and window.image_dock.isVisible() and not tour.dock.isVisible()
    window.reset_layout()
    assert not tour.dock.isVisible() and window.model_dock.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F1)  # quitting mid-tour remembers the user's layout, not the tour's panel
    window.settings.sync()
    window.close()
    from conftest import open_window

    again = open_window(qtbot, window.settings.fileName())
    assert not again.tour.dock.isVisible() and not again.tour.active and again.model_dock.isVisible()
    again.close()


def test_closing_the_window_in_the_tour_s_photo_step_remembers_the_users_image_not_the_tours(qtbot, window):
    tour, view = window.tour, window.blindspots
    view.image_source.choose_index(5)
    qtbot.waitUntil(lambda: view.choice.index == 5 and view.original_probabilities is not None, timeout=20000)
    assert window.settings.value("photos/last") is None
    tour.start(4)  # the photo step: the espresso through EfficientNet-Lite0
    qtbot.waitUntil(lambda: view.choice is not None and (view.choice.path or "").endswith("coffee.png"),
                    timeout=STEP_TIMEOUT)
    window.close()  # in the middle of the step: the user's digit was being given back when the window closed
    assert window.settings.value("photos/last") is None
    assert int(window.settings.value("image/index")) == 5 and window.settings.value("model/last") == PLAIN_NETWORK
