"""The Strength view: a slider from 0 to 2 times the change on screen, and how the network's answer follows it.

The chart shows the probability of the original answer and of the blind spot's answer along the
change (solid) and along random noise of the same size (dashed), the strength the slider is at
(a vertical line) and the edge where the answer flips. Moving the slider (or Up/Down in the
window) asks for the image at that strength; the Blind spots tab shows it in the adversarial panel.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from blindspot_gui.core.strength import LARGEST, StrengthSweep
from blindspot_gui.qt.widgets.plot_style import style_plot

STEPS_PER_CHANGE = 20
"""Slider steps per whole change: Up/Down move the strength by 0.05."""
ORIGINAL_COLOUR = (40, 110, 40)
ADVERSARIAL_COLOUR = (200, 40, 40)


class StrengthView(QWidget):
    """The slider, its reading and the sweep's chart (disabled until a blind spot is shown)."""

    sig_strength_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sweep: StrengthSweep | None = None
        self.shows = None
        """the result whose figures are shown or being computed (the blind-spot tab computes a view once per result)."""
        self.class_name = str
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("strength_slider")
        self.slider.setRange(0, int(LARGEST * STEPS_PER_CHANGE))
        self.slider.setValue(STEPS_PER_CHANGE)
        self.slider.setPageStep(STEPS_PER_CHANGE // 4)
        self.slider.setToolTip("Scale the change from nothing to twice what the search found (Up / Down)")
        self.slider.valueChanged.connect(lambda value: self.sig_strength_changed.emit(self.strength))
        self.value = QLabel("1.00×")
        self.value.setObjectName("strength_value")
        self.reading = QLabel("Run a search, then drag: the answer follows the strength of the change.")
        self.reading.setObjectName("strength_reading")
        self.reading.setWordWrap(True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("strength_chart")
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(80)
        self.plot.setYRange(0, 1, padding=0.02)
        self.plot.setXRange(0, LARGEST, padding=0.01)
        self.plot.getPlotItem().setLabel("left", "p")
        self.marker = pg.InfiniteLine(1.0, angle=90, pen=pg.mkPen((30, 30, 30), width=2))
        row = QHBoxLayout()
        row.addWidget(QLabel("0×"))
        row.addWidget(self.slider, stretch=1)
        row.addWidget(QLabel(f"{LARGEST:g}×"))
        row.addWidget(self.value)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.plot, stretch=1)
        layout.addWidget(self.reading)
        style_plot(self.plot, self.font())
        self.clear()

    @property
    def strength(self) -> float:
        return self.slider.value() / STEPS_PER_CHANGE

    def step(self, steps: int) -> None:
        """Move the slider by ``steps`` (Up/Down), if a blind spot is shown."""
        if self.slider.isEnabled():
            self.slider.setValue(self.slider.value() + steps)

    def clear(self) -> None:
        self.sweep = self.shows = None
        self.plot.clear()
        self._reset_slider()
        self.slider.setEnabled(False)
        self.reading.setText("")

    def _reset_slider(self) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(STEPS_PER_CHANGE)
        self.slider.blockSignals(False)
        self.value.setText("1.00×")

    def show_sweep(self, sweep: StrengthSweep, class_name) -> None:
        """Draw ``sweep`` and put the slider at the change found (1×)."""
        self.sweep, self.class_name = sweep, class_name
        self.plot.clear()
        before, after = sweep.original_answer, sweep.adversarial_answer
        for probabilities, style in ((sweep.change_probabilities, Qt.PenStyle.SolidLine),
                                     (sweep.noise_probabilities, Qt.PenStyle.DashLine)):
            for answer, colour in ((before, ORIGINAL_COLOUR), (after, ADVERSARIAL_COLOUR)):
                self.plot.plot(sweep.strengths, probabilities[:, answer], pen=pg.mkPen(colour, width=2, style=style))
        if sweep.flip is not None:
            self.plot.addItem(pg.InfiniteLine(sweep.flip, angle=90, pen=pg.mkPen(ADVERSARIAL_COLOUR, width=1,
                                                                                style=Qt.PenStyle.DotLine)))
        self.plot.addItem(self.marker)
        self._reset_slider()
        self.slider.setEnabled(True)
        self.show_answer(1.0, sweep.change_probabilities[np.argmin(np.abs(sweep.strengths - 1.0))])
        self.plot.setToolTip(f"Green: “{class_name(before)}”, red: “{class_name(after)}”; solid along the change, "
                             "dashed along random noise of the same size; dotted: where the answer flips")

    def show_answer(self, strength: float, probabilities: np.ndarray) -> None:
        """The reading at ``strength`` (its probabilities as the network gave them)."""
        self.marker.setValue(strength)
        self.value.setText(f"{strength:.2f}×")
        if self.sweep is None:
            return
        answer = int(np.argmax(probabilities))
        edge = (f"The answer flips at {self.sweep.flip:.2f}× the change" if self.sweep.flip is not None
                else "The answer never flips up to 2×")
        noise = ("noise of the same size never flips it" if self.sweep.noise_flip is None
                 else f"noise of the same size flips it at {self.sweep.noise_flip:.2f}×")
        self.reading.setText(f"At {strength:.2f}×: “{self.class_name(answer)}” ({100 * probabilities[answer]:.0f}%). "
                             f"{edge}; {noise}.")
