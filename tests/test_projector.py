"""The window on a projector: it fits 1280×720 and 1366×768 at two text sizes, images fill their panels, and a
presenter remote's keys work (pytest-qt; geometry, not pixels)."""

import json
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractScrollArea, QApplication, QSizePolicy, QWidget

from conftest import open_window
from cut_text import cut_texts
from window_actions import click_model, run_and_wait

SCREENS = ((1280, 720), (1366, 768))
LARGER_TEXT_STEPS = 2
FILL = 0.8
"""An image covers at least this much of its canvas's shorter side."""
IMAGE_SHARE = 0.22
"""Each image's canvas is at least this share of the window's height (a photo's was 82 of 720 pixels before)."""


# --- geometry ------------------------------------------------------------------------------------------
def laid_out(widget: QWidget) -> bool:
    """Whether a layout of the widget's parent places it (not a widget's own internals, such as a header)."""
    parent = widget.parentWidget()
    stack = [parent.layout()] if parent is not None and parent.layout() is not None else []
    while stack:
        layout = stack.pop()
        for index in range(layout.count()):
            item = layout.itemAt(index)
            if item.widget() is widget:
                return True
            if item.layout() is not None:
                stack.append(item.layout())
    return False


def scrolled(widget: QWidget, window: QWidget) -> bool:
    """Whether the widget lives in a scroll area's viewport (where being partly out of sight is the point)."""
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        above = parent.parentWidget()
        if isinstance(above, QAbstractScrollArea) and above.viewport() is parent:
            return True
        parent = above
    return False


def smallest_size(widget: QWidget) -> tuple[int, int]:
    """The size a layout must give the widget: its minimum size where set, else its minimumSizeHint (none for an
    Ignored size policy, which asks to be clipped)."""
    hint, explicit, policy = widget.minimumSizeHint(), widget.minimumSize(), widget.sizePolicy()

    def one(explicit_side, hint_side, side_policy):
        if explicit_side > 0:
            return explicit_side
        return 0 if side_policy == QSizePolicy.Policy.Ignored else max(hint_side, 0)

    return (one(explicit.width(), hint.width(), policy.horizontalPolicy()),
            one(explicit.height(), hint.height(), policy.verticalPolicy()))


def misplaced(window) -> list[str]:
    """Every visible, laid-out widget that lies outside the window or is smaller than it needs to be."""
    found = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or widget.isWindow() or not laid_out(widget) or scrolled(widget, window):
            continue
        name = f"{type(widget).__name__} {widget.objectName()!r} {getattr(widget, 'text', lambda: '')()!r}"
        rect = widget.rect().translated(widget.mapTo(window, widget.rect().topLeft()))
        if not window.rect().contains(rect):
            found.append(f"{name} at {rect.getRect()} outside the window {window.rect().getRect()}")
        need = smallest_size(widget)
        if widget.width() < need[0] or widget.height() < need[1]:
            found.append(f"{name} is {widget.width()}×{widget.height()}, needs {need[0]}×{need[1]}")
    return found


def settle(qtbot, ms=150):
    qtbot.wait(ms)  # layouts, and the images refitted after them (fit_images_soon)


def larger_text(qtbot, window, steps):
    for _ in range(steps):
        qtbot.keyClick(window, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    settle(qtbot)


def filled(panel) -> float:
    return panel.image_fill()


# --- the two networks ---------------------------------------------------------------------------------
@pytest.fixture
def photo_window(qtbot, settings_file):
    """The window with EfficientNet-Lite0 chosen and its first sample photo classified."""
    main = open_window(qtbot, settings_file)
    qtbot.waitUntil(lambda: not main.runner.is_running("catalogue"), timeout=30000)
    click_model(qtbot, main, "EfficientNet-Lite0")
    view = main.blindspots
    qtbot.waitUntil(lambda: view.network_name == "EfficientNet-Lite0" and view.original_probabilities is not None,
                    timeout=60000)
    yield main
    main.close()
    assert main.runner.running_count == 0, "a test left a task running"


@pytest.fixture(params=["digit", "photo"])
def any_window(request, qtbot):
    """The window with a digit network (the default), or with a photo network."""
    if request.param == "photo":
        return request.getfixturevalue("photo_window")
    window = request.getfixturevalue("window")
    qtbot.waitUntil(lambda: window.blindspots.original_probabilities is not None, timeout=20000)
    return window


@pytest.fixture(autouse=True)
def default_text_size_after():
    size = QApplication.font().pointSize()
    yield
    font = QApplication.font()
    font.setPointSize(size)
    QApplication.setFont(font)


# --- the tests ------------------------------------------------------------------------------------------
def test_every_panel_fits_1280x720_and_1366x768_at_two_text_sizes(qtbot, any_window):
    window = any_window
    assert window.model_dock.isVisible() and window.image_dock.isVisible()
    for steps in (0, LARGER_TEXT_STEPS):
        larger_text(qtbot, window, steps)
        for width, height in SCREENS:
            minimum = window.minimumSizeHint()
            assert minimum.width() <= width and minimum.height() <= height, (steps, minimum)
            window.resize(width, height)
            settle(qtbot)
            assert window.size().toTuple() == (width, height)
            for tab in (window.blindspots, window.unit_explorer, window.experiments_view):
                window.tabs.setCurrentWidget(tab)
                settle(qtbot, 50)
                assert misplaced(window) == [], (steps, width, height, type(tab).__name__)
            window.tabs.setCurrentWidget(window.blindspots)
            for panel in window.blindspots.viewer.all_panels()[:3]:
                assert panel.canvas.height() >= IMAGE_SHARE * height, (steps, width, panel.canvas.size())
            assert filled(window.blindspots.viewer.original_panel) >= FILL


def test_images_fill_their_panels_after_full_screen_and_larger_text(qtbot, any_window):
    window, viewer = any_window, any_window.blindspots.viewer
    if window.blindspots.classifier.is_digit_network:
        assert run_and_wait(qtbot, window).success  # all three panels hold an image
    shown = [panel for panel in viewer.all_panels() if panel.isVisible() and panel.image.image is not None]
    window.resize(*SCREENS[0])
    settle(qtbot)
    viewer.original_panel.view.scaleBy((3, 3))  # zoomed out: a small image in a large black square
    assert filled(viewer.original_panel) < 0.5
    window.findChild(type(window.menuBar().actions()[0]), "action_fit_images").trigger()
    assert all(filled(panel) >= FILL for panel in shown)
    qtbot.keyClick(window, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: window.isFullScreen(), timeout=2000)
    settle(qtbot)
    assert all(filled(panel) >= FILL for panel in shown), [filled(panel) for panel in shown]
    qtbot.keyClick(window, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    larger_text(qtbot, window, LARGER_TEXT_STEPS)
    assert all(filled(panel) >= FILL for panel in shown), [filled(panel) for panel in shown]
    window.image_dock.hide()
    settle(qtbot)
    assert all(filled(panel) >= FILL for panel in shown)


def test_larger_text_reaches_charts_and_table_rows(qtbot, window):
    chart = window.blindspots.viewer.original_panel.classes.chart
    table = window.blindspots.network_panel.table
    plot = window.blindspots.search_panel.plot
    before = (chart.getAxis("bottom").style["tickFont"].pointSizeF(), table.rowHeight(0),
              plot.getAxis("left").labelStyle["font-size"])
    larger_text(qtbot, window, LARGER_TEXT_STEPS)
    after = (chart.getAxis("bottom").style["tickFont"].pointSizeF(), table.rowHeight(0),
             plot.getAxis("left").labelStyle["font-size"])
    assert after[0] == before[0] + LARGER_TEXT_STEPS
    assert after[1] > before[1]
    assert after[2] != before[2]


def test_presenter_keys_step_blank_and_present(qtbot, window):
    source = window.blindspots.image_source
    start = source.index.value()
    window.activateWindow()
    window.blindspots.viewer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert source.index.value() == start + 1
    qtbot.waitUntil(lambda: window.blindspots.choice.index == start + 1, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_PageUp)
    assert source.index.value() == start

    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.blank.isVisible() and window.blank.geometry() == window.rect()
    qtbot.keyClick(window.blank, Qt.Key.Key_Space)  # any key lifts it, and does not run a search
    assert not window.blank.isVisible() and not window.runner.is_running("search")
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.blank.isVisible()
    qtbot.keyClick(window.focusWidget() or window, Qt.Key.Key_B)
    assert not window.blank.isVisible()

    view_menu = {action.objectName(): action for action in window.actions()}
    assert not view_menu["action_stop_presenting"].isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_F5)  # presenting: full screen, the side panels stepped aside
    qtbot.waitUntil(lambda: window.isFullScreen(), timeout=2000)
    assert not window.model_dock.isVisible() and not window.image_dock.isVisible()
    assert view_menu["action_stop_presenting"].isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_F5)  # F5 again leaves it, as in slide software
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    assert window.model_dock.isVisible() and window.image_dock.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: window.isFullScreen(), timeout=2000)
    qtbot.keyClick(window.focusWidget() or window, Qt.Key.Key_Escape)  # and so does Esc
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_F11)  # full screen: the window as it is
    qtbot.waitUntil(lambda: window.isFullScreen(), timeout=2000)
    assert window.model_dock.isVisible() and window.image_dock.isVisible()
    view_menu["action_present"].trigger()
    assert not window.model_dock.isVisible()
    view_menu["action_stop_presenting"].trigger()  # back to full screen, where F5 was pressed
    assert window.isFullScreen() and window.model_dock.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=2000)


OPEN_ON_A_PROJECTOR = """
import json, sys
from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QApplication
app = QApplication([])
from blindspot_gui.qt.main_window import MainWindow
settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
window = MainWindow(settings, show_dialogs=False)
window.show()
app.processEvents()
screen = window.screen().availableGeometry()
print(json.dumps({"screen": screen.getRect(), "frame": window.frameGeometry().getRect(),
                  "minimum": window.minimumSizeHint().toTuple()}))
window.close()
"""


def test_a_window_saved_on_a_large_screen_opens_within_a_projector(tmp_path, settings_file, qtbot):
    big = open_window(qtbot, settings_file)
    big.setGeometry(1500, 900, 2400, 1500)  # as if saved on a 4K screen
    big.set_font_size(QApplication.font().pointSize() + LARGER_TEXT_STEPS)
    big.close()
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{"name": "projector", "x": 0, "y": 0, "width": 1280, "height": 720,
                                               "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    completed = subprocess.run([sys.executable, "-c", OPEN_ON_A_PROJECTOR, settings_file], capture_output=True,
                               text=True, timeout=120,
                               env={**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"})
    assert completed.returncode == 0, completed.stderr
    opened = json.loads(completed.stdout.strip().splitlines()[-1])
    x, y, width, height = opened["frame"]
    assert opened["screen"] == [0, 0, 1280, 720]
    assert x >= 0 and y >= 0 and x + width <= 1280 and y + height <= 720, opened
    assert opened["minimum"][0] <= 1280 and opened["minimum"][1] <= 720


def test_the_transfer_table_tells_every_network_apart_at_1280x720(qtbot, window):
    from PySide6.QtGui import QFontMetrics

    window.resize(1280, 720)
    assert run_and_wait(qtbot, window).success
    table = window.blindspots.transfer_view.table
    qtbot.waitUntil(lambda: table.rowCount() > 5 and not window.blindspots.is_running("transfer"), timeout=60000)
    settle(qtbot)
    metrics, width = QFontMetrics(table.font()), table.columnWidth(0) - 8  # the cell's text margins
    names = [table.item(row, 0).text() for row in range(table.rowCount())]
    shown = [metrics.elidedText(name, table.textElideMode(), width) for name in names]  # as the table draws them
    assert len(set(shown)) == len(names), shown
    assert any("…" in text for text in shown)  # the test looks at a column too narrow for the longest names


def test_larger_text_keeps_the_pictures_and_the_window_at_1280x720(qtbot, window):
    """Five Ctrl+= at 1280×720: the pictures keep at least 80% of their height, the details and side panels give
    way (they scroll), the window stays on the projector; five Ctrl+− give the minimum size back."""
    window.resize(1280, 720)
    settle(qtbot, 300)
    panels = window.blindspots.viewer.all_panels()[:3]
    reference, minimum = [panel.canvas.height() for panel in panels], window.minimumSizeHint()
    for _ in range(5):
        qtbot.keyClick(window, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
        settle(qtbot, 100)
    settle(qtbot, 200)
    assert window.presentation.state.text_points >= QApplication.font().pointSize() and window.size().toTuple() == (1280, 720)
    assert window.minimumSizeHint().width() <= 1280 and window.minimumSizeHint().height() <= 720
    for panel, height in zip(panels, reference):
        assert panel.canvas.height() >= 0.8 * height, (panel.canvas.height(), height)
    for _ in range(5):
        qtbot.keyClick(window, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
        settle(qtbot, 100)
    settle(qtbot, 200)
    assert window.minimumSizeHint().width() <= minimum.width() and window.minimumSizeHint().height() <= minimum.height()
    assert all(abs(panel.canvas.height() - height) <= 0.02 * height for panel, height in zip(panels, reference))


def test_the_transfer_table_sets_the_original_answers_aside_before_it_cuts_a_name(qtbot):
    from PySide6.QtGui import QFontMetrics

    from blindspot_gui.core.attack.transfer import TransferRow
    from blindspot_gui.qt.transfer_view import ORIGINAL, TransferView

    names = [f"class {index}" for index in range(1000)]
    names[967], names[9] = "espresso", "ostrich"
    view = TransferView(names)
    qtbot.addWidget(view)
    view.show()
    view.show_rows([TransferRow("EfficientNet-Lite0", 967, 0.96, 9, 0.90)], "EfficientNet-Lite0")
    table = view.table
    for width, whole in ((900, True), (330, False)):  # a wide window; the table's width at 1280×720
        view.resize(width, 200)
        settle(qtbot, 100)
        assert table.isColumnHidden(ORIGINAL) != whole, width
        name_width = QFontMetrics(table.item(0, 0).font()).horizontalAdvance("EfficientNet-Lite0")
        assert name_width <= table.columnWidth(0), (width, name_width, table.columnWidth(0))  # the name whole
    assert table.item(0, 2).toolTip() == "espresso  (96%) → ostrich  (90%)"


def test_nothing_on_screen_is_cut_at_1280x720(qtbot, window):
    """At the default text size, after a search: no text of the three tabs, of any experiment's settings, or of a
    photo network's view is elided or clipped (the transfer table has its own test above)."""
    from blindspot_gui.qt.widgets.fitted_label import FittedLabel

    window.resize(1280, 720)
    assert run_and_wait(qtbot, window).success
    view = window.blindspots
    qtbot.waitUntil(lambda: not view.is_running("transfer"), timeout=60000)
    table = view.transfer_view.table
    settle(qtbot, 300)
    label = next(label for label in window.findChildren(FittedLabel) if label.isVisible() and label.text())
    words = label.text()
    label.setText(words * 40)  # the helper sees a cut text when there is one
    assert any(repr(words * 40) in line for line in cut_texts(window, skip=(table,)))
    label.setText(words)
    view.survival_view.vote.setChecked(True)
    for shown in (view.pathway_view, view.strength_view, view.survival_view):  # each computed once in sight
        view.result_views.setCurrentWidget(shown)
        qtbot.waitUntil(lambda: not any(view.is_running(slot) for slot in ("pathway", "strength-sweep", "survival",
                                                                            "vote")), timeout=60000)
        settle(qtbot, 300)
        assert cut_texts(window, skip=(table,)) == [], type(shown).__name__
    assert view.survival_view.vote_line.text().startswith("Vote: ")
    for tab in (view, window.unit_explorer, window.experiments_view):
        window.tabs.setCurrentWidget(tab)
        settle(qtbot, 300)
        assert cut_texts(window, skip=(table,)) == [], type(tab).__name__
    experiments = window.experiments_view.controls.list
    for row in range(experiments.count()):
        experiments.setCurrentRow(row)
        settle(qtbot, 50)
        assert cut_texts(window) == [], experiments.currentItem().text()
    window.tabs.setCurrentWidget(view)
    click_model(qtbot, window, "EfficientNet-Lite0")
    qtbot.waitUntil(lambda: view.network_name == "EfficientNet-Lite0" and view.original_probabilities is not None,
                    timeout=60000)
    settle(qtbot, 300)
    assert cut_texts(window, skip=(table,)) == []
