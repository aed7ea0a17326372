"""How long start-up holds the window once it is up: the largest event-loop gap in the seconds after the main window shows.

Runs `blindspot-gui` in a fresh process (`qt.app.main`, empty settings and user folders) with a 10 ms
timer ticking on the GUI thread from the getting-ready window's first sight, closes the main window
after --seconds and prints the largest gap while getting ready (PyTorch's import, the main window's
construction: allowed to pause) and the three largest after the main window shows (the issue's
target: at most 0.5 s).
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
from blindspot_gui.qt import app, startup
ticks, shown, real, Ready = [], [], app._run_window, startup.GettingReady
class TickingReady(Ready):
    def showEvent(self, event):
        super().showEvent(event)
        self.ticker = QTimer()
        self.ticker.timeout.connect(lambda: ticks.append(time.perf_counter()))
        self.ticker.start(10)
def measured(application, args, window, ready=None):
    shown.append(time.perf_counter())
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    QTimer.singleShot(int(float(sys.argv[1]) * 1000), window.close)
    return real(application, args, window, ready)
startup.GettingReady, app._run_window = TickingReady, measured
app.main([])
ticks.append(shown[0])  # the main window's construction ends a gap of the getting-ready window
ticks.sort()
gaps = [(b - a, b > shown[0]) for a, b in zip(ticks, ticks[1:])]
print(max((g for g, after in gaps if not after), default=0), " ".join(
    f"{g:.3f}" for g in sorted((g for g, after in gaps if after), reverse=True)[:3]))
"""


def one_run(seconds: float) -> tuple[float, list[float]]:
    """(the largest gap while getting ready, the three largest after the main window shows), in seconds, of one
    start-up in a fresh process with empty settings and folders."""
    with tempfile.TemporaryDirectory(prefix="startup-gaps-") as home:
        environment = dict(os.environ, BLINDSPOT_HOME=f"{home}/data", XDG_CONFIG_HOME=f"{home}/config")
        environment.setdefault("QT_QPA_PLATFORM", "offscreen")
        done = subprocess.run([sys.executable, "-c", PROBE, str(seconds)], env=environment, cwd=home,
                              capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit(f"the window did not run: {done.stderr.strip()[-2000:]}")
    before, *after = (float(gap) for gap in done.stdout.split())
    return before, after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    for number in range(1, args.runs + 1):
        started = time.perf_counter()
        before, after = one_run(args.seconds)
        print(f"run {number}: getting ready: largest gap {before:.3f} s; after the main window shows: largest gaps "
              f"{', '.join(f'{gap:.3f}' for gap in after)} s ({time.perf_counter() - started:.1f} s in all)")
    print(f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
