"""The network's class probabilities under an image: one bar per class for a few classes, the likeliest few for many.

A digit network's ten classes fit as bars (the answer in red, the target in orange); ImageNet's
1,000 do not, so a photo network's five likeliest classes are listed with their bars instead
(the target added when it is not among them). Both report the names they show, top first.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QGridLayout, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from blindspot_gui.qt.widgets.fitted_label import FittedLabel

BAR_CLASSES = 12
"""Networks with at most this many classes get one bar per class."""
TOP = 5
CHART_LINES = 4.5
"""A bar chart is this many lines of text tall (bars, and the class names under them)."""
ROW_PADDING = 4
"""Pixels above a line of text in a row of the likeliest classes."""
GOOD, BAD, TARGET_COLOUR = "#1a7f37", "#c0392b", "#d68910"
PREDICTED_BRUSH = pg.mkBrush(220, 60, 40)
TARGET_BRUSH = pg.mkBrush(250, 170, 40)
OTHER_BRUSH = pg.mkBrush(120, 140, 170)


def shown_order(probabilities: np.ndarray, target: int | None, count: int = TOP) -> list[int]:
    """The ``count`` likeliest classes, top first, and the target after them when it is not among them."""
    order = [int(i) for i in np.argsort(probabilities)[::-1][:count]]
    if target is not None and target not in order:
        order.append(target)
    return order


class ProbabilityChart(pg.PlotWidget):
    """A bar per class; the predicted class in red, the target in orange."""

    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.setYRange(0, 1, padding=0.02)
        self.getAxis("left").setTicks([[(0, "0"), (0.5, "0.5"), (1, "1")]])
        self.bars = pg.BarGraphItem(x=np.arange(10), height=np.zeros(10), width=0.7, brush=OTHER_BRUSH)
        self.addItem(self.bars)
        self.setMinimumSize(60, 40)
        self.getPlotItem().setContentsMargins(0, 2, 4, 0)
        self.set_class_names([str(digit) for digit in range(10)])

    def set_class_names(self, names) -> None:
        self.class_names = list(names)
        self.getAxis("bottom").setTicks([list(enumerate(self.class_names))])
        self.bars.setOpts(x=np.arange(len(self.class_names)), height=np.zeros(len(self.class_names)),
                          brushes=[OTHER_BRUSH] * len(self.class_names))
        self.setXRange(-0.6, len(self.class_names) - 0.4, padding=0)

    def show_probabilities(self, probabilities, target: int | None = None) -> None:
        probabilities = np.asarray(probabilities, dtype=float)
        predicted = int(np.argmax(probabilities)) if probabilities.size else -1
        brushes = [PREDICTED_BRUSH if k == predicted else TARGET_BRUSH if k == target else OTHER_BRUSH
                   for k in range(len(probabilities))]
        self.bars.setOpts(height=probabilities, brushes=brushes)

    def clear_bars(self) -> None:
        self.bars.setOpts(height=np.zeros(len(self.class_names)))


class TopClasses(QWidget):
    """The five likeliest classes as labelled bars: the winner in red or green, the target in orange."""

    @staticmethod
    def height_for(font: QFont) -> int:
        """Room for every row at this font, so that all panels keep the same image size at any text size."""
        return (TOP + 1) * (QFontMetrics(font).height() + ROW_PADDING + 1)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows = []
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(1)
        for row in range(TOP + 1):
            name, bar = FittedLabel(""), QProgressBar()
            name.setMinimumWidth(40)
            bar.setRange(0, 1000)
            bar.setAlignment(Qt.AlignmentFlag.AlignCenter)
            bar.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
            bar.setMinimumWidth(40)
            layout.addWidget(name, row, 0)
            layout.addWidget(bar, row, 1)
            layout.setRowStretch(row, 1)
            self.rows.append((name, bar))
        layout.setColumnStretch(0, 3)
        layout.setColumnStretch(1, 2)
        self.clear()

    def show_classes(self, probabilities: np.ndarray, names: list[str], target: int | None = None,
                     winner_colour: str = GOOD) -> None:
        order = shown_order(probabilities, target)
        for row, (name, bar) in enumerate(self.rows):
            visible = row < len(order)
            name.setVisible(visible)
            bar.setVisible(visible)
            if not visible:
                continue
            index = order[row]
            colour = winner_colour if row == 0 else TARGET_COLOUR if index == target else "#7f8c8d"
            name.setText(names[index] + ("  (target)" if index == target else ""))
            name.setToolTip(f"class {index}: {names[index]}")
            bar.setValue(int(round(1000 * probabilities[index])))
            bar.setFormat(f"{100 * probabilities[index]:.1f}%")
            bar.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")

    def clear(self) -> None:
        for name, bar in self.rows:
            name.setVisible(False)
            bar.setVisible(False)

    def texts(self) -> list[str]:
        return [name.text() for name, _ in self.rows if name.isVisibleTo(self)]


class ProbabilityView(QWidget):
    """Bars for every class of a network with few classes, the likeliest five of one with many."""

    @staticmethod
    def height_for(font: QFont, as_bars: bool) -> int:
        """The height of the bars (or the likeliest classes) at this font: the same in every panel."""
        return int(CHART_LINES * QFontMetrics(font).height()) if as_bars else TopClasses.height_for(font)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.chart = ProbabilityChart()
        self.top = TopClasses()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.chart)
        layout.addWidget(self.top)
        self._texts: list[str] = []
        self.set_class_names([str(digit) for digit in range(10)])

    @property
    def as_bars(self) -> bool:
        return len(self.class_names) <= BAR_CLASSES

    def set_class_names(self, names) -> None:
        self.class_names = list(names)
        self.chart.setVisible(self.as_bars)
        self.top.setVisible(not self.as_bars)
        if self.as_bars:
            self.chart.set_class_names(self.class_names)
        self.clear()

    def show_probabilities(self, probabilities, target: int | None = None, winner_colour: str = GOOD) -> None:
        probabilities = np.asarray(probabilities, dtype=float)
        order = shown_order(probabilities, target)
        self._texts = [self.class_names[i] + ("  (target)" if i == target else "") for i in order]
        if self.as_bars:
            self.chart.show_probabilities(probabilities, target)
        else:
            self.top.show_classes(probabilities, self.class_names, target, winner_colour)

    def clear(self) -> None:
        self._texts = []
        self.chart.clear_bars()
        self.top.clear()

    def texts(self) -> list[str]:
        """The class names shown, likeliest first, the target marked (for tests and screen readers)."""
        return list(self._texts)
