"""Pictures first: larger text takes its room from the details and the side panels, not from the three pictures.

The blind-spot tab is a vertical splitter: the pictures over the details (search settings, chart,
transfer table). Text that grows makes each picture panel's title, answer and probabilities taller;
:class:`PicturesFirst` hands the details' height to the pictures by as much as the pictures lost,
and the details scroll inside their own area, so that the pictures keep their height at any text
size until the details have no more to give. :func:`scrolling` puts a panel's contents in a scroll
area, so that a side panel or the details never widen the window when their text grows.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QFrame, QScrollArea, QSplitter, QWidget

SMALLEST_DETAILS = 60
"""Pixels the details keep at the least (a scroll bar and a line of them)."""


def scrolling(widget: QWidget, name: str) -> QScrollArea:
    """``widget`` in a frameless scroll area that asks for no minimum size of its own."""
    area = FittedScrollArea()
    area.setObjectName(name)
    area.setWidget(widget)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setMinimumSize(40, 40)
    return area


class FittedScrollArea(QScrollArea):
    """A scroll area whose widget fills the view and scrolls only below its minimum size.

    Qt's resizable scroll area sizes a widget with word-wrapped text by the height it prefers at that
    width, which scrolls details that would fit; this one goes by the widget's minimum size."""

    def setWidget(self, widget: QWidget) -> None:
        super().setWidget(widget)
        widget.installEventFilter(self)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_widget()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self._fit_widget()
        return False

    def _fit_widget(self) -> None:
        widget = self.widget()
        if widget is None:
            return
        view, least = self.viewport().size(), widget.minimumSizeHint()
        widget.resize(max(view.width(), least.width()), max(view.height(), least.height()))


class PicturesFirst(QObject):
    """Keeps the canvases of ``viewer`` (a BlindspotView) as tall when the text grows, from ``splitter``'s details.

    The window calls :meth:`text_changing` before it writes a new text size and :meth:`text_changed` after."""

    def __init__(self, splitter: QSplitter, viewer):
        super().__init__(splitter)
        self.splitter, self.viewer = splitter, viewer
        self.details = splitter.widget(1)
        self.given = 0
        """Pixels of their own minimum height the details have given to the pictures for larger text."""
        self._canvas_height: int | None = None
        """The canvases' height before the text changed (None: not measured)."""
        self.details.widget().installEventFilter(self)
        self._fit_minimum()

    def _fit_minimum(self) -> None:
        """The details ask for all of their contents' height, less what they gave the pictures."""
        need = self.details.widget().minimumSizeHint().height() + 2 * self.details.frameWidth()
        self.details.setMinimumHeight(max(SMALLEST_DETAILS, need - self.given))

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # the details' contents changed (rows, a longer text)
            self._fit_minimum()
        return False

    def _canvas(self) -> int:
        return self.viewer.original_panel.canvas.height()

    def text_changing(self) -> None:
        if self._canvas_height is None and self.viewer.isVisible():
            self._canvas_height = self._canvas()

    def text_changed(self) -> None:
        QTimer.singleShot(30, self._give_back)  # once the layouts have taken the new text

    def _give_back(self) -> None:
        """Move the height the pictures lost to the new text from the details to the pictures (or back)."""
        wanted, self._canvas_height = self._canvas_height, None
        if wanted is None:
            return
        lost = wanted - self._canvas()
        top, bottom = self.splitter.sizes()
        moved = max(min(lost, bottom - SMALLEST_DETAILS), -self.given)  # smaller text takes back only what was given
        self.given += moved
        self._fit_minimum()
        if moved != 0:
            self.splitter.setSizes([top + moved, bottom - moved])
