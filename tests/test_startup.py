"""Start-up (qt/startup.py, qt/app.py): a "getting ready" window before PyTorch loads, the heavy imports off the GUI
thread, and the main window in its place."""

import os
import subprocess
import sys
import time

import pytest


def test_the_entry_point_and_the_first_window_need_no_pytorch():
    probe = ("import sys, blindspot_gui.qt.app, blindspot_gui.qt.startup, blindspot_gui.launcher; "
             "print(sorted(name for name in ('torch', 'torchvision', 'pyqtgraph') if name in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_building_the_main_window_imports_no_other_library_on_the_gui_thread(tmp_path):
    """The main window is built on the GUI thread after the background imports; what it imports then holds the
    getting-ready window still: only our own modules, Qt and the standard library may come (a new heavy library
    belongs in BACKGROUND_IMPORTS, or where it is used). Cython's registry modules (_cython_x_y_z) are not libraries."""
    probe = ("import sys, importlib\n"
             "from PySide6.QtCore import QSettings\n"
             "from PySide6.QtWidgets import QApplication\n"
             "app = QApplication([])\n"
             "from blindspot_gui.qt.startup import BACKGROUND_IMPORTS\n"
             "for name in BACKGROUND_IMPORTS: importlib.import_module(name)\n"
             "def packages(): return {name.split('.')[0] for name in sys.modules}\n"
             "before = packages()\n"
             "from blindspot_gui.qt.main_window import MainWindow\n"
             "window = MainWindow(QSettings(sys.argv[1], QSettings.Format.IniFormat), show_dialogs=False)\n"
             "print(' '.join(sorted(name for name in packages() - before if not name.startswith('_cython_'))))\n"
             "window.close()\n")
    loaded = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "settings.ini")], capture_output=True,
                            text=True, check=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
                            timeout=120).stdout.split()
    allowed = {"blindspot_gui", "PySide6", "shiboken6", *sys.stdlib_module_names}
    assert set(loaded) <= allowed, f"imported on the GUI thread at start-up: {sorted(set(loaded) - allowed)}"


def test_importing_in_the_background_keeps_the_gui_thread_drawing(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QTimer

    from blindspot_gui.qt.startup import import_in_background

    (tmp_path / "slow_module_for_startup.py").write_text("import time\ntime.sleep(0.6)\n")
    (tmp_path / "broken_module_for_startup.py").write_text("raise ImportError('libsomething.so.1: not found')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(10)
    started = time.perf_counter()
    import_in_background(["slow_module_for_startup"])
    timer.stop()
    assert time.perf_counter() - started >= 0.6 and len(ticks) >= 20  # the event loop ran all along
    assert max(b - a for a, b in zip(ticks, ticks[1:])) < 0.2
    with pytest.raises(ImportError, match="libsomething"):
        import_in_background(["broken_module_for_startup"])
    for name in ("slow_module_for_startup", "broken_module_for_startup"):
        sys.modules.pop(name, None)


def test_the_getting_ready_window_gives_way_to_the_main_window(qtbot, monkeypatch):
    from blindspot_gui.qt import app

    seen = {}

    def instead_of_running(application, args, window, ready=None):
        seen.update(ready=ready, shown=ready is not None and ready.isVisible(), title=ready and ready.windowTitle())
        window.close()
        return 0

    monkeypatch.setattr(app, "_run_window", instead_of_running)
    assert app.main([]) == 0
    assert seen["shown"] and "getting ready" in seen["title"]
    assert not seen["ready"].isVisible()  # closed once main() is done with it
