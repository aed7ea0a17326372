"""The tour's photo step on the real window: when its first result shows, and when its confident answer is in.

Opens the window offscreen, starts the tour at its photo step ("A photo becomes an ostrich":
EfficientNet-Lite0, the espresso, Confident goal p >= 0.9) once the network and the photo have
loaded, and prints the seconds from the step's start to the first adversarial picture on screen
(the search's first partial result), and to the step's answer with its probability. ``--repeat``
runs the step again (the tour's Back and Next) and reports each run.

Run: QT_QPA_PLATFORM=offscreen python benchmarks/tour_photo_step.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from gui_responsiveness import wait_until  # noqa: E402  (benchmarks/)

PHOTO_STEP = 4


def run_step(window) -> tuple[float, float, str]:
    """(seconds to the first picture, seconds to the answer, the tour's words) for the photo step started now."""
    tour, view = window.tour, window.blindspots
    firsts: list[float] = []
    show_partial = type(view.viewer).show_partial
    view.viewer.show_partial = lambda *shown: (firsts.append(time.perf_counter()), show_partial(view.viewer, *shown))
    started = time.perf_counter()
    tour.show_step(PHOTO_STEP)
    wait_until(lambda: not tour.busy, 120000)
    done = time.perf_counter()
    del view.viewer.show_partial
    first = (firsts[0] - started) if firsts else float("nan")
    print(f"  the search started {view.search_started - started:.2f} s into the step; {len(firsts)} pictures shown")
    return first, done - started, tour.panel.result.text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    from blindspot_gui.qt.main_window import MainWindow
    from blindspot_gui.qt.tour_steps import PHOTO_NETWORK

    settings = QSettings(os.path.join(tempfile.mkdtemp(), "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, show_dialogs=False)
    window.resize(1280, 720)
    window.show()
    view = window.blindspots
    wait_until(lambda: view.original_probabilities is not None and view.network_panel.photo_statuses, 60000)
    view.network_panel.select(PHOTO_NETWORK)  # the step measured is the search, not loading the network
    wait_until(lambda: view.network_name == PHOTO_NETWORK and view.original_probabilities is not None, 60000)
    window.tour.start(PHOTO_STEP)
    wait_until(lambda: not window.tour.busy, 120000)
    for run in range(args.repeat):
        first, answer, words = run_step(window)
        print(f"run {run + 1}: first picture {first:.2f} s, answer {answer:.2f} s — {words}", flush=True)
    window.tour.leave()
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
