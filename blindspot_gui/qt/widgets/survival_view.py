"""The Survival view: does the blind spot on screen keep fooling the network after natural changes, family by family,
and does a vote of jittered copies (the floating-window defence, core/defence.py) stop it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QCheckBox, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from blindspot_gui.core.defence import FloatingWindow, Vote
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
        self.shows = None
        """the result whose figures are shown or being computed (the blind-spot tab computes a view once per result)."""
        self.vote = QCheckBox("Defend with a vote of jittered copies")
        self.vote.setObjectName("vote")
        self.vote.setToolTip("The floating-window defence: the answer is the majority of 9 copies of the image, "
                             "shifted by up to a pixel (2 for a photo), with noise. Does it stop this blind spot? "
                             "Try the Robust goal against it.")
        self.vote_line = QLabel("")
        self.vote_line.setObjectName("vote_line")
        self.vote_line.setWordWrap(True)
        self.vote_line.setVisible(False)
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
        layout.addWidget(self.vote)
        layout.addWidget(self.vote_line)

    def clear(self) -> None:
        self.survival = self.shows = None
        self.table.setRowCount(0)
        self.summary.setText("")
        self.show_vote(None)

    def show_vote(self, ballot: Vote | None, window: FloatingWindow | None = None, class_name=str,
                  truth: int | None = None) -> None:
        """The vote's answers on the original and the adversarial image (``ballot`` of both), or nothing (None)."""
        if ballot is None:
            self.vote_line.setText("")
            self.vote_line.setVisible(False)
            return
        (original, adversarial), (kept, fooling) = ballot.answers, ballot.votes
        stopped = int(adversarial) == truth
        self.vote_line.setText(
            f"Vote: {class_name(int(original))} ({kept}/{ballot.copies}) on the original, "
            f"{class_name(int(adversarial))} ({fooling}/{ballot.copies}) on the blind spot: "
            + ("stopped." if stopped else "<b>not stopped</b>."))
        self.vote_line.setVisible(True)
        self.vote_line.setToolTip(f"The vote: {window.describe()}." if window else "")

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
        self.summary.setText(f"Still fooled after {100 * total:.0f}% of {len(found.names)} natural changes "
                             f"(change RMS {found.distortion:.4f}).")
        self.summary.setToolTip("Red: the blind spot survives some of the family's changes; green: none of them")
