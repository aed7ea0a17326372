"""The unit explorer: the test images that most excite single units beside those of random directions.

Rows are directions, columns the top-k images; natural-basis rows on the left, random-direction
rows on the right, each titled by what it is and by its label purity (the share of its images
that carry the most frequent label). A quiz hides which grid is which until "Reveal". All ranking
runs in the task runner; the activation cache is built there too, with progress and Cancel.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core.data import Dataset
from blindspot_gui.core.units import (
    MODES,
    ActivationCache,
    layer_names,
    purity_comparison,
    random_direction,
    rank_many,
    rank_units,
    unit_title,
)
from blindspot_gui.core.models.photo_catalogue import find_photo_model, is_photo_model_name
from blindspot_gui.core.image_folders import PHOTO_FOLDER_LIMIT, load_image_folder
from blindspot_gui.core.resources import resource_path
from blindspot_gui.qt.image_source import ImageChoice, pixmap_of

TILE = 50
CANCELLABLE_SLOTS = ("units", "units-data")
"""The runner slots of this tab that Cancel stops: ranking images along directions, reading a folder."""


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
                tile.sig_open.connect(lambda data, index: self.sig_open.emit(data, index))
                self.grid.addWidget(tile, 2 * row + 1, column)

    def reveal(self, title: str) -> None:
        self.setTitle(title)
        captions = [self.grid.itemAt(i).widget() for i in range(self.grid.count())]
        for caption, text in zip((c for c in captions if c.objectName() == "row_title"), self.row_titles):
            caption.setText(text)


def default_layer(names: list[str], photos: bool) -> str:
    """The layer shown first: a digit network's last hidden layer; a photo network's pooled features."""
    if photos:
        pooled = [name for name in names if "pool" in name.lower()]
        return pooled[-1] if pooled else names[-1]
    hidden = [name for name in names if name.startswith(("sigmoid", "relu", "code"))]
    return hidden[-1] if hidden else names[-1]


class UnitExplorer(QWidget):
    """Model, layer, first unit, rows and k; units against random directions, quiz and statistics."""

    sig_image_requested = Signal(object)
    """An ImageChoice: the double-clicked digit, to be attacked."""
    sig_photo_requested = Signal(str)
    """The file of a double-clicked photo, to be attacked."""
    sig_rows_shown = Signal()
    sig_statistics_shown = Signal(dict)

    def __init__(self, runner, models, dataset: Dataset, model_names, parent=None):
        super().__init__(parent)
        self.runner, self.models, self.dataset = runner, models, dataset
        self.cache = ActivationCache()
        self.random_seed = 1
        self.data_note = ""
        self.quiz_order: tuple[str, str] | None = None
        self.test_set = dataset
        self.data = QComboBox()
        self.data.setObjectName("units_data")
        self.data.addItems(["MNIST test set", "Image folder…"])
        self.data.setToolTip("The held-out images to rank: the MNIST test set or a folder of your own images "
                             "(photo networks start with the sample photos)")
        self.model = QComboBox()
        self.model.setObjectName("units_model")
        self.model.addItems(model_names)
        self.layer = QComboBox()
        self.layer.setObjectName("units_layer")
        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.mode.setToolTip("Convolutional layers: the whole feature map (the paper) or one number per channel")
        self.first_unit = QSpinBox()
        self.first_unit.setObjectName("first_unit")
        self.first_unit.setPrefix("units from ")
        self.rows = QSpinBox()
        self.rows.setRange(1, 8)
        self.rows.setValue(4)
        self.rows.setSuffix(" rows")
        self.top_k = QSpinBox()
        self.top_k.setObjectName("top_k")
        self.top_k.setRange(4, 16)
        self.top_k.setValue(8)
        self.top_k.setPrefix("top ")
        self.bottom = QCheckBox("least exciting instead")
        self.new_random = QPushButton("New random directions")
        self.new_random.setObjectName("new_random")
        self.quiz = QPushButton("Quiz")
        self.quiz.setToolTip("Hide which grid shows units and which random directions; the audience guesses")
        self.reveal_button = QPushButton("Reveal")
        self.reveal_button.setEnabled(False)
        self.compare = QPushButton("Compare 50 units with 50 random directions")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("ready")
        self.cancel = QPushButton("Cancel")
        self.cancel.setEnabled(False)
        self.statistics = QLabel("")
        self.statistics.setObjectName("units_statistics")
        self.statistics.setWordWrap(True)
        self.left = DirectionGrid("Single units (natural basis)")
        self.right = DirectionGrid("Random directions")
        for grid in (self.left, self.right):
            grid.sig_open.connect(self._on_tile_opened)
        self._layout_widgets()
        self._connect()
        self._on_model_changed()

    def _layout_widgets(self) -> None:
        for combo in (self.model, self.layer):  # long names must not widen the window beyond a laptop screen
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        controls = QHBoxLayout()
        for widget in (self.data, QLabel("Network"), self.model, QLabel("layer"), self.layer, self.mode):
            controls.addWidget(widget)
        controls.addStretch(1)
        shown = QHBoxLayout()
        for widget in (self.first_unit, self.rows, self.top_k, self.bottom, self.new_random, self.quiz,
                       self.reveal_button):
            shown.addWidget(widget)
        shown.addStretch(1)
        actions = QHBoxLayout()
        for widget in (self.compare, self.progress, self.cancel):
            actions.addWidget(widget)
        explanation = QLabel("Are the images that most excite <b>one unit</b> more alike than those that most "
                             "excite a <b>random direction</b> of the same layer? The paper found they are not: "
                             "meaning lives in the space, not in the units. Double-click an image to attack it.")
        explanation.setWordWrap(True)
        grids = QHBoxLayout()
        grids.addWidget(self.left)
        grids.addWidget(self.right)
        holder = QWidget()
        holder.setLayout(grids)
        scroll = QScrollArea()
        scroll.setWidget(holder)
        scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(controls)
        layout.addLayout(shown)
        layout.addLayout(actions)
        layout.addWidget(self.statistics)
        layout.addWidget(scroll, stretch=1)

    def _connect(self) -> None:
        self.model.currentTextChanged.connect(self._on_model_changed)
        self.data.activated.connect(self._on_data_chosen)
        for signal in (self.layer.currentTextChanged, self.mode.currentTextChanged, self.first_unit.valueChanged,
                       self.rows.valueChanged, self.top_k.valueChanged, self.bottom.toggled):
            signal.connect(self.refresh)
        self.new_random.clicked.connect(self.next_random_directions)
        self.quiz.clicked.connect(self.start_quiz)
        self.reveal_button.clicked.connect(self.reveal)
        self.compare.clicked.connect(self.compare_purity)
        self.cancel.clicked.connect(self._cancel_work)
        self.runner.sig_task_started.connect(self._update_cancel)
        self.runner.sig_task_ended.connect(self._update_cancel)

    def set_model_names(self, names, reload: bool = True) -> None:
        """The networks to choose from (after a file was loaded or a model trained); keeps the choice.

        The rows are computed again when ``reload`` (the networks may have new weights) or when the
        chosen network is no longer there.
        """
        current = self.model.currentText()
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(list(names))
        if current in names:
            self.model.setCurrentText(current)
        self.model.blockSignals(False)
        if reload or self.model.currentText() != current:
            self._on_model_changed()

    def _on_model_changed(self, *_):
        name = self.model.currentText()
        self.runner.replace("units-data")  # a folder read for the previous network is not wanted any more
        if name and is_photo_model_name(name) and find_photo_model(name).name not in self.models.loaded():
            self._load_in_background(name)
            return
        try:
            model = self.models.get(name) if name else None
            names = layer_names(model) if model is not None else []
        except (KeyError, ValueError) as error:
            model, names = None, []
            self.statistics.setText(str(error))
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(names)
        if names:
            self.layer.setCurrentText(default_layer(names, not model.is_digit_network))
        self.layer.blockSignals(False)
        if not names:
            self.progress.setFormat("this network has no layers to explore")
            return
        if self._fit_data_to(model):
            self.refresh()

    def _load_in_background(self, name: str) -> None:
        """A photo network takes seconds to load: in the runner, then the layers are listed (a digit network's
        file is a few hundred kilobytes, read at once)."""
        models = self.models
        self.layer.blockSignals(True)
        self.layer.clear()  # no ranking with the previous network's layers meanwhile
        self.layer.blockSignals(False)
        self.progress.setFormat(f"loading {name}…")
        self.runner.start("units-model", lambda _monitor: models.get(name),
                          on_finished=lambda _model: self._on_model_changed(), on_failed=self._on_failed)

    def _fit_data_to(self, model) -> bool:
        """Photos for a photo network, digits for a digit network; False while photos are being read."""
        photos = not model.is_digit_network
        if photos == self.showing_photos:
            return True
        if photos:
            self.open_folder(resource_path("samples"))
            return False
        self.data.setCurrentIndex(0)
        self.use_dataset(self.test_set, refresh=False)
        return True

    @property
    def showing_photos(self) -> bool:
        return self.dataset.images.shape[1] == 3

    @property
    def wants_photos(self) -> bool:
        model = self.models.loaded().get(self.model.currentText())
        return model is not None and not model.is_digit_network

    def _on_data_chosen(self, index: int) -> None:
        if index == 0:
            if self.wants_photos:
                self.data.setCurrentIndex(1)
                self.statistics.setText("A photo network ranks photos: choose a folder of photos.")
                return
            self.use_dataset(self.test_set)
            return
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of images")
        if folder:
            self.open_folder(folder)
        else:
            self._show_data_in_use()

    def open_folder(self, folder) -> None:
        """Rank the images of ``folder`` instead of the MNIST test set: as digits (MNIST-style) or, for a photo
        network, as photos."""
        photos = self.wants_photos
        self.progress.setFormat(f"reading {folder}…")
        self.runner.start("units-data", lambda monitor: load_image_folder(folder, photos=photos, monitor=monitor),
                          on_finished=self._on_folder_loaded, on_failed=self._on_folder_failed,
                          on_progress=lambda fraction, message: self._show_reading(folder, fraction),
                          on_cancelled=self._on_folder_cancelled)

    def _update_cancel(self, slot: str) -> None:
        """Cancel is enabled exactly while this tab ranks images or reads a folder."""
        if slot in CANCELLABLE_SLOTS:
            self.cancel.setEnabled(any(self.runner.is_running(name) for name in CANCELLABLE_SLOTS))

    def _cancel_work(self) -> None:
        """Cancel ranking and reading a folder, whichever is under way."""
        for slot in CANCELLABLE_SLOTS:
            self.runner.cancel(slot)

    def _show_reading(self, folder, fraction: float) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"reading {folder}…  %p%")

    def _show_data_in_use(self) -> None:
        """The data choice names the images in use again (after a folder was not chosen or not read)."""
        self.data.setCurrentIndex(0 if self.dataset is self.test_set else 1)

    def _on_folder_cancelled(self) -> None:
        self._show_data_in_use()
        self.progress.setFormat("cancelled: the images in use are unchanged")

    def _on_folder_failed(self, message: str) -> None:
        self._show_data_in_use()
        self.progress.setFormat("no folder loaded")
        self.statistics.setText(f"Could not use that folder: {message}")

    def _on_folder_loaded(self, outcome) -> None:
        dataset, skipped = outcome
        self.data.setCurrentIndex(1)
        self.use_dataset(dataset)
        if skipped:
            self.data_note = (f"Left out {len(skipped)} files (unreadable, or past the first {PHOTO_FOLDER_LIMIT:,} photos): "
                              f"{', '.join(skipped[:5])}. ")
            self.statistics.setText(self.data_note)

    def use_dataset(self, dataset: Dataset, refresh: bool = True) -> None:
        self.dataset = dataset
        self.data_note = ""
        self.top_k.blockSignals(True)
        self.top_k.setRange(min(4, len(dataset)), min(16, len(dataset)))
        self.top_k.blockSignals(False)
        if refresh:
            self.refresh()

    def _on_tile_opened(self, dataset: Dataset, index: int) -> None:
        if dataset.images.shape[1] == 3 and dataset.files is not None:
            self.sig_photo_requested.emit(dataset.files[index])
            return
        pixels = dataset.images[index, 0].numpy()
        if dataset is self.test_set:
            choice = ImageChoice(pixels, int(dataset.labels[index]), f"MNIST test image {index}", index)
        else:
            choice = ImageChoice(pixels, None, f"image {index} of {dataset.source}", None,
                                 f"class {dataset.class_names[int(dataset.labels[index])]}")
        self.sig_image_requested.emit(choice)

    def next_random_directions(self) -> None:
        self.random_seed += self.rows.value()
        self.refresh()

    def refresh(self) -> None:
        """Rank the images along the chosen units and random directions, in the runner."""
        name, layer, mode = self.model.currentText(), self.layer.currentText(), self.mode.currentText()
        if not name or not layer:
            return
        first, rows, bottom, seed = self.first_unit.value(), self.rows.value(), self.bottom.isChecked(), self.random_seed
        k = min(self.top_k.value(), len(self.dataset))
        models, dataset, cache = self.models, self.dataset, self.cache

        def job(monitor):
            activations = cache.get(models.get(name), dataset, layer, mode, monitor)
            start = max(0, min(first, activations.dimension - rows))
            unit_range = range(start, min(start + rows, activations.dimension))
            units = rank_units(activations, unit_range, k, bottom,
                               [unit_title(layer, unit, mode, activations.unit_shape) for unit in unit_range])
            directions = torch.stack([random_direction(activations.dimension, seed + row) for row in range(rows)])
            randoms = rank_many(activations, directions, k, bottom,
                                [f"random direction seed {seed + row} of layer {layer}" for row in range(rows)])
            return activations.dimension, units, randoms

        self.runner.start("units", job, on_finished=self._on_rows_ready, on_progress=self._on_progress,
                          on_failed=self._on_failed, on_cancelled=self._on_cancelled)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"computing {message}  %p%")

    def _on_failed(self, message: str) -> None:
        self.progress.setFormat("failed")
        self.statistics.setText(f"Could not rank the images: {message}")

    def _on_cancelled(self) -> None:
        self.progress.setFormat("cancelled: nothing changed")

    def _on_rows_ready(self, outcome) -> None:
        dimension, units, randoms = outcome
        self.progress.setValue(1000)
        self.progress.setFormat(f"{dimension} dimensions")
        self.first_unit.blockSignals(True)
        self.first_unit.setRange(0, max(dimension - 1, 0))
        self.first_unit.blockSignals(False)
        hidden = self.quiz_order is not None
        grids = (self.left, self.right) if self.quiz_order != ("random", "units") else (self.right, self.left)
        grids[0].show_rows(units, self.dataset, hide_titles=hidden)
        grids[1].show_rows(randoms, self.dataset, hide_titles=hidden)
        if hidden:
            self.left.setTitle("Grid A")
            self.right.setTitle("Grid B")
        else:
            self.left.setTitle("Single units (natural basis)")
            self.right.setTitle("Random directions")
        unit_purity = np.mean([row.purity for row in units]) if units else float("nan")
        random_purity = np.mean([row.purity for row in randoms]) if randoms else float("nan")
        if not hidden and len(self.dataset.class_names) < 2:
            self.statistics.setText(f"{self.data_note}These {len(self.dataset)} images share one class, so label "
                                    "purity says nothing here: choose a folder with one subfolder per class.")
        elif not hidden:
            self.statistics.setText(f"{self.data_note}Mean label purity of these rows: units "
                                    f"{100 * unit_purity:.0f}%, random directions {100 * random_purity:.0f}%.")
        self.sig_rows_shown.emit()

    def start_quiz(self) -> None:
        self.quiz_order = random.choice([("units", "random"), ("random", "units")])
        self.reveal_button.setEnabled(True)
        self.statistics.setText("Quiz: which grid shows single units, A or B? Press Reveal when the room has voted.")
        self.next_random_directions()

    def reveal(self) -> None:
        if self.quiz_order is None:
            return
        names = {"units": "Single units (natural basis)", "random": "Random directions"}
        self.left.reveal(f"Grid A: {names[self.quiz_order[0]]}")
        self.right.reveal(f"Grid B: {names[self.quiz_order[1]]}")
        self.statistics.setText(f"Grid A was {names[self.quiz_order[0]].lower()}.")
        self.quiz_order = None
        self.reveal_button.setEnabled(False)

    def compare_purity(self) -> None:
        name, layer, mode = self.model.currentText(), self.layer.currentText(), self.mode.currentText()
        if not name or not layer:
            return
        k = min(self.top_k.value(), len(self.dataset))
        models, dataset, cache = self.models, self.dataset, self.cache

        def job(monitor):
            activations = cache.get(models.get(name), dataset, layer, mode, monitor)
            return purity_comparison(activations, count=50, k=k)

        self.compare.setEnabled(False)
        self.statistics.setText("Comparing 50 units with 50 random directions…")
        self.runner.start("unit-statistics", job, on_finished=self._on_statistics,
                          on_failed=self._on_statistics_failed)

    def _on_statistics_failed(self, message: str) -> None:
        self.compare.setEnabled(True)
        self.statistics.setText(f"Could not compare: {message}")

    def _on_statistics(self, summary: dict) -> None:
        self.compare.setEnabled(True)
        self.statistics.setText(
            f"{summary['directions']} units against {summary['directions']} random directions of layer "
            f"{summary['layer']}, top {summary['k']} images each: mean label purity {100 * summary['unit_purity']:.0f}% "
            f"for units, {100 * summary['random_purity']:.0f}% for random directions.")
        self.sig_statistics_shown.emit(summary)
