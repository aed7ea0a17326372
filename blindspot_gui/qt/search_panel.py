"""The search controls: target, goal, Run and Cancel, progress, the noise control and a live plot of distortion.

The target is the nearest wrong class (untargeted), a random wrong class, or a class of the
user's choice typed by name or number, with completion over the network's class names (ten
digits or ImageNet's 1,000), read by :func:`blindspot_gui.core.models.class_names.class_index`.
The goal is the paper's smallest change (which stops at the decision boundary, where the network
hesitates), a confident one (the smallest change after which the network answers the target with
probability at least p, default 90%) or a robust one (the smallest change whose answer holds on a
share of changed copies, default 90%: core/attack/robust.py), all remembered in the settings.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, QStringListModel, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.core.models.class_names import class_index
from blindspot_gui.qt.settings import read_choice, read_int
from blindspot_gui.session.goals import goal_kind

UNTARGETED = "none"
RANDOM = "random"
CHOSEN = "class"
DEFAULT_PHOTO_TARGET = "ostrich"
"""The paper pushed every ImageNet example to "ostrich" (section 4.2)."""
MINIMAL, CONFIDENT, ROBUST = "minimal", "confident", "robust"
DEFAULT_LEVEL = {CONFIDENT: 90, ROBUST: 90}
"""Percent: the Confident goal's p and the Robust goal's share of changed copies unless the user chose others."""
LEVEL_SETTINGS = {CONFIDENT: "search/confidence", ROBUST: "search/robust_share"}


class SearchPanel(QWidget):
    """Choose the target, start or stop the search, and watch it converge."""

    sig_run_requested = Signal()
    sig_cancel_requested = Signal()
    sig_noise_toggled = Signal(bool)
    sig_save_requested = Signal()
    sig_goal_changed = Signal(object)
    """the Goal (core/attack/goal.py) whenever the choice or its percentage changes."""

    def __init__(self, photo_target: str = DEFAULT_PHOTO_TARGET, parent=None):
        super().__init__(parent)
        self.class_names: list[str] = [str(digit) for digit in range(10)]
        self._remembered: dict[tuple, tuple[str, str]] = {}
        self.photo_target = photo_target
        self._build_target()
        self.run_button = QPushButton("Run  (Space)")
        self.run_button.setObjectName("run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Search for the smallest change that fools the network (box-constrained L-BFGS)")
        self.cancel_button = QPushButton("Cancel  (Esc)")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setEnabled(False)
        self.save_button = QPushButton("Save…")
        self.save_button.setObjectName("save_adversarial")
        self.save_button.setToolTip("The adversarial image as an 8-bit PNG that still fools the network (Ctrl+Shift+S)")
        self.save_button.setEnabled(False)
        self.noise = QCheckBox("Compare with random noise of the same size")
        self.noise.setObjectName("noise")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("ready")
        self._build_plot()
        self._build_goal()
        row = QHBoxLayout()  # short rows: the panel shares its width with the transfer table at 1280×720
        row.addWidget(QLabel("Target:"))
        row.addWidget(self.policy)
        row.addWidget(self.class_field, stretch=1)
        goal_row = QHBoxLayout()
        goal_row.addWidget(QLabel("Goal:"))
        goal_row.addWidget(self.goal, stretch=1)
        goal_row.addWidget(self.confidence)
        run_row = QHBoxLayout()
        for widget in (self.run_button, self.cancel_button, self.save_button):
            run_row.addWidget(widget)
        run_row.addWidget(self.progress, stretch=1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addLayout(goal_row)
        layout.addWidget(self.noise)
        layout.addLayout(run_row)
        layout.addWidget(self.plot, stretch=1)
        self.run_button.clicked.connect(lambda: self.sig_run_requested.emit())
        self.cancel_button.clicked.connect(lambda: self.sig_cancel_requested.emit())
        self.save_button.clicked.connect(lambda: self.sig_save_requested.emit())
        self.noise.toggled.connect(lambda checked: self.sig_noise_toggled.emit(bool(checked)))

    def _build_target(self) -> None:
        self.policy = QComboBox()
        self.policy.setObjectName("target")
        self.policy.setToolTip("Which wrong answer the search should force: the nearest (untargeted), a random one, "
                               "or a class of your choice")
        self.policy.addItem("nearest wrong class", UNTARGETED)
        self.policy.addItem("a random wrong class", RANDOM)
        self.policy.addItem("this class:", CHOSEN)
        self.class_field = QLineEdit()
        self.class_field.setObjectName("target_class")
        self.class_field.setPlaceholderText("a class, e.g. 3 or ostrich")
        self.class_field.setMinimumWidth(self.class_field.fontMetrics().averageCharWidth() * 14)
        self.class_field.setToolTip("The class the image should be taken for; type part of a name to see matches")
        self.completer = QCompleter(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.class_field.setCompleter(self.completer)
        self.class_field.textEdited.connect(lambda _: self.policy.setCurrentIndex(self.policy.findData(CHOSEN)))
        self.class_field.returnPressed.connect(lambda: self.sig_run_requested.emit())

    def _build_goal(self) -> None:
        self.goal = QComboBox()
        self.goal.setObjectName("goal")
        self.goal.setToolTip("Smallest change: the paper's search, which stops where the network starts to hesitate. "
                             "Confident: the smallest change after which the network is sure of the wrong answer. "
                             "Robust: the smallest change that keeps fooling it on most of 16 shifted, rotated, "
                             "rescaled, brightened and noisy copies (8 for a photo)")
        self.goal.addItem("Smallest change (the paper)", MINIMAL)
        self.goal.addItem("", CONFIDENT)
        self.goal.addItem("", ROBUST)
        self.levels = dict(DEFAULT_LEVEL)
        """each goal's percentage: the Confident goal's p, the Robust goal's share of copies."""
        self.confidence = QSpinBox()
        self.confidence.setObjectName("confidence")
        self.confidence.setRange(51, 99)
        self.confidence.setSuffix("%")
        self.confidence.setValue(DEFAULT_LEVEL[CONFIDENT])
        self._settings: QSettings | None = None
        self._goal_chosen()
        self.goal.currentIndexChanged.connect(lambda _: self._goal_chosen())
        self.confidence.valueChanged.connect(self._level_changed)

    def _goal_chosen(self) -> None:
        """The percentage box shows the chosen goal's own percentage (none for the smallest change)."""
        kind = self.goal.currentData()
        self.confidence.blockSignals(True)
        self.confidence.setValue(self.levels.get(kind, self.levels[CONFIDENT]))
        self.confidence.blockSignals(False)
        self.confidence.setEnabled(kind != MINIMAL)
        self.confidence.setToolTip("Robust: the share of changed copies the wrong answer must hold on" if kind == ROBUST
                                   else "Confident: how sure the network must be of the wrong answer")
        self._goal_changed()

    def _level_changed(self, value: int) -> None:
        if self.goal.currentData() in self.levels:
            self.levels[self.goal.currentData()] = value
        self._goal_changed()

    def _goal_changed(self) -> None:
        self.goal.setItemText(self.goal.findData(CONFIDENT), f"Confident (p ≥ {self.levels[CONFIDENT]}%)")
        self.goal.setItemText(self.goal.findData(ROBUST), f"Robust (on {self.levels[ROBUST]}% of copies)")
        self.sig_goal_changed.emit(self.goal_choice())
        if self._settings is not None:
            self._settings.setValue("search/goal", self.goal.currentData())
            for kind, key in LEVEL_SETTINGS.items():
                self._settings.setValue(key, self.levels[kind])

    def remember_goal(self, settings: QSettings) -> None:
        """Show the goal remembered in ``settings`` (a damaged value gives the default) and remember changes there."""
        self._settings = None
        for kind, key in LEVEL_SETTINGS.items():
            self.levels[kind] = read_int(settings, key, DEFAULT_LEVEL[kind], 51, 99)
        self.goal.setCurrentIndex(self.goal.findData(read_choice(settings, "search/goal", MINIMAL,
                                                                 (MINIMAL, CONFIDENT, ROBUST))))
        self._settings = settings
        self._goal_chosen()

    def choose_goal(self, goal: Goal) -> None:
        """Show ``goal``: the smallest change, a Confident p (e.g. 0.9) or a Robust share of copies."""
        kind = goal_kind(goal)
        if goal.level is not None and kind in self.levels:
            self.levels[kind] = round(100 * goal.level)
        self.goal.setCurrentIndex(self.goal.findData(kind))
        self._goal_chosen()

    def goal_choice(self) -> Goal:
        """The chosen goal: the paper's smallest change, a Confident p or a Robust share of changed copies."""
        kind, level = self.goal.currentData(), self.confidence.value() / 100
        return Goal(confidence=level) if kind == CONFIDENT else Goal(robust=level) if kind == ROBUST else Goal()

    def _build_plot(self) -> None:
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("distortion_plot")
        self.plot.setLabel("left", "distortion (RMS) by L-BFGS step")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getAxis("left").setStyle(maxTickLevel=0)  # major ticks only: a short chart at 1280x720 keeps them apart
        self.plot.setToolTip("The smallest change found so far (RMS distortion) after each L-BFGS step of the search")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(70)
        self.curve = self.plot.plot([], [], pen=pg.mkPen((200, 50, 40), width=2), symbol="o", symbolSize=5)
        self._points: list[tuple[int, float]] = []

    # --- the target ------------------------------------------------------------------------------
    def set_class_names(self, names) -> None:
        """The classes of the network in use; the target chosen for networks with these classes comes back."""
        self._remembered[tuple(self.class_names)] = (self.policy.currentData(), self.class_field.text())
        self.class_names = list(names)
        self.completer.setModel(QStringListModel(self.class_names, self.completer))
        default = (CHOSEN, self.photo_target) if self.photo_target in self.class_names else (UNTARGETED, "")
        policy, text = self._remembered.get(tuple(self.class_names), default)
        self.policy.setCurrentIndex(self.policy.findData(policy))
        self.class_field.setText(text)

    def target_memory(self) -> dict:
        """The target chosen for each set of class names seen, the one shown included (to give back later)."""
        return {**self._remembered, tuple(self.class_names): (self.policy.currentData(), self.class_field.text())}

    def restore_target_memory(self, memory: dict) -> None:
        """Targets as :meth:`target_memory` gave them; the one for the classes shown is shown."""
        self._remembered = dict(memory)
        policy, text = self._remembered.get(tuple(self.class_names), (self.policy.currentData(), self.class_field.text()))
        self.policy.setCurrentIndex(self.policy.findData(policy))
        self.class_field.setText(text)

    def choose(self, target) -> None:
        """Choose "none", "random", or a class (its number or name)."""
        if target in (UNTARGETED, RANDOM):
            self.policy.setCurrentIndex(self.policy.findData(target))
        else:
            self.policy.setCurrentIndex(self.policy.findData(CHOSEN))
            self.class_field.setText(str(target))

    def target_choice(self):
        """"none", "random" or a class index; ValueError naming close matches for a class it cannot read."""
        policy = self.policy.currentData()
        if policy != CHOSEN:
            return policy
        return class_index(self.class_field.text(), self.class_names)

    # --- running ---------------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.save_button.setEnabled(False)
            self._points.clear()
            self.curve.setData([], [])
            self.progress.setValue(0)

    def show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"{message}  %p%" if message else "%p%")

    def show_status(self, text: str) -> None:
        self.progress.setFormat(text)

    def add_point(self, iterations: int, distortion: float) -> None:
        if not np.isfinite(distortion):
            return
        self._points.append((iterations, distortion))
        x, y = zip(*self._points)
        self.curve.setData(list(x), list(y))

    def show_trace(self, trace) -> None:
        """The whole search: (iterations, best distortion so far) pairs; steps without a success are skipped."""
        self._points = [(int(x), float(y)) for x, y in trace if np.isfinite(y)]
        if self._points:
            x, y = zip(*self._points)
            self.curve.setData(list(x), list(y))
        else:
            self.curve.setData([], [])
