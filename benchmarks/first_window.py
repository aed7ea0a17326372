"""How soon the window appears: seconds from starting `blindspot-gui` to its first window on screen, and to the main
window (the app's title) on screen, under Xvfb, measured from outside the process as a user would see it.

Polls `xwininfo -root -tree` (x11-utils) on a private Xvfb display every 50 ms for viewable top-level windows; each
run starts with empty settings and user folders. Prints one line per run and the medians.

Run: python benchmarks/first_window.py [--runs 5] [--command blindspot-gui] [--cold]

A checkout installed in editable mode, started where PYTHONDONTWRITEBYTECODE is set, compiles the
application's modules at every start: measure a plain `pip install .` (or the bundle) for what a
user sees.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAIN_TITLE = "Blind spots of neural networks"
WINDOW_LINE = re.compile(r'^\s+(0x[0-9a-f]+) "([^"]*)"')


def viewable_titles(display: str) -> list[str]:
    """The titles of the viewable windows one level below the root."""
    tree = subprocess.run(["xwininfo", "-display", display, "-root", "-children"], capture_output=True,
                          text=True).stdout
    titles = []
    for window, title in (match.groups() for line in tree.splitlines() if (match := WINDOW_LINE.match(line))):
        state = subprocess.run(["xwininfo", "-display", display, "-id", window], capture_output=True, text=True).stdout
        if "Map State: IsViewable" in state:
            titles.append(title)
    return titles


def one_run(command: list[str], display: str, timeout: float = 60.0) -> tuple[float, float, str]:
    """(seconds to the first viewable window, seconds to the main window, the first window's title)."""
    with tempfile.TemporaryDirectory(prefix="first-window-") as home:
        environment = dict(os.environ, DISPLAY=display, BLINDSPOT_HOME=str(Path(home) / "data"),
                           XDG_CONFIG_HOME=str(Path(home) / "config"), QT_QPA_PLATFORM="xcb")
        started = time.perf_counter()
        process = subprocess.Popen(command, env=environment, cwd=home, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        first = main = None
        title = ""
        try:
            while time.perf_counter() - started < timeout and main is None:
                titles = viewable_titles(display)
                now = time.perf_counter() - started
                if titles and first is None:
                    first, title = now, titles[0]
                if MAIN_TITLE in titles:
                    main = now
                time.sleep(0.05)
        finally:
            process.terminate()
            process.wait(10)
    return first, main, title


def drop_page_cache() -> None:
    """Write the page cache out and drop it, so that the next start reads every file from the disk."""
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as error:
        sys.exit(f"--cold needs root on Linux to drop the page cache: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--command", default=str(Path(sys.executable).parent / "blindspot-gui"))
    parser.add_argument("--cold", action="store_true",
                        help="empty the page cache before each run (Linux, as root): a start after a reboot")
    args = parser.parse_args()
    display = ":97"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    try:
        results = []
        for _ in range(args.runs):
            if args.cold:
                drop_page_cache()
            results.append(one_run(args.command.split(), display))
    finally:
        server.terminate()
    for number, (first, main, title) in enumerate(results, 1):
        if first is None or main is None:
            sys.exit(f"run {number}: the window never appeared (first window {first}, main window {main}); start "
                     f"{args.command} under Xvfb by hand to see why")
        print(f"run {number}: first window {first:.2f} s ({title!r}), main window {main:.2f} s")
    print(f"median: first window {statistics.median(r[0] for r in results):.2f} s, main window "
          f"{statistics.median(r[1] for r in results):.2f} s (load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    if shutil.which("xwininfo") is None or shutil.which("Xvfb") is None:
        sys.exit("needs Xvfb and xwininfo (Debian: apt install xvfb x11-utils)")
    sys.exit(main())
