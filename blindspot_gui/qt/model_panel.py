"""The model panel: the zoo and the user's own models, their status and errors, training and loading."""

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

from blindspot_gui.core.report import percent
from blindspot_gui.core.models.zoo_weights import ModelStatus, model_status
from blindspot_gui.core.models.mnist_zoo import ZOO


def available_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class ModelPanel(QWidget):
    """A table of models; selecting a row announces its name. Train and load-weights buttons below."""

    sig_model_selected = Signal(str)
    sig_train_requested = Signal(str)
    sig_cancel_training_requested = Signal()
    sig_load_weights_requested = Signal()
    sig_device_changed = Signal(str)

    COLUMNS = ("Model", "Weights", "Test error", "Paper", "Description")
    DESCRIPTION_COLUMN = 4

    def __init__(self, parent=None):
        super().__init__(parent)
        self.statuses: list[ModelStatus] = []
        self.custom: dict[str, str] = {}
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

        self.train_button = QPushButton("Train selected model")
        self.train_button.setObjectName("train")
        self.train_button.setToolTip("Train the selected zoo model from scratch in the background")
        self.cancel_training_button = QPushButton("Stop training")
        self.cancel_training_button.setObjectName("cancel_training")
        self.cancel_training_button.setEnabled(False)
        self.load_button = QPushButton("Load weights…")
        self.load_button.setObjectName("load_weights")
        self.load_button.setToolTip("A state dict of a zoo architecture, or a TorchScript file")
        self.device = QComboBox()
        self.device.setObjectName("device")
        self.device.addItems(available_devices())
        self.device.setToolTip("Where the networks run")
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

        heading = QLabel("Choose the network to fool:")
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.cancel_training_button)
        buttons.addWidget(self.load_button)
        buttons.addStretch(1)
        buttons.addWidget(QLabel("Device:"))
        buttons.addWidget(self.device)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.table, stretch=1)
        layout.addLayout(buttons)
        layout.addWidget(self.training_progress)
        layout.addWidget(self.curve)

        self.train_button.clicked.connect(self._on_train_clicked)
        self.cancel_training_button.clicked.connect(lambda: self.sig_cancel_training_requested.emit())
        self.load_button.clicked.connect(lambda: self.sig_load_weights_requested.emit())
        self.device.currentTextChanged.connect(lambda device: self.sig_device_changed.emit(device))
        self.refresh()

    def refresh(self) -> None:
        """Re-read which weights are present and their training records, keeping the selection."""
        selected = self.selected_name()
        self.statuses = [model_status(spec) for spec in ZOO]
        rows = [
            (status.spec.name, "present" if status.available else "missing", percent(status.test_error),
             percent(status.spec.paper.test_error), status.spec.description, status.available)
            for status in self.statuses
        ]
        rows += [(name, "loaded", "—", "—", description, True) for name, description in self.custom.items()]
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

    def add_custom(self, name: str, description: str) -> None:
        self.custom[name] = description
        self.refresh()

    def names(self) -> list[str]:
        return [self.table.item(row, 0).text() for row in range(self.table.rowCount())]

    def is_available(self, name: str) -> bool:
        return name in self.custom or any(s.spec.name == name and s.available for s in self.statuses)

    def status_of(self, name: str) -> ModelStatus | None:
        return next((status for status in self.statuses if status.spec.name == name), None)

    def select(self, name: str, announce: bool = True) -> bool:
        """Select the model called ``name``; False if there is no such row."""
        for row, text in enumerate(self.names()):
            if text == name:
                if not announce:
                    self.table.blockSignals(True)
                self.table.selectRow(row)
                self.table.blockSignals(False)
                return True
        return False

    def selected_name(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table.item(rows[0].row(), 0).text() if rows else None

    def set_training(self, running: bool) -> None:
        self.train_button.setEnabled(not running)
        self.cancel_training_button.setEnabled(running)
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

    def _on_train_clicked(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.sig_train_requested.emit(name)

    def _on_table_selection_changed(self) -> None:
        name = self.selected_name()
        if name is not None:
            self.sig_model_selected.emit(name)
