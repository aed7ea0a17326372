"""The strength slider on the real window: seconds from a step of the slider to the image and answer shown.

Opens the window offscreen at 1280x720, finds a blind spot with FC100-100-10 (MNIST test image 0)
and with EfficientNet-Lite0 (the cat, target ostrich), then steps the slider through 20 strengths
and prints the median and largest time per step (targets: 50 ms for a digit network, 300 ms for
EfficientNet-Lite0, two cores), and how long the sweep behind the chart took.

Run: QT_QPA_PLATFORM=offscreen python benchmarks/strength_slider.py
"""

from __future__ import annotations

import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui_responsiveness import wait_until  # noqa: E402  (benchmarks/)



def measure(window, label: str) -> None:
    view = window.blindspots
    view.result_views.setCurrentWidget(view.strength_view)  # the sweep is computed for the view in sight
    started = time.perf_counter()
    view.run_search()
    wait_until(lambda: not view.is_running("search"), 120000)
    searched = time.perf_counter()
    wait_until(lambda: view.strength_view.sweep is not None, 120000)
    sweep_seconds = time.perf_counter() - searched
    shown: list[float] = []
    view.sig_strength_shown.connect(shown.append)
    times = []
    for value in range(21, 41):
        count = len(shown)
        step_started = time.perf_counter()
        view.strength_view.slider.setValue(value)
        wait_until(lambda count=count: len(shown) > count, 10000)
        times.append(time.perf_counter() - step_started)
    view.sig_strength_shown.disconnect(shown.append)
    print(f"{label}: search {searched - started:.2f} s, sweep (41 strengths x 2 + edges) {sweep_seconds:.2f} s after it; "
          f"a slider step shown in median {1000 * np.median(times):.0f} ms, at most {1000 * max(times):.0f} ms "
          f"over {len(times)} steps; flip at {view.strength_view.sweep.flip:.3f}x")


def main() -> None:
    app = QApplication.instance() or QApplication([])
    from blindspot_gui.qt.main_window import MainWindow

    settings = QSettings(os.path.join(tempfile.mkdtemp(), "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, show_dialogs=False)
    window.resize(1280, 720)
    window.show()
    view = window.blindspots
    wait_until(lambda: view.original_probabilities is not None and view.network_panel.photo_statuses, 60000)
    measure(window, "FC100-100-10, MNIST test image 0")
    view.network_panel.select("EfficientNet-Lite0")
    wait_until(lambda: view.network_name == "EfficientNet-Lite0" and view.original_probabilities is not None, 60000)
    view.search_panel.class_field.setText("ostrich")
    measure(window, f"EfficientNet-Lite0, {view.choice.source}, target ostrich")
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
