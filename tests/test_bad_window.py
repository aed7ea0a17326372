"""The window against bad inputs and bad moments: missing system libraries, damaged settings, panels lost by a
saved layout, a demo that must stop, cancelled searches, slow or stuck user networks, hostile files."""

import gc
import shutil
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtWidgets import QApplication

from blindspot_gui.core.models.mnist_zoo import DEFAULT_MODEL
from blindspot_gui.qt import app, platform_check
from conftest import open_window
from model_files import SavesWhenRun, graph_file, torchscript_file
from window_actions import choose_target, click_model, drop_file, measure_heartbeat, run_and_wait




# --- the platform plugin -----------------------------------------------------------------------------------------
def test_missing_libraries_are_read_from_ldd_and_named_with_their_packages():
    output = ("\tlinux-vdso.so.1 (0x00007ffc)\n\tlibxcb-icccm.so.4 => not found\n"
              "\tlibQt6Gui.so.6 => /x/libQt6Gui.so.6 (0x1)\n\tlibxcb-keysyms.so.1 => not found\n"
              "\tlibxcb-icccm.so.4 => not found\n")
    missing = platform_check.missing_libraries(output)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    message = platform_check.missing_libraries_message("xcb", missing)
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in message
    assert platform_check.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert platform_check.debian_package("libEGL.so.1") == "libegl1"
    assert platform_check.debian_package("libQt6XcbQpa.so.6") is None


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("ldd") is None, reason="needs Linux's ldd")
def test_a_plugin_that_cannot_load_stops_the_app_with_the_missing_libraries(tmp_path, monkeypatch, capsys):
    """Qt's real xcb plugin, copied away from the Qt libraries it links to: the loader cannot resolve them."""
    real = platform_check.qt_plugins_dir()
    shutil.copy(real / "libqxcb.so", tmp_path / "libqxcb.so")
    monkeypatch.setattr(platform_check, "qt_plugins_dir", lambda: tmp_path)
    monkeypatch.setattr(app, "missing_for_window", lambda: platform_check.missing_for_window({"DISPLAY": ":9"}))
    monkeypatch.setenv("DISPLAY", ":9")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert app.main([]) == app.EXIT_MISSING_LIBRARIES
    err = capsys.readouterr().err
    assert "libQt6XcbQpa.so.6" in err and "reinstall" in err and "libxcb-icccm4" in err


def test_the_platform_check_resolves_qts_real_plugin_consistently():
    """On this machine: whatever ldd reports missing for the real plugin is what the check reports."""
    platform, missing = platform_check.missing_for_window({"DISPLAY": ":9"})
    assert platform == "xcb"
    assert all(name.startswith("lib") and ".so" in name for name in missing)
    assert platform_check.missing_for_window({"QT_QPA_PLATFORM": "offscreen"}) == ("offscreen", [])


# --- the saved layout ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tab", ["experiments_view"])  # the one blind-spot tab uses the docks for every network
def test_quitting_on_a_tab_without_docks_keeps_every_panel(qtbot, settings_file, tab):
    first = open_window(qtbot, settings_file)
    first.tabs.setCurrentWidget(getattr(first, tab))
    assert not first.model_dock.isVisible()
    first.close()
    second = open_window(qtbot, settings_file)
    try:
        assert second.model_dock.isVisible() and second.image_dock.isVisible()
        assert second.model_dock.toggleViewAction().isEnabled() and second.image_dock.toggleViewAction().isEnabled()
    finally:
        second.close()


def test_a_panel_the_user_hid_stays_hidden_and_reset_layout_brings_everything_back(qtbot, settings_file):
    first = open_window(qtbot, settings_file)
    first.image_dock.toggleViewAction().trigger()
    first.model_dock.setFloating(True)
    first.close()
    second = open_window(qtbot, settings_file)
    try:
        assert not second.image_dock.isVisible()
        second.findChild(type(second.menuBar().actions()[0]), "action_reset_layout").trigger()
        assert second.model_dock.isVisible() and second.image_dock.isVisible()
        assert not second.model_dock.isFloating()
    finally:
        second.close()


GARBAGE = {
    "view/font_size": "huge", "image/index": "abc", "view/magnification": "big", "photos/mode": "x",
    "window/geometry": "notbytes", "window/state": "not a state either", "model/last": "no such network",
    "photos/model": "\x00bad", "photos/target": "x" * 5000,
}
OUT_OF_RANGE = {
    "view/font_size": -5, "image/index": 10**12, "view/magnification": -1, "photos/mode": 99,
    "window/state": QByteArray(b"\x00\x00\x00\xffgarbage bytes"), "model/last": 12,
}


@pytest.mark.parametrize("values", [GARBAGE, OUT_OF_RANGE], ids=["wrong types", "out of range"])
def test_damaged_settings_are_ignored_and_the_defaults_used(qtbot, settings_file, values):
    stored = QSettings(settings_file, QSettings.Format.IniFormat)
    for key, value in values.items():
        stored.setValue(key, value)
    stored.sync()
    size = QApplication.font().pointSize()
    main = open_window(qtbot, settings_file)
    try:
        assert main.blindspots.active_model_name == DEFAULT_MODEL
        assert main.blindspots.choice.index == 0
        assert main.blindspots.viewer.magnification_factor == 10
        assert QApplication.font().pointSize() == size
        assert main.model_dock.isVisible() and main.image_dock.isVisible()
        assert main.blindspots.viewer.mode.currentIndex() == 0
        assert main.blindspots.search_panel.photo_target == "ostrich"
        assert run_and_wait(qtbot, main).success
    finally:
        main.close()


def test_a_geometry_from_a_larger_screen_is_fitted_to_this_one(qtbot, settings_file):
    first = open_window(qtbot, settings_file)
    first.move(5000, 4000)
    first.close()
    second = open_window(qtbot, settings_file)
    try:
        screen = second.screen().availableGeometry()
        assert screen.intersects(second.frameGeometry())
        assert second.frameGeometry().left() < screen.right() and second.frameGeometry().top() < screen.bottom()
    finally:
        second.close()


# --- the demo and cancelled searches -------------------------------------------------------------------------
def test_the_demo_pauses_with_space_and_stops_with_escape(qtbot, window, monkeypatch):
    monkeypatch.setattr(app, "DEMO_PAUSE_MS", 50)
    demo = app.DemoLoop(window)
    finished = []
    window.blindspots.sig_search_finished.connect(finished.append)
    demo.next_search()
    qtbot.waitUntil(lambda: len(finished) >= 1, timeout=20000)
    window.blindspots.viewer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert demo.paused
    qtbot.waitUntil(lambda: not window.runner.is_running("search"), timeout=20000)
    count = len(finished)
    qtbot.wait(300)
    assert len(finished) == count and not window.runner.is_running("search"), "a paused demo went on"
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not demo.paused
    qtbot.waitUntil(lambda: len(finished) > count, timeout=20000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not demo.active
    qtbot.waitUntil(lambda: not window.runner.is_running("search"), timeout=5000)
    count = len(finished)
    qtbot.wait(300)
    assert len(finished) == count, "a stopped demo went on"


def test_a_cancelled_search_says_so_and_its_figures_agree(qtbot, window):
    click_model(qtbot, window, "ConvNet")
    choose_target(window, "none")
    qtbot.mouseClick(window.blindspots.search_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.blindspots.search_panel._points) >= 2, timeout=20000)
    with qtbot.waitSignal(window.blindspots.sig_search_finished, timeout=5000) as blocker:
        window.blindspots.cancel_search()
    result = blocker.args[0]
    assert result.cancelled and result.steps > 0 and result.iterations >= result.steps
    readout = window.blindspots.viewer.readout.text()
    assert readout.startswith("Cancelled") and "not the smallest" in readout
    assert f"{result.steps} L-BFGS steps" in readout and f"{result.iterations} iterations" in readout
    assert window.blindspots.viewer.adversarial_panel.answer.text().startswith("cancelled")
    assert max(window.blindspots.search_panel.curve.xData) == result.steps


# --- work that must never block the window -------------------------------------------------------------------
def _slow_onnx_digits(path, steps: int = 3000):
    """A digit classifier as a hand-made ONNX graph that takes long to check, convert and probe: ``steps`` Mul and
    Clip nodes before its Flatten and Gemm (a user's network can be anything)."""
    from onnx import helper

    nodes, value = [], "pixels"
    for index in range(steps):
        nodes += [helper.make_node("Mul", [value, "gain"], [f"scaled{index}"]),
                  helper.make_node("Clip", [f"scaled{index}", "low", "high"], [f"clipped{index}"])]
        value = f"clipped{index}"
    nodes += [helper.make_node("Flatten", [value], ["flat"], axis=1),
              helper.make_node("Gemm", ["flat", "weight", "bias"], ["logits"], transB=1)]
    rng = np.random.default_rng(0)
    return graph_file(path, nodes, {"gain": np.float32(1.0001), "low": np.float32(0), "high": np.float32(1),
                                    "weight": rng.normal(0, 0.05, (10, 784)).astype(np.float32),
                                    "bias": rng.normal(0, 0.1, 10).astype(np.float32)})


def test_a_torchscript_file_is_refused_with_the_line_that_converts_it(qtbot, window, tmp_path):
    proof = tmp_path / "proof"  # what the program would write if it were ever run
    path = torchscript_file(SavesWhenRun(str(proof)), tmp_path / "program.pt")
    with qtbot.waitSignal(window.blindspots.sig_error, timeout=10000) as blocker:
        window.blindspots.load_own_network(path)
    message = blocker.args[0]
    assert message.startswith("program.pt could not be loaded:") and "\n" not in message
    assert "is TorchScript, a program, which this application never runs; convert it to ONNX" in message
    assert "torch.onnx.export(" in message
    qtbot.waitUntil(lambda: not window.runner.is_running("own-network"), timeout=5000)
    assert not proof.exists()
    assert "program.pt" not in window.blindspots.network_panel.names()
    assert window.blindspots.active_model_name == DEFAULT_MODEL  # the window keeps its network and keeps working
    assert run_and_wait(qtbot, window).success


def test_loading_a_slow_network_never_blocks_the_window(qtbot, window, tmp_path):
    path = _slow_onnx_digits(tmp_path / "slow.onnx")
    added = []
    window.blindspots.sig_network_added.connect(lambda name: added.append(time.perf_counter()))
    started = time.perf_counter()
    gc.collect()
    gc.freeze()  # what earlier tests left alive, out of the GUI thread's timed collections for good (the window freezes
    # its start-up objects likewise; unfreezing would put the imports' 400,000 objects back into every later one)
    with qtbot.waitSignal(window.blindspots.sig_network_added, timeout=60000):
        window.blindspots.load_own_network(path)
        gap = measure_heartbeat(qtbot, 0.5)
    assert gap < 0.3, f"the event loop stalled {gap * 1000:.0f} ms while a network loaded"
    took = added[0] - started  # loading on the GUI thread would have stalled it this long
    assert took > 0.3, f"the network loaded in {took * 1000:.0f} ms, too fast for the test to see a stall"
    assert window.blindspots.active_model_name == "slow.onnx"
    qtbot.waitUntil(lambda: window.blindspots.original_probabilities is not None, timeout=60000)


def test_closing_while_a_worker_ignores_cancel_takes_under_a_second(qtbot, settings_file):
    main = open_window(qtbot, settings_file)
    release = []

    def stubborn(monitor):  # stands for a network stuck in its own code, deaf to Cancel
        while not release:
            time.sleep(0.01)

    main.runner.start("stubborn", stubborn)
    started = time.perf_counter()
    main.close()
    elapsed = time.perf_counter() - started
    release.append(True)
    qtbot.waitUntil(lambda: main.runner.pool.activeThreadCount() == 0, timeout=5000)
    assert elapsed < 1.0, f"closing waited {elapsed:.2f} s"


def test_work_stuck_in_cancelled_tasks_never_keeps_new_work_waiting(qtbot, window):
    release = []

    def stubborn(monitor):
        while not release:
            time.sleep(0.01)

    try:
        for slot in ("first", "second"):  # both of the pool's threads, then cancelled: they do not stop
            window.runner.start(slot, stubborn)
            window.runner.replace(slot)
        finished = []
        window.runner.start("quick", lambda monitor: 42, on_finished=finished.append)
        qtbot.waitUntil(lambda: finished == [42], timeout=3000)
    finally:
        release.append(True)
    qtbot.waitUntil(lambda: window.runner.pool.activeThreadCount() == 0, timeout=5000)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts the process's threads in /proc")
def test_a_worker_thread_that_ran_torch_ends_with_its_task(qtbot):
    """Each thread that runs torch keeps an OpenMP team; idle teams beside a working one slow it ~1.5x on two cores
    (task_runner.IDLE_THREAD_EXPIRY_MS), so no worker may outlive its task."""
    import os

    import torch

    from blindspot_gui.qt.task_runner import TaskRunner

    def thread_count():
        return len(os.listdir("/proc/self/task"))

    runner = TaskRunner(max_threads=2)
    before = thread_count()
    finished = []
    for slot in ("first", "second", "third"):
        runner.start(slot, lambda monitor: float((torch.rand(2_000_000) + 1).sum()), on_finished=finished.append)
        qtbot.waitUntil(lambda slot=slot: not runner.is_running(slot), timeout=10000)
    assert len(finished) == 3
    qtbot.waitUntil(lambda: thread_count() <= before, timeout=5000)
    runner.pool.waitForDone(5000)  # a runner without a parent: gone with this function, so nothing may still be
    qtbot.wait(50)  # queued for it (a crash in the next event processing, about one run in six, otherwise)


def test_a_dropped_image_is_decoded_off_the_gui_thread(qtbot, window, tmp_path):
    from PIL import Image

    path = tmp_path / "big.png"
    Image.fromarray((np.random.default_rng(0).random((3000, 3000)) * 255).astype(np.uint8)).save(path)
    with qtbot.waitSignal(window.blindspots.image_source.sig_image_chosen, timeout=30000):
        started = time.perf_counter()
        drop_file(window, path)
        returned = time.perf_counter() - started
    assert returned < 0.3, f"the drop handler took {returned:.2f} s"
    assert window.blindspots.choice.source == "big.png"


def test_reading_an_image_folder_can_be_cancelled(qtbot, window, tmp_path):
    from PIL import Image

    tile = Image.new("L", (300, 300), 0)
    for number in range(3000):  # seconds of reading on this machine: Cancel lands mid-way
        tile.save(tmp_path / f"{number}.png", compress_level=0)
    explorer = window.unit_explorer
    window.tabs.setCurrentWidget(explorer)
    before = explorer.dataset
    explorer.open_folder(tmp_path)
    qtbot.waitUntil(lambda: explorer.cancel.isEnabled(), timeout=5000)
    qtbot.waitUntil(lambda: explorer.progress.value() > 0, timeout=10000)
    qtbot.mouseClick(explorer.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.is_running("units-data"), timeout=2000)
    assert explorer.dataset is before
    assert "was cancelled: the images in use are unchanged" in explorer.statistics.text()
    qtbot.waitUntil(lambda: explorer.rows_of is before, timeout=30000)  # ranked again if the folder dropped them
    assert "was cancelled" in explorer.statistics.text()
