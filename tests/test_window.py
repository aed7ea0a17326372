"""The window: it lists the zoo, a click selects a model and shows its card, and it starts without a display."""

import subprocess
import sys

from PySide6.QtCore import QSettings, Qt

from blindspot_gui.core.zoo import DEFAULT_MODEL, ZOO
from blindspot_gui.qt import app
from blindspot_gui.qt.main_window import MainWindow


def make_window(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window, settings


def click_model_row(qtbot, window, name):
    table = window.model_panel.table
    row = next(row for row in range(table.rowCount()) if table.item(row, 0).text() == name)
    rect = table.visualItemRect(table.item(row, 0))
    with qtbot.waitSignal(window.model_panel.sig_model_selected, timeout=2000) as blocker:
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    return blocker.args[0]


def test_window_lists_every_zoo_model_with_status_and_error(qtbot, tmp_path):
    window, _ = make_window(qtbot, tmp_path)
    table = window.model_panel.table
    assert [table.item(row, 0).text() for row in range(table.rowCount())] == [spec.name for spec in ZOO]
    assert all(table.item(row, 1).text() == "present" for row in range(table.rowCount()))
    assert all(table.item(row, 2).text().endswith("%") for row in range(table.rowCount()))
    assert window.active_model_name == DEFAULT_MODEL


def test_clicking_a_model_shows_its_card_and_is_remembered(qtbot, tmp_path):
    window, settings = make_window(qtbot, tmp_path)
    assert click_model_row(qtbot, window, "AE400-10") == "AE400-10"
    card = window.model_card.toPlainText()
    assert "AE400-10" in card and "Test set" in card and "1.90%" in card
    window.close()
    reopened, _ = make_window(qtbot, tmp_path)
    assert reopened.active_model_name == "AE400-10"


def test_no_display_is_one_line_not_an_abort(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert app.main([]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no display" in err and "QT_QPA_PLATFORM=offscreen" in err


def test_screenshot_renders_the_window_offscreen(tmp_path):
    target = tmp_path / "window.png"
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from blindspot_gui.qt.app import main; sys.exit(main(sys.argv[1:]))",
         "--screenshot", str(target)],
        capture_output=True, text=True, timeout=120,
        env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert completed.returncode == 0, completed.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
