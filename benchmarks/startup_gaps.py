"""How long start-up holds the window once it is up: the largest event-loop gap in the seconds after the main window shows.

Runs `blindspot-gui` in this process (`qt.app.main`, empty settings and user folders) with a 10 ms timer
ticking on the GUI thread from the main window's first event loop, closes the window after --seconds
and prints the largest gap between ticks (the issue's target: at most 0.5 s) and the three largest.
Run: python benchmarks/startup_gaps.py [--runs 3] [--seconds 6]   (offscreen unless QT_QPA_PLATFORM is set)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

PROBE = """
import sys, time
from PySide6.QtCore import QTimer
from blindspot_gui.qt import app
ticks, real = [], app._run_window
def measured(application, args, window, ready=None):
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    QTimer.singleShot(int(float(sys.argv[1]) * 1000), window.close)
    return real(application, args, window, ready)
app._run_window = measured
app.main([])
gaps = sorted((b - a for a, b in zip(ticks, ticks[1:])), reverse=True)
print(" ".join(f"{gap:.3f}" for gap in gaps[:3]))
"""


def one_run(seconds: float) -> list[float]:
    """The three largest gaps (seconds) of one start-up, in a fresh process with empty settings and folders."""
    with tempfile.TemporaryDirectory(prefix="startup-gaps-") as home:
        environment = dict(os.environ, BLINDSPOT_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
        environment.setdefault("QT_QPA_PLATFORM", "offscreen")
        done = subprocess.run([sys.executable, "-c", PROBE, str(seconds)], env=environment, cwd=home,
                              capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit(f"the window did not run: {done.stderr.strip()[-2000:]}")
    return [float(gap) for gap in done.stdout.split()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    for number in range(1, args.runs + 1):
        started = time.perf_counter()
        gaps = one_run(args.seconds)
        print(f"run {number}: largest gaps {', '.join(f'{gap:.3f}' for gap in gaps)} s "
              f"({time.perf_counter() - started:.1f} s in all)")
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
