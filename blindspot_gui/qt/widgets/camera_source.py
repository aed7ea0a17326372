"""A live camera as an image source: a photo network classifies the camera's frames as they come, and Space freezes one.

Every frame, from a camera or from a video file played in its place, takes one path: Qt Multimedia hands it to a
QVideoSink; on the GUI thread it only becomes a QImage (a reference to decoded pixels, no copy of ours); a worker
turns that into the network's input (shorter side resized, centre cropped, as photos are) and classifies it.
Frames are dropped, never queued: at most one classification is in flight, and the newest frame that arrived
meanwhile is the next one classified. The frame shown is the network's current image, so Run (Space) finds the
blind spot of the frame on the screen; the camera stops (freezes) as the search starts.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QObject, QUrl, Signal
from PySide6.QtGui import QImage

from blindspot_gui.core.photos import prepare_photo
from blindspot_gui.session.image import ImageChoice
from blindspot_gui.qt.task_controller import TaskController
from blindspot_gui.qt.task_runner import describe_error
from blindspot_gui.qt.widgets.photo_source import network_geometry

try:  # Qt Multimedia needs system libraries (PulseAudio's client) that a minimal Linux may lack
    from PySide6.QtMultimedia import QCamera, QMediaCaptureSession, QMediaDevices, QMediaPlayer, QVideoSink
    MULTIMEDIA_ERROR = ""
except ImportError as error:  # the rest of the window works without it
    MULTIMEDIA_ERROR = str(error)

LIBRARY_PACKAGES = {"libpulse.so.0": "libpulse0"}
"""Debian/Ubuntu packages of the system libraries Qt Multimedia is known to miss on a minimal Linux."""
NO_CAMERA = "No camera found on this computer. Connect one (or let this program use it) and press Camera again."
PREFERRED_SIDE = 256
"""A camera format whose shorter side is at least this (the network sees 224×224 of it) and no larger is chosen."""
_BYTE_ORDER = {QImage.Format.Format_RGB32: (2, 1, 0), QImage.Format.Format_ARGB32: (2, 1, 0),
               QImage.Format.Format_ARGB32_Premultiplied: (2, 1, 0), QImage.Format.Format_RGBX8888: (0, 1, 2),
               QImage.Format.Format_RGBA8888: (0, 1, 2), QImage.Format.Format_RGBA8888_Premultiplied: (0, 1, 2)}
"""Where red, green and blue lie in each pixel's four bytes, for the formats Qt's frames come in."""


def multimedia_missing() -> str:
    """Why the camera cannot work here, in words for the user; "" when Qt Multimedia loaded."""
    if not MULTIMEDIA_ERROR:
        return ""
    library = re.match(r"\s*([\w.+-]+\.so[\w.]*)", MULTIMEDIA_ERROR)
    package = LIBRARY_PACKAGES.get(library.group(1)) if library else None
    remedy = (f"Install it (on Debian or Ubuntu: sudo apt-get install {package})" if package
              else "Install the system library it names") + " and start the program again."
    return f"The camera needs Qt Multimedia, which could not start here ({MULTIMEDIA_ERROR}). {remedy}"


def rgb_of(image: QImage) -> np.ndarray:
    """A frame's pixels as an (H, W, 3) uint8 array (a worker's job: it copies and reorders every pixel)."""
    if image.format() not in _BYTE_ORDER:
        image = image.convertToFormat(QImage.Format.Format_RGBX8888)
    order = _BYTE_ORDER[image.format()]
    if sys.byteorder == "big" and order == (2, 1, 0):  # 0xAARRGGBB words: A, R, G, B in memory
        order = (1, 2, 3)
    rows = np.frombuffer(image.constBits(), np.uint8, image.bytesPerLine() * image.height())
    rows = rows.reshape(image.height(), image.bytesPerLine())[:, :4 * image.width()]
    return np.ascontiguousarray(rows.reshape(image.height(), image.width(), 4)[:, :, list(order)])


def frame_pixels(image: QImage, resize: int, crop: int, channels: int) -> np.ndarray:
    """A frame as a network of that geometry sees it, prepared as photos are: (3, crop, crop), or grey (crop, crop)."""
    pixels = prepare_photo(Image.fromarray(rgb_of(image)), resize, crop)
    return pixels if channels == 3 else pixels.mean(axis=0).astype(np.float32)


def classify_frame(classifier, image: QImage, geometry: tuple[int, int, int], *, monitor):
    """(the frame as the network sees it, the network's probabilities for it); runs on a worker thread."""
    monitor.check()
    pixels = frame_pixels(image, *geometry)
    monitor.check()
    return pixels, classifier.probabilities(pixels)


@dataclass(frozen=True)
class LiveFrame:
    """One classified frame: its number in the stream, the network's image of it, and that network's answer."""

    number: int
    pixels: np.ndarray
    probabilities: np.ndarray
    classifier: object
    description: str


class CameraSource(QObject, TaskController):
    """The camera (or a video file in its place), its frames classified live by the network ``classifier_of()``."""

    sig_frame_classified = Signal(object)
    """A LiveFrame, as soon as the network has answered for it."""
    sig_message = Signal(str)
    """What the camera is doing, or why it cannot (no camera, no Qt Multimedia, a device error)."""
    sig_live_changed = Signal(bool)

    def __init__(self, runner, classifier_of: Callable[[], object], parent=None):
        super().__init__(parent)
        self.runner, self.classifier_of = runner, classifier_of
        self._sink = None
        self.camera = self.session = self.player = None
        self.live = False
        self.received = self.classified = self.in_flight = 0
        self.shown: LiveFrame | None = None
        self._waiting = None
        self._started: tuple[int, object] | None = None

    @property
    def sink(self):
        """The QVideoSink every frame comes through, made on first use (Qt Multimedia starts only if asked for)."""
        if self._sink is None:
            self._sink = QVideoSink(self)
            self._sink.videoFrameChanged.connect(self.take_frame)
        return self._sink

    def unavailable(self) -> str:
        """Why the camera cannot start now, in words for the user; "" when it can."""
        if missing := multimedia_missing():
            return missing
        return "" if QMediaDevices.videoInputs() else NO_CAMERA

    def start_camera(self) -> bool:
        """Show the default camera's frames live; False (and a message saying why) when there is none."""
        if reason := self.unavailable():
            self.sig_message.emit(reason)
            return False
        self.stop()
        device = QMediaDevices.defaultVideoInput()
        self.camera = QCamera(device, self)
        if (chosen := _small_format(device)) is not None:
            self.camera.setCameraFormat(chosen)
        self.camera.errorOccurred.connect(self._camera_failed)
        self.session = QMediaCaptureSession(self)
        self.session.setCamera(self.camera)
        self.session.setVideoSink(self.sink)
        self._go_live(f"Live from {device.description()}")
        self.camera.start()
        return True

    def play_file(self, path) -> None:
        """A video file, played through the camera's path as if it were the camera (a talk without one; the tests)."""
        if reason := multimedia_missing():
            self.sig_message.emit(reason)
            return
        self.stop()
        self.player = QMediaPlayer(self)
        self.player.setVideoSink(self.sink)
        self.player.errorOccurred.connect(lambda _error, text: self._fail(f"The video could not be played: {text}"))
        self.player.setSource(QUrl.fromLocalFile(str(path)))
        self._go_live(f"Playing {Path(path).name} as the camera")
        self.player.play()

    def _go_live(self, message: str) -> None:
        self.live, self.received, self.classified, self.shown = True, 0, 0, None
        self.sig_message.emit(f"{message}: Space freezes the frame and finds its blind spot.")
        self.sig_live_changed.emit(True)

    def stop(self) -> None:
        """Stop the camera (or the video); the frame shown stays, and one being classified is dropped."""
        was_live, self.live = self.live, False  # frames still queued for the GUI thread are ignored from now
        for device in (self.camera, self.player):
            if device is not None:
                device.stop()
                device.deleteLater()
        if self.session is not None:
            self.session.deleteLater()
        self.camera = self.session = self.player = None
        self.runner.replace("camera")
        self.in_flight, self._waiting = 0, None
        if was_live:
            frozen = f"frame {self.shown.number} stays" if self.shown is not None else "no frame came"
            self.sig_message.emit(f"Camera stopped: {frozen}. Press Camera to go live again.")
            self.sig_live_changed.emit(False)

    def take_frame(self, frame) -> None:
        """The sink's newest frame: classified now if the network is free, else kept as the next (replacing any)."""
        if not self.live or not frame.isValid():
            return
        self.received += 1
        if self.in_flight:
            self._waiting = (self.received, frame)
        else:
            self._classify(self.received, frame)

    def _classify(self, number: int, frame) -> None:
        classifier = self.classifier_of()
        if classifier is None or classifier.is_digit_network:
            self._fail("The camera feeds photo networks: choose one (EfficientNet-Lite0, ResNet-50, …) and press "
                       "Camera again.")
            return
        image = frame.toImage()  # the one conversion on the GUI thread; the worker copies and resizes
        if image.isNull():
            return
        self.in_flight += 1
        self._started = (number, classifier)
        self.start("camera", classify_frame, classifier, image, network_geometry(classifier))

    def _on_task_done(self, slot: str, result) -> None:
        self.in_flight -= 1
        self.classified += 1
        (number, classifier), (pixels, probabilities) = self._started, result
        resize, crop, channels = network_geometry(classifier)
        description = f"camera frame, shorter side resized to {resize}, centre {crop}×{crop}" + (
            ", grey" if channels == 1 else "")
        self.shown = LiveFrame(number, pixels, probabilities, classifier, description)
        self.sig_frame_classified.emit(self.shown)
        if self._waiting is not None and self.live:
            waiting, self._waiting = self._waiting, None
            self._classify(*waiting)

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        self.in_flight -= 1
        self._fail(f"The network could not classify the camera's frame: {describe_error(error)}")

    def _on_task_cancelled(self, slot: str) -> None:
        self.in_flight -= 1

    def _camera_failed(self, _error, text: str) -> None:
        self._fail(f"The camera stopped: {text or 'it reported an error'}. Check that no other program uses it, "
                   "then press Camera again.")

    def _fail(self, message: str) -> None:
        self.stop()
        self.sig_message.emit(message)


def _small_format(device):
    """The device's smallest format that still gives the network a full crop (cheap frames), if it lists any."""
    def pixels(format_) -> int:
        return format_.resolution().width() * format_.resolution().height()

    def side(format_) -> int:
        return min(format_.resolution().width(), format_.resolution().height())

    large_enough = [f for f in device.videoFormats() if side(f) >= PREFERRED_SIDE]
    return min(large_enough, key=lambda f: (pixels(f), -f.maxFrameRate())) if large_enough else None


def show_live_frame(tab, frame: LiveFrame) -> None:
    """Make ``frame`` the blind-spot view's image and show the network's answer for it (top 5 in the bars)."""
    if frame.classifier is not tab.classifier or tab.is_running("search"):
        return  # a frame of a network no longer in use, or the search has begun on the frozen frame
    tab.choice = ImageChoice(frame.pixels, None, f"camera frame {frame.number}", None, frame.description)
    tab.result, tab.original_probabilities = None, frame.probabilities
    predicted = int(frame.probabilities.argmax())
    answer = tab.classifier.class_name(predicted)
    tab.viewer.show_original(frame.pixels, f"says {answer}  ({100 * frame.probabilities[predicted]:.0f}%)",
                             frame.probabilities, "Camera (live)")
    tab.viewer.show_readout(f"Live: {tab.network_name} says “{answer}”. Space freezes this frame and finds the "
                            f"smallest change that makes it say the target.")


def link_camera(tab) -> None:
    """Wire the blind-spot tab's camera: the photo source's Camera button, the view, and Run (Space) freezing it."""
    camera, button, caption = tab.camera, tab.photo_source.camera_button, tab.photo_source.caption
    button.toggled.connect(lambda on: _toggle(tab, on))
    camera.sig_live_changed.connect(lambda live: _on_live(tab, live))
    camera.sig_message.connect(caption.setText)
    camera.sig_frame_classified.connect(lambda frame: show_live_frame(tab, frame))
    tab.runner.sig_task_started.connect(lambda slot: camera.stop() if slot == "search" else None)
    for source in (tab.photo_source, tab.image_source):
        source.sig_image_chosen.connect(lambda _choice: camera.stop())
    tab.installEventFilter(_StopWhenHidden(camera, tab))


def _toggle(tab, on: bool) -> None:
    """The Camera button: on starts the camera (or says why it cannot, and stays off), off stops it."""
    if on and not tab.camera.live:
        tab.camera.start_camera()
    elif not on and tab.camera.live:
        tab.camera.stop()
    _check(tab.photo_source.camera_button, tab.camera.live)


def _on_live(tab, live: bool) -> None:
    """The button follows the camera; going live drops a search, its transfer and noise (they were another image's)."""
    _check(tab.photo_source.camera_button, live)
    if not live and tab.choice is not None and tab.choice.source.startswith("camera frame"):
        tab.viewer.original_panel.title.setText(f"Original: {tab.choice.source} (frozen)")
        if not tab.is_running("search"):
            tab.viewer.show_readout(f"The camera stopped on {tab.choice.source}. Press Run (Space) to find its blind "
                                    "spot, or Camera to go live again.")
    if live:
        tab._abandon_search()
        tab.transfer_view.clear()
        tab.search_panel.save_button.setEnabled(False)


def _check(button, on: bool) -> None:
    button.blockSignals(True)
    button.setChecked(on)
    button.blockSignals(False)


class _StopWhenHidden(QObject):
    """Stops the camera when the blind-spot view is hidden (another tab, the window closed or minimised)."""

    def __init__(self, camera: CameraSource, parent):
        super().__init__(parent)
        self.camera = camera

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.Hide and self.camera.live:
            self.camera.stop()
        return False

