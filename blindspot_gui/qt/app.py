"""Entry point of `blindspot-gui`: checks for a display, builds the application and opens the main window."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from blindspot_gui.core.photos import image_option
from blindspot_gui.launcher import APP_ID
from blindspot_gui.qt.platform_check import missing_for_window, missing_libraries_message

EXIT_MISSING_LIBRARIES = 3
NO_DISPLAY_MESSAGE = (
    "blindspot-gui: no display found (DISPLAY and WAYLAND_DISPLAY are unset). Run it in a desktop session, "
    "under `xvfb-run blindspot-gui`, or with QT_QPA_PLATFORM=offscreen together with --screenshot FILE."
)
DEMO_PAUSE_MS = 3000
LOGGING_RULES = "QT_LOGGING_RULES"
QUIET_MULTIMEDIA = "qt.multimedia.symbolsresolver=false"
"""Qt Multimedia (the camera) lists every audio/video library it does not find, such as PipeWire: not news to a user."""
PYQTGRAPH_OPTIONS = {"imageAxisOrder": "row-major", "antialias": True}
"""pyqtgraph's process-wide options the window draws with."""


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
    parser.add_argument("--tour", action="store_true",
                        help="open the window on the first step of the guided tour (also Help ▸ Tour, F1)")
    parser.add_argument("image_file", nargs="?", metavar="IMAGE", type=image_option,
                        help="open this image (a file, as a desktop's \"Open with\" gives it, or a sample photo: "
                             "samples:cat)")
    parser.add_argument("--image", type=int, metavar="INDEX", help="start on this MNIST test image")
    parser.add_argument("--network", metavar="NAME",
                        help="start on this network (a zoo or photo network's name, e.g. EfficientNet-Lite0)")
    parser.add_argument("--size", type=window_size, metavar="WxH",
                        help="with --screenshot: the window's size, e.g. 1280x720 (a projector's)")
    launcher = parser.add_mutually_exclusive_group()
    launcher.add_argument("--install-launcher", action="store_true",
                          help="add the application to the desktop's menu (Linux: a .desktop entry and the icon in "
                               "$XDG_DATA_HOME, default ~/.local/share) and exit")
    launcher.add_argument("--uninstall-launcher", action="store_true",
                          help="remove what --install-launcher wrote and exit")
    return parser


def window_size(text: str) -> tuple[int, int]:
    """``WxH`` as two whole numbers of pixels, each from 400 to 8000."""
    width, separator, height = text.lower().partition("x")
    if not (separator and width.isdigit() and height.isdigit() and 400 <= int(width) <= 8000
            and 400 <= int(height) <= 8000):
        raise argparse.ArgumentTypeError(f"{text!r} is not a window size such as 1280x720")
    return int(width), int(height)


class DemoLoop:
    """Shows one search after another on random test images, pausing between them.

    Space pauses and resumes it (a search under way still finishes), Esc stops it; the window
    routes both keys here while the demo is active.
    """

    def __init__(self, window):
        from PySide6.QtCore import QTimer

        self.window = window
        self.active = True
        self.paused = False
        self.timer = QTimer(window)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.next_search)
        window.blindspots.sig_search_finished.connect(self._on_search_finished)
        window.demo = self

    def _on_search_finished(self, _result) -> None:
        if self.active and not self.paused:
            self.timer.start(DEMO_PAUSE_MS)

    def next_search(self) -> None:
        if self.active and not self.paused:
            self.window.blindspots.random_image()
            self.window.blindspots.run_search()

    def toggle_pause(self) -> None:
        if not self.active:
            return
        self.paused = not self.paused
        if self.paused:
            self.timer.stop()
            self.window.statusBar().showMessage("Demo paused: Space resumes, Esc stops it.")
        else:
            self.window.statusBar().showMessage("Demo resumed.", 3000)
            if not self.window.runner.is_running("search"):
                self.next_search()

    def stop(self) -> None:
        self.active = False
        self.timer.stop()
        self.window.statusBar().showMessage("Demo stopped: the window is yours.", 5000)


SCREENSHOT_PATIENCE_MS = 300_000
"""How long --screenshot waits for the search's result before it saves the window as it is and says so."""


def take_screenshot(app, window, path: str) -> None:
    """Run one search in ``window``, save the window as a PNG at ``path`` once the result is painted, and quit: with
    status 0 when the search found a blind spot and nothing went wrong, else 1 after the errors on stderr (a smoke
    test of an install or a bundle relies on it)."""
    from PySide6.QtCore import QTimer

    saved, errors = [], []

    def save_now():
        if not window.grab().save(path, "PNG"):
            errors.append(f"could not write {path}")
        for error in errors:
            print(f"blindspot-gui: {error}", file=sys.stderr)
        app.exit(1 if errors else 0)

    def save_and_quit(_result=None):
        if not saved:  # once, after the window has painted the result
            saved.append(True)
            QTimer.singleShot(300, save_now)

    def finished(result) -> None:
        if not result.success:
            errors.append("the search found no blind spot")
            save_and_quit()
        elif result.distortion <= 0:
            save_and_quit()

    def failed(message: str) -> None:
        errors.append(message)
        save_and_quit()

    window.blindspots.sig_transfer_shown.connect(save_and_quit)
    window.blindspots.sig_search_finished.connect(finished)
    window.sig_message.connect(failed)  # every message the window would show in a dialog: an error or a warning
    QTimer.singleShot(300, window.blindspots.run_search)
    QTimer.singleShot(SCREENSHOT_PATIENCE_MS, lambda: failed(
        f"no blind spot after {SCREENSHOT_PATIENCE_MS // 1000} s: the screenshot shows the window as it was"))


def _fresh_settings(folder: str):
    """Settings of a first start in ``folder`` (removed afterwards): a screenshot shows the default layout and leaves
    the user's settings alone."""
    from PySide6.QtCore import QSettings

    return QSettings(os.path.join(folder, "settings.ini"), QSettings.Format.IniFormat)


def _network_name(name: str) -> str:
    """The list's name of a network, for any spelling of it (unknown names are returned as given)."""
    from blindspot_gui.core.models.registry import canonical_name

    try:
        return canonical_name(name)
    except ValueError:
        return name


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.install_launcher or args.uninstall_launcher:
        return _launcher(args.install_launcher)
    if not has_display():
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 1
    platform, missing = missing_for_window()
    if missing:
        print(missing_libraries_message(platform, missing), file=sys.stderr)
        return EXIT_MISSING_LIBRARIES
    with _process_settings_put_back():
        return _open_window(args)


def _launcher(install: bool) -> int:
    """--install-launcher or --uninstall-launcher: say what was written or removed, or why it could not be."""
    from blindspot_gui.launcher import change_launcher

    done, message = change_launcher(install)
    print(f"blindspot-gui: {message}", file=sys.stdout if done else sys.stderr)
    return 0 if done else 1


def application_icon():
    """The application's icon in every size it is drawn in (resources/icons), for the window and the task bar."""
    from PySide6.QtGui import QIcon

    from blindspot_gui.launcher import icon_files

    icon = QIcon()
    for size, path in icon_files().items():
        if size != "scalable":
            icon.addFile(str(path))
    return icon


def _open_window(args) -> int:
    """Set the process up for the window (Qt's logging, the name and icon, threads, pyqtgraph), show a "getting
    ready" window at once, load PyTorch and the core behind it, then run the main window until it closes."""
    os.environ.setdefault(LOGGING_RULES, QUIET_MULTIMEDIA)
    from PySide6.QtWidgets import QApplication

    from blindspot_gui.qt.startup import GettingReady, import_in_background

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_ID)
    app.setDesktopFileName(APP_ID)  # Wayland's app id and the launcher's name: the desktop groups the windows by it
    app.setWindowIcon(application_icon())
    ready = None if args.screenshot else GettingReady(app.windowIcon())
    try:
        if ready is not None:
            ready.show()
        import_in_background()
        _configure_compute()
        import pyqtgraph as pg

        pg.setConfigOptions(**PYQTGRAPH_OPTIONS)
        from blindspot_gui.qt.main_window import MainWindow

        if not args.screenshot:
            return _run_window(app, args, MainWindow(), ready)
        with tempfile.TemporaryDirectory(prefix="blindspot-screenshot-") as folder:
            return _run_window(app, args, MainWindow(settings=_fresh_settings(folder), show_dialogs=False))
    finally:
        if ready is not None:  # gone with the main window's first sight, or with an error before it
            ready.close()


def _configure_compute() -> None:
    """PyTorch's thread count as the user's setting (or the free cores) asks."""
    from blindspot_gui.core.threads import MOST_THREADS, configure_threads
    from blindspot_gui.qt.settings import read_int, user_settings

    requested = read_int(user_settings(), "compute/threads", 0, 0, MOST_THREADS) or None
    configure_threads(requested, warn=lambda message: print(f"blindspot-gui: {message}", file=sys.stderr))


@contextmanager
def _process_settings_put_back() -> Iterator[None]:
    """What the window sets for the whole process (PyTorch's thread count, Qt's logging rules, pyqtgraph's options, the
    application's name, desktop file name and icon) put back when main() returns, where it was there before: the
    program ends there, and a caller that runs main() as a function (a test) finds the process as it was. Nothing is
    imported here: the window's first sight must not wait for PyTorch or pyqtgraph."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtGui import QGuiApplication

    rules = os.environ.get(LOGGING_RULES)
    graphs = sys.modules.get("pyqtgraph")
    options = None if graphs is None else {key: graphs.getConfigOption(key) for key in PYQTGRAPH_OPTIONS}
    torch = sys.modules.get("torch")
    threads = None if torch is None else torch.get_num_threads()
    existing = QCoreApplication.instance() is not None
    name = QCoreApplication.applicationName() if existing else None
    identity = (QGuiApplication.desktopFileName(), QGuiApplication.windowIcon()) if existing else None
    try:
        yield
    finally:
        if rules is None:
            os.environ.pop(LOGGING_RULES, None)
        else:
            os.environ[LOGGING_RULES] = rules
        if options is not None:
            graphs.setConfigOptions(**options)
        if threads is not None:
            torch.set_num_threads(threads)
        if name is not None:  # an application that was there before; one made here ends with the program
            QCoreApplication.setApplicationName(name)
            QGuiApplication.setDesktopFileName(identity[0])
            QGuiApplication.setWindowIcon(identity[1])


def _run_window(app, args, window, ready=None) -> int:
    """Show ``window`` as the options ask (a network, an image, a screenshot, the demo or the tour) until it closes;
    the "getting ready" window ``ready`` gives way to it."""
    from PySide6.QtCore import QTimer

    from blindspot_gui.core.models.mnist_zoo import DEFAULT_MODEL

    if args.demo or args.screenshot or args.network:
        if not window.blindspots.network_panel.select(_network_name(args.network or DEFAULT_MODEL)):
            print(f"blindspot-gui: no network called {args.network!r}; `blindspot models` lists the digit "
                  "networks, the window's list shows them all", file=sys.stderr)
            return 2
    if args.size:
        window.resize(*args.size)
    if args.image is not None:
        window.blindspots.image_source.choose_index(min(max(args.image, 0), len(window.test_set) - 1))
    window.show()
    if ready is not None:
        ready.close()
    if args.image_file:  # read as the network in use reads images, once it has loaded; a bad file gets a message
        QTimer.singleShot(0, lambda: window.blindspots.open_path(args.image_file))
    if args.screenshot:
        take_screenshot(app, window, args.screenshot)
    elif args.demo:
        demo = DemoLoop(window)
        QTimer.singleShot(500, demo.next_search)
    elif args.tour:
        QTimer.singleShot(0, window.tour.start)
    status = app.exec()
    if window.runner.running_count:  # a worker ignored Cancel (stuck in a network's own code): do not wait for it
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


if __name__ == "__main__":
    sys.exit(main())
