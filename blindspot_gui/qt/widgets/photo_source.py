"""The photo source: the sample photos and any image file, read as the network in use sees it.

A photo network sees the centre crop of a photo resized by its preprocessing (shorter side 256,
centre 224×224 for the catalogue); a user's network of another input size gets the same recipe
at its own size, grey when it reads one channel. Files are decoded on a worker thread; a newer
choice replaces one still being read, and a file that cannot be read is reported by its name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QFontMetrics, QIcon
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core.images import IMAGE_FILE_PATTERNS, ImageFileError
from blindspot_gui.core.photos import PHOTO_CROP, PHOTO_RESIZE, read_photo
from blindspot_gui.qt.image_source import pixmap_of
from blindspot_gui.session.image import ImageChoice
from blindspot_gui.qt.task_controller import TaskController
from blindspot_gui.qt.task_runner import describe_error

THUMBNAIL = 56


def network_geometry(classifier) -> tuple[int, int, int]:
    """(resize, crop, channels) of the images a network reads: its preprocessing's, else its input's own side."""
    channels, side = classifier.input_shape[0], classifier.input_shape[-1]
    if classifier.preprocessing is not None and classifier.preprocessing.crop == side:
        return classifier.preprocessing.resize, side, channels
    return round(side * PHOTO_RESIZE / PHOTO_CROP), side, channels


def read_network_image(path, resize: int = PHOTO_RESIZE, crop: int = PHOTO_CROP, channels: int = 3, *,
                       monitor=None) -> np.ndarray:
    """An image file as a network of that geometry sees it: (3, crop, crop) colour, or (crop, crop) grey."""
    if monitor is not None:
        monitor.check()
    pixels = read_photo(path, resize, crop)
    return pixels if channels == 3 else pixels.mean(axis=0).astype(np.float32)


def decoded_samples(samples, *, monitor=None) -> list[tuple]:
    """(sample, its pixels as the catalogue's networks see them) for each sample photo that can be read."""
    decoded = []
    for sample in samples:
        if monitor is not None:
            monitor.check()
        try:
            decoded.append((sample, read_photo(sample.path)))
        except ImageFileError:
            continue
    return decoded


class PhotoSource(QWidget, TaskController):
    """Thumbnails of the sample photos, "Open photo…", and a caption saying what is shown."""

    sig_image_chosen = Signal(object)
    sig_error = Signal(str)

    def __init__(self, runner, parent=None):
        super().__init__(parent)
        self.runner = runner
        self.geometry_ = (PHOTO_RESIZE, PHOTO_CROP, 3)
        self.choice: ImageChoice | None = None
        self.remembered_path: str | None = None
        """The photo of the last session (from the settings), shown first while it is still there."""
        self._reading = ""
        self.sample_list = QListWidget()
        self.sample_list.setObjectName("photo_samples")
        self.sample_list.setViewMode(QListWidget.ViewMode.IconMode)
        self.sample_list.setFlow(QListWidget.Flow.LeftToRight)
        self.sample_list.setWrapping(False)
        self.sample_list.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.sample_list.setMovement(QListWidget.Movement.Static)
        self.sample_list.itemClicked.connect(lambda item: self.open_path(item.data(Qt.ItemDataRole.UserRole)))
        self.open_button = QPushButton("Open photo…")
        self.open_button.setObjectName("open_photo")
        self.open_button.setToolTip("Any photo file (Ctrl+O); or drop a photo on the window")
        self.open_button.clicked.connect(self.open_dialog)
        self.camera_button = QPushButton("Camera")  # wired by camera_source.link_camera
        self.camera_button.setObjectName("camera")
        self.camera_button.setCheckable(True)
        self.camera_button.setToolTip("The camera's frames, classified live; Space freezes one and finds its blind spot")
        self.caption = QLabel("Sample photos (public domain or CC0): click one, open a file, or drop one on the window.")
        self.caption.setObjectName("photo_caption")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)  # the panel sits in a column beside the images
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.camera_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addWidget(self.caption)
        layout.addWidget(self.sample_list)
        layout.addStretch(1)
        self._fit_to_font()

    def _fit_to_font(self) -> None:
        metrics = QFontMetrics(self.font())
        width = max(THUMBNAIL + 24, metrics.horizontalAdvance("Astronaut") + 16)
        self.sample_list.setGridSize(QSize(width, THUMBNAIL + metrics.height() + 12))
        self.sample_list.setFixedHeight(THUMBNAIL + metrics.height() + 30)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and hasattr(self, "sample_list"):
            self._fit_to_font()

    def fill_samples(self, samples) -> None:
        for sample, pixels in samples:
            item = QListWidgetItem(QIcon(pixmap_of(pixels, THUMBNAIL)), sample.label)
            item.setData(Qt.ItemDataRole.UserRole, str(sample.path))
            item.setToolTip(f"{sample.title} ({sample.path.name}; licence in resources/samples/ATTRIBUTION.md)")
            self.sample_list.addItem(item)

    def set_geometry(self, resize: int, crop: int, channels: int) -> None:
        """The images the network in use reads (see :func:`network_geometry`)."""
        self.geometry_ = (resize, crop, channels)

    def choice_for(self, input_shape) -> ImageChoice | None:
        """The photo shown, if it fits ``input_shape``; otherwise None, and it (or the first sample) is read for it."""
        if self.choice is not None and self.choice.fits(input_shape):
            return self.choice
        path = self.choice.path if self.choice is not None else None
        if path is None and self.remembered_path and Path(self.remembered_path).is_file():
            path = self.remembered_path
        if path is None and self.sample_list.count():
            path = self.sample_list.item(0).data(Qt.ItemDataRole.UserRole)
        if path is not None and not self.is_running("photo-open"):
            self.open_path(path)
        return None

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a photo", "",
                                              f"Images ({' '.join(IMAGE_FILE_PATTERNS)});;All files (*)")
        if path:
            self.open_path(path)

    def open_path(self, path) -> None:
        """Read the image at ``path`` as the network sees it, in the background."""
        self._reading = Path(path).name
        self._path = str(path)
        self.caption.setText(f"reading <b>{self._reading}</b>…")
        self.start("photo-open", read_network_image, path, *self.geometry_)

    def _on_task_done(self, slot: str, pixels) -> None:
        resize, crop, channels = self.geometry_
        description = f"shorter side resized to {resize}, centre {crop}×{crop}" + (", grey" if channels == 1 else "")
        self.choice = ImageChoice(pixels, None, self._reading, None, description, self._path)
        self.caption.setText(f"<b>{self._reading}</b>: {description}")
        self.sig_image_chosen.emit(self.choice)

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        shown = self.choice.source if self.choice is not None else "no photo yet"
        self.caption.setText(f"<b>{shown}</b>")
        self.sig_error.emit(describe_error(error))
