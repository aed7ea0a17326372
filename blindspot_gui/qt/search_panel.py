"""The search controls: target, Run and Cancel, progress, and a live plot of distortion against iterations."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

UNTARGETED = "none"
RANDOM = "random"


class SearchPanel(QWidget):
    """Choose the target, start or stop the search, and watch it converge."""

    sig_run_requested = Signal()
    sig_cancel_requested = Signal()
    sig_noise_toggled = Signal(bool)

    def __init__(self, class_names=tuple(str(d) for d in range(10)), parent=None):
        super().__init__(parent)
        self.target = QComboBox()
        self.target.setObjectName("target")
        self.target.setToolTip("Which wrong answer the search should force")
        self.target.addItem("nearest wrong class (untargeted)", UNTARGETED)
        self.target.addItem("a random wrong class", RANDOM)
        for label, name in enumerate(class_names):
            self.target.addItem(f"make it a {name}", label)
        self.run_button = QPushButton("Run  (Space)")
        self.run_button.setObjectName("run")
        self.run_button.setToolTip("Search for the smallest change that fools the network (box-constrained L-BFGS)")
        self.cancel_button = QPushButton("Cancel  (Esc)")
        self.cancel_button.setObjectName("cancel")
        self.cancel_button.setEnabled(False)
        self.noise = QCheckBox("Compare with random noise of the same size")
        self.noise.setObjectName("noise")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setFormat("ready")
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("distortion_plot")
        self.plot.setLabel("left", "distortion (RMS)")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.setLabel("bottom", "L-BFGS steps")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(100)
        self.curve = self.plot.plot([], [], pen=pg.mkPen((200, 50, 40), width=2), symbol="o", symbolSize=5)
        self._points: list[tuple[int, float]] = []

        row = QHBoxLayout()
        row.addWidget(QLabel("Target:"))
        row.addWidget(self.target, stretch=1)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.noise)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot, stretch=1)

        self.run_button.clicked.connect(lambda: self.sig_run_requested.emit())
        self.cancel_button.clicked.connect(lambda: self.sig_cancel_requested.emit())
        self.noise.toggled.connect(lambda checked: self.sig_noise_toggled.emit(bool(checked)))

    def target_choice(self):
        """"none", "random" or a label."""
        return self.target.currentData()

    def set_running(self, running: bool) -> None:
        self.cancel_button.setEnabled(running)
        if running:
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
