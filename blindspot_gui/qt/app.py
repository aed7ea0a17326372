"""Entry point of `blindspot-gui`: checks for a display, builds the application and opens the main window."""

from __future__ import annotations

import argparse
import os
import sys

NO_DISPLAY_MESSAGE = (
    "blindspot-gui: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop session, "
    "under `xvfb-run blindspot-gui`, or with QT_QPA_PLATFORM=offscreen together with --screenshot FILE."
)
DEMO_PAUSE_MS = 3000


def has_display(environ=os.environ, platform: str = sys.platform) -> bool:
    """Whether Qt will find somewhere to draw: always on Windows and macOS, else a display or a chosen platform."""
    if not platform.startswith("linux"):
        return True
    return any(environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blindspot-gui", description="Open the blind-spot explorer window.")
    parser.add_argument("--demo", action="store_true",
                        help="for talks: load the default network and keep searching random test images")
    parser.add_argument("--screenshot", metavar="FILE",
                        help="run one search, save the window as a PNG to FILE and exit")
    parser.add_argument("--image", type=int, metavar="INDEX", help="start on this MNIST test image")
    return parser


class DemoLoop:
    """Shows one search after another on random test images, pausing between them."""

    def __init__(self, window):
        from PySide6.QtCore import QTimer

        self.window = window
        self.running = True
        self.timer = QTimer(window)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.next_search)
        window.sig_search_finished.connect(self._on_search_finished)

    def _on_search_finished(self, _result) -> None:
        if self.running:
            self.timer.start(DEMO_PAUSE_MS)

    def next_search(self) -> None:
        if self.running:
            self.window.image_source.choose_random()
            self.window.run_search()

    def stop(self) -> None:
        self.running = False
        self.timer.stop()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 1
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    from blindspot_gui.core.zoo import DEFAULT_MODEL
    from blindspot_gui.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("blindspot-gui")
    window = MainWindow()
    if args.demo or args.screenshot:
        window.model_panel.select(DEFAULT_MODEL)
    if args.image is not None:
        window.image_source.choose_index(min(max(args.image, 0), len(window.test_set) - 1))
    window.show()
    if args.screenshot:
        saved = []

        def save_now():
            ok = window.grab().save(args.screenshot, "PNG")
            if not ok:
                print(f"blindspot-gui: could not write {args.screenshot}", file=sys.stderr)
            app.exit(0 if ok else 1)

        def save_and_quit(_result=None):
            if not saved:  # once, after the window has painted the result
                saved.append(True)
                QTimer.singleShot(300, save_now)

        window.sig_transfer_shown.connect(save_and_quit)
        window.sig_search_finished.connect(lambda result: None if result.success and result.distortion > 0
                                           else save_and_quit())
        QTimer.singleShot(300, window.run_search)
    elif args.demo:
        window.demo = DemoLoop(window)
        QTimer.singleShot(500, window.demo.next_search)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
