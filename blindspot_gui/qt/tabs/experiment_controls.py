"""The Experiments tab's controls: which of the paper's experiments, its settings, Run / Cancel, progress, export."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from blindspot_gui.core import experiments
from blindspot_gui.core.models.mnist_zoo import ZOO, find_spec
from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS, photo_model_status
from blindspot_gui.qt.settings import read_choice, read_text

ALEXNET = "AlexNet (torchvision architecture)"
RULE_NAMES = {"random": "a random wrong label", "next": "the next label", "nearest": "the nearest wrong class"}
"""The target rules in a few words that fit the Target box at 1280×720; each rule's description is its tooltip."""
SAMPLE_PHOTOS = "the sample photos — choose a folder…"
DIGIT_NETWORK_SETTINGS = (experiments.NoiseCurveSettings, experiments.VoteSettings)
"""Experiments measured on one digit network of the zoo."""
DEFAULT_DIGIT_NETWORK = "FC100-100-10"


class ExperimentControls(QGroupBox):
    """Which experiment, its settings, Run / Cancel, progress and export."""

    def __init__(self, parent=None):
        super().__init__("Experiment", parent)
        self.list = QListWidget()
        self.list.setObjectName("experiment_list")
        for key, spec in experiments.REGISTRY.items():
            item = QListWidgetItem(spec.title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            item.setToolTip(spec.description)
            self.list.addItem(item)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self._make_settings()
        self._make_buttons()
        self._layout()
        self.all_images.toggled.connect(lambda checked: self.images.setEnabled(not checked))
        self.per_layer.toggled.connect(self._fit_epochs_to_recipe)
        self.list.currentItemChanged.connect(lambda *_: self._show_settings())
        self.list.setCurrentRow(0)

    def _make_settings(self) -> None:
        """Images and target rule (Tables 1-4), network (Table 5), per-layer variant and epochs (adversarial training),
        photo network and folder (a photo network's Table 1)."""
        self.images = QSpinBox()
        self.images.setObjectName("images")
        self.images.setRange(10, 60000)
        self.images.setSingleStep(100)
        self.images.setValue(1000)
        self.images.setToolTip("How many images each network is attacked on (the paper used all of them)")
        self.all_images = QCheckBox("all")
        self.all_images.setToolTip("Every image of the split: 60,000 training or 10,000 test images (slow)")
        self.rule = QComboBox()
        self.rule.setObjectName("rule")
        for key, text in experiments.TARGET_RULES.items():
            self.rule.addItem(RULE_NAMES[key], key)
            self.rule.setItemData(self.rule.count() - 1, text, Qt.ItemDataRole.ToolTipRole)
        self.rule.currentIndexChanged.connect(self._describe_rule)
        self._describe_rule()

        self.model = QComboBox()
        self.model.setObjectName("bounds_model")
        self.model.addItem(ALEXNET, None)
        for spec in ZOO:
            self.model.addItem(spec.name, spec.name)
        for entry in PHOTO_MODELS:
            self.model.addItem(f"{entry.name} (photos)", entry.key)
        for combo in (self.rule, self.model):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(18)
        self.photo_model = QComboBox()
        self.photo_model.setObjectName("photo_model")
        for entry in PHOTO_MODELS:
            self.photo_model.addItem(entry.name, entry.key)
        self.photo_models = QListWidget()
        self.photo_models.setObjectName("photo_networks")  # filled when its experiment is shown: finding where
        # every photo network's weights would be asks torchvision, a second and a half at start-up
        self.photo_folder: str | None = None
        self.folder_button = QPushButton(SAMPLE_PHOTOS)
        self.folder_button.setObjectName("photo_folder")
        self.folder_button.setToolTip("A folder with one subfolder of photos per class, each named by the class's "
                                      "exact name or number (tabby/, 281/), or photos and a labels.csv of lines "
                                      "\"cat1.jpg,tabby\"; Esc in the dialog keeps the sample photos")
        self.folder_button.clicked.connect(self._choose_folder)
        self.where = QComboBox()
        self.where.setObjectName("run_on")
        self.where.addItem("this computer", None)
        self.where.addItem("a Ray cluster", "cluster")
        self.where.setToolTip("Where each part (a network, 16 photos, a layer's bound, an epoch) is computed; "
                              "finished parts come back here and are kept")
        self.cluster_address = QLineEdit("local")
        self.cluster_address.setObjectName("cluster_address")
        self.cluster_address.setToolTip("local: start a cluster on this computer; auto: the one running here; or a "
                                        "cluster's address, e.g. ray://head:10001 (needs pip install "
                                        "\"blindspot-gui[cluster]\")")
        self._settings: QSettings | None = None
        self.where.currentIndexChanged.connect(lambda: self._where_changed())
        self.cluster_address.editingFinished.connect(lambda: self._where_changed())
        self.cluster_address.setEnabled(False)
        self.per_layer = QCheckBox("per-layer variant")
        self.per_layer.setToolTip("Also make adversarial examples of each hidden layer's output and train the layers "
                                  "above on them (the variant the paper found necessary)")
        self.per_layer.setObjectName("per_layer")
        self.epochs = QSpinBox()
        self.epochs.setObjectName("epochs")
        self.epochs.setRange(1, find_spec(experiments.ADVTRAIN_MODELS[False]).recipe.epochs)
        self.epochs.setValue(self.epochs.maximum())
        self.epochs.setToolTip("The full recipe trains the zoo's net; a shorter run is a quick look, kept apart")

    def _make_buttons(self) -> None:
        """Run, Cancel, the progress and status of the run, and the exports of its result."""
        self.run_button = QPushButton("Run experiment  (Ctrl+Enter)")
        self.run_button.setObjectName("run_experiment")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancel_experiment")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("ready")
        self.status = QLabel("Finished parts are kept on disk: after Cancel, Run resumes where it stopped.")
        self.status.setWordWrap(True)
        self.export_csv = QPushButton("CSV…")
        self.export_json = QPushButton("JSON…")
        self.export_png = QPushButton("PNG…")
        for button, what in ((self.export_csv, "the table (ours, paper, difference)"),
                             (self.export_json, "the full result"), (self.export_png, "a picture of the result")):
            button.setToolTip(f"Save {what}")
            button.setEnabled(False)

    def _layout(self) -> None:
        self.form = QFormLayout()
        images_row = QHBoxLayout()
        images_row.addWidget(self.images, stretch=1)
        images_row.addWidget(self.all_images)
        self.form.addRow("Images:", images_row)
        self.form.addRow("Target:", self.rule)
        self.form.addRow("Network:", self.model)
        self.form.addRow(self.per_layer)
        self.form.addRow("Epochs:", self.epochs)
        self.form.addRow("Network:", self.photo_model)
        self.form.addRow("Networks:", self.photo_models)
        self.form.addRow("Photos:", self.folder_button)
        where_row = QHBoxLayout()
        where_row.addWidget(self.where)
        where_row.addWidget(self.cluster_address, stretch=1)
        self.form.addRow("Run on:", where_row)
        self.list.setMaximumHeight(self.list.sizeHintForRow(0) * (self.list.count() + 1))
        self.setMaximumWidth(360)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, stretch=1)
        buttons.addWidget(self.cancel_button)
        exports = QHBoxLayout()
        exports.addWidget(QLabel("Save:"))
        for button in (self.export_csv, self.export_json, self.export_png):
            exports.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(self.description)
        layout.addLayout(self.form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(exports)
        layout.addStretch(1)

    def experiment(self) -> str:
        return self.list.currentItem().data(Qt.ItemDataRole.UserRole)

    def _show_settings(self) -> None:
        key = self.experiment()
        spec = experiments.REGISTRY[key]
        self.description.setText(spec.description)
        takes = set(spec.options)
        several = spec.networks is not None and spec.networks[1] != 1  # ticked in a list; one is chosen in a box
        rows = ("n", "rule", "model", "per_layer", "epochs", "one network", "networks", "images")
        for row, option in enumerate(rows):
            shown = option in takes or (option == "networks" and several) or (
                option == "one network" and "models" in takes and not several)
            self.form.setRowVisible(row, shown)
        self.form.setRowVisible(len(rows), True)  # Run on
        if spec.rules is not None:
            self._offer_rules(spec.rules)
        if spec.settings in DIGIT_NETWORK_SETTINGS and self.model.currentData() not in {s.name for s in ZOO}:
            self.model.setCurrentIndex(self.model.findData(DEFAULT_DIGIT_NETWORK))  # measured on a digit network
        if key == "photo_table2":  # weights may have arrived since (a download, a file put in place)
            _fill_photo_networks(self.photo_models, self.chosen_photo_networks() if self.photo_models.count() else None)

    def _offer_rules(self, rules: dict[str, str]) -> None:
        """Only the target rules the experiment takes can be chosen (a photo table cannot rank 1000 classes), each
        described as that experiment applies it."""
        for index in range(self.rule.count()):
            key = self.rule.itemData(index)
            self.rule.model().item(index).setEnabled(key in rules)
            if key in rules:
                self.rule.setItemData(index, rules[key], Qt.ItemDataRole.ToolTipRole)
        if self.rule.currentData() not in rules:
            self.rule.setCurrentIndex(self.rule.findData(next(iter(rules))))
        self._describe_rule()

    def _describe_rule(self) -> None:
        """The Target box's tooltip: the chosen rule as the experiment applies it (the paper does not say)."""
        described = self.rule.itemData(self.rule.currentIndex(), Qt.ItemDataRole.ToolTipRole)
        self.rule.setToolTip(f"{described}. The paper does not say which wrong label its attacks aimed at.")

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "A folder of photos, one subfolder per class",
                                                  self.photo_folder or "")
        if chosen:
            self.choose_photo_folder(chosen)

    def choose_photo_folder(self, folder: str | None) -> None:
        """Attack the photos of ``folder`` (None: the sample photos)."""
        self.photo_folder = folder
        self.folder_button.setText(Path(folder).name + "/" if folder else SAMPLE_PHOTOS)
        self.folder_button.setToolTip(folder or self.folder_button.toolTip())

    def _fit_epochs_to_recipe(self, per_layer: bool) -> None:
        """The epochs box runs up to the chosen net's full recipe (the whole recipe trains the zoo's net)."""
        full = find_spec(experiments.ADVTRAIN_MODELS[per_layer]).recipe.epochs
        was_full = self.epochs.value() == self.epochs.maximum()
        self.epochs.setMaximum(full)
        if was_full:
            self.epochs.setValue(full)

    def remember_where(self, settings: QSettings) -> None:
        """Show where runs go as remembered in ``settings`` (a damaged value gives this computer) and remember
        changes there."""
        self._settings = None
        self.cluster_address.setText(read_text(settings, "experiments/cluster_address", "local"))
        run_on = read_choice(settings, "experiments/run_on", "here", ("here", "cluster"))
        self.where.setCurrentIndex(self.where.findData("cluster" if run_on == "cluster" else None))
        self._settings = settings
        self._where_changed()

    def _where_changed(self) -> None:
        self.cluster_address.setEnabled(self.on_cluster())
        if self._settings is not None:
            self._settings.setValue("experiments/run_on", "cluster" if self.on_cluster() else "here")
            self._settings.setValue("experiments/cluster_address", self.cluster_address.text().strip() or "local")

    def on_cluster(self) -> bool:
        return self.where.currentData() == "cluster"

    def cluster(self) -> str | None:
        """The Ray cluster the chosen experiment's parts go to (None: this computer)."""
        if not self.on_cluster():
            return None
        return self.cluster_address.text().strip() or "local"

    def chosen_photo_networks(self) -> list[str]:
        """The ticked networks of a photo Table 2 (catalogue keys)."""
        items = (self.photo_models.item(row) for row in range(self.photo_models.count()))
        return [item.data(Qt.ItemDataRole.UserRole) for item in items if item.checkState() == Qt.CheckState.Checked]

    def problem(self) -> str | None:
        """Why the chosen experiment cannot start with these settings (None: it can)."""
        spec = experiments.REGISTRY[self.experiment()]
        problem = spec.problem(self.settings())
        if problem is not None and spec.networks is not None and spec.networks[1] != 1:  # networks ticked in a list
            return (f"Tick {spec.fewest_networks()} or more networks in the list ({problem}). A greyed-out "
                    "network's weights are not on this computer (its tooltip says where they belong).")
        return problem

    def image_count(self) -> int | None:
        return None if self.all_images.isChecked() else self.images.value()

    def settings(self):
        """The chosen experiment's settings: an instance of its settings class in experiments.REGISTRY."""
        key = self.experiment()
        if key == "table5":
            return experiments.BoundsSettings(self.model.currentData())
        if key == "noisecurve":
            return experiments.NoiseCurveSettings(self.model.currentData() or "", self.image_count())
        if key == "vote":
            return experiments.VoteSettings(self.model.currentData() or "", self.image_count())
        epochs = None if self.epochs.value() == self.epochs.maximum() else self.epochs.value()
        if key == "advtrain":
            return experiments.AdvTrainSettings(self.per_layer.isChecked(), epochs)
        if key == "advnoise":
            return experiments.AdvNoiseSettings(self.image_count(), self.rule.currentData(), epochs)
        if key.startswith("photo_"):
            networks = ((self.photo_model.currentData(),) if key == "photo_table1" else
                        tuple(self.chosen_photo_networks()))
            return experiments.PhotoTableSettings(networks, self.photo_folder, self.image_count(),
                                                  self.rule.currentData())
        return experiments.AttackedTableSettings(self.image_count(), self.rule.currentData())

    def set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.list.setEnabled(not running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("starting…")

    def show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(round(fraction * 1000))
        self.progress.setFormat(f"{fraction:.0%}  {message}")


def _fill_photo_networks(networks: QListWidget, ticked: list[str] | None = None) -> None:
    """The photo networks as ticks, those whose weights are on this computer first and the others greyed out (their
    tooltip says why); ``ticked`` are ticked where they have their weights (None: the first two that have them)."""
    networks.clear()
    statuses = sorted((photo_model_status(entry) for entry in PHOTO_MODELS), key=lambda status: not status.available)
    for position, status in enumerate(statuses):
        entry = status.entry
        item = QListWidgetItem(entry.name if status.available else f"{entry.name} (no weights here)")
        item.setData(Qt.ItemDataRole.UserRole, entry.key)
        item.setToolTip(entry.description if status.available else status.reason)
        item.setFlags(Qt.ItemFlag.ItemIsUserCheckable | (Qt.ItemFlag.ItemIsEnabled if status.available else
                                                          Qt.ItemFlag(0)))
        tick = position < 2 if ticked is None else entry.key in ticked
        item.setCheckState(Qt.CheckState.Checked if status.available and tick else Qt.CheckState.Unchecked)
        networks.addItem(item)
    networks.setMaximumHeight(networks.sizeHintForRow(0) * 5 + 2 * networks.frameWidth())
