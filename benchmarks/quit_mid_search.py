"""Ctrl+Q in the middle of a photo search: seconds until the window's main() returns and until the process is gone.

Starts `blindspot-gui --network EfficientNet-Lite0` offscreen in a child process, starts a search
on the sample photo once the network has answered, presses Ctrl+Q ``--after`` milliseconds later,
and reports (from the parent) the time from the key to main() returning and to the process's end.

Run: python benchmarks/quit_mid_search.py [--after 300 1000 3000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

CHILD = r"""
import sys, time
from PySide6.QtCore import QTimer, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from blindspot_gui.qt import app as gui

application = QApplication(sys.argv[:1])

def poke():
    windows = [w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow"]
    view = windows[0].blindspots if windows else None
    if view is None or view.network_name != "EfficientNet-Lite0" or view.original_probabilities is None:
        return QTimer.singleShot(100, poke)
    if not view.is_running("search"):
        view.run_search()
        return QTimer.singleShot(AFTER, poke)
    print(f"KEY {time.monotonic():.4f}", flush=True)
    windows[0].activateWindow()
    QTest.keyClick(windows[0], Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)

QTimer.singleShot(100, poke)
status = gui.main(["--network", "EfficientNet-Lite0"])
print(f"RETURNED {time.monotonic():.4f}", flush=True)
sys.exit(status)
"""


def one_run(after_ms: int) -> tuple[float, float]:
    """(seconds from Ctrl+Q to main() returning, seconds from Ctrl+Q to the process's end)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD.replace("AFTER", str(after_ms))], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    lines = child.stdout.read().splitlines()
    child.wait(timeout=120)
    ended = time.monotonic()
    stamps = dict(line.split() for line in lines if line.startswith(("KEY", "RETURNED")))
    key = float(stamps["KEY"])
    return float(stamps["RETURNED"]) - key, ended - key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", type=int, nargs="+", default=[300, 1000, 3000])
    args = parser.parse_args()
    for after in args.after:
        returned, ended = one_run(after)
        print(f"Ctrl+Q {after} ms into the search: main() returned after {1000 * returned:.0f} ms, the process ended "
              f"after {1000 * ended:.0f} ms", flush=True)


if __name__ == "__main__":
    main()
