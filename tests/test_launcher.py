"""The application's place on a desktop (blindspot_gui/launcher.py): the icon, the launcher and its options."""

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QAction

from blindspot_gui.launcher import APP_ID, ICON_SIZES, data_home, desktop_entry, exec_argument, icon_files
from blindspot_gui.launcher import install_launcher
from blindspot_gui.launcher import launcher_files, uninstall_launcher
from blindspot_gui.qt.app import main


def load_script(relative: str):
    """A script of the repository (not a package module) imported by its path."""
    path = Path(__file__).resolve().parent.parent / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def xdg_data_home(tmp_path, monkeypatch):
    folder = tmp_path / "xdg data"  # a space in the path, as a user's name may have
    monkeypatch.setenv("XDG_DATA_HOME", str(folder))
    return folder


def test_the_icon_is_drawn_in_every_size_from_its_svg(qtbot):
    from PySide6.QtGui import QImage

    make_icons = load_script("packaging/make_icons.py")

    files = icon_files()
    assert set(files) == {*map(str, ICON_SIZES), "scalable"} and files["scalable"].suffix == ".svg"
    for size in ICON_SIZES:
        shipped = QImage(str(files[str(size)]))
        assert (shipped.width(), shipped.height()) == (size, size)
        drawn = make_icons.render(files["scalable"], size).convertToFormat(shipped.format())
        assert drawn == shipped, f"{files[str(size)]} is not the SVG's rendering: run packaging/make_icons.py"


def test_install_writes_a_valid_entry_and_the_icons_and_uninstall_removes_them(xdg_data_home, capsys):
    assert data_home() == xdg_data_home
    assert main(["--install-launcher"]) == 0
    assert "added to the applications menu" in capsys.readouterr().out
    entry = xdg_data_home / "applications" / f"{APP_ID}.desktop"
    text = entry.read_text()
    assert "\nExec=" in text and text.split("\nExec=")[1].split("\n")[0].endswith(" %f")
    assert f"\nIcon={APP_ID}\n" in text and "\nMimeType=image/png;" in text
    for target in launcher_files(xdg_data_home):
        assert target.is_file(), target
    assert (xdg_data_home / "icons/hicolor/48x48/apps" / f"{APP_ID}.png").read_bytes() == icon_files()["48"].read_bytes()
    assert main(["--install-launcher"]) == 0  # again: the same files, written over
    assert main(["--uninstall-launcher"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not any(target.exists() for target in launcher_files(xdg_data_home))
    assert main(["--uninstall-launcher"]) == 0 and "no launcher was installed" in capsys.readouterr().out


def test_the_entry_passes_desktop_file_validate(tmp_path):
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        pytest.skip("desktop-file-validate is not installed here (Debian: apt install desktop-file-utils)")
    for executable in (tmp_path / "bin" / APP_ID, tmp_path / "my apps" / "100% blindspot" / APP_ID,
                       tmp_path / 'odd "$name"' / APP_ID):
        entry = install_launcher(tmp_path / "share", executable)[0]
        checked = subprocess.run([validator, str(entry)], capture_output=True, text=True)
        assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", ""), checked.stdout + checked.stderr


def test_the_entry_quotes_an_executable_path_with_spaces_and_percent_signs(tmp_path):
    odd = tmp_path / "my apps" / "100% blindspot" / APP_ID
    exec_line = next(line for line in desktop_entry(odd).splitlines() if line.startswith("Exec="))
    assert exec_line == f'Exec="{str(odd).replace("%", "%%")}" %f'
    assert exec_argument('a "b" $c') == '"a \\\\"b\\\\" \\\\$c"'  # \" and \$ inside the quotes, each \ doubled
    assert exec_argument("/usr/bin/plain") == "/usr/bin/plain"
    assert install_launcher(tmp_path / "share", odd)[0].read_text() == desktop_entry(odd)
    assert len(uninstall_launcher(tmp_path / "share")) == len(launcher_files(tmp_path / "share"))


def test_a_data_folder_that_cannot_be_written_is_said_plainly(xdg_data_home, capsys):
    xdg_data_home.parent.mkdir(parents=True, exist_ok=True)
    xdg_data_home.write_text("a file where the folder should be")
    assert main(["--install-launcher"]) == 1
    error = capsys.readouterr().err
    assert "could not install the launcher below" in error and str(xdg_data_home) in error


def test_a_relative_xdg_data_home_is_ignored_as_the_specification_says(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_home() == tmp_path / ".local" / "share"


def test_the_window_opens_with_the_application_icon_and_desktop_name(qtbot, monkeypatch, tmp_path):
    from PySide6.QtGui import QGuiApplication

    from blindspot_gui.qt import app

    seen = {}

    def instead_of_running(application, args, window, ready=None):
        seen.update(name=QGuiApplication.desktopFileName(), icon=QGuiApplication.windowIcon(), window=window)
        window.close()
        return 0

    monkeypatch.setattr(app, "_run_window", instead_of_running)
    before = QGuiApplication.desktopFileName()
    assert app.main(["--screenshot", str(tmp_path / "shot.png")]) == 0
    assert seen["name"] == APP_ID and sorted(size.width() for size in seen["icon"].availableSizes()) == list(ICON_SIZES)
    assert QGuiApplication.desktopFileName() == before  # put back for the next test


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the applications menu entry is a freedesktop one")
def test_the_help_menu_adds_and_removes_the_launcher_without_a_terminal(xdg_data_home, qtbot, window):
    entry = xdg_data_home / "applications" / f"{APP_ID}.desktop"
    window.findChild(QAction, "action_install_launcher").trigger()
    assert entry.is_file() and "Added to the applications menu" in window.statusBar().currentMessage()
    window.findChild(QAction, "action_uninstall_launcher").trigger()
    assert not entry.exists() and "Removed" in window.statusBar().currentMessage()
    shutil.rmtree(xdg_data_home)  # the empty folders the launcher left
    xdg_data_home.write_text("a file where the folder should be")
    messages = []
    window.sig_message.connect(messages.append)
    window.findChild(QAction, "action_install_launcher").trigger()
    assert messages and "Could not install the launcher below" in messages[0]  # said, and the window goes on


def test_the_bundle_points_the_launcher_at_its_own_executable(monkeypatch, tmp_path):
    from blindspot_gui import launcher

    bundled = tmp_path / "blindspot-gui" / APP_ID
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(bundled))
    assert launcher.launcher_executable() == bundled.resolve()


def test_a_failed_install_leaves_no_entry_behind(xdg_data_home):
    (xdg_data_home / "icons" / "hicolor" / "512x512").mkdir(parents=True)
    (xdg_data_home / "icons" / "hicolor" / "512x512" / "apps").write_text("a file where a folder should be")
    with pytest.raises(OSError):
        install_launcher()
    assert not (xdg_data_home / "applications").exists() or not any((xdg_data_home / "applications").iterdir())
    written = [path for path in (xdg_data_home / "icons").rglob("*.png")]
    assert written == []  # the icons written before the failure are gone again


def test_off_linux_the_launcher_is_refused_with_what_to_do_instead(monkeypatch):
    from blindspot_gui.launcher import change_launcher

    monkeypatch.setattr(sys, "platform", "darwin")
    done, message = change_launcher(True)
    assert not done and "Linux (freedesktop)" in message and "make a shortcut to" in message
