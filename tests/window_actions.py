"""Helpers that drive the real window as its tests' user does (choosing networks, targets and list items by clicks,
running searches, dropping files, opening the Experiments tab) and time its GUI thread's heartbeat."""

import time
import warnings

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from conftest import open_window


def click_model(qtbot, window, name):
    """Click the network's row in the one network list (scrolled into view first)."""
    panel = window.blindspots.network_panel
    table = panel.table
    row = next(row for row in range(table.rowCount()) if table.item(row, 0).text() == name)
    table.scrollToItem(table.item(row, 0))
    qtbot.wait(20)  # the scrolled layout is applied
    rect = table.visualItemRect(table.item(row, 0))
    with qtbot.waitSignal(panel.sig_model_selected, timeout=2000):
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.selected_name() == name


def choose_target(window, data):
    window.blindspots.search_panel.choose(data)


def run_and_wait(qtbot, window, timeout=20000):
    with qtbot.waitSignal(window.blindspots.sig_search_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(window.blindspots.search_panel.run_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def click_item(qtbot, widget, text_start: str):
    item = next(widget.item(row) for row in range(widget.count()) if widget.item(row).text().startswith(text_start))
    widget.scrollToItem(item)
    qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=widget.visualItemRect(item).center())


def drop_file(window, path):
    """Drop a file on the window. Qt delivers drop events only during a real drag, which offscreen
    tests cannot start, so the event goes straight to the window's (public) drag-and-drop handlers."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PySide6 flags the only constructor Qt 6 offers
        enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier))


def measure_heartbeat(qtbot, seconds):
    """Largest gap between ticks of a 10 ms timer on the GUI thread over ``seconds``."""
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    qtbot.wait(int(seconds * 1000))
    timer.stop()
    return max(np.diff(ticks)) if len(ticks) > 1 else float("inf")


def open_experiments(qtbot, tmp_path):
    window = open_window(qtbot, str(tmp_path / "settings.ini"))
    window.tabs.setCurrentWidget(window.experiments_view)
    return window, window.experiments_view


def choose(view, key):
    items = view.controls.list
    items.setCurrentRow(next(row for row in range(items.count()) if items.item(row).data(Qt.ItemDataRole.UserRole) == key))


def click(qtbot, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def run_table3(qtbot, view, images: int = 12) -> None:
    """Table 3 on ``images`` test images in the Experiments tab ``view``, run with its button to the end."""
    choose(view, "table3")
    view.controls.images.setValue(images)
    with qtbot.waitSignal(view.sig_finished, timeout=60000):
        click(qtbot, view.controls.run_button)
