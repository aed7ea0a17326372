"""The unit explorer's grids: the images ranked along single units beside those of random directions, and the quiz.

Each grid has one row per direction, titled by what the direction is and by its label purity;
a double-clicked image is sent on to be attacked. In a quiz the two grids are shown as "Grid A"
and "Grid B" in a random order, their row titles hidden, until they are revealed.
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

    def __init__(self, dataset: Dataset, index: int, pixels: np.ndarray, label: int, score: float):
        super().__init__()
        self.dataset = dataset
        self.index = index
        self.setPixmap(pixmap_of(pixels, TILE))
        what = (f"test image {index}: a {label}" if dataset.files is None
                else f"{Path(dataset.files[index]).name} ({dataset.class_names[label]})")
        self.setToolTip(f"{what}, score ⟨φ(x), v⟩ = {score:.3f}\nDouble-click to attack it")
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
            if widget is not None:
                widget.deleteLater()
        self.row_titles = []
        for row, result in enumerate(results):
            text = f"{result.title} — purity {100 * result.purity:.0f}%"
            self.row_titles.append(text)
            caption = QLabel(f"row {row + 1} — purity {100 * result.purity:.0f}%" if hide_titles else text)
            caption.setObjectName("row_title")
            self.grid.addWidget(caption, 2 * row, 0, 1, max(len(result.indices), 1))
            for column, (index, score, label) in enumerate(zip(result.indices, result.scores, result.labels)):
                tile = ImageTile(dataset, int(index), dataset.images[int(index)].numpy(), int(label), float(score))
                tile.sig_open.connect(self.sig_open)
                self.grid.addWidget(tile, 2 * row + 1, column)

    def reveal(self, title: str) -> None:
        self.setTitle(title)
        captions = [self.grid.itemAt(i).widget() for i in range(self.grid.count())]
        for caption, text in zip((c for c in captions if c.objectName() == "row_title"), self.row_titles):
            caption.setText(text)


class GridPair(QWidget):
    """Units on the left, random directions on the right; in a quiz, Grid A and Grid B in a random order."""

    sig_open = Signal(object, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.left = DirectionGrid(UNITS_TITLE)
        self.right = DirectionGrid(RANDOM_TITLE)
        self.quiz_order: tuple[str, str] | None = None
        """What Grid A and Grid B show while a quiz hides it: ("units", "random") or ("random", "units")."""
        layout = QHBoxLayout(self)
        for grid in (self.left, self.right):
            grid.sig_open.connect(self.sig_open)
            layout.addWidget(grid)

    @property
    def quizzing(self) -> bool:
        return self.quiz_order is not None

    def start_quiz(self) -> None:
        """The next rows shown hide which grid is which."""
        self.quiz_order = random.choice([("units", "random"), ("random", "units")])

    def show_rows(self, units, randoms, dataset: Dataset) -> None:
        hidden = self.quizzing
        first, second = (self.right, self.left) if self.quiz_order == ("random", "units") else (self.left, self.right)
        first.show_rows(units, dataset, hide_titles=hidden)
        second.show_rows(randoms, dataset, hide_titles=hidden)
        self.left.setTitle("Grid A" if hidden else UNITS_TITLE)
        self.right.setTitle("Grid B" if hidden else RANDOM_TITLE)

    def reveal(self) -> str | None:
        """Name both grids and their rows again; what Grid A was (None when no quiz was on)."""
        if self.quiz_order is None:
            return None
        names = {"units": UNITS_TITLE, "random": RANDOM_TITLE}
        self.left.reveal(f"Grid A: {names[self.quiz_order[0]]}")
        self.right.reveal(f"Grid B: {names[self.quiz_order[1]]}")
        grid_a = names[self.quiz_order[0]]
        self.quiz_order = None
        return grid_a
