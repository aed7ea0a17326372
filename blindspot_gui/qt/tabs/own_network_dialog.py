""""Your own network…": one dialog for a user's file, digits or photos — the file, its architecture, preprocessing, classes.

What it asks maps onto :func:`blindspot_gui.core.models.own_network.load_own_network`: an ONNX
file (offered first) carries its architecture and may say its input range; a state dict needs an
architecture (a zoo name for digits, found automatically when left empty, or a torchvision name for
photos), and a preprocessing makes it a photo network; a class-names file (one per line) names its
outputs.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from blindspot_gui.core.models.classifier import PREPROCESSINGS
from blindspot_gui.core.models.mnist_zoo import ZOO
from blindspot_gui.core.models.photo_catalogue import torchvision_architectures

AUTOMATIC = "(automatic: an ONNX file's own, or a zoo architecture it fits)"
DIGITS = "(automatic: none for digits; an ONNX file's metadata, else ImageNet's)"
INPUT_RANGES = {"(automatic: an ONNX file's metadata, else 0–1)": None, "0–1": "0-1", "0–255": "0-255"}


class OwnNetworkDialog(QDialog):
    """The file of a user's network, its architecture, its preprocessing and its class names."""

    def __init__(self, parent=None, path: str = ""):
        super().__init__(parent)
        self.setWindowTitle("Load your own network")
        self.path = QLineEdit(path)
        self.path.setPlaceholderText("a network: .onnx; or weights: .safetensors or a state dict (.pth)")
        self.architecture = QComboBox()
        self.architecture.setEditable(True)
        self.architecture.addItems([AUTOMATIC, *(spec.name for spec in ZOO), *torchvision_architectures()])
        self.preprocessing = QComboBox()
        self.preprocessing.addItem(DIGITS, None)
        for key, preprocessing in PREPROCESSINGS.items():
            self.preprocessing.addItem(f"photos, {key}: {preprocessing.description}", key)
        self.input_range = QComboBox()
        for text, value in INPUT_RANGES.items():
            self.input_range.addItem(text, value)
        self.classes = QLineEdit()
        self.classes.setPlaceholderText("optional: a text file, one class name per line")
        form = QFormLayout(self)
        form.addRow("Model file", _row(self.path, self._browse(self.path, "Model file",
                                                               "Networks (*.onnx *.safetensors *.pt *.pth *.bin);;ONNX networks (*.onnx);;"
                                                               "Weights (*.safetensors *.pt *.pth *.bin);;"
                                                               "All files (*)")))
        form.addRow("Architecture", self.architecture)
        form.addRow("Preprocessing", self.preprocessing)
        form.addRow("Input range (ONNX)", self.input_range)
        form.addRow("Class names", _row(self.classes, self._browse(self.classes, "Class names",
                                                                   "Text files (*.txt);;All files (*)")))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self, field: QLineEdit, title: str, pattern: str) -> QPushButton:
        button = QPushButton("Browse…")

        def pick() -> None:
            path, _ = QFileDialog.getOpenFileName(self, title, field.text(), pattern)
            if path:
                field.setText(path)

        button.clicked.connect(pick)
        return button

    def choice(self) -> tuple[str, str | None, str | None, str | None, str | None]:
        """(file, architecture or None, preprocessing key or None (automatic), class-names file or None, input
        range or None (automatic))."""
        architecture = self.architecture.currentText().strip()
        return (self.path.text().strip(), None if architecture.startswith("(") or not architecture else architecture,
                self.preprocessing.currentData(), self.classes.text().strip() or None, self.input_range.currentData())


def _row(*widgets) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget, stretch=1 if isinstance(widget, QLineEdit) else 0)
    return row
