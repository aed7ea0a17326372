"""The model panel: every zoo model with its weight status, measured and paper test error, and description."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from blindspot_gui.core.weights import ModelStatus, model_status
from blindspot_gui.core.zoo import ZOO


def format_error(fraction) -> str:
    return "—" if fraction is None else f"{100 * fraction:.2f}%"


class ModelPanel(QWidget):
    """A table of the zoo; selecting a row announces the model's name."""

    sig_model_selected = Signal(str)

    COLUMNS = ("Model", "Weights", "Test error", "Paper", "Description")
    DESCRIPTION_COLUMN = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.statuses: list[ModelStatus] = []
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("model_table")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)
        heading = QLabel("Choose a network trained on MNIST digits:")
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table)
        self.refresh()

    def refresh(self) -> None:
        """Re-read which weights are present and their training records."""
        self.statuses = [model_status(spec) for spec in ZOO]
        self.table.setRowCount(len(self.statuses))
        for row, status in enumerate(self.statuses):
            cells = (
                status.spec.name,
                "present" if status.available else "missing",
                format_error(status.test_error),
                format_error(status.spec.paper.test_error),
                status.spec.description,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if column == self.DESCRIPTION_COLUMN:
                    item.setToolTip(text)
                if not status.available:
                    item.setForeground(Qt.GlobalColor.darkRed)
                self.table.setItem(row, column, item)

    def select(self, name: str) -> bool:
        """Select the model called ``name``; False if the zoo has no such model."""
        for row, status in enumerate(self.statuses):
            if status.spec.name == name:
                self.table.selectRow(row)
                return True
        return False

    def selected_status(self) -> ModelStatus | None:
        rows = self.table.selectionModel().selectedRows()
        return self.statuses[rows[0].row()] if rows else None

    def _on_table_selection_changed(self) -> None:
        status = self.selected_status()
        if status is not None:
            self.sig_model_selected.emit(status.spec.name)
