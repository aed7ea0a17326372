"""For people inspecting images: flicker between original and adversarial, actual pixels (1:1), the pixel under the pointer.

Attached to a :class:`~blindspot_gui.qt.blindspot_view.BlindspotView`. Flicker (F, or holding the
mouse button down on the adversarial picture) shows the original in the adversarial panel, so the
eye catches what moved; actual pixels (Ctrl+1) shows one image pixel per screen pixel, drawn
nearest-pixel, around the centre of what is shown; moving the pointer over any picture reads the
pixel under it: its value before and after, and the change, in 0–255 levels.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, Signal

from blindspot_gui.qt.widgets.change_picture import picture_of


class PixelInspector(QObject):
    """Click-and-hold flicker, 1:1 zoom and the pixel readout of one viewer (its ``original_pixels`` and
    ``adversarial_pixels``)."""

    sig_pixel = Signal(str)
    """The readout of the pixel under the pointer ("" when the pointer leaves the pictures)."""

    def __init__(self, viewer, parent=None):
        super().__init__(parent or viewer)
        self.viewer = viewer
        for panel in viewer.all_panels():
            panel.view.scene().sigMouseMoved.connect(lambda position, panel=panel: self._pointer_at(panel, position))
            panel.canvas.viewport().installEventFilter(self)
        self._hold_area = viewer.adversarial_panel.canvas.viewport()
        self._hold_area.setToolTip("Hold the mouse button down to see the original here (F)")

    def eventFilter(self, watched, event) -> bool:
        """Click-and-hold on the adversarial picture flickers to the original until the button is let go."""
        if watched is self._hold_area:  # compared in Python: the filter also sees the window being taken down
            if event.type() == QEvent.Type.MouseButtonPress:
                self.viewer.set_flicker(True)
            elif event.type() == QEvent.Type.MouseButtonRelease:
                self.viewer.set_flicker(False)
        if event.type() == QEvent.Type.Leave:
            self.sig_pixel.emit("")
        return False

    # --- actual pixels ------------------------------------------------------------------------------------------
    def actual_pixels(self) -> None:
        """One image pixel per screen pixel in every panel, around the centre of what the original panel shows."""
        view = self.viewer.original_panel.view
        (left, right), (top, bottom) = view.viewRange()
        centre = QPointF((left + right) / 2, (top + bottom) / 2)
        width, height = view.width(), view.height()
        if width <= 0 or height <= 0:
            return
        view.setRange(xRange=(centre.x() - width / 2, centre.x() + width / 2),
                      yRange=(centre.y() - height / 2, centre.y() + height / 2), padding=0.0)

    # --- the pixel under the pointer ----------------------------------------------------------------------------
    def _pointer_at(self, panel, position) -> None:
        original, adversarial = self.viewer.original_pixels, self.viewer.adversarial_pixels
        if original is None:
            return
        point = panel.image.mapFromScene(position)
        self.sig_pixel.emit(pixel_readout(original, adversarial, int(point.x()), int(point.y())))


def pixel_readout(original, adversarial, column: int, row: int) -> str:
    """The pixel at (column, row): its value before and after and the change, in 0–255 levels ("" outside)."""
    before = picture_of(original)
    height, width = before.shape[-2:]
    if not (0 <= row < height and 0 <= column < width):
        return ""
    value = before[..., row, column]
    text = f"Pixel ({column}, {row}): {_levels(value)}"
    if adversarial is not None:
        after_value = picture_of(adversarial)[..., row, column]
        change = np.round(255 * np.asarray(after_value, dtype=np.float64)) - np.round(255 * np.asarray(value, np.float64))
        text += f" → {_levels(after_value)}, change {_signed(change)}"
    return text


def _levels(value) -> str:
    levels = np.round(255 * np.atleast_1d(np.asarray(value, dtype=np.float64))).astype(int)
    return str(levels[0]) if levels.size == 1 else "RGB " + "/".join(str(level) for level in levels)


def _signed(change) -> str:
    values = np.atleast_1d(change).astype(int)
    return "/".join(f"{value:+d}" for value in values)
