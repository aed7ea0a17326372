"""The transfer view: the adversarial image shown to the other networks of the same input, and whether it fools them."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from blindspot_gui.core.attack.transfer import TransferRow

ATTACKED = Qt.ItemDataRole.UserRole
"""Set on the network column's item of the network the search attacked."""
FOOLED = QColor(250, 210, 200)
HELD = QColor(215, 240, 215)
ORIGINAL = 1
"""The column of each network's answer on the original image."""
NAME_SHARE = 0.3
"""The share of the table's width the network's name keeps at least when not every column fits whole."""


class TransferView(QWidget):
    """A table: model, its answer on the original, its answer on the adversarial image, fooled or not."""

    COLUMNS = ("Network", "Original", "Adversarial", "Fooled?")

    def __init__(self, class_names=tuple(str(d) for d in range(10)), parent=None):
        super().__init__(parent)
        self.class_names = tuple(class_names)
        self.heading = QLabel("Does the same adversarial image fool the other networks?")
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("transfer_table")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # "FC100…(P1)": what tells networks apart stays
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # set by _fit_columns
        self.table.horizontalHeader().setStretchLastSection(False)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the columns fit the width
        self.summary = QLabel("")
        self.summary.setObjectName("transfer_summary")
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.summary)

    def set_class_names(self, names) -> None:
        self.class_names = tuple(names)

    def _answer(self, label: int, confidence: float) -> str:
        name = self.class_names[label] if 0 <= label < len(self.class_names) else str(label)
        return f"{name}  ({100 * confidence:.0f}%)"

    def show_rows(self, rows: list[TransferRow], made_for: str) -> None:
        self.table.setRowCount(len(rows))
        for row, entry in enumerate(rows):
            cells = (
                entry.model,
                self._answer(entry.original_prediction, entry.original_confidence),
                self._answer(entry.adversarial_prediction, entry.adversarial_confidence),
                "yes" if entry.fooled else "no",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{cells[1]} → {text}" if column == 2 else text)
                if column == 0 and entry.model == made_for:  # the network attacked: in bold, no words to cut
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                    item.setData(ATTACKED, True)
                    item.setToolTip(f"{text}: the network the search fooled")
                if column == 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    item.setBackground(QBrush(FOOLED if entry.fooled else HELD))
                self.table.setItem(row, column, item)
        others = [entry for entry in rows if entry.model != made_for]
        fooled = sum(entry.fooled for entry in others)
        self.summary.setText(f"It also fools {fooled} of the {len(others)} other networks." if others else "")
        QTimer.singleShot(0, self._fit_columns)  # once the table knows whether it needs a scroll bar

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Every column whole where there is room. Else the answer on the original steps aside (it is in the
        tooltip of the answer on the adversarial image), and if that is not enough the network's name gives way,
        down to NAME_SHARE of the width, before the answer (cut in the middle, so that its percentage stays)."""
        header, table = self.table.horizontalHeader(), self.table
        needed = [max(header.sectionSizeHint(column), table.sizeHintForColumn(column))
                  for column in range(len(self.COLUMNS))]
        available = table.viewport().width()
        scroll_bar = table.verticalScrollBar()
        if not scroll_bar.isVisible() and table.verticalHeader().length() > table.viewport().height():
            available -= scroll_bar.sizeHint().width()  # it is about to appear
        whole = sum(needed) <= available
        table.setColumnHidden(ORIGINAL, not whole)
        if whole:
            widths = [available - sum(needed[1:])] + needed[1:]
        else:
            name = min(needed[0], max(int(NAME_SHARE * available), available - needed[2] - needed[3]))
            widths = [name, 0, max(available - name - needed[3], 0), needed[3]]
        for column, width in enumerate(widths):
            if column != ORIGINAL or whole:
                header.resizeSection(column, width)

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.summary.setText("")
