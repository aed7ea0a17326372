"""The live camera in the real window: no camera says so; a generated video's frames take the camera's path, are
classified live with frames dropped, not queued; Space freezes a frame and the search fools the network on it."""

import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QImage

from blindspot_gui.core.photos import sample_photos
from blindspot_gui.qt.widgets import camera_source

pytest.importorskip("PySide6.QtMultimedia", reason="Qt Multimedia cannot start here (see camera_source)",
                    exc_type=ImportError)
from PySide6.QtMultimedia import (  # noqa: E402
    QMediaCaptureSession,
    QMediaDevices,
    QMediaFormat,
    QMediaRecorder,
    QVideoFrame,
    QVideoFrameInput,
)

FRAME_SIZE = (640, 480)
FRAMES_PER_PHOTO = 45
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat"}
"""What EfficientNet-Lite0 may call the sample cat once filmed (the video's compression moves it among these)."""


def camera_picture(path) -> QImage:
    """A sample photo as a 640×480 camera would film it (centre of the photo, scaled to fill the frame)."""
    with Image.open(path) as photo:
        photo = photo.convert("RGBA")
        scale = max(FRAME_SIZE[0] / photo.width, FRAME_SIZE[1] / photo.height)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BILINEAR)
        left, top = (photo.width - FRAME_SIZE[0]) // 2, (photo.height - FRAME_SIZE[1]) // 2
        data = np.ascontiguousarray(photo.crop((left, top, left + FRAME_SIZE[0], top + FRAME_SIZE[1])))
    return QImage(data.data, FRAME_SIZE[0], FRAME_SIZE[1], 4 * FRAME_SIZE[0], QImage.Format.Format_RGBA8888).copy()


def write_video(qtbot, path, pictures) -> None:
    """Record ``pictures`` (QImages, 30 a second) to an MPEG-4 (part 2) Matroska file with Qt's own recorder."""
    session, frames, recorder = QMediaCaptureSession(), QVideoFrameInput(), QMediaRecorder()
    session.setVideoFrameInput(frames)
    session.setRecorder(recorder)
    file_format = QMediaFormat(QMediaFormat.FileFormat.Matroska)
    file_format.setVideoCodec(QMediaFormat.VideoCodec.MPEG4)
    recorder.setMediaFormat(file_format)
    recorder.setQuality(QMediaRecorder.Quality.VeryHighQuality)
    recorder.setVideoResolution(QSize(*FRAME_SIZE))
    recorder.setVideoFrameRate(30)
    recorder.setOutputLocation(QUrl.fromLocalFile(str(path)))
    sent = [0]

    def send() -> None:  # the recorder takes frames as fast as it can encode them
        while sent[0] < len(pictures):
            frame = QVideoFrame(pictures[sent[0]])
            frame.setStartTime(sent[0] * 33_333)
            frame.setEndTime((sent[0] + 1) * 33_333)
            if not frames.sendVideoFrame(frame):
                return
            sent[0] += 1
        timer.stop()
        recorder.stop()

    timer = QTimer()
    timer.timeout.connect(send)
    with qtbot.waitSignal(recorder.recorderStateChanged, timeout=20000,
                          check_params_cb=lambda state: state == QMediaRecorder.RecorderState.StoppedState):
        recorder.record()
        timer.start(5)
    assert sent[0] == len(pictures) and path.stat().st_size > 10_000, recorder.errorString()


@pytest.fixture
def video(qtbot, tmp_path):
    """A 3-second video file: the espresso cup for 1.5 s, then the cat."""
    photos = {sample.label: sample.path for sample in sample_photos()}
    espresso, cat = camera_picture(photos["Espresso"]), camera_picture(photos["Cat"])
    path = tmp_path / "espresso_then_cat.mkv"
    write_video(qtbot, path, [espresso] * FRAMES_PER_PHOTO + [cat] * FRAMES_PER_PHOTO)
    return path


@pytest.fixture
def concurrency(monkeypatch):
    """Counts classifications running at once on the workers (the real classify_frame, wrapped)."""
    real, lock = camera_source.classify_frame, threading.Lock()
    counts = {"now": 0, "most": 0, "runs": 0, "seconds": 0.0}

    def counted(*args, **kwargs):
        with lock:
            counts["now"] += 1
            counts["most"], counts["runs"] = max(counts["most"], counts["now"]), counts["runs"] + 1
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                counts["now"] -= 1
                counts["seconds"] += time.perf_counter() - started

    monkeypatch.setattr(camera_source, "classify_frame", counted)
    return counts


def test_without_a_camera_the_option_says_so(qtbot, photo_window):
    if QMediaDevices.videoInputs():
        pytest.skip("this computer has a camera")
    view = photo_window.blindspots
    button = view.photo_source.camera_button
    assert button.isVisible() and button.text() == "Camera"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert "No camera found on this computer" in view.photo_source.caption.text()
    assert not button.isChecked() and not view.camera.live and not view.runner.is_running("camera")


def test_a_missing_system_library_is_named_with_its_package(monkeypatch):
    monkeypatch.setattr(camera_source, "MULTIMEDIA_ERROR",
                        "libpulse.so.0: cannot open shared object file: No such file or directory")
    message = camera_source.multimedia_missing()
    assert "libpulse.so.0" in message and "sudo apt-get install libpulse0" in message


def test_frames_are_classified_live_and_dropped_not_queued(qtbot, photo_window, video, concurrency):
    view, path = photo_window.blindspots, video
    shown = []  # (frame number, newest frame received when it was shown, its top class)
    gui_seconds, take_frame = [], view.camera.take_frame

    def timed_take_frame(frame):  # what each frame costs the GUI thread
        started = time.perf_counter()
        take_frame(frame)
        gui_seconds.append(time.perf_counter() - started)

    view.camera.take_frame = timed_take_frame  # before the sink is made and connected, by play_file
    view.camera.sig_frame_classified.connect(lambda frame: shown.append(
        (frame.number, view.camera.received, view.viewer.original_panel.classes.texts()[0])))
    view.camera.play_file(path)
    view.camera.player.setPlaybackRate(2.0)  # 60 frames a second: faster than the network answers
    assert view.photo_source.camera_button.isChecked()
    qtbot.waitUntil(lambda: view.camera.received == 2 * FRAMES_PER_PHOTO and not view.camera.in_flight,
                    timeout=30000)
    assert concurrency["most"] == 1, "never more than one classification in flight"
    assert len(shown) == concurrency["runs"] == view.camera.classified < view.camera.received, "frames were dropped"
    numbers = [number for number, _, _ in shown]
    assert numbers == sorted(set(numbers)) and numbers[-1] == 2 * FRAMES_PER_PHOTO, "the newest frame wins"
    lag = max(newest - number for number, newest, _ in shown)  # frames that came while the shown one was answered
    dropped = view.camera.received - view.camera.classified  # a queue as fast as this would end this many behind
    assert lag <= 2 + dropped // 2, f"a recent frame is shown ({lag} frames behind, {dropped} dropped)"
    assert shown[0][2] == "espresso" and view.original_probabilities is not None
    assert shown[-1][2] in CAT_CLASSES, "the answer shown is the last frame's, not the espresso's"
    assert view.choice.source == f"camera frame {2 * FRAMES_PER_PHOTO}"
    assert np.mean(gui_seconds) < 0.005, "a frame costs the GUI thread little (its decoding, resizing: the worker)"
    print(f"\n{view.camera.received} frames, {view.camera.classified} classified, "
          f"{1000 * concurrency['seconds'] / concurrency['runs']:.0f} ms each on a worker; largest lag {lag} frames; "
          f"GUI thread per frame: mean {1000 * np.mean(gui_seconds):.2f} ms, max {1000 * np.max(gui_seconds):.2f} ms")
    qtbot.mouseClick(view.photo_source.camera_button, Qt.MouseButton.LeftButton)
    assert not view.camera.live and "Press Camera to go live again" in view.photo_source.caption.text()


def test_space_freezes_the_frame_and_its_blind_spot_fools_the_network(qtbot, photo_window, video):
    view, path = photo_window.blindspots, video
    view.camera.play_file(path)
    qtbot.waitUntil(lambda: view.camera.classified >= 3, timeout=30000)
    with qtbot.waitSignal(view.sig_search_finished, timeout=240000) as blocker:
        qtbot.keyClick(photo_window, Qt.Key.Key_Space)
        assert not view.camera.live and not view.photo_source.camera_button.isChecked(), "Space froze the camera"
        frozen = view.camera.shown
        assert view.choice.source == f"camera frame {frozen.number}" and view.choice.pixels is frozen.pixels
    result = blocker.args[0]
    assert result.success and 0 < result.distortion < 0.02
    assert np.allclose(result.adversarial - result.perturbation, frozen.pixels.reshape(result.adversarial.shape),
                       atol=1e-5), "the search ran on the frozen frame"
    assert view.classifier.class_name(int(result.adversarial_prediction)) == "ostrich"
    assert view.viewer.original_panel.title.text() == f"Original: camera frame {frozen.number} (frozen)"
    received = view.camera.received
    qtbot.wait(300)
    assert view.camera.received == received and view.choice.pixels is frozen.pixels, "no frame after the freeze"
