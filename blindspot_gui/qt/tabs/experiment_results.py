"""The Experiments tab's result widgets: ours beside the paper's in a table (matrices as heat maps), and the curves
of adversarial training, epoch by epoch."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHBoxLayout, QTableWidget, QTableWidgetItem, QWidget

from blindspot_gui.core.experiments import PAPER_ADVTRAIN
from blindspot_gui.core.report import format_value
from blindspot_gui.core.training.adversarial import AdvTrainReport
from blindspot_gui.qt.window_layout import SizesOwnText

LARGEST_TEXT = 2.4
"""A result with room to spare (a photo table's one row on a 1920x1080 screen) is written up to this much larger than
the window's text, so that a room can read it; a table that fills its space keeps the window's size."""
FILL = 0.9
"""The share of the table's room its grown text may take (the rest: rounding, and room to breathe)."""


def heat_colour(fraction: float) -> QColor:
    """White at 0% to deep red at 100%, readable under black text at every level."""
    fraction = min(max(fraction, 0.0), 1.0)
    return QColor(255, int(255 - 150 * fraction), int(255 - 170 * fraction))


def compact(value, unit: str, signed: bool = False) -> str:
    """A figure as short as it can be read on a projector."""
    if unit == "percent" and value is not None:
        digits = 2 if abs(value) < 0.1 else 1  # small error rates need their second decimal
        return f"{100 * value:+.{digits}f}" if signed else f"{100 * value:.{digits}f}%"
    return format_value(value, unit, signed)


def two_lines(text: str) -> str:
    """``text`` broken at the space nearest its middle (a column title as narrow as two lines make it)."""
    spaces = [index for index, character in enumerate(text) if character == " "]
    if not spaces:
        return text
    middle = min(spaces, key=lambda index: abs(2 * index - len(text)))
    return f"{text[:middle]}\n{text[middle + 1:]}"


class ResultTable(SizesOwnText, QTableWidget):
    """Ours beside the paper's: each cell our figure, then the paper's and the difference; matrices as heat maps.
    Its text is the window's, larger where the table has room to spare (``text_factor``)."""

    def show_table(self, table) -> None:
        self.clear()
        self.setRowCount(len(table.rows))
        self.setColumnCount(len(table.columns))
        crowded = len(table.columns) > 4
        self.setHorizontalHeaderLabels([two_lines(column) if crowded and len(column) > 14 else column
                                        for column in table.columns])
        self.setVerticalHeaderLabels([label for label, _ in table.rows])
        for row, (label, cells) in enumerate(table.rows):
            for column, cell in enumerate(cells):
                self.setItem(row, column, self._item(table, label, table.columns[column], cell))
        self.fit_text()

    def write_text_at(self, factor: float) -> None:
        """Every text of the table at the window's text size times ``factor``, its rows as tall as their text."""
        super().write_text_at(factor)
        self.verticalHeader().setMinimumSectionSize(self.fontMetrics().height())
        self.resizeRowsToContents()

    def text_factor(self) -> float:
        """How much larger than the window's its text can be while every row and column still fits (measured at the
        window's size; text and rows grow together): 1 to LARGEST_TEXT."""
        if not self.rowCount() or not self.isVisible():
            return 1.0
        self.write_text_at(1.0)
        header = self.horizontalHeader()
        height = header.sizeHint().height() + sum(self.rowHeight(row) for row in range(self.rowCount()))
        width = self.verticalHeader().sizeHint().width() + sum(
            max(self.sizeHintForColumn(column), header.sectionSizeHint(column)) for column in range(self.columnCount()))
        frame = 2 * self.frameWidth()
        grown = FILL * min((self.height() - frame) / max(height, 1), (self.width() - frame) / max(width, 1))
        return min(max(grown, 1.0), LARGEST_TEXT)

    def fit_height(self) -> None:
        """No taller than its rows (when curves below need the room)."""
        height = self.horizontalHeader().height() + 2 * self.frameWidth() + sum(
            self.rowHeight(row) for row in range(self.rowCount()))
        self.setMaximumHeight(height + self.horizontalScrollBar().sizeHint().height())

    @staticmethod
    def _item(table, label: str, column: str, cell) -> QTableWidgetItem:
        ours = compact(cell.ours, cell.unit)
        text = ours
        if cell.paper is not None:
            text += f"\npaper {compact(cell.paper, cell.unit)}  ({compact(cell.difference, cell.unit, True)})"
        item = QTableWidgetItem(text)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        item.setToolTip(f"{label} → {column}: ours {ours}"
                        + ("" if cell.paper is None else f", the paper's {format_value(cell.paper, cell.unit)}"))
        if table.heat_map and cell.unit == "percent" and cell.ours is not None:
            item.setBackground(QBrush(heat_colour(cell.ours)))
            item.setForeground(QBrush(QColor("black")))
        return item


class AdvTrainCurves(QWidget):
    """Test error and average minimum distortion of the net being trained, epoch by epoch, against the baseline."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.error_plot = self._plot("test error (%)", "Test error while training with adversarial examples")
        self.distortion_plot = self._plot("av. min. distortion (RMS)", "Distance to its blind spots")
        self.error_curve = self.error_plot.plot([], [], pen=pg.mkPen((200, 50, 40), width=2), symbol="o", symbolSize=4)
        self.distortion_curve = self.distortion_plot.plot([], [], pen=pg.mkPen((40, 90, 200), width=2), symbol="o",
                                                          symbolSize=6)
        self.references: list = []
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.error_plot)
        layout.addWidget(self.distortion_plot)
        self.clear()

    @staticmethod
    def _plot(label: str, title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(background="w")
        plot.setTitle(title, color="#333")
        plot.setLabel("left", label)
        plot.setLabel("bottom", "epoch")
        plot.getAxis("left").enableAutoSIPrefix(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.setMinimumHeight(160)
        return plot

    def clear(self) -> None:
        self.points: list[AdvTrainReport] = []
        self.error_curve.setData([], [])
        self.distortion_curve.setData([], [])
        for plot, line in self.references:
            plot.removeItem(line)
        self.references = []
        self.baseline_error = None
        self._reference(self.error_plot, 100 * PAPER_ADVTRAIN["test_error"], "paper: below 1.2%", (90, 90, 90), 0.65)

    def _reference(self, plot, value: float, text: str, colour, position: float) -> None:
        line = pg.InfiniteLine(value, angle=0, pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DashLine),
                               label=text, labelOpts={"position": position, "color": colour, "anchors": [(0, 1), (0, 1)]})
        plot.addItem(line)
        self.references.append((plot, line))

    def show_baseline(self, baseline: dict) -> None:
        self.baseline_error = 100 * baseline["test_error"]
        self._reference(self.error_plot, self.baseline_error, f"weight decay only: {baseline['test_error']:.2%}",
                        (40, 130, 60), 0.3)
        self._reference(self.distortion_plot, baseline["distortion"],
                        f"weight decay only: {baseline['distortion']:.4f}", (40, 130, 60), 0.3)

    def add(self, report: AdvTrainReport) -> None:
        self.points.append(report)
        errors = [100 * p.test_error for p in self.points]
        self.error_curve.setData([p.epoch for p in self.points], errors)
        # the first epochs' errors are large; keep the region around the targets readable
        ceiling = max(4.0, 2.5 * (self.baseline_error or 1.6))
        self.error_plot.setYRange(0, min(max(errors), ceiling) * 1.05, padding=0)
        measured = [p for p in self.points if p.distortion is not None]
        self.distortion_curve.setData([p.epoch for p in measured], [p.distortion for p in measured])
