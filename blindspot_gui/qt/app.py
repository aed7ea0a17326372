"""Entry point of `blindspot-gui`: checks for a display, builds the application and opens the main window."""

from __future__ import annotations

import argparse
import os
import sys

NO_DISPLAY_MESSAGE = (
    "blindspot-gui: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop session, "
    "under `xvfb-run blindspot-gui`, or with QT_QPA_PLATFORM=offscreen together with --screenshot FILE."
)


def has_display(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will find somewhere to draw: always on Windows and macOS, else a display or a chosen platform."""
    if not platform.startswith("linux"):
        return True
    return any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blindspot-gui", description="Open the blind-spot explorer window.")
    parser.add_argument("--screenshot", metavar="FILE", help="render the window to FILE (PNG) and exit")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from blindspot_gui.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("blindspot-gui")
    window = MainWindow()
    window.show()
    if args.screenshot:
        def save_and_quit():
            ok = window.grab().save(args.screenshot)
            if not ok:
                print(f"blindspot-gui: could not write {args.screenshot}", file=sys.stderr)
            app.exit(0 if ok else 1)

        QTimer.singleShot(300, save_and_quit)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
