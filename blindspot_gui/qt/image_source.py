"""The image sources: the MNIST browser (and your own picture converted the way MNIST was made) for digit networks,
the sample photos and any photo file, as the network sees it, for photo networks.

Every file is decoded on a worker thread (cancellable: a newer choice replaces it); a file that
cannot be read is reported by its name, and the image shown before stays.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from blindspot_gui.core.data import Dataset
from blindspot_gui.core.images import IMAGE_FILE_PATTERNS, load_digit_image
from blindspot_gui.qt.task_controller import TaskController
from blindspot_gui.session.image import ImageChoice
from blindspot_gui.qt.task_runner import TaskRunner, describe_error

THUMBNAILS = 15
THUMBNAIL_SIZE = 44


def grey_pixmap(pixels: np.ndarray, size: int) -> QPixmap:
    """A QPixmap of a [0, 1] grey image, scaled to ``size`` without smoothing."""
    data = np.ascontiguousarray(np.clip(np.asarray(pixels) * 255.0, 0, 255).astype(np.uint8))
    height, width = data.shape
    image = QImage(data.data, width, height, width, QImage.Format.Format_Grayscale8).copy()
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.FastTransformation)


def rgb_pixmap(pixels: np.ndarray, size: int) -> QPixmap:
    """A QPixmap of a (3, H, W) [0, 1] colour image, scaled to fit ``size`` with smoothing."""
    data = np.ascontiguousarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0))
    height, width, _ = data.shape
    image = QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(image).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)


def pixmap_of(pixels: np.ndarray, size: int) -> QPixmap:
    """A thumbnail of a (1, H, W) or (H, W) grey image or a (3, H, W) colour one."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[0] == 3:
        return rgb_pixmap(pixels, size)
    return grey_pixmap(pixels.reshape(pixels.shape[-2:]), size)


class ImageSource(QWidget, TaskController):
    """The MNIST browser: index box, previous / next / random, a strip of thumbnails, and "Open image..."."""

    sig_image_chosen = Signal(object)
    sig_error = Signal(str)

    def __init__(self, dataset: Dataset, runner: TaskRunner, parent=None):
        super().__init__(parent)
        self.dataset = dataset
        self.runner = runner
        self.rng = np.random.default_rng()
        self.index = QSpinBox()
        self.index.setObjectName("image_index")
        self.index.setRange(0, len(dataset) - 1)
        self.index.setPrefix("test image ")
        self.index.setToolTip("Which MNIST test image to use (0-9999)")
        self.previous = QPushButton("◀ Previous")
        self.previous.setToolTip("Previous test image (Left arrow)")
        self.next = QPushButton("Next ▶")
        self.next.setToolTip("Next test image (Right arrow)")
        self.random = QPushButton("Random")
        self.random.setToolTip("A random test image (R)")
        self.open_file = QPushButton("Open image file…")
        self.open_file.setToolTip("Use your own picture of a digit (PNG, JPEG, BMP); you can also drop it on the window")
        self.strip = QListWidget()
        self.strip.setObjectName("thumbnail_strip")
        self.strip.setViewMode(QListWidget.ViewMode.IconMode)
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self._fit_strip_to_font()
        self.strip.setMovement(QListWidget.Movement.Static)
        self.caption = QLabel("")
        self._caption_before = ""
        self.caption.setObjectName("image_caption")
        self.caption.setWordWrap(True)

        browse, more = QHBoxLayout(), QHBoxLayout()  # two short rows: the panel sits in a column beside the images
        for widget in (self.previous, self.index, self.next):
            browse.addWidget(widget)
        for widget in (self.random, self.open_file):
            more.addWidget(widget)
        more.addStretch(1)
        self.index.setMinimumWidth(self.index.fontMetrics().horizontalAdvance("test image 00000") + 30)
        layout = QVBoxLayout(self)
        layout.addLayout(browse)
        layout.addLayout(more)
        layout.addWidget(self.caption)
        layout.addWidget(self.strip)
        layout.addStretch(1)

        self.index.valueChanged.connect(self._on_index_changed)
        self.previous.clicked.connect(lambda: self.step(-1))
        self.next.clicked.connect(lambda: self.step(1))
        self.random.clicked.connect(self.choose_random)
        self.open_file.clicked.connect(self._on_open_file_clicked)
        self.strip.itemClicked.connect(self._on_strip_clicked)

    def _fit_strip_to_font(self) -> None:
        """The strip as tall as a thumbnail, its number under it, and a scroll bar, at any text size."""
        scroll_bar = self.strip.horizontalScrollBar().sizeHint().height()
        self.strip.setFixedHeight(THUMBNAIL_SIZE + self.fontMetrics().height() + scroll_bar + 16)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and hasattr(self, "strip"):
            self._fit_strip_to_font()

    def step(self, offset: int) -> None:
        self.index.setValue((self.index.value() + offset) % len(self.dataset))

    def choose_random(self) -> None:
        self.index.setValue(int(self.rng.integers(len(self.dataset))))

    def choose_index(self, index: int) -> None:
        """Select test image ``index`` (announced even if it is already the current one)."""
        if self.index.value() == index:
            self._on_index_changed(index)
        else:
            self.index.setValue(index)

    def open_path(self, path) -> None:
        """Read and convert the image file at ``path`` in the background; a failure is reported, the current image kept."""
        name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
        if not self.runner.is_running("open-image"):  # else it says "reading" another file: keep the one before
            self._caption_before = self.caption.text()
        self.caption.setText(f"reading <b>{name}</b>…")
        self._reading = name
        self.start("open-image", _read_digit, path)

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        self.caption.setText(self._caption_before)
        self.sig_error.emit(describe_error(error))

    def _on_task_done(self, slot: str, converted) -> None:
        name = self._reading
        self.caption.setText(f"<b>{name}</b>: {converted.description}")
        self.strip.clearSelection()
        self.sig_image_chosen.emit(ImageChoice(converted.pixels, None, name, None, converted.description))

    def current_choice(self) -> ImageChoice:
        """The test image the browser is on (a file read since is the controller's to remember)."""
        index = self.index.value()
        return ImageChoice(self.dataset.images[index, 0].numpy(), int(self.dataset.labels[index]),
                           f"MNIST test image {index}", index)

    def _on_index_changed(self, index: int) -> None:
        self.runner.replace("open-image")  # a file still being read is no longer wanted
        self._fill_strip(index)
        label = int(self.dataset.labels[index])
        self.caption.setText(f"MNIST test image {index}: the digit is a <b>{self.dataset.class_names[label]}</b>")
        self.sig_image_chosen.emit(self.current_choice())

    def _fill_strip(self, centre: int) -> None:
        self.strip.clear()
        first = min(max(centre - THUMBNAILS // 2, 0), len(self.dataset) - THUMBNAILS)
        for index in range(max(first, 0), min(first + THUMBNAILS, len(self.dataset))):
            item = QListWidgetItem(QIcon(grey_pixmap(self.dataset.images[index, 0].numpy(), THUMBNAIL_SIZE)),
                                   str(index))
            item.setData(Qt.ItemDataRole.UserRole, index)
            self.strip.addItem(item)
            if index == centre:
                item.setSelected(True)
                self.strip.scrollToItem(item)

    def _on_strip_clicked(self, item: QListWidgetItem) -> None:
        self.index.setValue(int(item.data(Qt.ItemDataRole.UserRole)))

    def _on_open_file_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image of a digit", "",
                                              f"Images ({' '.join(IMAGE_FILE_PATTERNS)});;All files (*)")
        if path:
            self.open_path(path)


def _read_digit(path, *, monitor):
    """A digit image file converted the MNIST way (on a worker thread)."""
    monitor.check()
    return load_digit_image(path)
