"""The transfer view: the adversarial image shown to the other networks of the same input, and whether it fools them."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from blindspot_gui.core.attack.transfer import TransferRow

ATTACKED = Qt.ItemDataRole.UserRole
"""Set on the network column's item of the network the search attacked."""
FOOLED = QColor(250, 210, 200)
HELD = QColor(215, 240, 215)


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
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
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
                item.setToolTip(text)
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

    def clear(self) -> None:
        self.table.setRowCount(0)
        self.summary.setText("")
