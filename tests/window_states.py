"""The window's presentation states explored by hypothesis: random sequences of a speaker's keys on the real window.

Run by tests/test_presentation.py in a process of its own, whose offscreen screen is a 1920×1080
projector-sized desktop (Qt's offscreen screen is 800×600 unless told, and only when the
application starts). A rule is a key (F1, Page Down, Esc, F5, F11, B, Ctrl+=, Ctrl+−) or a user's
act (maximise, a 1280×720 window, quit and reopen, another network, another goal); after every
step the invariants hold: no orphan or duplicated panel, the window on the screen, full screen as
the state says, the side panels aside while presenting, the tour panel shown if and only if touring,
and, outside the tour, the user's own network and goal. The tour's steps are instant stand-ins that
change the network, the image, the goal and the tab as the real steps do (this is not about searches).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from PySide6.QtCore import QEventLoop, QSettings, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDockWidget

from blindspot_gui.qt.main_window import MainWindow
from blindspot_gui.qt.tour_steps import Step
from blindspot_gui.session.presentation import Screen
from blindspot_gui.core.attack.goal import Goal

NETWORKS = ("FC100-100-10", "FC10(1)", "FC200-200-10")
KEYS = {"F1": Qt.Key.Key_F1, "Page Down": Qt.Key.Key_PageDown, "Esc": Qt.Key.Key_Escape, "F5": Qt.Key.Key_F5,
        "F11": Qt.Key.Key_F11, "B": Qt.Key.Key_B}
SETTLE_MS = 30


def settle(milliseconds: int = SETTLE_MS) -> None:
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def _tour_network(tour):
    view = tour.view
    view.network_panel.select("FC100-100-10 (adversarial)", announce=False)
    view.select_network("FC100-100-10 (adversarial)")
    tour.say("network changed")
    yield from ()


def _tour_image_and_goal(tour):
    tour.view.image_source.choose_index(3)
    tour.view.search_panel.choose_goal(Goal(confidence=0.95))
    tour.view.search_panel.choose("random")
    tour.say("image and goal changed")
    yield from ()


def _tour_tab(tour):
    tour.window.tabs.setCurrentWidget(tour.window.unit_explorer)
    tour.say("tab changed")
    yield from ()


STAND_INS = (Step("Network", "a stand-in step", _tour_network), Step("Image", "a stand-in step", _tour_image_and_goal),
             Step("Tab", "a stand-in step", _tour_tab))


class WindowStates(RuleBasedStateMachine):
    """One window (reopened on its own settings), driven by a speaker's keys and a user's acts."""

    def __init__(self):
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="blindspot-states-"))
        self.network, self.goal = "FC100-100-10", Goal()
        """The user's own choices, which the tour must give back."""
        self.window = self._open()
        self.default_points = self.window.presentation.state.text_points
        self.picture_heights: dict[tuple, list[int]] = {}
        """The pictures' heights at the default text size, per window state and size: the 80% rule's reference."""

    def _open(self) -> MainWindow:
        window = MainWindow(QSettings(str(self.folder / "settings.ini"), QSettings.Format.IniFormat),
                            show_dialogs=False)
        window.tour.steps = STAND_INS
        window.show()
        settle(100)
        return window

    def teardown(self) -> None:
        self.window.close()
        self.window.deleteLater()
        settle()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- a speaker's keys and a user's acts, one rule: each step draws any of them --------------------------------
    ACTS = ("F1", "Page Down", "Esc", "F5", "F11", "B", "Ctrl+=", "Ctrl+-", "maximise", "1280x720", "quit and reopen",
            "network", "goal")

    @rule(act=st.sampled_from(ACTS), choice=st.integers(0, 2))
    def step(self, act: str, choice: int) -> None:
        """One act; a user's own choice (maximise, a size, a network, a goal) only where a user could make it."""
        state = self.window.presentation.state
        if act in KEYS:
            self._key(KEYS[act])
        elif act in ("Ctrl+=", "Ctrl+-"):
            self._key(Qt.Key.Key_Equal if act == "Ctrl+=" else Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
        elif act == "quit and reopen":
            self.window.close()
            self.window.deleteLater()
            settle()
            self.window = self._open()
        elif state.blanked:
            return  # the black screen covers the window: nothing else can be clicked
        elif act == "maximise" and state.screen is Screen.WINDOW:
            self.window.showMaximized()
        elif act == "1280x720" and state.screen is Screen.WINDOW:
            self.window.showNormal()
            self.window.resize(1280, 720)
        elif act == "network" and not state.touring:
            self.window.blindspots.network_panel.select(NETWORKS[choice])
            self.network = NETWORKS[choice]
        elif act == "goal" and not state.touring:
            self.goal = (Goal(), Goal(confidence=0.8), Goal(robust=0.9))[choice]
            self.window.blindspots.search_panel.choose_goal(self.goal)
        settle()

    def _key(self, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(self.window.focusWidget() or self.window, key, modifier)
        settle()

    # --- what always holds --------------------------------------------------------------------------------------
    @invariant()
    def one_of_each_panel(self) -> None:
        names = sorted(dock.objectName() for dock in self.window.findChildren(QDockWidget))
        assert names == ["image_dock", "model_dock", "tour_dock"], names

    @invariant()
    def tour_panel_if_and_only_if_touring(self) -> None:
        state, tour = self.window.presentation.state, self.window.tour
        assert tour.active == state.touring
        assert tour.dock.isVisible() == state.touring

    @invariant()
    def full_screen_as_the_state_says(self) -> None:
        state = self.window.presentation.state
        assert self.window.isFullScreen() == state.full_screen
        assert self.window.blank.isVisible() == state.blanked
        if state.screen is Screen.PRESENTING:
            assert not self.window.model_dock.isVisible() and not self.window.image_dock.isVisible()
        elif self.window.tabs.currentWidget() is self.window.blindspots:
            assert self.window.model_dock.isVisible() and self.window.image_dock.isVisible()

    @invariant()
    def within_the_screen(self) -> None:
        screen = self.window.screen().availableGeometry()
        frame = self.window.frameGeometry()
        assert screen.contains(frame), (screen.getRect(), frame.getRect())

    @invariant()
    def pictures_keep_80_percent_of_their_height_as_the_text_grows(self) -> None:
        window, state = self.window, self.window.presentation.state
        if state.blanked or window.tabs.currentWidget() is not window.blindspots:
            return
        key = (state.screen, state.touring, window.size().toTuple(), window.isMaximized())
        heights = [panel.canvas.height() for panel in window.blindspots.viewer.all_panels()[:3]]
        if state.text_points == self.default_points:
            self.picture_heights.setdefault(key, heights)
        elif key in self.picture_heights and state.text_points > self.default_points:
            for height, reference in zip(heights, self.picture_heights[key]):
                assert height >= 0.8 * reference, (key, state.text_points, heights, self.picture_heights[key])

    @invariant()
    def the_users_choices_outside_the_tour(self) -> None:
        if not self.window.presentation.state.touring:
            view = self.window.blindspots
            assert view.network_panel.selected_name() == self.network
            assert view.search_panel.goal_choice() == self.goal


WindowStates.TestCase.settings = settings(max_examples=20, stateful_step_count=15, derandomize=True, database=None,
                                          deadline=None, suppress_health_check=list(HealthCheck))
TestWindowStates = WindowStates.TestCase
APPLICATION = QApplication.instance() or QApplication([])
