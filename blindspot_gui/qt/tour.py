"""The guided tour (Help ▸ Tour, F1, ``blindspot-gui --tour``): the paper in nine steps of live computations.

A slim panel docked along the bottom of the window (it leaves the images in view) shows the
step's title, its plain-language text, what its computation found, a step counter and Back /
Next / Leave tour. Each step (``tour_steps``) drives the real window and runs when it is shown;
Page Down / Page Up move (also while a spin box has the focus: a presenter remote's buttons), Esc
leaves. The tour starts on a clean slate and leaving, at any step, gives the user back the network,
image, goal, target and tab they had before it (a computation under way is cancelled). Whether the
panel shows is the window's presentation state (``touring``), never a layout's.
"""

from __future__ import annotations

import sys
from html import escape

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.qt.tour_steps import STEPS, Step, StepFailed
from blindspot_gui.qt.user_choices import UserChoices

POLL_MS = 50
"""How often a step waiting for a computation looks whether it has come (never inside another signal's handler)."""
NOT_YET = object()
"""What a wait returns while what it waits for has not happened."""
BAD = "#c0392b"


class Failed:
    """What a wait returns when the window reported an error meanwhile."""

    def __init__(self, message: str):
        self.message = message


class TourPanel(QFrame):
    """The step's title and text, what its computation found, and the counter over Back / Next / Leave tour."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("tour_panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.counter = QLabel()
        self.counter.setObjectName("tour_counter")
        self.counter.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel()
        self.text.setObjectName("tour_text")
        self.result = QLabel()
        self.result.setObjectName("tour_result")
        for label in (self.text, self.result):
            label.setWordWrap(True)
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wraps, never widens
        self.back = QPushButton("◀ Back")
        self.back.setObjectName("tour_back")
        self.back.setToolTip("The previous step (Page Up)")
        self.next = QPushButton("Next ▶")
        self.next.setObjectName("tour_next")
        self.next.setToolTip("The next step (Page Down)")
        self.leave = QPushButton("Leave tour")
        self.leave.setObjectName("tour_leave")
        self.leave.setToolTip("Keep exploring from here (Esc); Help ▸ Tour or F1 starts the tour again")
        self._lay_out()

    def _lay_out(self) -> None:
        words = QVBoxLayout()
        words.setSpacing(2)
        words.addWidget(self.text)
        words.addWidget(self.result)
        buttons = QHBoxLayout()
        for button in (self.back, self.next, self.leave):
            buttons.addWidget(button)
        controls = QVBoxLayout()
        controls.setSpacing(2)
        controls.addWidget(self.counter)
        controls.addLayout(buttons)
        controls.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 6)
        layout.addLayout(words, stretch=1)
        layout.addLayout(controls)

    def show_step(self, number: int, count: int, step: Step) -> None:
        self.counter.setText(f"Step {number} of {count}")
        self.text.setText(f"<b>{escape(step.title)}.</b> {escape(step.text)}")
        self.back.setEnabled(number > 1)
        self.next.setText("Finish" if number == count else "Next ▶")
        self.show_result("")

    def show_result(self, text: str, failed: bool = False) -> None:
        self.result.setStyleSheet(f"color: {BAD};" if failed else "font-style: italic;")
        self.result.setText(text)
        self.fit_height()

    def fit_height(self) -> None:
        """Just tall enough for the wrapped text at the panel's width (a dock does not ask its widget by itself)."""
        layout = self.layout()
        self.setFixedHeight(max(layout.totalHeightForWidth(max(self.width(), 1)), layout.totalMinimumSize().height()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.fit_height()


class Tour(QObject):
    """The tour of one window: which step is shown, its computation under way, and the keys while it runs."""

    sig_step_shown = Signal(int)
    """The index (from 0) of the step just shown; its computation has started."""
    sig_step_done = Signal(int)
    """The index of the step whose computation has finished (or failed: the panel says so)."""
    sig_left = Signal(int)
    """The index of the step the user left the tour at."""

    def __init__(self, window, steps: tuple[Step, ...] = STEPS):
        super().__init__(window)
        self.window, self.view, self.steps = window, window.blindspots, steps
        self.index = 0
        self.active = False
        self.busy = False
        """Whether the step shown is still computing."""
        self.failure: str | None = None
        """Why the step shown could not finish its computation, if it could not."""
        self.memory: dict[tuple, object] = {}
        """Searches run by the tour: (network, image, goal) -> AttackResult."""
        self._work = None
        self._waiting = None
        self._events: dict[str, tuple[int, object]] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self.panel = TourPanel()
        self.panel.back.clicked.connect(self.back)
        self.panel.next.clicked.connect(self.next)
        self.panel.leave.clicked.connect(self.leave)
        self.dock = self._build_dock()
        self.before: UserChoices | None = None
        """What the user had chosen when the tour started, given back when it is left."""
        self._listen()

    def _listen(self) -> None:
        explorer = self.window.unit_explorer
        for name, signal in (("search", self.view.sig_search_finished), ("noise", self.view.sig_noise_shown),
                             ("transfer", self.view.sig_transfer_shown), ("rows", explorer.sig_rows_shown),
                             ("statistics", explorer.sig_statistics_shown), ("error", self.window.sig_message)):
            signal.connect(lambda *args, name=name: self._note(name, args[0] if args else None))

    # --- moving through the steps -------------------------------------------------------------------------------------
    def start(self, index: int = 0) -> None:
        """Open the panel on step ``index`` (the first unless told) and run it."""
        if not self.active:
            self.active = True
            self.before = UserChoices.of(self.window)
            self.view.clear_result()
            self.window.presentation.start_tour()
            QApplication.instance().installEventFilter(self)
        self.show_step(index)

    def next(self) -> None:
        if self.index + 1 < len(self.steps):
            self.show_step(self.index + 1)
        else:
            self.leave()

    def back(self) -> None:
        if self.index > 0:
            self.show_step(self.index - 1)

    def leave(self) -> None:
        """Close the panel and give the user back what they had chosen before the tour."""
        if not self.active:
            return
        self._stop_work()
        self.active = False
        QApplication.instance().removeEventFilter(self)
        self.window.presentation.leave_tour()
        if self.before is not None:
            self.before.give_back(self.window)
        self.window.statusBar().showMessage(f"Tour left at step {self.index + 1}: your network, image and goal are "
                                            "back. Help ▸ Tour (F1) starts it again.", 8000)
        self.sig_left.emit(self.index)

    def show_step(self, index: int) -> None:
        self._stop_work()
        self.index = index
        self.panel.show_step(index + 1, len(self.steps), self.steps[index])
        self.busy, self.failure = True, None
        self._work = self.steps[index].run(self)
        self.sig_step_shown.emit(index)
        self._resume(None)

    def _build_dock(self) -> QDockWidget:
        """The panel's dock along the bottom, hidden: the window shows it while touring."""
        dock = QDockWidget("Tour", self.window)
        dock.setObjectName("tour_dock")
        dock.setTitleBarWidget(QWidget())  # frameless: the panel is its own title
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(self.panel)
        self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.hide()
        return dock

    # --- a step's computation -----------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """What the step's computation is doing or has found, under its text."""
        self.panel.show_result(text)

    def awaiting(self, event: str):
        """A wait for the next ``event`` ("search", "noise", "transfer", "rows", "statistics"): its value."""
        seen, errors = self._count(event), self._count("error")

        def wait():
            if self._count("error") > errors:
                return Failed(self._events["error"][1])
            return self._events[event][1] if self._count(event) > seen else NOT_YET
        return wait

    def until(self, condition):
        """A wait for ``condition()`` to hold."""
        errors = self._count("error")

        def wait():
            if self._count("error") > errors:
                return Failed(self._events["error"][1])
            return True if condition() else NOT_YET
        return wait

    def remember(self, result, confidence: float | None) -> None:
        view = self.view
        self.memory[(view.result_model, view.choice.source, confidence)] = result

    def recalled(self, network: str, image: str, confidence: float | None):
        return self.memory.get((network, image, confidence))

    def _note(self, event: str, value) -> None:
        self._events[event] = (self._count(event) + 1, value)

    def _count(self, event: str) -> int:
        return self._events.get(event, (0, None))[0]

    def _resume(self, value) -> None:
        """Run the step on with ``value`` up to a wait for something not yet there (or to its end)."""
        while True:
            try:
                if isinstance(value, Failed):
                    wait = self._work.throw(StepFailed(f"That did not work: {value.message}"))
                else:
                    wait = self._work.send(value)
            except StopIteration:
                self._finish()
                return
            except StepFailed as failure:
                self._finish(str(failure))
                return
            value = wait()
            if value is NOT_YET:
                self._waiting = wait
                self._timer.start()
                return

    def _poll(self) -> None:
        if self._waiting is None:
            self._timer.stop()
            return
        value = self._waiting()
        if value is not NOT_YET:
            self._waiting = None
            self._resume(value)

    def _finish(self, failure: str | None = None) -> None:
        self._work, self._waiting, self.busy, self.failure = None, None, False, failure
        self._timer.stop()
        if failure is not None:
            self.panel.show_result(failure, failed=True)
        self.sig_step_done.emit(self.index)

    def _stop_work(self) -> None:
        """Stop following the step's computation (the computation itself goes on and shows its result)."""
        self._timer.stop()
        if self._work is not None:
            self._work.close()
        self._work, self._waiting, self.busy = None, None, False

    # --- the keys while the tour runs -----------------------------------------------------------------------------------
    KEYS = {Qt.Key.Key_PageDown: "next", Qt.Key.Key_PageUp: "back", Qt.Key.Key_Escape: "leave"}

    def eventFilter(self, watched, event) -> bool:
        """Page Down, Page Up and Esc in this window move through the tour or leave it, whatever has the focus."""
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) or not self.active:
            return False
        if not isinstance(watched, QWidget) or watched.window() is not self.window:
            return False
        held = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        action = self.KEYS.get(event.key()) if held == Qt.KeyboardModifier.NoModifier else None
        if action is None:
            return False
        event.accept()
        if kind == QEvent.Type.KeyPress:
            try:
                getattr(self, action)()
            except Exception:  # an exception may not cross Qt's C++ frames of an event filter: report it here
                sys.excepthook(*sys.exc_info())
        return True


def install_tour(window) -> Tour:
    """Give ``window`` its tour (``window.tour``); Help ▸ Tour and ``blindspot-gui --tour`` start it."""
    window.tour = Tour(window)
    return window.tour
