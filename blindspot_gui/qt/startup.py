"""Start-up: a small "getting ready" window on screen at once, PyTorch and the core imported off the main thread meanwhile.

Importing torch takes one to two seconds (longer on a busy machine) and the window's modules need
it; a user who clicks the launcher should see the application at once. ``GettingReady`` needs
nothing but Qt, so it is shown before anything heavy loads; ``import_in_background`` imports the
heavy modules (PyTorch, the core, pyqtgraph and the window's own modules, which make no Qt object
when imported) in a thread of its own while the main thread keeps the small window drawn
(only one thread ever imports torch: two at once can meet a half-initialised module), and the main
window, built afterwards, takes its place.
"""

from __future__ import annotations

import importlib
import threading

from PySide6.QtCore import QEventLoop, Qt, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget

BACKGROUND_IMPORTS = ("blindspot_gui.qt.main_window",)
"""The main window's module, and with it everything it stands on (PyTorch, the core, pyqtgraph, the tabs): importing
them makes no Qt object (only classes), so it can happen off the GUI thread; the GUI thread is left only the
window's construction."""
POLL_MS = 20


class GettingReady(QWidget):
    """The application's name, its icon and a busy bar: what a user sees while PyTorch and the networks load."""

    def __init__(self, icon=None):
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle("Blindspot Explorer — getting ready")
        self.setObjectName("getting_ready")
        picture = QLabel()
        if icon is not None and not icon.isNull():
            picture.setPixmap(icon.pixmap(96, 96))
        picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title = QLabel("<b>Blind spots of neural networks</b>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.status = QLabel("Getting ready: loading PyTorch and the networks…")
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        busy = QProgressBar()
        busy.setRange(0, 0)  # no end known: the bar moves to and fro
        layout = QVBoxLayout(self)
        for widget in (picture, title, self.status, busy):
            layout.addWidget(widget)
        self.resize(460, 240)


def import_in_background(names=BACKGROUND_IMPORTS) -> None:
    """Import ``names`` in a thread while this (the GUI) thread keeps drawing its windows; re-raises the first error."""
    done, failures = threading.Event(), []

    def work() -> None:
        try:
            for name in names:
                importlib.import_module(name)
        except BaseException as error:  # an install that lacks a module or a library: said by the caller
            failures.append(error)
        finally:
            done.set()

    worker = threading.Thread(target=work, name="blindspot-start-up-imports", daemon=True)
    worker.start()
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(POLL_MS)
    timer.timeout.connect(lambda: loop.quit() if done.is_set() else None)
    timer.start()
    if not done.is_set():
        loop.exec()
    timer.stop()
    worker.join()
    if failures:
        raise failures[0]
