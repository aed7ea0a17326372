"""The blind-spot viewer: original, magnified perturbation and adversarial image side by side, with predictions.

Each panel shows its image large (grey for a digit network, colour for a photo network), the
network's answer in big type and its class probabilities; the views are linked, so zooming one
zooms all. The perturbation is magnified by a factor the user picks (or automatically to the full
range), and the factor is always printed: a grey perturbation with a diverging colour map (red
brighter, blue darker), a colour one as its size per pixel or as signed colour on grey. A fourth
panel, on demand, shows Gaussian noise of the same size added to the original: the paper's
control that random noise does not fool the network.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.qt.widgets.change_picture import change_rgb, magnification_for, picture_of
from blindspot_gui.qt.widgets.fitted_label import FittedLabel
from blindspot_gui.qt.widgets.probabilities import BAR_CLASSES, ProbabilityView

PERTURBATION_MODES = ("size per pixel (all channels)", "signed colour on grey")
GREY_LEGEND = ("<span style='color:#b2182b'>■ red: brighter</span> &nbsp; "
               "<span style='color:#2166ac'>■ blue: darker</span> &nbsp; white: unchanged")
COLOUR_LEGENDS = ("Dark: unchanged. Bright: the pixels that changed most (red, green and blue together).",
                  "Grey: unchanged. A colour: that mix of red, green and blue went up; its opposite: went down.")
DEFAULT_FACTORS = {False: 10, True: None}
"""Magnification on first start: ×10 for grey digits, automatic (full range) for colour photos."""


class ImagePanel(QWidget):
    """One image with its title, the network's answer and its class probabilities (or a legend).

    The title, the answer and what is below the image have heights set by the font alone (the same
    in every panel), so the images of all panels get the same room and fill it at any text size.
    """

    def __init__(self, title: str, with_probabilities: bool = True, parent=None):
        super().__init__(parent)
        self.title = FittedLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setFont(_scaled_bold(self.title.font(), 1.3))
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("k")
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumSize(80, 80)
        self.canvas.ci.setContentsMargins(0, 0, 0, 0)
        self.view = self.canvas.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.answer = FittedLabel("—")
        self.answer.setObjectName("answer")
        self.answer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.answer.setFont(_scaled_bold(self.answer.font(), 1.6))
        self.classes = ProbabilityView() if with_probabilities else None
        self.legend = None if with_probabilities else QLabel(GREY_LEGEND)
        self.as_bars = True
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(3)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, stretch=1)
        layout.addWidget(self.answer)
        self.below = self.classes if self.legend is None else QWidget()
        """What is under the answer: the probabilities, or the legend and the perturbation's controls."""
        if self.legend is not None:
            self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.legend.setWordWrap(True)
            self.legend.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            below = QVBoxLayout(self.below)
            below.setContentsMargins(0, 0, 0, 0)
            below.setSpacing(2)
            below.addWidget(self.legend, stretch=1)
        layout.addWidget(self.below)
        self._fit_below()

    def set_class_names(self, names) -> None:
        """The network's classes: bars for a few, the likeliest five for many (the legend keeps the same height)."""
        self.as_bars = len(names) <= BAR_CLASSES
        if self.classes is not None:
            self.classes.set_class_names(names)
        self._fit_below()

    def _fit_below(self) -> None:
        self.below.setFixedHeight(ProbabilityView.height_for(self.font(), self.as_bars))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and hasattr(self, "answer"):
            self._fit_below()

    def image_fill(self) -> float:
        """How much of the canvas's shorter side the image covers (1.0: edge to edge), in view pixels."""
        if self.image.image is None or self.canvas.width() <= 0 or self.canvas.height() <= 0:
            return 0.0
        self.view.updateMatrix()  # the view's transform is otherwise brought up to date only when it is painted
        shown = self.image.mapRectToScene(self.image.boundingRect()).intersected(self.view.sceneBoundingRect())
        if self.canvas.height() <= self.canvas.width():
            return shown.height() / self.canvas.height()
        return shown.width() / self.canvas.width()

    def show_image(self, pixels: np.ndarray) -> None:
        """A grey (H, W) or (1, H, W) image, or a colour (3, H, W) one, in [0, 1]."""
        picture = picture_of(pixels)
        if picture.ndim == 3:
            picture = picture.transpose(1, 2, 0)
        self.image.setLookupTable(None)
        self.image.setImage(np.ascontiguousarray(picture), levels=(0.0, 1.0))

    def show_answer(self, text: str, probabilities=None, target: int | None = None, colour: str | None = None) -> None:
        self.answer.setText(text)
        self.answer.setStyleSheet(f"color: {colour};" if colour else "")
        if self.classes is not None:
            if probabilities is None:
                self.classes.clear()
            else:
                self.classes.show_probabilities(probabilities, target, colour or "#1a7f37")

    def clear(self) -> None:
        self.image.clear()
        self.show_answer("—")


class BlindspotView(QWidget):
    """Original, magnified perturbation, adversarial image (and optionally noise), linked and labelled."""

    sig_magnification_changed = Signal(bool, object)
    """(colour images?, the chosen factor as an int, or None for automatic)."""
    sig_mode_changed = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.original_panel = ImagePanel("Original")
        self.perturbation_panel = ImagePanel("Perturbation", with_probabilities=False)
        self.adversarial_panel = ImagePanel("Adversarial")
        self.adversarial_panel.title.setToolTip("The original plus the perturbation")
        self.noise_panel = ImagePanel("Noise, same size")
        self.noise_panel.setVisible(False)
        self.legend = self.perturbation_panel.legend
        for panel in (self.perturbation_panel, self.adversarial_panel, self.noise_panel):
            panel.view.setXLink(self.original_panel.view)
            panel.view.setYLink(self.original_panel.view)
        self._build_controls()
        self.readout = QLabel("Pick an image and press Run to search for its blind spot.")
        self.readout.setObjectName("readout")
        self.readout.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.readout.setWordWrap(True)
        readout_font = QFont(self.readout.font())
        readout_font.setPointSizeF(readout_font.pointSizeF() * 1.15)
        self.readout.setFont(readout_font)
        self.panels = QGridLayout()
        for column, panel in enumerate((self.original_panel, self.perturbation_panel, self.adversarial_panel,
                                        self.noise_panel)):
            self.panels.addWidget(panel, 0, column)
            self.panels.setColumnStretch(column, 1 if panel is not self.noise_panel else 0)
        layout = QVBoxLayout(self)
        layout.addLayout(self.panels, stretch=1)
        layout.addWidget(self.readout)
        self.colour = False
        self.original_pixels: np.ndarray | None = None
        self.adversarial_pixels: np.ndarray | None = None
        self.flickering = False
        """Whether the adversarial panel shows the original for now (flicker: F, or a held mouse button)."""
        self._factors = dict(DEFAULT_FACTORS)
        self._perturbation = np.zeros((28, 28), np.float32)
        self.set_colour(False)

    def _build_controls(self) -> None:
        self.magnification = QSpinBox()
        self.magnification.setObjectName("magnification")
        self.magnification.setRange(1, 500)
        self.magnification.setValue(10)
        self.magnification.setPrefix("×")
        self.magnification.setToolTip("How much the perturbation is magnified for display")
        self.auto_magnification = QCheckBox("Auto")
        self.auto_magnification.setObjectName("auto_magnification")
        self.auto_magnification.setToolTip("Magnify the largest change to the full range")
        self.mode = QComboBox()
        self.mode.setObjectName("perturbation_mode")
        self.mode.addItems(PERTURBATION_MODES)
        self.mode.setToolTip("How a change of a colour image is drawn")
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(8)
        self.mode.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.mode_label = QLabel("shown as")
        self.magnification.valueChanged.connect(self._on_magnification_changed)
        self.auto_magnification.toggled.connect(self._on_magnification_changed)
        self.mode.currentIndexChanged.connect(self._on_mode_changed)
        magnify, shown_as = QHBoxLayout(), QHBoxLayout()  # under the perturbation, below its legend
        magnify.addStretch(1)
        for widget in (QLabel("Magnify"), self.magnification, self.auto_magnification):
            magnify.addWidget(widget)
        magnify.addStretch(1)
        shown_as.addWidget(self.mode_label)
        shown_as.addWidget(self.mode, stretch=1)
        below = self.perturbation_panel.below.layout()
        below.addLayout(magnify)
        below.addLayout(shown_as)

    # --- what is shown -------------------------------------------------------------------------
    @property
    def magnification_factor(self) -> int | None:
        return None if self.auto_magnification.isChecked() else self.magnification.value()

    def set_magnification(self, factor: int | None, colour: bool | None = None) -> None:
        """The factor for grey (``colour`` False) or colour images; None is automatic."""
        colour = self.colour if colour is None else colour
        self._factors[colour] = factor
        if colour == self.colour:
            self._show_factor(factor)

    def _show_factor(self, factor: int | None) -> None:
        for widget in (self.magnification, self.auto_magnification):
            widget.blockSignals(True)
        self.auto_magnification.setChecked(factor is None)
        if factor is not None:
            self.magnification.setValue(int(factor))
        self.magnification.setEnabled(factor is not None)
        for widget in (self.magnification, self.auto_magnification):
            widget.blockSignals(False)

    def set_colour(self, colour: bool) -> None:
        """Grey images (a digit network) or colour ones (a photo network): their own factor, legend and background."""
        self.colour = colour
        self._show_factor(self._factors[colour])
        self.mode.setVisible(colour)
        self.mode_label.setVisible(colour)
        self.perturbation_panel.canvas.setBackground("k" if colour else (247, 247, 247))
        self._set_legend()

    def set_class_names(self, names) -> None:
        for panel in self.all_panels():
            panel.set_class_names(names)

    def all_panels(self) -> tuple[ImagePanel, ...]:
        return (self.original_panel, self.perturbation_panel, self.adversarial_panel, self.noise_panel)

    def show_original(self, pixels: np.ndarray, answer: str, probabilities, title: str = "Original") -> None:
        self.original_pixels = pixels
        self.original_panel.show_image(pixels)
        self.original_panel.title.setText(title)
        self.original_panel.title.setToolTip(title)
        self.original_panel.show_answer(answer, probabilities)
        self.clear_result()
        self._fit_views(picture_of(pixels).shape[-2:])

    def clear_result(self) -> None:
        self.set_flicker(False)
        self.adversarial_pixels = None
        self._perturbation = np.zeros((1, 1), np.float32)
        for panel in (self.perturbation_panel, self.adversarial_panel, self.noise_panel):
            panel.clear()
        self.perturbation_panel.title.setText("Perturbation")

    def show_adversarial(self, adversarial: np.ndarray, perturbation: np.ndarray, answer: str,
                         probabilities=None, target: int | None = None, colour: str | None = None) -> None:
        self._show_adversarial_picture(adversarial, perturbation)
        self.adversarial_panel.show_answer(answer, probabilities, target, colour)

    def show_partial(self, adversarial: np.ndarray, perturbation: np.ndarray, answer: str) -> None:
        """The search's best image so far: only the pictures and the answer's text change (no relayout, no
        restyling), as it comes several times a second."""
        self._show_adversarial_picture(adversarial, perturbation)
        self.adversarial_panel.answer.setText(answer)

    def show_noise(self, noisy: np.ndarray | None, answer: str = "", probabilities=None) -> None:
        self.noise_panel.setVisible(noisy is not None)
        self.panels.setColumnStretch(3, 1 if noisy is not None else 0)
        if noisy is None and getattr(self, "_shape", None) is not None:
            self._fit_views(self._shape)  # the panels widen again
        if noisy is not None:
            self.noise_panel.show_image(noisy)
            self.noise_panel.show_answer(answer, probabilities)
            self._fit_views(picture_of(noisy).shape[-2:])  # a panel that appears must not widen the linked range

    def _show_adversarial_picture(self, adversarial: np.ndarray, perturbation: np.ndarray) -> None:
        self._perturbation = picture_of(perturbation)
        self.adversarial_pixels = adversarial
        self.adversarial_panel.show_image(self.original_pixels if self.flickering else adversarial)
        self._draw_perturbation()

    def set_flicker(self, on: bool) -> None:
        """Show the original in the adversarial panel (on), so the eye catches what moved, or the adversarial (off)."""
        on = on and self.original_pixels is not None and self.adversarial_pixels is not None
        if on != self.flickering:
            self.flickering = on
            self.adversarial_panel.show_image(self.original_pixels if on else self.adversarial_pixels)
            self.adversarial_panel.title.setText("Original (flicker)" if on else "Adversarial")

    def _fit_views(self, shape) -> None:
        """Show the whole image, edge to edge, in all the linked views."""
        self._shape = tuple(shape)
        height, width = shape
        views = [panel.view for panel in self.all_panels()]
        for view in views:  # each canvas fits on its own: a link would line the others up by their screen position
            view.blockLink(True)
        for view in views:
            view.setRange(xRange=(0, width), yRange=(0, height), padding=0.0)
        for view in views:
            view.blockLink(False)

    def fit_images(self) -> None:
        """The whole image, as large as its panel allows, in every panel (after a zoom, a resize, a text size)."""
        if getattr(self, "_shape", None) is not None:
            self._fit_views(self._shape)

    def fit_images_soon(self) -> None:
        """Fit once the layout has settled (the canvases get their new size after the event that changed it)."""
        QTimer.singleShot(0, self.fit_images)

    def resizeEvent(self, event) -> None:
        """A resized window (full screen, a panel shown or hidden) still shows the whole image, as large as it fits."""
        super().resizeEvent(event)
        self.fit_images()
        self.fit_images_soon()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.fit_images_soon()

    def show_readout(self, text: str) -> None:
        self.readout.setText(text)

    def _set_legend(self) -> None:
        self.legend.setText(COLOUR_LEGENDS[self.mode.currentIndex()] if self.colour else GREY_LEGEND)

    def _draw_perturbation(self) -> None:
        change, mode = self._perturbation, self.mode.currentIndex()
        if change.size <= 1:
            return
        factor = magnification_for(change, self.magnification_factor, mode)
        self.perturbation_panel.show_image(change_rgb(change, factor, mode).transpose(2, 0, 1))
        peak = float(np.abs(change).max())
        self.perturbation_panel.title.setText(f"Perturbation ×{factor:.0f}")
        self.perturbation_panel.title.setToolTip("The change, magnified so that it can be seen")
        size = f"{255 * peak:.1f}/255" if change.ndim == 3 else f"{peak:.3f}"
        self.perturbation_panel.show_answer(f"largest change {size}" if peak > 0 else "no change")

    def _on_magnification_changed(self, *_) -> None:
        self.magnification.setEnabled(not self.auto_magnification.isChecked())
        self._factors[self.colour] = self.magnification_factor
        self._draw_perturbation()
        self.sig_magnification_changed.emit(self.colour, self.magnification_factor)

    def _on_mode_changed(self, mode: int) -> None:
        self._set_legend()
        self._draw_perturbation()
        self.sig_mode_changed.emit(mode)


def _scaled_bold(font: QFont, factor: float) -> QFont:
    font = QFont(font)
    font.setPointSizeF(font.pointSizeF() * factor)
    font.setBold(True)
    return font

