"""The unit explorer's grids: the images ranked along single units beside those of random directions, and the quiz.

Each grid has one row per direction, titled by what the direction is and by its label purity;
a double-clicked image is sent on to be attacked. In a quiz the units' rows and the random
directions' rows are mixed in one grid in a seeded random order, every title, purity and score
hidden, until they are revealed.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox, QHBoxLayout, QLabel, QWidget

from blindspot_gui.core.data import Dataset
from blindspot_gui.qt.image_source import pixmap_of

TILE = 50
UNITS_TITLE = "Single units (natural basis)"
RANDOM_TITLE = "Random directions"


class ImageTile(QLabel):
    """One image of a row; hover tells its score and label, double-click sends it to the blind-spot viewer."""

    sig_open = Signal(object, int)
    """The data set the tile was drawn from, and the image's index in it."""

    def __init__(self, dataset: Dataset, index: int, pixels: np.ndarray, label: int, score: float,
                 hide_score: bool = False):
        super().__init__()
        self.dataset = dataset
        self.index = index
        self.setPixmap(pixmap_of(pixels, TILE))
        what = (f"test image {index}: a {label}" if dataset.files is None
                else f"{Path(dataset.files[index]).name} ({dataset.class_names[label]})")
        self.full_tip = f"{what}, score ⟨φ(x), v⟩ = {score:.3f}\nDouble-click to attack it"
        self.setToolTip("Double-click to attack it" if hide_score else self.full_tip)  # a score's scale gives units away
        self.setFixedSize(TILE + 4, TILE + 4)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)

    def mouseDoubleClickEvent(self, event) -> None:
        self.sig_open.emit(self.dataset, self.index)


class DirectionGrid(QGroupBox):
    """A titled grid: one row per direction, its title and purity above its images."""

    sig_open = Signal(object, int)

    def __init__(self, title: str, parent=None):
        super().__init__(title, parent)
        self.grid = QGridLayout(self)
        self.grid.setHorizontalSpacing(2)
        self.row_titles: list[str] = []

    def show_rows(self, results, dataset: Dataset, hide_titles: bool = False) -> None:
        while self.grid.count():
            widget = self.grid.takeAt(0).widget()
            if widget is not None:  # hidden at once: deleteLater waits for the event loop, a busy one a while
                widget.hide()
                widget.deleteLater()
        self.row_titles = []
        for row, result in enumerate(results):
            text = f"{result.title} — purity {100 * result.purity:.0f}%"
            if hide_titles:
                text = f"Row {row + 1}: {text}"
            self.row_titles.append(text)
            caption = QLabel(f"Row {row + 1}" if hide_titles else text)
            caption.setObjectName("row_title")
            self.grid.addWidget(caption, 2 * row, 0, 1, max(len(result.indices), 1))
            for column, (index, score, label) in enumerate(zip(result.indices, result.scores, result.labels)):
                tile = ImageTile(dataset, int(index), dataset.images[int(index)].numpy(), int(label), float(score),
                                 hide_titles)
                tile.sig_open.connect(self.sig_open)
                self.grid.addWidget(tile, 2 * row + 1, column)
        for widget in self.widgets():  # a layout shows what it gains only once the event loop runs: now, instead
            widget.show()

    def widgets(self) -> list[QWidget]:
        return [self.grid.itemAt(i).widget() for i in range(self.grid.count())]

    def captions(self) -> list[str]:
        """The row titles as shown now."""
        return [widget.text() for widget in self.widgets() if widget.objectName() == "row_title"]

    def reveal(self, title: str) -> None:
        self.setTitle(title)
        for caption, text in zip((w for w in self.widgets() if w.objectName() == "row_title"), self.row_titles):
            caption.setText(text)
        for tile in self.widgets():
            if isinstance(tile, ImageTile):
                tile.setToolTip(tile.full_tip)


QUIZ_TITLE = "Quiz: which rows are single units, which random directions?"


class GridPair(QWidget):
    """Units on the left, random directions on the right; in a quiz, all rows mixed in one grid."""

    sig_open = Signal(object, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.left = DirectionGrid(UNITS_TITLE)
        self.right = DirectionGrid(RANDOM_TITLE)
        self.quiz_seed: int | None = None
        """While a quiz hides which row is which: the seed of its row order."""
        self.quiz_kinds: list[str] = []
        """What each row of the quiz shows, top to bottom: "unit" or "random"."""
        layout = QHBoxLayout(self)
        for grid in (self.left, self.right):
            grid.sig_open.connect(self.sig_open)
            layout.addWidget(grid)

    @property
    def quizzing(self) -> bool:
        return self.quiz_seed is not None

    def start_quiz(self, seed: int) -> None:
        """The next rows shown are mixed in an order drawn from ``seed``, every label hidden."""
        self.quiz_seed = seed

    def show_rows(self, units, randoms, dataset: Dataset) -> None:
        if self.quizzing:
            self._show_quiz(units, randoms, dataset)
            return
        self.right.setVisible(True)
        self.left.show_rows(units, dataset)
        self.right.show_rows(randoms, dataset)
        self.left.setTitle(UNITS_TITLE)
        self.right.setTitle(RANDOM_TITLE)

    def _show_quiz(self, units, randoms, dataset: Dataset) -> None:
        rows = [("unit", row) for row in units] + [("random", row) for row in randoms]
        random.Random(self.quiz_seed).shuffle(rows)
        self.quiz_kinds = [kind for kind, _ in rows]
        self.left.show_rows([row for _, row in rows], dataset, hide_titles=True)
        self.left.setTitle(QUIZ_TITLE)
        self.right.show_rows([], dataset)
        self.right.setVisible(False)

    def reveal(self) -> list[int] | None:
        """Name every row of the quiz; the (1-based) rows that were single units (None when no quiz was on)."""
        if not self.quizzing:
            return None
        unit_rows = [row + 1 for row, kind in enumerate(self.quiz_kinds) if kind == "unit"]
        self.left.reveal(f"Quiz revealed: rows {', '.join(map(str, unit_rows))} were single units")
        self.quiz_seed = None
        return unit_rows
