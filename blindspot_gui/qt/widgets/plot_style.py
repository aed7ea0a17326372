"""Charts read like the rest of the window: axis titles and tick labels in the application's font and size.

A chart too short for its vertical axis title (a short panel at 1280×720, or large text) shows
that title above the chart instead, so it is never cut (as "distortion (RM" was), and leaves out
the values of that axis while they would lie on top of each other.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QFont, QFontMetrics

AXES = ("left", "bottom", "right", "top")
TITLE_ROOM = 1.15
"""A vertical axis title is drawn beside the chart when the chart's height is this many times its length."""
VALUES_ROOM = 5
"""A vertical axis shows its values only when the chart is at least this many lines of text high."""


def style_plot(plot: pg.PlotWidget, font: QFont) -> None:
    """Tick labels and axis titles of ``plot`` in ``font`` (a title keeps its text and units)."""
    metrics = QFontMetrics(font)
    for name in AXES:
        axis = plot.getPlotItem().getAxis(name)
        axis.setTickFont(font)
        axis.setStyle(tickTextHeight=metrics.height(), tickTextWidth=metrics.horizontalAdvance("0.00"))
        axis.label.setFont(font)
        if axis.labelText or axis.labelUnits:
            axis.setLabel(axis.labelText, axis.labelUnits, axis.labelUnitPrefix,
                          **{**axis.labelStyle, "font-size": f"{font.pointSizeF():g}pt"})
        axis.picture = None
        axis.update()
    keeper = plot.findChild(AxisTitleKeeper)
    if keeper is None:
        keeper = AxisTitleKeeper(plot)
    keeper.font = QFont(font)
    keeper.place()


def style_plots(root, font: QFont) -> None:
    """Every chart under the widget ``root``."""
    for plot in root.findChildren(pg.PlotWidget):
        style_plot(plot, font)


class AxisTitleKeeper(QObject):
    """Moves a chart's vertical axis title above the chart while the chart is too short for it (and back)."""

    def __init__(self, plot: pg.PlotWidget):
        super().__init__(plot)
        self.plot = plot
        self.font = QFont(plot.font())
        self.above = False
        plot.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.place()
        return False

    def place(self) -> None:
        item = self.plot.getPlotItem()
        left = item.getAxis("left")
        text = left.labelText
        if not text:
            return
        metrics = QFontMetrics(self.font)
        room = self.plot.height() - item.getAxis("bottom").height()
        above = room < TITLE_ROOM * metrics.horizontalAdvance(text)
        left.showLabel(not above)
        left.setStyle(showValues=room >= VALUES_ROOM * metrics.height())  # values piled on each other say nothing
        if above or self.above:
            item.setTitle(text if above else None, size=f"{self.font.pointSizeF():g}pt", color="#444")
        self.above = above
