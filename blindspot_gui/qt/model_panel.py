"""The network panel: one list of every network (the MNIST zoo, the photo catalogue, your own), its status and actions.

Zoo networks show their test error beside the paper's and can be trained in the background;
catalogue networks show whether their ImageNet weights are on this machine, and can be
downloaded (on request) or given a weights file; "Your own network…" adds a file of either kind.
The panel only shows and asks: every load, download and training run is started by the
blind-spot tab's controller.
"""

from __future__ import annotations

import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core.models.mnist_zoo import ZOO
from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS, PhotoModelStatus
from blindspot_gui.core.models.zoo_weights import ModelStatus, model_status
from blindspot_gui.core.report import percent

ZOO_KIND, CATALOGUE_KIND, OWN_KIND = "zoo", "catalogue", "own"
GOOD, BAD = "#1a7f37", "#c0392b"


def available_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _button(text: str, name: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    return button


class ModelPanel(QWidget):
    """A table of every network; selecting a row announces its name. Training, weights and device below."""

    sig_model_selected = Signal(str)
    sig_train_requested = Signal(str)
    sig_cancel_training_requested = Signal()
    sig_load_weights_requested = Signal()
    """"Your own network…": a file of the user's, digits or photos."""
    sig_download_requested = Signal(str)
    sig_weights_file_requested = Signal(str)
    sig_device_changed = Signal(str)

    COLUMNS = ("Network", "Weights", "Test error", "Paper", "Description")
    DESCRIPTION_COLUMN = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.statuses: list[ModelStatus] = []
        self.photo_statuses: dict[str, PhotoModelStatus] = {}
        """where each catalogue network's weights are, once looked for (in the background: it imports torchvision)."""
        self.loaded_photos: set[str] = set()
        self.custom: dict[str, str] = {}
        self._build_table()
        self._build_buttons()
        self.status = QLabel("")
        self.status.setObjectName("network_status")
        self.status.setWordWrap(True)
        self._build_curve()
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Choose the network to fool:"))
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.status)
        layout.addLayout(self.buttons)
        layout.addLayout(self.more_buttons)
        layout.addWidget(self.training_progress)
        layout.addWidget(self.curve)
        self.refresh()

    def _build_table(self) -> None:
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setObjectName("model_table")
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(self.DESCRIPTION_COLUMN, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)
        self.table.itemSelectionChanged.connect(self._on_table_selection_changed)

    def _build_buttons(self) -> None:
        self.train_button = _button("Train selected model", "train", "Train the selected zoo model from scratch in the background")
        self.cancel_training_button = _button("Stop training", "cancel_training", "Stop the training run")
        self.cancel_training_button.setEnabled(False)
        self.download_button = _button("Download", "download_weights",
                                       "Download the selected network's ImageNet weights (asks first)")
        self.weights_button = _button("Weights file…", "photo_weights_file",
                                      "Use a weights file of your own for the selected catalogue network")
        self.load_button = _button("Your own network…", "load_weights",
                                   "An ONNX network, or a .safetensors file or state dict with its "
                                   "architecture; digits or photos (Ctrl+L)")
        self.device = QComboBox()
        self.device.setObjectName("device")
        self.device.addItems(available_devices())
        self.device.setToolTip("Where the networks run")
        self.buttons = QHBoxLayout()
        for widget in (self.train_button, self.cancel_training_button):
            self.buttons.addWidget(widget)
        self.buttons.addStretch(1)
        self.buttons.addWidget(QLabel("Device:"))
        self.buttons.addWidget(self.device)
        self.more_buttons = QHBoxLayout()
        for widget in (self.download_button, self.weights_button, self.load_button):
            self.more_buttons.addWidget(widget)
        self.more_buttons.addStretch(1)
        self.train_button.clicked.connect(lambda: self._announce(self.sig_train_requested))
        self.cancel_training_button.clicked.connect(lambda: self.sig_cancel_training_requested.emit())
        self.download_button.clicked.connect(lambda: self._announce(self.sig_download_requested))
        self.weights_button.clicked.connect(lambda: self._announce(self.sig_weights_file_requested))
        self.load_button.clicked.connect(lambda: self.sig_load_weights_requested.emit())
        self.device.currentTextChanged.connect(lambda device: self.sig_device_changed.emit(device))

    def _build_curve(self) -> None:
        self.training_progress = QProgressBar()
        self.training_progress.setRange(0, 1000)
        self.training_progress.setVisible(False)
        self.curve = pg.PlotWidget(background="w")
        self.curve.setObjectName("training_curve")
        self.curve.setLabel("bottom", "epoch")
        self.curve.setLabel("left", "test error / loss")
        self.curve.setMinimumHeight(110)
        self.curve.setVisible(False)
        self.error_line = self.curve.plot([], [], pen=pg.mkPen((200, 50, 40), width=2), name="test error")
        self.loss_line = self.curve.plot([], [], pen=pg.mkPen((40, 90, 200), width=2), name="loss")
        self._curve_points: list[tuple[int, float, float]] = []

    # --- the rows --------------------------------------------------------------------------------
    def _rows(self) -> list[tuple[str, str, str, str, str, bool]]:
        rows = [(status.spec.name, "present" if status.available else "missing", percent(status.test_error),
                 percent(status.spec.paper.test_error), status.spec.description, status.available)
                for status in self.statuses]
        for entry in PHOTO_MODELS:
            available = self.photo_available(entry.name)
            known = entry.name in self.photo_statuses or entry.name in self.loaded_photos
            weights = "loaded" if entry.name in self.loaded_photos else (
                "present" if available else "missing") if known else "…"
            rows.append((entry.name, weights, "—", "—", entry.description, available or not known))
        rows += [(name, "loaded", "—", "—", description, True) for name, description in self.custom.items()]
        return rows

    def refresh(self) -> None:
        """Re-read which zoo weights are present and their training records, keeping the selection."""
        selected = self.selected_name()
        self.statuses = [model_status(spec) for spec in ZOO]
        rows = self._rows()
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for row, (*cells, available) in enumerate(rows):
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (2, 3):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if column == self.DESCRIPTION_COLUMN:
                    item.setToolTip(text)
                if not available:
                    item.setForeground(Qt.GlobalColor.darkRed)
                self.table.setItem(row, column, item)
        self.table.blockSignals(False)
        if selected:
            self.select(selected, announce=False)

    def set_photo_statuses(self, statuses: dict[str, PhotoModelStatus]) -> None:
        self.photo_statuses.update(statuses)
        self.refresh()

    def add_custom(self, name: str, description: str) -> None:
        self.custom[name] = description
        self.refresh()

    def names(self) -> list[str]:
        return [self.table.item(row, 0).text() for row in range(self.table.rowCount())]

    def kind(self, name: str) -> str:
        if name in self.custom:
            return OWN_KIND
        return CATALOGUE_KIND if any(entry.name == name for entry in PHOTO_MODELS) else ZOO_KIND

    def photo_available(self, name: str) -> bool:
        status = self.photo_statuses.get(name)
        return name in self.loaded_photos or (status is not None and status.available)

    def is_available(self, name: str) -> bool:
        """Whether the network has weights here (a catalogue network: known to have them)."""
        if name in self.custom:
            return True
        if self.kind(name) == CATALOGUE_KIND:
            return self.photo_available(name)
        return any(s.spec.name == name and s.available for s in self.statuses)

    def status_of(self, name: str) -> ModelStatus | None:
        return next((status for status in self.statuses if status.spec.name == name), None)

    def select(self, name: str, announce: bool = True) -> bool:
        """Select the network called ``name``; False if there is no such row."""
        for row, text in enumerate(self.names()):
            if text == name:
                self.table.blockSignals(not announce)
                self.table.selectRow(row)
                self.table.blockSignals(False)
                self._update_buttons()
                return True
        return False

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else None

    def show_status(self, text: str, good: bool | None = None) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("" if good is None else f"color: {GOOD if good else BAD};")

    def _update_buttons(self, downloading: bool = False) -> None:
        name = self.selected_name()
        kind = self.kind(name) if name else None
        entry = next((entry for entry in PHOTO_MODELS if entry.name == name), None)
        self.train_button.setEnabled(kind == ZOO_KIND and not self.cancel_training_button.isEnabled())
        self.weights_button.setEnabled(kind == CATALOGUE_KIND)
        self.download_button.setEnabled(entry is not None and entry.url is not None and not downloading
                                        and name in self.photo_statuses and not self.photo_available(name))

    def set_downloading(self, downloading: bool) -> None:
        self._update_buttons(downloading)

    # --- training --------------------------------------------------------------------------------
    def set_training(self, running: bool) -> None:
        self.cancel_training_button.setEnabled(running)
        self._update_buttons()
        self.training_progress.setVisible(running or self.training_progress.value() > 0)
        if running:
            self.training_progress.setValue(0)
            self._curve_points.clear()
            self.error_line.setData([], [])
            self.loss_line.setData([], [])
            self.curve.setVisible(True)

    def show_training_progress(self, fraction: float, message: str) -> None:
        self.training_progress.setValue(int(1000 * fraction))
        self.training_progress.setFormat(f"{message}  %p%")

    def add_epoch(self, epoch: int, loss: float, test_error: float) -> None:
        self._curve_points.append((len(self._curve_points) + 1, loss, test_error))
        steps = [point[0] for point in self._curve_points]
        self.loss_line.setData(steps, [point[1] for point in self._curve_points])
        self.error_line.setData(steps, [point[2] for point in self._curve_points])

    def _announce(self, signal) -> None:
        name = self.selected_name()
        if name is not None:
            signal.emit(name)

    def _on_table_selection_changed(self) -> None:
        name = self.selected_name()
        self._update_buttons()
        if name is not None:
            self.sig_model_selected.emit(name)
