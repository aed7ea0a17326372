"""The blind-spot viewer: original, magnified perturbation and adversarial image side by side, with predictions.

Each panel shows its image large, the network's answer in big type and a bar chart of the class
probabilities; the views are linked, so zooming one zooms all. The perturbation is drawn with a
diverging colour map at symmetric levels, magnified by a factor the user picks (or automatically
to the full range), and the factor is always printed. A fourth panel, on demand, shows Gaussian
noise of the same size added to the original: the paper's control that random noise does not fool
the network.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

DIVERGING = pg.ColorMap(
    pos=np.array([0.0, 0.5, 1.0]),
    color=np.array([[33, 102, 172, 255], [247, 247, 247, 255], [178, 24, 43, 255]], dtype=np.ubyte),
)
"""Blue (darker), white (unchanged), red (brighter): the sign of the perturbation at a glance."""

PREDICTED_BRUSH = pg.mkBrush(220, 60, 40)
TARGET_BRUSH = pg.mkBrush(250, 170, 40)
OTHER_BRUSH = pg.mkBrush(120, 140, 170)


class ProbabilityChart(pg.PlotWidget):
    """Ten bars of class probabilities; the predicted class in red, the target in orange."""

    def __init__(self, class_names, parent=None):
        super().__init__(parent, background="w")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.setYRange(0, 1, padding=0.02)
        self.class_names = tuple(class_names)
        self.getAxis("bottom").setTicks([list(enumerate(self.class_names))])
        self.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        self.bars = pg.BarGraphItem(x=np.arange(len(self.class_names)), height=np.zeros(len(self.class_names)),
                                    width=0.7, brush=OTHER_BRUSH)
        self.addItem(self.bars)
        self.setMinimumHeight(70)

    def show_probabilities(self, probabilities, target: int | None = None) -> None:
        probabilities = np.asarray(probabilities, dtype=float)
        predicted = int(np.argmax(probabilities)) if probabilities.size else -1
        brushes = [
            PREDICTED_BRUSH if k == predicted else TARGET_BRUSH if k == target else OTHER_BRUSH
            for k in range(len(probabilities))
        ]
        self.bars.setOpts(height=probabilities, brushes=brushes)

    def clear_bars(self) -> None:
        self.bars.setOpts(height=np.zeros(len(self.class_names)))


class ImagePanel(QWidget):
    """One image with its title, the network's answer and a probability chart."""

    def __init__(self, title: str, class_names, parent=None):
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        title_font.setBold(True)
        self.title.setFont(title_font)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("k")
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumSize(120, 120)
        self.view = self.canvas.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)

        self.answer = QLabel("—")
        self.answer.setObjectName("answer")
        self.answer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.answer.setWordWrap(True)
        answer_font = QFont(self.answer.font())
        answer_font.setPointSizeF(answer_font.pointSizeF() * 1.6)
        answer_font.setBold(True)
        self.answer.setFont(answer_font)
        self.chart = ProbabilityChart(class_names)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, stretch=4)
        layout.addWidget(self.answer)
        layout.addWidget(self.chart, stretch=1)

    def show_grey(self, pixels: np.ndarray) -> None:
        self.image.setImage(np.asarray(pixels, dtype=np.float32), levels=(0.0, 1.0))

    def show_signed(self, values: np.ndarray) -> None:
        self.image.setImage(np.asarray(values, dtype=np.float32), levels=(-1.0, 1.0))
        self.image.setColorMap(DIVERGING)

    def show_answer(self, text: str, probabilities=None, target: int | None = None, colour: str | None = None) -> None:
        self.answer.setText(text)
        self.answer.setStyleSheet(f"color: {colour};" if colour else "")
        if probabilities is None:
            self.chart.clear_bars()
        else:
            self.chart.show_probabilities(probabilities, target)

    def clear(self) -> None:
        self.image.clear()
        self.show_answer("—")


def magnification_for(perturbation: np.ndarray, factor: int | None) -> float:
    """The factor the perturbation is multiplied by for display: ``factor``, or 1 / max|r| when automatic."""
    if factor is not None:
        return float(factor)
    peak = float(np.abs(perturbation).max()) if perturbation.size else 0.0
    return 1.0 / peak if peak > 0 else 1.0


class BlindspotView(QWidget):
    """Original, magnified perturbation, adversarial image (and optionally noise), linked and labelled."""

    sig_magnification_changed = Signal(object)
    """The chosen factor (int), or None for automatic."""

    def __init__(self, class_names=tuple(str(d) for d in range(10)), parent=None):
        super().__init__(parent)
        self.class_names = tuple(class_names)
        self.original_panel = ImagePanel("Original", self.class_names)
        self.perturbation_panel = ImagePanel("Perturbation", self.class_names)
        self.adversarial_panel = ImagePanel("Adversarial", self.class_names)
        self.adversarial_panel.title.setToolTip("The original plus the perturbation")
        self.noise_panel = ImagePanel("Noise, same size", self.class_names)
        self.noise_panel.setVisible(False)
        self.perturbation_panel.canvas.setBackground((247, 247, 247))
        self.legend = QLabel("<span style='color:#b2182b'>■ red: brighter</span> &nbsp; "
                             "<span style='color:#2166ac'>■ blue: darker</span> &nbsp; white: unchanged")
        self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.legend.setWordWrap(True)
        self.legend.setMinimumHeight(self.perturbation_panel.chart.minimumHeight())
        # The legend takes the chart's place, so that all panels keep the same image size.
        self.perturbation_panel.layout().replaceWidget(self.perturbation_panel.chart, self.legend)
        self.perturbation_panel.chart.setVisible(False)
        for panel in (self.perturbation_panel, self.adversarial_panel, self.noise_panel):
            panel.view.setXLink(self.original_panel.view)
            panel.view.setYLink(self.original_panel.view)

        self.magnification = QSpinBox()
        self.magnification.setObjectName("magnification")
        self.magnification.setRange(1, 100)
        self.magnification.setValue(10)
        self.magnification.setPrefix("×")
        self.magnification.setToolTip("How much the perturbation is magnified for display")
        self.auto_magnification = QCheckBox("Auto (full range)")
        self.auto_magnification.setObjectName("auto_magnification")
        self.magnification.valueChanged.connect(self._on_magnification_changed)
        self.auto_magnification.toggled.connect(self._on_magnification_changed)

        self.readout = QLabel("Pick an image and press Run to search for its blind spot.")
        self.readout.setObjectName("readout")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.readout.setWordWrap(True)
        readout_font = QFont(self.readout.font())
        readout_font.setPointSizeF(readout_font.pointSizeF() * 1.15)
        self.readout.setFont(readout_font)

        self.panels = QGridLayout()
        for column, panel in enumerate(
            (self.original_panel, self.perturbation_panel, self.adversarial_panel, self.noise_panel)
        ):
            self.panels.addWidget(panel, 0, column)
            self.panels.setColumnStretch(column, 1 if panel is not self.noise_panel else 0)
        controls = QHBoxLayout()
        controls.addStretch(1)
        controls.addWidget(QLabel("Magnify perturbation"))
        controls.addWidget(self.magnification)
        controls.addWidget(self.auto_magnification)
        controls.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(self.panels, stretch=1)
        layout.addLayout(controls)
        layout.addWidget(self.readout)

        self._perturbation = np.zeros((28, 28), np.float32)

    # --- what is shown -------------------------------------------------------------------------
    @property
    def magnification_factor(self) -> int | None:
        return None if self.auto_magnification.isChecked() else self.magnification.value()

    def set_magnification(self, factor: int | None) -> None:
        self.auto_magnification.setChecked(factor is None)
        if factor is not None:
            self.magnification.setValue(int(factor))

    def show_original(self, pixels: np.ndarray, answer: str, probabilities) -> None:
        self.original_panel.show_grey(pixels)
        self.original_panel.show_answer(answer, probabilities)
        self.clear_result()
        self._fit_views(pixels.shape)

    def clear_result(self) -> None:
        self._perturbation = np.zeros_like(self._perturbation)
        for panel in (self.perturbation_panel, self.adversarial_panel, self.noise_panel):
            panel.clear()
        self.perturbation_panel.title.setText("Perturbation")

    def show_adversarial(self, adversarial: np.ndarray, perturbation: np.ndarray, answer: str,
                         probabilities=None, target: int | None = None, colour: str | None = None) -> None:
        self._perturbation = np.asarray(perturbation, dtype=np.float32)
        self.adversarial_panel.show_grey(adversarial)
        self.adversarial_panel.show_answer(answer, probabilities, target, colour)
        self._draw_perturbation()

    def show_noise(self, noisy: np.ndarray | None, answer: str = "", probabilities=None) -> None:
        self.noise_panel.setVisible(noisy is not None)
        self.panels.setColumnStretch(3, 1 if noisy is not None else 0)
        if noisy is not None:
            self.noise_panel.show_grey(noisy)
            self.noise_panel.show_answer(answer, probabilities)
            self._fit_views(noisy.shape)  # a panel that appears must not widen the linked views' range

    def _fit_views(self, shape) -> None:
        """Show the whole image, edge to edge, in all the linked views."""
        height, width = shape[:2]
        self.original_panel.view.setRange(xRange=(0, width), yRange=(0, height), padding=0.0)

    def show_readout(self, text: str) -> None:
        self.readout.setText(text)

    def _draw_perturbation(self) -> None:
        factor = magnification_for(self._perturbation, self.magnification_factor)
        self.perturbation_panel.show_signed(np.clip(self._perturbation * factor, -1.0, 1.0))
        peak = float(np.abs(self._perturbation).max()) if self._perturbation.size else 0.0
        self.perturbation_panel.title.setText(f"Perturbation ×{factor:.0f}")
        self.perturbation_panel.title.setToolTip("The change, magnified so that it can be seen")
        self.perturbation_panel.show_answer(
            f"largest change {peak:.3f}" if peak > 0 else "no change",
        )

    def _on_magnification_changed(self, *_):
        self.magnification.setEnabled(not self.auto_magnification.isChecked())
        self._draw_perturbation()
        self.sig_magnification_changed.emit(self.magnification_factor)
