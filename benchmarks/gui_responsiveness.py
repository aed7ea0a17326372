"""How responsive the window stays: event-loop gaps during a search and training, cancel and close latency.

Opens the real window offscreen, runs an untargeted search on the ConvNet (the slowest zoo model)
and two seconds of training of FC200-200-10 while a 10 ms timer ticks on the GUI thread, and
prints the largest gap between ticks, the time from Cancel to the search's result, the time the
unit explorer takes to show new random directions on the largest layer, the largest gap during a
whole photo search (EfficientNet-Lite0, the first sample photo to "ostrich"), and the time to
close the window in the middle of a search.
Run: QT_QPA_PLATFORM=offscreen python benchmarks/gui_responsiveness.py
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEventLoop, QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def wait(milliseconds: int) -> None:
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def wait_until(condition, timeout_ms: int = 30000) -> None:
    deadline = time.perf_counter() + timeout_ms / 1000
    while not condition() and time.perf_counter() < deadline:
        wait(5)


def largest_gap(milliseconds: int) -> float:
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    wait(milliseconds)
    timer.stop()
    return float(np.max(np.diff(ticks)))


def largest_gap_until(condition, timeout_ms: int = 120000) -> float:
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    wait_until(condition, timeout_ms)
    timer.stop()
    return float(np.max(np.diff(ticks)))


def main() -> None:
    app = QApplication.instance() or QApplication([])
    from blindspot_gui.qt.main_window import MainWindow

    settings = QSettings(os.path.join(tempfile.mkdtemp(), "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, show_dialogs=False)
    window.show()
    view = window.blindspots
    wait_until(lambda: not window.runner.is_running("warm-up"))
    view.network_panel.select("ConvNet")
    wait_until(lambda: view.network_name == "ConvNet" and view.original_probabilities is not None)
    view.search_panel.choose("none")

    finished = []
    view.sig_search_finished.connect(finished.append)
    view.run_search()
    search_gap = largest_gap(800)
    pressed = time.perf_counter()
    view.cancel_search()
    wait_until(lambda: finished)
    cancel_latency = time.perf_counter() - pressed

    view.network_panel.select("FC200-200-10")
    view.start_training("FC200-200-10")
    training_gap = largest_gap(2000)
    window.runner.cancel("training")
    wait_until(lambda: not window.runner.is_running("training"))

    explorer = window.unit_explorer
    shown = []
    explorer.sig_rows_shown.connect(lambda: shown.append(time.perf_counter()))
    window.tabs.setCurrentWidget(explorer)
    explorer.model.setCurrentText("ConvNet")
    wait_until(lambda: shown)
    explorer.layer.setCurrentText("relu1")  # the largest layer: 9,216 dimensions
    wait_until(lambda: len(shown) >= 2)
    direction_times = []
    for _ in range(5):
        before, pressed = len(shown), time.perf_counter()
        explorer.next_random_directions()
        wait_until(lambda before=before: len(shown) > before)
        direction_times.append(shown[-1] - pressed)

    window.tabs.setCurrentWidget(view)
    wait_until(lambda: not window.runner.is_running("catalogue"))
    view.network_panel.select("EfficientNet-Lite0")
    wait_until(lambda: view.network_name == "EfficientNet-Lite0" and view.original_probabilities is not None)
    photo_results = []
    view.sig_search_finished.connect(photo_results.append)
    view.run_search()
    photo_gap = largest_gap_until(lambda: photo_results)
    photo_classes = view.classifier.class_names

    view.network_panel.select("ConvNet")
    wait_until(lambda: view.network_name == "ConvNet")
    view.run_search()
    wait(200)
    started = time.perf_counter()
    window.close()
    close_time = time.perf_counter() - started
    print(f"largest event-loop gap during a search:   {1000 * search_gap:.0f} ms")
    print(f"largest event-loop gap during training:   {1000 * training_gap:.0f} ms")
    print(f"Cancel to result shown:                   {1000 * cancel_latency:.0f} ms")
    print(f"unit explorer, ConvNet relu1 (9,216 dimensions), 4 unit rows + 4 random rows of 8 images, "
          f"new random directions: {1000 * max(direction_times):.0f} ms at most over 5")
    print(f"largest event-loop gap during a whole EfficientNet-Lite0 photo search ({photo_results[0].distortion:.4f} "
          f"RMS, to {photo_classes[photo_results[0].adversarial_prediction]!r}): {1000 * photo_gap:.0f} ms")
    print(f"closing the window mid-search:            {1000 * close_time:.0f} ms "
          f"({window.runner.running_count} tasks left)")
    app.quit()


if __name__ == "__main__":
    main()
