"""The real window, driven through clicks, keys, drops and signals (pytest-qt)."""

import gc
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from blindspot_gui import api
from blindspot_gui.core.models.mnist_zoo import DEFAULT_MODEL, ZOO, find_spec
from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS
from blindspot_gui.qt import app
from conftest import open_window
from model_files import export_onnx
from window_actions import choose_target, click_model, drop_file, measure_heartbeat, run_and_wait


def test_window_lists_every_zoo_model_with_status_and_error(window):
    table = window.blindspots.network_panel.table
    zoo_rows = range(len(ZOO))  # the one list: the zoo, then the photo catalogue (then the user's own networks)
    assert [table.item(row, 0).text() for row in zoo_rows] == [spec.name for spec in ZOO]
    assert [table.item(row, 0).text() for row in range(len(ZOO), table.rowCount())] == [
        entry.name for entry in PHOTO_MODELS]
    assert all(table.item(row, 1).text() == "present" for row in zoo_rows)
    assert all(table.item(row, 2).text().endswith("%") for row in zoo_rows)
    assert window.blindspots.active_model_name == DEFAULT_MODEL


def test_run_makes_the_network_say_the_chosen_target_and_checks_transfer(qtbot, window):
    click_model(qtbot, window, "FC200-200-10")
    choose_target(window, 3)
    with qtbot.waitSignal(window.blindspots.sig_transfer_shown, timeout=20000):
        result = run_and_wait(qtbot, window)
    assert result.success and result.target == 3 and result.adversarial_prediction == 3
    assert window.blindspots.viewer.adversarial_panel.answer.text().startswith("says 3")
    assert "distortion (RMS)" in window.blindspots.viewer.readout.text()
    assert window.blindspots.transfer_view.table.rowCount() == len(ZOO)
    assert "other networks" in window.blindspots.transfer_view.summary.text()
    assert len(window.blindspots.search_panel.curve.xData) >= 1


def test_space_runs_and_escape_cancels_quickly_keeping_the_best(qtbot, window):
    click_model(qtbot, window, "ConvNet")
    choose_target(window, "none")
    window.activateWindow()
    window.blindspots.viewer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.blindspots.search_panel.progress.value() > 0, timeout=5000)
    with qtbot.waitSignal(window.blindspots.sig_search_finished, timeout=5000) as blocker:
        pressed = time.perf_counter()
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    elapsed = time.perf_counter() - pressed
    result = blocker.args[0]
    assert "cancelled" in result.message
    assert elapsed < 0.15, f"the search took {elapsed:.3f} s to stop"
    if result.success:
        assert result.adversarial_prediction != result.original_prediction
    assert not window.blindspots.search_panel.cancel_button.isEnabled()


def test_a_new_run_replaces_the_old_one(qtbot, window):
    click_model(qtbot, window, "ConvNet")
    choose_target(window, "none")
    finished = []
    window.blindspots.sig_search_finished.connect(finished.append)
    qtbot.mouseClick(window.blindspots.search_panel.run_button, Qt.MouseButton.LeftButton)
    choose_target(window, 5)
    window.blindspots.viewer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Space)  # Run is greyed out while a search runs; Space starts a new one
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=20000)
    qtbot.waitUntil(lambda: window.runner.running_count == 0, timeout=5000)
    qtbot.wait(100)
    assert len(finished) == 1 and finished[0].target == 5


PERCEPTIBLE_DELAY = 0.1
"""Seconds of a frozen window that a user notices (Card, Moran and Newell's 0.1 s; Nielsen, Usability Engineering,
1993). Work on the GUI thread stalls far longer (a network's forward pass over a batch, a full garbage collection
before it was frozen: 0.25 s); a shared CI machine that preempts the GUI thread stalls it about 0.05 s."""


def test_gui_thread_never_blocks_during_search_or_training(qtbot, window):
    qtbot.waitUntil(lambda: not window.runner.is_running("warm-up"), timeout=10000)
    click_model(qtbot, window, "ConvNet")
    choose_target(window, "none")
    qtbot.mouseClick(window.blindspots.search_panel.run_button, Qt.MouseButton.LeftButton)
    search_gap = measure_heartbeat(qtbot, 0.8)
    window.blindspots.cancel_search()
    qtbot.waitUntil(lambda: not window.runner.is_running("search"), timeout=5000)
    click_model(qtbot, window, "FC200-200-10")
    qtbot.mouseClick(window.blindspots.network_panel.train_button, Qt.MouseButton.LeftButton)
    training_gap = measure_heartbeat(qtbot, 1.5)
    qtbot.mouseClick(window.blindspots.network_panel.cancel_training_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.blindspots.network_panel.train_button.isEnabled(), timeout=5000)
    assert search_gap < PERCEPTIBLE_DELAY, f"event loop stalled {search_gap * 1000:.0f} ms during a search"
    assert training_gap < PERCEPTIBLE_DELAY, f"event loop stalled {training_gap * 1000:.0f} ms during training"


def test_a_full_garbage_collection_does_not_freeze_the_window(window):
    """Collections run on the GUI thread (see task_runner.collect_garbage_on_the_gui_thread); the objects torch and
    Qt made at import are frozen out of them, so even a full one is quick."""
    gc.collect()
    start = time.perf_counter()
    gc.collect()
    elapsed = time.perf_counter() - start
    assert elapsed < PERCEPTIBLE_DELAY, f"a full collection froze the window {elapsed * 1000:.0f} ms"
    assert window.blindspots.network_panel.status_of("FC200-200-10").weights_path.parent.name == "models"


def test_closing_during_a_search_exits_within_a_second_cleanly(qtbot, settings_file, qtlog):
    main = open_window(qtbot, settings_file)
    click_model(qtbot, main, "ConvNet")
    choose_target(main, "none")
    qtbot.mouseClick(main.blindspots.search_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: main.blindspots.search_panel.progress.value() > 0, timeout=5000)
    started = time.perf_counter()
    main.close()
    assert time.perf_counter() - started < 1.0
    assert main.runner.running_count == 0
    assert not [record for record in qtlog.records if "Destroyed" in record.message]


def test_dropping_a_photo_converts_it_the_mnist_way(qtbot, window, tmp_path):
    photo = Image.new("RGB", (120, 80), "white")
    ImageDraw.Draw(photo).line([(60, 10), (62, 70)], fill=(20, 20, 20), width=8)
    path = tmp_path / "my_one.png"
    photo.save(path)
    with qtbot.waitSignal(window.blindspots.image_source.sig_image_chosen, timeout=5000):
        drop_file(window, path)
    assert window.blindspots.choice.source == "my_one.png" and window.blindspots.choice.label is None
    pixels = window.blindspots.choice.pixels
    assert pixels.shape == (28, 28) and pixels[0].max() == 0 and pixels.max() > 0.9
    caption = window.blindspots.image_source.caption.text()
    assert "colour to grey" in caption and "inverted" in caption and "centred by mass" in caption
    result = run_and_wait(qtbot, window)
    assert result.success


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n broken", b"plain text, not an image"])
def test_a_bad_image_file_is_explained_and_the_image_kept(qtbot, window, tmp_path, content):
    before = window.blindspots.choice.source
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with qtbot.waitSignal(window.sig_message, timeout=2000) as blocker:
        drop_file(window, path)
    assert "digit.png" in blocker.args[0]
    assert window.blindspots.choice.source == before
    assert run_and_wait(qtbot, window).success


def test_bad_weight_files_are_explained_and_good_ones_join_the_panel(qtbot, window, tmp_path):
    wrong = tmp_path / "wrong.pt"
    torch.save(torch.nn.Linear(5, 3).state_dict(), wrong)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00\x01 not a checkpoint")
    for path, message in ((wrong, "fits none"), (corrupt, "not a readable")):
        with qtbot.waitSignal(window.sig_message, timeout=5000) as blocker:
            window.blindspots.load_own_network(path)
        assert message in blocker.args[0]
    good = tmp_path / "mine.pt"
    torch.save(find_spec("FC200-200-10").build().state_dict(), good)
    model = api.load_model("FC100-100-10")
    exported = export_onnx(model.network, tmp_path / "exported.onnx", torch.rand(1, 1, 28, 28))  # as users export
    for path in (good, exported):
        with qtbot.waitSignal(window.blindspots.sig_network_added, timeout=10000) as blocker:
            window.blindspots.load_own_network(path)
        assert blocker.args[0] == path.name
    assert {"mine.pt", "exported.onnx"} <= set(window.blindspots.network_panel.names())
    assert window.blindspots.active_model_name == "exported.onnx"
    qtbot.waitUntil(lambda: window.blindspots.original_probabilities is not None, timeout=10000)
    expected = model.probabilities(window.blindspots.choice.pixels)  # the zoo network the file was exported from
    np.testing.assert_allclose(window.blindspots.original_probabilities, expected, rtol=1e-5, atol=1e-7)
    assert run_and_wait(qtbot, window).success


def test_exports_write_the_images_and_the_record(qtbot, window, tmp_path):
    choose_target(window, 1)
    result = run_and_wait(qtbot, window)
    triptych, adversarial, record = tmp_path / "three.png", tmp_path / "adv.png", tmp_path / "search.json"
    assert window.blindspots.export_triptych(str(triptych))
    with Image.open(triptych) as image:
        assert image.size[0] > 300
    with qtbot.waitSignal(window.blindspots.sig_exported, timeout=5000):
        assert window.blindspots.export_adversarial(str(adversarial))
    with Image.open(adversarial) as image:
        saved = np.asarray(image)
    assert saved.shape == (28, 28) and saved.dtype == np.uint8
    assert int(window.blindspots.classifier.probabilities(saved / np.float32(255)).argmax()) == 1  # still fooled
    assert "as 8 bits it still makes" in window.statusBar().currentMessage()
    assert window.blindspots.export_record(str(record))
    data = json.loads(record.read_text())
    assert data["model"] == DEFAULT_MODEL and data["target"] == 1 and data["distortion"] == pytest.approx(
        result.distortion)


def test_noise_of_the_same_size_is_shown_with_its_error_rate(qtbot, window):
    box = window.blindspots.search_panel.noise
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))
    assert window.blindspots.search_panel.noise.isChecked()
    with qtbot.waitSignal(window.blindspots.sig_noise_shown, timeout=20000) as blocker:
        run_and_wait(qtbot, window)
    assert 0.0 <= blocker.args[0] <= 1.0
    assert window.blindspots.viewer.noise_panel.isVisible()
    assert "/100 fooled" in window.blindspots.viewer.noise_panel.answer.text()


def test_arrow_keys_browse_the_test_set(qtbot, window):
    start = window.blindspots.image_source.index.value()
    window.blindspots.viewer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.blindspots.image_source.index.value() == start + 1
    qtbot.keyClick(window, Qt.Key.Key_Left)
    assert window.blindspots.image_source.index.value() == start
    assert window.blindspots.choice.index == start


def test_settings_persist_between_runs(qtbot, settings_file):
    first = open_window(qtbot, settings_file)
    click_model(qtbot, first, "AE400-10")
    first.blindspots.viewer.magnification.setValue(25)
    size = QApplication.font().pointSize()
    first.findChild(type(first.menuBar().actions()[0]), "action_larger").trigger()
    assert QApplication.font().pointSize() == size + 1
    first.blindspots.image_source.choose_index(42)
    first.close()
    second = open_window(qtbot, settings_file)
    try:
        assert second.blindspots.active_model_name == "AE400-10"
        assert second.blindspots.viewer.magnification_factor == 25
        assert QApplication.font().pointSize() == size + 1
        assert second.blindspots.choice.index == 42
    finally:
        second.set_font_size(size)
        second.close()


def test_full_screen_toggles_with_f11(qtbot, window):
    window.blindspots.viewer.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert window.windowState() & Qt.WindowState.WindowFullScreen
    qtbot.keyClick(window, Qt.Key.Key_F11)
    assert not window.windowState() & Qt.WindowState.WindowFullScreen


def test_no_display_is_one_line_not_an_abort(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert app.main([]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no display" in err and "QT_QPA_PLATFORM=offscreen" in err


def test_screenshot_renders_the_window_after_the_first_search(tmp_path):
    target = tmp_path / "window.png"
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from blindspot_gui.qt.app import main; sys.exit(main(sys.argv[1:]))",
         "--screenshot", str(target), "--image", "7", "--size", "1280x720"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert completed.returncode == 0, completed.stderr
    with Image.open(target) as image:
        assert image.size == (1280, 720)  # the projector's size asked for (Qt's offscreen screen is 800x600)


def test_a_screenshot_that_met_an_error_says_so_and_exits_with_1(tmp_path):
    broken = tmp_path / "broken photo.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image" * 10)  # a PNG's signature, then garbage
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from blindspot_gui.qt.app import main; sys.exit(main(sys.argv[1:]))",
         "--screenshot", str(tmp_path / "window.png"), str(broken)],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert completed.returncode == 1
    assert "broken photo.png" in completed.stderr
    assert (tmp_path / "window.png").is_file()  # the window is still saved: it shows the message too


def test_demo_mode_keeps_showing_searches_on_new_images(qtbot, window, monkeypatch):
    monkeypatch.setattr(app, "DEMO_PAUSE_MS", 50)
    demo = app.DemoLoop(window)
    seen = []
    window.blindspots.sig_search_finished.connect(lambda result: seen.append((window.blindspots.choice.index, result.success)))
    demo.next_search()
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=30000)
    demo.stop()
    qtbot.waitUntil(lambda: window.runner.running_count == 0, timeout=10000)
    assert all(success for _, success in seen)
    assert len({index for index, _ in seen}) >= 2


def test_unit_explorer_end_to_end(qtbot, window):
    explorer = window.unit_explorer
    window.tabs.setCurrentWidget(window.unit_explorer)
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=20000):
        explorer.model.setCurrentText("ConvNet")
    assert explorer.layer.currentText() == "relu3"
    from blindspot_gui.qt.tabs.unit_grid import ImageTile

    def shown_tiles(grid):
        return [grid.grid.itemAt(i).widget() for i in range(grid.grid.count())
                if isinstance(grid.grid.itemAt(i).widget(), ImageTile)]

    assert len(shown_tiles(explorer.left)) == 4 * 8 and len(shown_tiles(explorer.right)) == 4 * 8
    assert explorer.left.row_titles[0].startswith("unit 0 of layer relu3")
    assert explorer.right.row_titles[0].startswith("random direction seed 1")
    before = [tile.index for tile in shown_tiles(explorer.right)]
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=10000):
        qtbot.mouseClick(explorer.new_random, Qt.MouseButton.LeftButton)
    assert [tile.index for tile in shown_tiles(explorer.right)] != before
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=10000):
        explorer.top_k.setValue(5)
    assert len(shown_tiles(explorer.left)) == 4 * 5

    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=10000):
        qtbot.mouseClick(explorer.quiz, Qt.MouseButton.LeftButton)
    assert explorer.left.title().startswith("Quiz") and explorer.right.isHidden()  # see test_unit_honesty.py
    qtbot.mouseClick(explorer.reveal_button, Qt.MouseButton.LeftButton)
    assert "were single units" in explorer.left.title()

    with qtbot.waitSignal(explorer.sig_statistics_shown, timeout=20000) as blocker:
        qtbot.mouseClick(explorer.compare, Qt.MouseButton.LeftButton)
    assert 0 < blocker.args[0]["unit_purity"] <= 1 and "100 units" in explorer.statistics.text()

    tile = shown_tiles(explorer.left)[0]
    qtbot.mouseDClick(tile, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == 0 and window.blindspots.image_source.index.value() == tile.index


def test_unit_explorer_cache_building_can_be_cancelled(qtbot, window):
    explorer = window.unit_explorer
    window.tabs.setCurrentWidget(window.unit_explorer)
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=20000):
        explorer.model.setCurrentText("ConvNet")
    explorer.layer.setCurrentText("relu1")  # 9,216 dimensions: the slowest cache to build
    qtbot.waitUntil(lambda: explorer.cancel.isEnabled(), timeout=5000)
    qtbot.mouseClick(explorer.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.runner.is_running("units"), timeout=5000)
    assert explorer.progress.format().startswith("cancelled")


def test_unit_explorer_ranks_a_folder_of_your_own_images(qtbot, window, tmp_path):
    for name, draw in (("ones", lambda d: d.line([(30, 5), (30, 55)], fill=0, width=6)),
                       ("zeros", lambda d: d.ellipse([(12, 8), (48, 52)], outline=0, width=6))):
        (tmp_path / name).mkdir()
        for number in range(6):
            picture = Image.new("L", (60, 60), 255)
            draw(ImageDraw.Draw(picture))
            picture.rotate(number * 4, fillcolor=255).save(tmp_path / name / f"{number}.png")
    (tmp_path / "zeros" / "broken.png").write_bytes(b"not a png")
    explorer = window.unit_explorer
    window.tabs.setCurrentWidget(window.unit_explorer)
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=20000):
        explorer.open_folder(tmp_path)
    assert explorer.dataset.class_names == ("ones", "zeros") and len(explorer.dataset) == 12
    assert "broken.png" in explorer.statistics.text()
    tile = next(explorer.left.grid.itemAt(i).widget() for i in range(explorer.left.grid.count())
                if explorer.left.grid.itemAt(i).widget().objectName() != "row_title")
    qtbot.mouseDClick(tile, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == 0 and window.blindspots.choice.source.startswith(f"image {tile.index} of folder")
