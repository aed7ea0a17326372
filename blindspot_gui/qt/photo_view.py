"""The Photos tab: an ImageNet network on a photo, with original, magnified change and adversarial photo in colour.

A newcomer sees three large photos and the network's five likeliest classes under each; they pick
a network on the left (those whose weights are not on this machine say so, and can be downloaded
on request), a photo (a sample, a file, or one dropped on the window), type the class the photo
should become, and press "Find blind spot". The search runs in the background with live progress
and can be cancelled; the change is shown magnified, either as its size per pixel (all three
channels together) or as a signed colour image on grey.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QEvent, QSettings, QSize, QStringListModel, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetrics, QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core.attack.search import AttackResult, SearchProgress, blindspot_search
from blindspot_gui.core.files import atomic_write
from blindspot_gui.core.images import IMAGE_FILE_PATTERNS, ImageFileError, save_rgb_png
from blindspot_gui.core.attack.quantise import quantised_adversarial
from blindspot_gui.core.attack.search import PHOTO_ATTACK
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.class_names import class_index
from blindspot_gui.core.models.classifier import PREPROCESSINGS, Classifier
from blindspot_gui.core.models.download import download_weights
from blindspot_gui.core.models.photo_catalogue import (
    DEFAULT_PHOTO_MODEL,
    PHOTO_MODELS,
    PhotoModelStatus,
    find_photo_model,
    load_photo_model,
    photo_model_status,
    torchvision_architectures,
)
from blindspot_gui.core.photos import read_photo, sample_photos
from blindspot_gui.core.models.weights_io import UntrustedCodeError, WeightsError
from blindspot_gui.qt.image_source import rgb_pixmap
from blindspot_gui.qt.settings import read_int, read_text
from blindspot_gui.qt.task_runner import describe_error
from blindspot_gui.qt.trust import ask_trust

DEFAULT_TARGET = "ostrich"
"""The paper pushed every ImageNet example to "ostrich" (section 4.2)."""
TOP = 5
THUMBNAIL = 72
GOOD, BAD, TARGET = "#1a7f37", "#c0392b", "#d68910"
PERTURBATION_MODES = ("size per pixel (all channels)", "signed colour on grey")
HEAT = pg.colormap.get("inferno")
WINDOW_SEARCH = dataclasses.replace(PHOTO_ATTACK, partial_interval=0.2)
"""The photo search, its best photo so far redrawn five times a second."""


def perturbation_picture(change: np.ndarray, mode: int, factor: float) -> np.ndarray:
    """What the middle panel shows: (H, W) size of the change per pixel, or (H, W, 3) signed change on grey."""
    if mode == 0:
        return np.clip(np.sqrt((change.astype(np.float32) ** 2).sum(axis=0)) * factor, 0.0, 1.0)
    return np.clip(0.5 + 0.5 * factor * change.transpose(1, 2, 0), 0.0, 1.0).astype(np.float32)


def magnification(change: np.ndarray, mode: int, factor: int | None) -> float:
    """The chosen factor, or (automatic) the one that stretches the largest change to the full range."""
    if factor is not None:
        return float(factor)
    peak = float(np.sqrt((change**2).sum(axis=0)).max()) if mode == 0 else float(np.abs(change).max())
    return 1.0 / peak if peak > 0 else 1.0


class TopClasses(QWidget):
    """The five likeliest classes as labelled bars: the winner in red or green, the target in orange."""

    @staticmethod
    def height_for(font: QFont) -> int:
        """Room for every row at this font, so that all three panels keep the same image size at any text size."""
        return (TOP + 1) * (QFontMetrics(font).height() + 6)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows = []
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setVerticalSpacing(2)
        for row in range(TOP + 1):
            name, bar = QLabel(""), QProgressBar()
            name.setMinimumWidth(60)
            name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            layout.addWidget(name, row, 0)
            layout.addWidget(bar, row, 1)
            self.rows.append((name, bar))
        layout.setColumnStretch(0, 3)
        layout.setColumnStretch(1, 2)
        self.clear()

    def show_classes(self, probabilities: np.ndarray, names: list[str], target: int | None = None,
                     winner_colour: str = GOOD) -> None:
        order = [int(i) for i in np.argsort(probabilities)[::-1][:TOP]]
        if target is not None and target not in order:
            order.append(target)
        for row, (name, bar) in enumerate(self.rows):
            visible = row < len(order)
            name.setVisible(visible)
            bar.setVisible(visible)
            if not visible:
                continue
            index = order[row]
            colour = winner_colour if row == 0 else TARGET if index == target else "#7f8c8d"
            name.setText(names[index] + ("  (target)" if index == target else ""))
            name.setToolTip(f"class {index}: {names[index]}")
            bar.setValue(int(round(1000 * probabilities[index])))
            bar.setFormat(f"{100 * probabilities[index]:.1f}%")
            bar.setStyleSheet(f"QProgressBar::chunk {{ background: {colour}; }}")

    def clear(self) -> None:
        for name, bar in self.rows:
            name.setVisible(False)
            bar.setVisible(False)

    def texts(self) -> list[str]:
        """The class names shown, top first (for tests and screen readers)."""
        return [name.text() for name, _ in self.rows if name.isVisibleTo(self)]


class PhotoPanel(QWidget):
    """One photo with its title, the network's answer in large type, and its top classes."""

    def __init__(self, title: str, with_classes: bool = True, parent=None):
        super().__init__(parent)
        self.title = QLabel(title)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground("k")
        self.canvas.setMinimumSize(160, 160)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.view = self.canvas.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.answer = QLabel("—")
        self.answer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.answer.setWordWrap(True)
        answer_font = QFont(self.answer.font())
        answer_font.setPointSizeF(answer_font.pointSizeF() * 1.5)
        answer_font.setBold(True)
        self.answer.setFont(answer_font)
        self.classes = TopClasses() if with_classes else None
        self.legend = None if with_classes else QLabel("")
        if self.legend is not None:
            self.legend.setWordWrap(True)
            self.legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addWidget(self.canvas, stretch=4)
        layout.addWidget(self.answer)
        self.below = self.classes if self.classes is not None else self.legend
        self.below.setFixedHeight(TopClasses.height_for(self.font()))
        layout.addWidget(self.below)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self.below.setFixedHeight(TopClasses.height_for(self.font()))

    def show_picture(self, picture: np.ndarray, heat: bool = False) -> None:
        """A (3, H, W) photo, an (H, W, 3) colour picture, or an (H, W) heat map, all in [0, 1]."""
        if picture.ndim == 3 and picture.shape[0] == 3:
            picture = picture.transpose(1, 2, 0)
        self.image.setImage(np.ascontiguousarray(picture, dtype=np.float32), levels=(0.0, 1.0))
        if heat:
            self.image.setColorMap(HEAT)
        else:
            self.image.setLookupTable(None)
        height, width = picture.shape[:2]
        self.view.setRange(xRange=(0, width), yRange=(0, height), padding=0.0)

    def show_answer(self, text: str, colour: str | None = None) -> None:
        self.answer.setText(text)
        self.answer.setStyleSheet(f"color: {colour};" if colour else "")

    def clear(self) -> None:
        self.image.clear()
        self.show_answer("—")
        if self.classes is not None:
            self.classes.clear()


class OwnModelDialog(QDialog):
    """Your own photo classifier: a file, its architecture (for a state dict), its preprocessing, its class names."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Load your own photo classifier")
        self.path = QLineEdit()
        self.path.setPlaceholderText("weights: .safetensors or a state dict (.pth); or a TorchScript file (.pt)")
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: self._pick(self.path, "Model file", "Weights (*.safetensors *.pt *.pth *.bin);;All files (*)"))
        self.architecture = QComboBox()
        self.architecture.setEditable(True)
        self.architecture.addItems(["(TorchScript: none needed)", *torchvision_architectures()])
        self.preprocessing = QComboBox()
        for key, preprocessing in PREPROCESSINGS.items():
            self.preprocessing.addItem(f"{key}: {preprocessing.description}", key)
        self.classes = QLineEdit()
        self.classes.setPlaceholderText("optional: a text file, one class name per line")
        browse_classes = QPushButton("Browse…")
        browse_classes.clicked.connect(lambda: self._pick(self.classes, "Class names", "Text files (*.txt);;All files (*)"))
        form = QFormLayout(self)
        form.addRow("Model file", _row(self.path, browse))
        form.addRow("Architecture", self.architecture)
        form.addRow("Preprocessing", self.preprocessing)
        form.addRow("Class names", _row(self.classes, browse_classes))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _pick(self, field: QLineEdit, title: str, pattern: str) -> None:
        path, _ = QFileDialog.getOpenFileName(self, title, field.text(), pattern)
        if path:
            field.setText(path)

    def choice(self) -> tuple[str, str | None, str, str | None]:
        architecture = self.architecture.currentText().strip()
        return (self.path.text().strip(), None if architecture.startswith("(") or not architecture else architecture,
                self.preprocessing.currentData(), self.classes.text().strip() or None)


def _row(*widgets) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, stretch=1 if isinstance(widget, QLineEdit) else 0)
    return row


class PhotoView(QWidget):
    """The Photos tab (see the module docstring)."""

    sig_model_ready = Signal(str)
    sig_weights_checked = Signal()
    """The catalogue's weights have been looked for on this machine (``statuses`` is filled)."""
    sig_photo_shown = Signal(str)
    """The photo's name, once the network's answer for it is shown."""
    sig_search_finished = Signal(object)
    sig_saved = Signal(str)
    sig_error = Signal(str)

    def __init__(self, runner, settings: QSettings, show_dialogs: bool = True, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.show_dialogs = show_dialogs
        self.loaded: dict[str, Classifier] = {}
        self.statuses: dict[str, PhotoModelStatus] = {}
        """where each catalogue network's weights are, once looked for (in the background: it imports torchvision)."""
        self.model: Classifier | None = None
        self.model_name: str | None = None
        self.pixels: np.ndarray | None = None
        self.photo_name = ""
        self.probabilities: np.ndarray | None = None
        self.result: AttackResult | None = None
        self._change: np.ndarray | None = None
        self.search_started = 0.0
        self._build()
        self._fill_models()
        QTimer.singleShot(0, self._look_around)  # once the window is up: nothing of this delays start-up

    def _look_around(self) -> None:
        """In the background: where the catalogue's weights are (this imports torchvision) and the sample photos."""
        def job(_monitor):
            statuses = {entry.name: photo_model_status(entry) for entry in PHOTO_MODELS}
            return statuses, [sample for sample in map(_decoded, sample_photos()) if sample is not None]

        self.runner.start("photo-catalogue", job, on_finished=self._on_looked_around, on_failed=self._fail)

    def _on_looked_around(self, outcome) -> None:
        statuses, samples = outcome
        self.statuses = statuses | self.statuses  # a status found since (a download) is newer
        self._fill_models()
        self._fill_samples(samples)
        self.sig_weights_checked.emit()
        if self.isVisible():
            self.start()

    # --- construction --------------------------------------------------------------------------------
    def _build(self) -> None:
        side = QVBoxLayout()
        side.addWidget(_heading("1. ImageNet network"))
        self.model_list = QListWidget()
        self.model_list.setObjectName("photo_models")
        self.model_list.currentItemChanged.connect(lambda item, _: item and self.select_model(item.data(Qt.ItemDataRole.UserRole)))
        self.model_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        side.addWidget(self.model_list, stretch=1)
        self.model_status = QLabel("")
        self.model_status.setWordWrap(True)
        side.addWidget(self.model_status)
        self.download_button = _button("Download", "download_weights", self.download_selected)
        self.download_button.setToolTip("Download the selected network's ImageNet weights (asks first)")
        self.weights_button = _button("Weights file…", "photo_weights_file", self._on_weights_file_clicked)
        self.own_button = _button("Your own model…", "own_model", self._on_own_model_clicked)
        side.addWidget(_row(self.download_button, self.weights_button))
        side.addWidget(self.own_button)
        side.addWidget(_heading("2. Photo"))
        self.sample_list = QListWidget()
        self.sample_list.setObjectName("photo_samples")
        self.sample_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.sample_list.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.sample_list.setMovement(QListWidget.Movement.Static)
        self.sample_list.setResizeMode(QListWidget.ResizeMode.Adjust)

        self.sample_list.itemClicked.connect(lambda item: self.open_photo(item.data(Qt.ItemDataRole.UserRole)))
        side.addWidget(self.sample_list, stretch=2)
        open_button = _button("Open photo…", "open_photo", self.open_photo_dialog)
        open_button.setToolTip("Any photo file (Ctrl+O); or drop a photo on the window")
        side.addWidget(open_button)
        self.side = QWidget()
        self.side.setLayout(side)

        self.original_panel = PhotoPanel("Original")
        self.change_panel = PhotoPanel("Change", with_classes=False)
        self.adversarial_panel = PhotoPanel("Adversarial")
        self.adversarial_panel.title.setToolTip("The original plus the change")
        for panel in (self.change_panel, self.adversarial_panel):
            panel.view.setXLink(self.original_panel.view)
            panel.view.setYLink(self.original_panel.view)
        panels = QHBoxLayout()
        for panel in (self.original_panel, self.change_panel, self.adversarial_panel):
            panels.addWidget(panel, stretch=1)

        self.mode = QComboBox()
        self.mode.setObjectName("perturbation_mode")
        self.mode.addItems(PERTURBATION_MODES)
        self.mode.setCurrentIndex(read_int(self.settings, "photos/mode", 0, 0, len(PERTURBATION_MODES) - 1))
        self.factor = QSpinBox()
        self.factor.setRange(1, 500)
        self.factor.setValue(50)
        self.factor.setPrefix("×")
        self.auto_factor = QCheckBox("Auto (full range)")
        self.auto_factor.setChecked(True)
        self.factor.setEnabled(False)
        for signal in (self.mode.currentIndexChanged, self.factor.valueChanged, self.auto_factor.toggled):
            signal.connect(self._draw_change)
        display = QHBoxLayout()
        display.addStretch(1)
        display.addWidget(QLabel("Show the change as"))
        display.addWidget(self.mode)
        display.addWidget(QLabel("magnified"))
        display.addWidget(self.factor)
        display.addWidget(self.auto_factor)
        display.addStretch(1)

        self.readout = QLabel("Choose a network and a photo, type the class it should become, and press Find blind spot.")
        self.readout.setObjectName("photo_readout")
        self.readout.setWordWrap(True)
        self.readout.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.target = QLineEdit(read_text(self.settings, "photos/target", DEFAULT_TARGET))
        self.target.setObjectName("photo_target")
        self.target.setPlaceholderText("a class name, e.g. ostrich")
        self.target.setToolTip("The class the photo should be taken for; type part of a name to see matches")
        self.completer = QCompleter(self)  # filled with the network's class names once it is loaded
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.target.setCompleter(self.completer)
        self.target.returnPressed.connect(self.run)
        self.run_button = _button("Find blind spot", "photo_run", self.run)
        self.run_button.setDefault(True)
        self.cancel_button = _button("Cancel", "photo_cancel", self.cancel)
        self.cancel_button.setEnabled(False)
        self.save_button = _button("Save adversarial photo…", "photo_save", self.save_dialog)
        self.save_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setObjectName("photo_progress")
        self.progress.setRange(0, 1000)
        self.progress.setFormat("")
        controls = QHBoxLayout()
        controls.addWidget(_heading("3. Make it say"))
        controls.addWidget(self.target, stretch=1)
        for widget in (self.run_button, self.cancel_button):
            controls.addWidget(widget)
        controls.addWidget(self.progress, stretch=2)
        controls.addWidget(self.save_button)

        centre = QVBoxLayout()
        centre.addLayout(panels, stretch=1)
        centre.addLayout(display)
        centre.addWidget(self.readout)
        centre.addLayout(controls)
        layout = QHBoxLayout(self)
        layout.addWidget(self.side)
        layout.addLayout(centre, stretch=1)
        self._fit_to_font()

    def _fit_to_font(self) -> None:
        """The side column and the photo grid grow with the text size (for projectors)."""
        metrics = QFontMetrics(self.font())
        self.side.setMaximumWidth(max(300, 22 * metrics.averageCharWidth()))
        self.target.setMinimumWidth(16 * metrics.averageCharWidth())
        width = max(THUMBNAIL + 24, metrics.horizontalAdvance("Astronaut") + 16)
        self.sample_list.setGridSize(QSize(width, THUMBNAIL + metrics.height() + 12))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and hasattr(self, "side"):
            self._fit_to_font()

    def _fill_models(self) -> None:
        self.model_list.blockSignals(True)
        current = self.model_name
        self.model_list.clear()
        for entry in PHOTO_MODELS:
            status = self.statuses.get(entry.name)
            missing = status is not None and not status.available and entry.name not in self.loaded
            item = QListWidgetItem(f"{entry.name} (no weights)" if missing else entry.name)
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            item.setToolTip(entry.description + (f"\n{status.reason}" if missing else ""))
            if missing:
                item.setForeground(Qt.GlobalColor.gray)
            self.model_list.addItem(item)
        for name in self.loaded:
            if all(name != entry.name for entry in PHOTO_MODELS):
                item = QListWidgetItem(name)
                item.setData(Qt.ItemDataRole.UserRole, name)
                item.setToolTip("your own model")
                self.model_list.addItem(item)
        self.model_list.blockSignals(False)
        if current is not None:
            self._mark_current(current)

    def _fill_samples(self, samples) -> None:
        for sample, pixels in samples:
            item = QListWidgetItem(QIcon(rgb_pixmap(pixels, THUMBNAIL)), sample.label)
            item.setData(Qt.ItemDataRole.UserRole, str(sample.path))
            item.setToolTip(f"{sample.title} ({sample.path.name}; licence in resources/samples/ATTRIBUTION.md)")
            self.sample_list.addItem(item)

    def _mark_current(self, name: str) -> None:
        for row in range(self.model_list.count()):
            item = self.model_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                self.model_list.blockSignals(True)
                self.model_list.setCurrentItem(item)
                self.model_list.blockSignals(False)

    def start(self) -> None:
        """First showing: load the last network used and the first sample photo."""
        if self.model_name is None and not self.runner.is_running("photo-model"):
            remembered = read_text(self.settings, "photos/model", DEFAULT_PHOTO_MODEL)
            entry = next((e for e in PHOTO_MODELS if e.name == remembered), None)
            usable = entry is not None and photo_model_status(entry).available
            self.select_model(remembered if usable else DEFAULT_PHOTO_MODEL)
        if self.pixels is None and self.sample_list.count():
            self.open_photo(self.sample_list.item(0).data(Qt.ItemDataRole.UserRole))

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.start()

    # --- networks ----------------------------------------------------------------------------------------
    def model_names(self) -> list[str]:
        return [self.model_list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.model_list.count())]

    def select_model(self, name: str, weights_path: str | None = None) -> None:
        """Make ``name`` the network in use, loading it in the background; unavailable weights are explained."""
        self._mark_current(name)
        self.runner.replace("photo-model")  # a load still under way must not take over later
        if name in self.loaded and weights_path is None:
            self._use_model(name, self.loaded[name])
            return
        entry = next((e for e in PHOTO_MODELS if e.name == name), None)
        if entry is None:
            self._fail(f"No photo network called {name!r}.")
            return
        status = self.statuses[entry.name] = photo_model_status(entry)
        self.download_button.setEnabled(not status.available and entry.url is not None
                                        and not self.runner.is_running("photo-download"))
        if weights_path is None and not status.available:
            still = f" Still using {self.model_name}." if self.model_name else ""
            self.model_status.setText(f"{entry.name}: {status.reason}.{still}")
            self.model_status.setStyleSheet(f"color: {BAD};")
            return
        self.model_status.setText(f"loading {entry.name}…")
        self.model_status.setStyleSheet("")
        self.runner.start("photo-model", lambda _monitor: load_photo_model(name, weights_path),
                          on_finished=lambda model: self._use_model(name, model), on_failed=self._model_failed)

    def load_own_model(self, path: str, architecture: str | None, preprocessing: str, classes: str | None,
                       trust_code: bool = False) -> None:
        """Load a user's classifier in the background; it joins the list under its file name.

        A TorchScript file runs only after the user trusts this one file (``ask_trust``).
        """
        def job(monitor):
            return load_own_network(path, architecture, preprocessing, classes, trust_code=trust_code,
                                           monitor=monitor)

        def failed(error: BaseException) -> None:
            if isinstance(error, UntrustedCodeError) and self.ask_trust(path):
                self.load_own_model(path, architecture, preprocessing, classes, trust_code=True)
            else:
                self._model_failed(describe_error(error))

        self.model_status.setText(f"loading {Path(path).name}…")
        self.runner.start("photo-model", job, on_finished=lambda model: self._use_model(model.name, model),
                          on_error=failed)

    def ask_trust(self, path) -> bool:
        """Ask, for this one file, whether the user trusts a TorchScript program enough to run it."""
        return ask_trust(self, path, self.show_dialogs)

    def _model_failed(self, message: str) -> None:
        """The network in use stays in use (and selected); the message says what went wrong."""
        if self.model_name is not None:
            self._mark_current(self.model_name)
        self._fail(message, about_network=True)

    def _use_model(self, name: str, model: Classifier) -> None:
        self.loaded[name] = model
        self.model, self.model_name = model, name
        self.completer.setModel(QStringListModel(model.class_names, self.completer))
        if any(entry.name == name for entry in PHOTO_MODELS):
            self.settings.setValue("photos/model", name)
        self._fill_models()
        self._mark_current(name)
        self.download_button.setEnabled(False)
        self.model_status.setText(f"{name}: {len(model.class_names)} classes, input {model.preprocessing.crop}×"
                                  f"{model.preprocessing.crop}, preprocessing “{model.preprocessing.name}”.")
        self.model_status.setStyleSheet(f"color: {GOOD};")
        self._abandon_search()
        self.sig_model_ready.emit(name)
        self._classify()

    def download_selected(self) -> None:
        """Download the selected network's weights, after asking; progress shows below the photos."""
        name = self.model_list.currentItem().data(Qt.ItemDataRole.UserRole) if self.model_list.currentItem() else None
        entry = next((e for e in PHOTO_MODELS if e.name == name), None)
        if entry is None or entry.url is None:
            return
        if self.show_dialogs and QMessageBox.question(
                self, "Download weights", f"Download {entry.name}'s ImageNet weights from\n{entry.url}\n"
                f"into {entry.cache_path().parent}?") != QMessageBox.StandardButton.Yes:
            return
        self.download_button.setEnabled(False)
        self._set_busy(True, f"downloading {entry.name}'s weights…")
        self.runner.start("photo-download", lambda monitor: download_weights(entry.name, monitor),
                          on_progress=self._show_progress,
                          on_finished=lambda _path: self._downloaded(entry.name),
                          on_failed=lambda message: self._download_ended("download failed", message),
                          on_cancelled=lambda: self._download_ended("download cancelled"))

    def _downloaded(self, name: str) -> None:
        """The weights are in the cache: the list says so, and the network is loaded if it is still the one selected."""
        self.statuses[name] = photo_model_status(find_photo_model(name))
        self._download_ended("downloaded")
        self._fill_models()
        item = self.model_list.currentItem()
        if item is not None and item.data(Qt.ItemDataRole.UserRole) == name:
            self.select_model(name)

    def _download_ended(self, status: str, message: str | None = None) -> None:
        self._set_busy(self.runner.is_running("photo-search"), status)
        if message is not None:
            self._fail(message, about_network=True)
        item = self.model_list.currentItem()
        if item is not None:
            entry = next((e for e in PHOTO_MODELS if e.name == item.data(Qt.ItemDataRole.UserRole)), None)
            self.download_button.setEnabled(entry is not None and entry.url is not None
                                            and not photo_model_status(entry).available)

    def _on_weights_file_clicked(self) -> None:
        item = self.model_list.currentItem()
        if item is None:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Weights file", "", "PyTorch weights (*.pth *.pt);;All files (*)")
        if path:
            self.select_model(item.data(Qt.ItemDataRole.UserRole), path)

    def _on_own_model_clicked(self) -> None:
        dialog = OwnModelDialog(self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            path, architecture, preprocessing, classes = dialog.choice()
            if path:
                self.load_own_model(path, architecture, preprocessing, classes)

    # --- photos ------------------------------------------------------------------------------------------
    def open_photo_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", "", f"Images ({IMAGE_FILE_PATTERNS});;All files (*)")
        if path:
            self.open_photo(path)

    def open_photo(self, path) -> None:
        """Show the photo at ``path`` as the network sees it (224×224 centre crop), decoded in the background;
        a clear message if it cannot be read, and the photo shown before stays."""
        self.runner.start("photo-open", lambda _monitor: read_photo(path),
                          on_finished=lambda pixels: self._show_photo(pixels, Path(path).name),
                          on_failed=self._fail)

    def _show_photo(self, pixels: np.ndarray, name: str) -> None:
        self.pixels, self.photo_name = pixels, name
        self._abandon_search()
        self.original_panel.show_picture(pixels)
        self.original_panel.title.setText(f"Original: {self.photo_name}")
        self._classify()

    def _classify(self) -> None:
        if self.model is None or self.pixels is None:
            return
        model, pixels, name = self.model, self.pixels, self.photo_name
        self.original_panel.show_answer("…")
        self.runner.start("photo-classify", lambda _monitor: model.probabilities(pixels),
                          on_finished=lambda probabilities: self._show_original(probabilities, name),
                          on_failed=self._fail)

    def _show_original(self, probabilities: np.ndarray, name: str) -> None:
        self.probabilities = probabilities
        names = self.model.class_names
        top = int(probabilities.argmax())
        self.original_panel.show_answer(f"{names[top]}  ({100 * probabilities[top]:.0f}%)")
        self.original_panel.classes.show_classes(probabilities, names, self._target_or_none())
        self.readout.setText(f"{self.model_name} says “{names[top]}”. Type the class it should say instead and press "
                             "Find blind spot (Space).")
        self.sig_photo_shown.emit(name)

    # --- the search ----------------------------------------------------------------------------------------
    def _target_or_none(self) -> int | None:
        if self.model is None:
            return None
        try:
            return class_index(self.target.text(), self.model.class_names)
        except ValueError:
            return None

    def run(self) -> None:
        """Search for the smallest change that makes the network say the typed class."""
        if self.model is None or self.pixels is None:
            self._fail("Choose a network whose weights are available, and a photo, first.")
            return
        try:
            target = class_index(self.target.text(), self.model.class_names)
        except ValueError as error:
            self._fail(f"Target: {error}")
            return
        self.settings.setValue("photos/target", self.target.text())
        model, pixels = self.model, torch.from_numpy(self.pixels)[None]
        self._abandon_search()
        self.search_started = time.perf_counter()
        self._set_busy(True, f"searching for a change that makes it say “{self.model.class_names[target]}”…")
        def job(monitor):
            return blindspot_search(model, pixels, target, None, config=WINDOW_SEARCH, monitor=monitor)[0]

        self.runner.start("photo-search", job, on_progress=self._show_progress, on_partial=self._on_partial,
                          on_finished=self._on_search_finished, on_failed=self._search_failed)

    def _search_failed(self, message: str) -> None:
        self._set_busy(False, "failed")
        self._fail(f"The search failed: {message}")

    def cancel(self) -> None:
        for slot in ("photo-search", "photo-download"):
            if self.runner.is_running(slot):
                self.runner.cancel(slot)
                self.progress.setFormat("cancelling…")

    def _abandon_search(self) -> None:
        self.runner.replace("photo-search")
        if not self.runner.is_running("photo-download"):
            self._set_busy(False, "")
        self.result = None
        self._change = None
        self.save_button.setEnabled(False)
        self.change_panel.clear()
        self.adversarial_panel.clear()

    def _on_partial(self, progress: SearchProgress) -> None:
        distortion = float(progress.best_distortion[0])
        if np.isfinite(distortion) and self.pixels is not None:
            adversarial = progress.best_adversarial[0]
            self.adversarial_panel.show_picture(adversarial)
            self.adversarial_panel.show_answer(f"searching… RMS {distortion:.4f}")
            self._change = adversarial - self.pixels
            self._draw_change()

    def _on_search_finished(self, result: AttackResult) -> None:
        seconds = time.perf_counter() - self.search_started
        self._set_busy(False, "cancelled: best so far" if result.cancelled else "done")
        self.result = result
        names = self.model.class_names if self.model is not None else []
        after = int(result.adversarial_prediction)
        self.adversarial_panel.show_picture(result.adversarial)
        self.adversarial_panel.show_answer(("cancelled: " if result.cancelled else "")
                                           + f"{names[after]}  ({100 * result.probabilities_after[after]:.0f}%)",
                                           BAD if result.success else None)
        self.adversarial_panel.classes.show_classes(result.probabilities_after, names, result.target, BAD)
        self.original_panel.classes.show_classes(result.probabilities_before, names, result.target)
        self._change = result.perturbation
        self._draw_change()
        self.save_button.setEnabled(result.success and result.distortion > 0)
        if result.success and result.cancelled:
            self.readout.setText(
                f"Cancelled: the best change found so far (RMS {result.distortion:.4f}) makes it “{names[after]}”, "
                f"but it is not the smallest. Press Find blind spot to finish the search.")
        elif result.success:
            self.readout.setText(
                f"“{names[result.original_prediction]}” became “{names[after]}” with a change of RMS "
                f"{result.distortion:.4f} (at most {255 * result.linf:.1f} of 255 levels in any channel) in {seconds:.1f} s. "
                f"The paper's AlexNet examples averaged 0.0065.")
        else:
            self.readout.setText(f"No blind spot found: {result.message}.")
        self.sig_search_finished.emit(result)

    # --- display helpers -------------------------------------------------------------------------------------
    def _draw_change(self, *_) -> None:
        self.factor.setEnabled(not self.auto_factor.isChecked())
        self.settings.setValue("photos/mode", self.mode.currentIndex())
        if self._change is None:
            return
        mode = self.mode.currentIndex()
        factor = magnification(self._change, mode, None if self.auto_factor.isChecked() else self.factor.value())
        self.change_panel.show_picture(perturbation_picture(self._change, mode, factor), heat=mode == 0)
        self.change_panel.title.setText(f"Change ×{factor:.0f}")
        legend = ("Dark: unchanged. Bright: the pixels that changed most (red, green and blue together)." if mode == 0
                  else "Grey: unchanged. A colour: that mix of red, green and blue went up; its opposite: went down.")
        self.change_panel.show_answer("")
        self.change_panel.legend.setText(legend)

    def _set_busy(self, busy: bool, message: str) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.progress.setFormat(message)
        if busy:
            self.progress.setValue(0)
        elif message in ("done", "downloaded"):
            self.progress.setValue(1000)

    def _show_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(1000 * fraction))
        self.progress.setFormat(f"{message} — {100 * fraction:.0f}%")

    def _fail(self, message: str, about_network: bool = False) -> None:
        message = re.sub(r"^\w*(Error|Exception): ", "", message)  # the reason, without Python's class name
        if about_network:
            still = f" Still using {self.model_name}." if self.model_name else ""
            self.model_status.setText(message + still)
            self.model_status.setStyleSheet(f"color: {BAD};")
        self.sig_error.emit(message)

    # --- saving ----------------------------------------------------------------------------------------------
    def save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the adversarial photo", "adversarial.png", "PNG (*.png)")
        if path:
            self.save_adversarial(path)

    def save_adversarial(self, path: str) -> None:
        """Save the adversarial photo as an 8-bit PNG that still fools the network (in the background)."""
        result, model = self.result, self.model
        if result is None or model is None or not result.success:
            self._fail("Find a blind spot first.")
            return

        def job(_monitor):
            kept = quantised_adversarial(model, result.original, result.adversarial, result.original_prediction,
                                         result.target)
            if kept is None:
                raise WeightsError("rounded to 8 bits, the photo no longer fools the network even with 4 times the change")
            atomic_write(path, lambda stream: save_rgb_png(kept[0], stream))
            return kept[1]

        self.runner.start("photo-save", job, on_finished=lambda scale: self._saved(path, scale),
                          on_failed=lambda message: self._fail(f"Not saved: {message}"))

    def _saved(self, path: str, scale: float) -> None:
        note = "" if scale == 1.0 else f" (its change scaled ×{scale:.2f} so that it survives rounding to 8 bits)"
        self.readout.setText(f"Saved {path}{note}.")
        self.sig_saved.emit(path)


def _decoded(sample):
    """(the sample, its pixels as a network sees them), or None for a file that cannot be read."""
    try:
        return sample, read_photo(sample.path)
    except ImageFileError:
        return None


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = QFont(label.font())
    font.setBold(True)
    label.setFont(font)
    return label


def _button(text: str, name: str, slot) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.clicked.connect(slot)
    return button
