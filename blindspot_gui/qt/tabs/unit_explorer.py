"""The unit explorer: the test images that most excite single units beside those of random directions.

Rows are directions, columns the top-k images; natural-basis rows on the left, random-direction
rows on the right, each titled by what it is and by its label purity (the share of its images
that carry the most frequent label). It opens on a hidden layer of a network with hidden layers.
A quiz mixes the rows in a seeded random order and hides every label until "Reveal"; "Compare"
measures the mean purity of 100 units against 100 random directions, with 95% intervals, in the
network and in a randomly initialised copy of it, and says what that shows on the layer. Any
Classifier can be explored: digit networks rank the MNIST test set (or a folder of digits),
photo networks photos. Loading a network, reading a folder, building the activation cache and
ranking all run in the task runner, with progress and Cancel.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
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
from blindspot_gui.core.image_folders import PHOTO_FOLDER_LIMIT, load_image_folder
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.core.resources import resource_path
from blindspot_gui.core.units import (
    COMPARED_DIRECTIONS,
    MODES,
    ActivationCache,
    comparison_text,
    default_layer,
    default_network,
    layer_names,
)
from blindspot_gui.session.image import ImageChoice
from blindspot_gui.qt.task_controller import TaskController
from blindspot_gui.qt.tabs.unit_grid import GridPair
from blindspot_gui.qt.tabs.unit_jobs import RankedRows, RowRequest, compare_purity_of, load_network, purity_text, rank_rows
from blindspot_gui.qt.task_runner import describe_error

CANCELLABLE_SLOTS = ("units", "units-data", "unit-statistics")
"""The runner slots of this tab that Cancel stops: ranking images along directions, reading a folder, comparing."""


def _row(*widgets) -> QHBoxLayout:
    """The widgets side by side, left-aligned."""
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return row


class UnitExplorer(QWidget, TaskController):
    """Model, layer, first unit, rows and k; units against random directions, quiz and statistics."""

    sig_image_requested = Signal(object)
    """An ImageChoice: the double-clicked digit, to be attacked."""
    sig_photo_requested = Signal(str)
    """The file of a double-clicked photo, to be attacked."""
    sig_rows_shown = Signal()
    sig_statistics_shown = Signal(dict)

    def __init__(self, runner, models: ModelCache, dataset: Dataset, model_names, parent=None):
        super().__init__(parent)
        self.runner, self.models, self.dataset = runner, models, dataset
        self.network: Classifier | None = None
        """The chosen network once it is loaded."""
        self.cache = ActivationCache()
        self.random_seed = 1
        self._wanted_unit: tuple[str, int] | None = None
        """a unit the Layers view asked for, shown once its network is in use."""
        self.data_note = ""
        self.layer_note = ""
        """Why the network's layer is not a hidden one, when it has none."""
        self.reading = ""
        """The folder being read."""
        self.test_set = dataset
        self.rows_of: Dataset | None = None
        """The images the grids show rows of."""
        self.compared_directions = COMPARED_DIRECTIONS
        """How many units (at most the layer's width) and random directions "Compare" ranks."""
        self._make_widgets(model_names)
        self._layout_widgets()
        self._connect()
        self._on_model_changed()

    def _make_widgets(self, model_names) -> None:
        self.data = QComboBox()
        self.data.setObjectName("units_data")
        self.data.addItems(["MNIST test set", "Image folder…"])
        self.data.setToolTip("The held-out images to rank: the MNIST test set or a folder of your own images "
                             "(photo networks start with the sample photos)")
        self.model = QComboBox()
        self.model.setObjectName("units_model")
        self.model.addItems(model_names)
        self.model.setCurrentText(default_network(model_names))  # a network with hidden layers, not FC10
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
        self.quiz.setToolTip("Mix the rows of units and random directions in a random order and hide every label; "
                             "the audience guesses which rows are single units")
        self.reveal_button = QPushButton("Reveal")
        self.reveal_button.setEnabled(False)
        self.compare = QPushButton(f"Compare {COMPARED_DIRECTIONS} units with {COMPARED_DIRECTIONS} random directions")
        self.compare.setObjectName("compare_units")
        self.compare.setToolTip("Mean label purity with 95% intervals, in this network and in an untrained copy of it")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("ready")
        self.cancel = QPushButton("Cancel")  # a button here (the tests click it): it hides TaskController.cancel
        self.cancel.setEnabled(False)
        self.statistics = QLabel("")
        self.statistics.setObjectName("units_statistics")
        self.statistics.setWordWrap(True)
        self.grids = GridPair()
        self.left, self.right = self.grids.left, self.grids.right

    def _layout_widgets(self) -> None:
        for combo in (self.model, self.layer):  # long names must not widen the window beyond a laptop screen
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        explanation = QLabel("Are the images that most excite <b>one unit</b> of a hidden layer more alike than "
                             "those that most excite a <b>random direction</b> of it? Szegedy et al. found they are "
                             "not; Bau et al. (2017) found units more interpretable on ImageNet networks. Compare "
                             "measures it here. Double-click an image to attack it.")
        explanation.setWordWrap(True)
        actions = QHBoxLayout()
        for widget in (self.compare, self.progress, self.cancel):
            actions.addWidget(widget)
        scroll = QScrollArea()
        scroll.setWidget(self.grids)
        scroll.setWidgetResizable(True)
        layout = QVBoxLayout(self)
        layout.addWidget(explanation)
        layout.addLayout(_row(self.data, QLabel("Network"), self.model, QLabel("layer"), self.layer, self.mode))
        layout.addLayout(_row(self.first_unit, self.rows, self.top_k, self.bottom, self.new_random, self.quiz,
                              self.reveal_button))
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
        self.grids.sig_open.connect(self._on_tile_opened)
        self.runner.sig_task_started.connect(self._update_cancel)
        self.runner.sig_task_ended.connect(self._update_cancel)

    # --- the network -----------------------------------------------------------------------------------------------
    def set_model_names(self, names, reload: bool = True) -> None:
        """The networks to choose from (after a file was loaded or a model trained); keeps the choice.

        The rows are computed again when ``reload`` (the networks may have new weights) or when the
        chosen network is no longer there.
        """
        current, names = self.model.currentText(), list(names)
        self.model.blockSignals(True)
        self.model.clear()
        self.model.addItems(names)
        self.model.setCurrentText(current if current in names else default_network(names))
        self.model.blockSignals(False)
        if reload or self.model.currentText() != current:
            self._on_model_changed()

    def _on_model_changed(self, *_) -> None:
        """List the chosen network's layers, once it is loaded (in the runner when it is not loaded yet)."""
        name = self.model.currentText()
        for slot in ("units-model", "units-data", "units"):  # work for the previous network is not wanted any more
            self.runner.replace(slot)
        self.network = None
        self._list_layers([])  # no ranking with the previous network's layers meanwhile
        network = self.models.loaded().get(name) if name else None
        if network is not None:
            self._use_network(network)
        elif name:
            self.progress.setFormat(f"loading {name}…")
            self.start("units-model", load_network, self.models, name)
        else:
            self.progress.setFormat("this network has no layers to explore")

    def show_unit(self, network: str, layer: str, unit: int) -> bool:
        """Rank the images along ``unit`` of ``layer`` of ``network`` (asked by the Layers view); False if that network
        is not listed. A network still to load shows it once loaded (``_use_network``)."""
        if self.model.findText(network) < 0:
            return False
        self._wanted_unit = (layer, unit)
        if self.model.currentText() != network:
            self.model.setCurrentText(network)
        elif self.network is not None:
            self._apply_wanted_unit()
            self.refresh()
        return True

    def _apply_wanted_unit(self) -> None:
        (layer, unit), self._wanted_unit = self._wanted_unit or ("", 0), None
        if self.layer.findText(layer) >= 0:
            with QSignalBlocker(self.layer), QSignalBlocker(self.mode), QSignalBlocker(self.first_unit):
                self.layer.setCurrentText(layer)
                self.mode.setCurrentText("full")  # units counted in the whole feature map, as the Layers view counts
                self.first_unit.setMaximum(max(self.first_unit.maximum(), unit))
                self.first_unit.setValue(unit)

    def _use_network(self, network: Classifier) -> None:
        self.network = network
        names = layer_names(network)
        self._list_layers(names, default_layer(names, not network.is_digit_network) if names else "")
        self._apply_wanted_unit()
        if not names:
            self.progress.setFormat("this network has no layers to explore")
            return
        self.layer_note = "" if len(names) > 1 else (
            f"{network.name} has no hidden layer: its only units are its output classes, which beat random "
            "directions by construction. Choose a network with hidden layers. ")
        if self._fit_data_to(network):
            self.refresh()

    def _list_layers(self, names: list[str], current: str = "") -> None:
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(names)
        if current:
            self.layer.setCurrentText(current)
        self.layer.blockSignals(False)

    # --- the images ------------------------------------------------------------------------------------------------
    def _fit_data_to(self, network: Classifier) -> bool:
        """Photos for a photo network, digits for a digit network; False while photos are being read."""
        photos = not network.is_digit_network
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
        return self.network is not None and not self.network.is_digit_network

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
        self.reading = str(folder)
        self.runner.replace("units")  # rows of the images about to be replaced are not wanted
        self.progress.setFormat(f"reading {folder}…")
        self.start("units-data", load_image_folder, folder, photos=self.wants_photos)

    def _show_data_in_use(self) -> None:
        """The data choice names the images in use again (after a folder was not chosen or not read); they are
        ranked again if asking for the folder dropped their rows."""
        self.data.setCurrentIndex(0 if self.dataset is self.test_set else 1)
        if self.rows_of is not self.dataset:
            self.refresh()

    def _on_folder_loaded(self, outcome) -> None:
        dataset, skipped = outcome
        self.data.setCurrentIndex(1)
        self.use_dataset(dataset)
        if skipped:
            self.data_note = (f"Left out {len(skipped)} files (unreadable, or past the first {PHOTO_FOLDER_LIMIT:,} "
                              f"photos): {', '.join(skipped[:5])}. ")
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

    # --- ranking ---------------------------------------------------------------------------------------------------
    def next_random_directions(self) -> None:
        self.random_seed += self.rows.value()
        self.refresh()

    def refresh(self) -> None:
        """Rank the images along the chosen units and random directions, in the runner."""
        layer = self.layer.currentText()
        if self.network is None or not layer:
            return
        request = RowRequest(layer, self.mode.currentText(), self.first_unit.value(), self.rows.value(),
                             min(self.top_k.value(), len(self.dataset)), self.bottom.isChecked(), self.random_seed)
        self.start("units", rank_rows, self.cache, self.network, self.dataset, request)

    def _show_rows(self, rows: RankedRows) -> None:
        self.progress.setValue(1000)
        self.progress.setFormat(f"{rows.dimension} dimensions")
        with QSignalBlocker(self.first_unit):
            self.first_unit.setRange(0, max(rows.dimension - 1, 0))
        self.grids.show_rows(rows.units, rows.randoms, self.dataset)
        self.rows_of = self.dataset
        if not self.grids.quizzing:
            self.statistics.setText(self.layer_note + self.data_note + purity_text(self.dataset, rows))
        self.sig_rows_shown.emit()

    def start_quiz(self) -> None:
        """New random directions, mixed with the units' rows in an order drawn from the directions' seed."""
        self.random_seed += self.rows.value()
        self.grids.start_quiz(self.random_seed)
        self.reveal_button.setEnabled(True)
        self.statistics.setText("Quiz: which rows show single units, which random directions? Press Reveal when the "
                                "room has voted.")
        self.refresh()

    def reveal(self) -> None:
        unit_rows = self.grids.reveal()
        if unit_rows is not None:
            self.statistics.setText(f"Rows {', '.join(map(str, unit_rows))} were single units; the others random "
                                    "directions. Compare measures the difference over many of each.")
            self.reveal_button.setEnabled(False)

    def compare_purity(self) -> None:
        layer = self.layer.currentText()
        if self.network is None or not layer:
            return
        self.compare.setEnabled(False)
        count = self.compared_directions
        self.statistics.setText(f"Comparing {count} units with {count} random directions, in {self.network.name} "
                                "and in a randomly initialised copy of it…")
        self.start("unit-statistics", compare_purity_of, self.cache, self.network, self.dataset, layer,
                   self.mode.currentText(), min(self.top_k.value(), len(self.dataset)), count)

    def _show_statistics(self, summary: dict) -> None:
        self.compare.setEnabled(True)
        self.progress.setValue(1000)
        self.progress.setFormat("compared")
        self.statistics.setText(comparison_text(summary))
        self.sig_statistics_shown.emit(summary)

    # --- the task runner's reports ---------------------------------------------------------------------------------
    def _update_cancel(self, slot: str) -> None:
        """Cancel is enabled exactly while this tab ranks images or reads a folder."""
        if slot in CANCELLABLE_SLOTS:
            self.cancel.setEnabled(any(self.is_running(name) for name in CANCELLABLE_SLOTS))

    def _cancel_work(self) -> None:
        """Cancel ranking and reading a folder, whichever is under way."""
        for slot in CANCELLABLE_SLOTS:
            self.runner.cancel(slot)

    def _on_task_progress(self, slot: str, fraction: float, message: str) -> None:
        if slot in CANCELLABLE_SLOTS:
            self.progress.setValue(int(1000 * fraction))
            self.progress.setFormat({"units": f"computing {message}  %p%", "unit-statistics": "comparing…  %p%"}
                                    .get(slot, f"reading {self.reading}…  %p%"))

    def _on_task_done(self, slot: str, result) -> None:
        shown = {"units-model": self._use_network, "units-data": self._on_folder_loaded, "units": self._show_rows,
                 "unit-statistics": self._show_statistics}
        shown[slot](result)

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        message = describe_error(error)
        if slot == "unit-statistics":
            self.compare.setEnabled(True)
            self.statistics.setText(f"Could not compare: {message}")
            return
        if slot == "units-data":
            self._show_data_in_use()
        self.progress.setFormat({"units-data": "no folder loaded"}.get(slot, "failed"))
        what = {"units-model": "load the network", "units-data": "use that folder"}.get(slot, "rank the images")
        self.statistics.setText(f"Could not {what}: {message}")

    def _on_task_cancelled(self, slot: str) -> None:
        if slot == "units-data":  # said where it stays: the images in use may be ranked again at once
            self.data_note = f"Reading {self.reading} was cancelled: the images in use are unchanged. "
            self.statistics.setText(self.data_note)
            self.progress.setFormat("cancelled: the images in use are unchanged")
            self._show_data_in_use()
        elif slot == "units":
            self.progress.setFormat("cancelled: nothing changed")
        elif slot == "unit-statistics":
            self.compare.setEnabled(True)
            self.progress.setFormat("cancelled: nothing changed")
            self.statistics.setText("The comparison was cancelled.")
