"""The Survival view: does the blind spot on screen keep fooling the network after natural changes, family by family."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from blindspot_gui.core.survival import FAMILIES, Survival

FAMILY_WORDS = {"codec": "saved as PNG / JPEG", "shift": "shifted 1–2 px", "rotation": "rotated 2–5°",
                "rescale": "rescaled ×0.9 / ×1.1", "brightness": "brightness ±5%", "noise": "noise of its size"}
KEPT = QColor(250, 210, 200)
LOST = QColor(215, 240, 215)


class SurvivalView(QWidget):
    """One row per family of changes: how many of its changes leave the network fooled."""

    COLUMNS = ("Natural change", "Still fooled")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.survival: Survival | None = None
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("survival_table")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.summary = QLabel("Run a search: this shows whether its blind spot survives saving, shifting, rotating, "
                              "rescaling, brightening and noise.")
        self.summary.setObjectName("survival_summary")
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.summary)

    def clear(self) -> None:
        self.survival = None
        self.table.setRowCount(0)
        self.summary.setText("")

    def show_survival(self, found: Survival) -> None:
        self.survival = found
        survived, families = found.survived(), np.array(found.families)
        self.table.setRowCount(len(FAMILIES))
        for row, family in enumerate(FAMILIES):
            mine = families == family
            kept, count = int(survived[mine].sum()), int(mine.sum())
            names = [name for name, keep in zip(np.array(found.names)[mine], survived[mine]) if keep]
            cells = (FAMILY_WORDS[family], f"{kept} of {count}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip("Still fooled after: " + ", ".join(names) if names else "Fooled after none of them")
                item.setBackground(QBrush(KEPT if kept else LOST))
                if column == 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, column, item)
        total = found.shares()["all"]
        self.summary.setText(f"It stays fooled under {100 * total:.0f}% of {len(found.names)} natural changes "
                             f"(change RMS {found.distortion:.4f}); red: some survive, green: none.")
