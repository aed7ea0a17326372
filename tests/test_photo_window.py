"""Photo networks in the one blind-spot view of the real window, driven through clicks, typing, drops and signals."""

import numpy as np
import torch
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from torch import nn

from blindspot_gui.core.models import photo_catalogue
from model_files import export_onnx, torchscript_file
from window_actions import click_item, click_model


def top_class(panel) -> str:
    return panel.classes.texts()[0]


def test_a_newcomer_finds_an_ostrich_in_the_espresso(qtbot, photo_window, tmp_path):
    view = photo_window.blindspots
    assert view.image_sources.currentWidget() is view.photo_source  # photos, not the MNIST browser, for this network
    with qtbot.waitSignal(view.sig_answer_shown, timeout=10000):
        click_item(qtbot, view.photo_source.sample_list, "Espresso")
    assert top_class(view.viewer.original_panel) == "espresso"
    target = view.search_panel.class_field
    target.clear()
    qtbot.keyClicks(target, "ostri")
    assert target.completer().currentCompletion() == "ostrich"
    target.setText("ostrich")
    with qtbot.waitSignal(view.sig_search_finished, timeout=240000) as blocker:
        qtbot.mouseClick(view.search_panel.run_button, Qt.MouseButton.LeftButton)
        assert view.search_panel.cancel_button.isEnabled() and not view.search_panel.run_button.isEnabled()
    result = blocker.args[0]
    assert result.success and 0 < result.distortion <= 0.01
    assert view.viewer.adversarial_panel.classes.texts()[0] == "ostrich  (target)"
    assert "became “ostrich”" in view.viewer.readout.text()
    view.viewer.mode.setCurrentIndex(1)
    signed = view.viewer.perturbation_panel.image.image.copy()
    view.viewer.mode.setCurrentIndex(0)
    sized = view.viewer.perturbation_panel.image.image  # the size per pixel, in heat colours: another picture
    assert sized.shape == signed.shape and sized.ndim == 3 and not np.allclose(sized, signed)

    saved = tmp_path / "ostrich.png"
    with qtbot.waitSignal(view.sig_exported, timeout=60000):
        view.export_adversarial(str(saved))
    with Image.open(saved) as image:
        pixels = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255
    assert view.classifier.class_names[int(view.classifier.probabilities(pixels).argmax())] == "ostrich"


def test_cancel_keeps_the_best_so_far_and_the_window_responsive(qtbot, photo_window):
    view = photo_window.blindspots
    with qtbot.waitSignal(view.sig_search_finished, timeout=120000) as blocker:
        qtbot.mouseClick(view.search_panel.run_button, Qt.MouseButton.LeftButton)
        qtbot.wait(1500)
        qtbot.keyClick(photo_window, Qt.Key.Key_Escape)
    assert "cancelled" in blocker.args[0].message
    assert view.search_panel.run_button.isEnabled() and not view.search_panel.cancel_button.isEnabled()


def test_ctrl_q_in_the_middle_of_a_photo_search_closes_the_window_at_once(qtbot, photo_window):
    """Ctrl+Q on every platform (Qt's standard Quit key is none on Windows and offscreen): the search is cancelled,
    the window closes and no task is left, within half a second."""
    import time

    view = photo_window.blindspots
    qtbot.mouseClick(view.search_panel.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.search_panel.progress.value() > 0, timeout=10000)
    qtbot.wait(500)  # well inside the search: a photo's evaluation takes ~0.1 s
    assert view.is_running("search")
    started = time.perf_counter()
    qtbot.keyClick(photo_window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    elapsed = time.perf_counter() - started
    assert not photo_window.isVisible() and photo_window.runner.running_count == 0
    assert elapsed < 0.5, f"closing took {elapsed:.2f} s"


def test_bad_targets_photos_and_missing_weights_are_explained(qtbot, photo_window, tmp_path):
    view = photo_window.blindspots
    target = view.search_panel.class_field
    target.clear()
    qtbot.keyClicks(target, "tiger cat")  # a space typed in the box is text, not the Run key
    assert target.text() == "tiger cat" and not photo_window.runner.is_running("search")
    target.setText("ostrch")
    with qtbot.waitSignal(photo_window.sig_message, timeout=2000) as blocker:
        qtbot.mouseClick(view.search_panel.run_button, Qt.MouseButton.LeftButton)
    assert "did you mean ostrich" in blocker.args[0]

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    shown = view.viewer.original_panel.image.image.copy()
    with qtbot.waitSignal(photo_window.sig_message, timeout=2000) as blocker:
        drop(photo_window, broken)
    assert "broken.jpg" in blocker.args[0]
    assert np.array_equal(view.viewer.original_panel.image.image, shown)  # the photo shown before is kept

    click_model(qtbot, photo_window, "AlexNet")
    assert "not in the torch hub cache" in view.network_panel.status.text()
    assert view.network_panel.download_button.isEnabled()
    assert view.network_name == "EfficientNet-Lite0"  # still usable


def test_offline_download_is_a_message_not_a_hang(qtbot, photo_window, monkeypatch):
    view = photo_window.blindspots
    monkeypatch.setattr(photo_catalogue.PhotoModelEntry, "url",
                        property(lambda self: "http://127.0.0.1:9/resnet18-12345678.pth"))
    click_model(qtbot, photo_window, "ResNet-18")
    with qtbot.waitSignal(photo_window.sig_message, timeout=30000) as blocker:
        qtbot.mouseClick(view.network_panel.download_button, Qt.MouseButton.LeftButton)
    assert "Is this machine online" in blocker.args[0]
    assert view.search_panel.run_button.isEnabled()


def test_a_dropped_photo_and_your_own_model(qtbot, photo_window, tmp_path):
    view = photo_window.blindspots
    photo = tmp_path / "stripes.png"
    Image.fromarray((np.indices((300, 400)).sum(axis=0) % 40 < 20).astype(np.uint8) * 255).convert("RGB").save(photo)
    with qtbot.waitSignal(view.sig_answer_shown, timeout=10000):
        drop(photo_window, photo)
    assert "stripes.png" in view.viewer.original_panel.title.text()

    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 4, 8, stride=8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    (tmp_path / "names.txt").write_text("circle\nsquare\ntriangle\n")
    program = torchscript_file(network, tmp_path / "mine.pt")  # a program: refused, with the line that converts it
    with qtbot.waitSignal(photo_window.sig_message, timeout=10000) as refused:
        view.load_own_network(str(program), None, "none", str(tmp_path / "names.txt"))
    assert refused.args[0].startswith("mine.pt could not be loaded:") and "convert it to ONNX" in refused.args[0]
    qtbot.waitUntil(lambda: not photo_window.runner.is_running("own-network"), timeout=5000)
    assert "mine.pt" not in view.network_panel.names() and view.network_name == "EfficientNet-Lite0"
    path = export_onnx(network, tmp_path / "mine.onnx", torch.rand(1, 3, 224, 224))  # ... converted, as it says
    with qtbot.waitSignal(view.sig_answer_shown, timeout=10000):
        view.load_own_network(str(path), None, "none", str(tmp_path / "names.txt"))
    assert view.network_name == "mine.onnx" and "mine.onnx" in view.network_panel.names()
    with torch.no_grad():  # the answer shown is the torch network's on the photo's pixels as they are ("none")
        expected = network(torch.as_tensor(view.choice.pixels).reshape(1, 3, 224, 224)).softmax(dim=1)[0].numpy()
    np.testing.assert_allclose(view.original_probabilities, expected, rtol=1e-5, atol=1e-7)
    assert set(view.viewer.original_panel.classes.texts()) <= {
        "circle", "square", "triangle", "circle  (target)", "square  (target)", "triangle  (target)"}


def drop(window, path) -> None:
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_the_unit_explorer_ranks_photos_for_a_photo_network(qtbot, photo_window, tmp_path):
    from blindspot_gui.qt.tabs.unit_grid import ImageTile

    explorer = photo_window.unit_explorer
    photo_window.tabs.setCurrentWidget(explorer)
    assert "EfficientNet-Lite0" in [explorer.model.itemText(i) for i in range(explorer.model.count())]
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=60000):
        explorer.model.setCurrentText("EfficientNet-Lite0")
    assert explorer.layer.currentText().endswith("_avg_pooling")
    assert explorer.dataset.images.shape[1:] == (3, 224, 224) and len(explorer.dataset) == 4  # the sample photos
    tiles = [explorer.left.grid.itemAt(i).widget() for i in range(explorer.left.grid.count())
             if isinstance(explorer.left.grid.itemAt(i).widget(), ImageTile)]
    assert tiles and not tiles[0].pixmap().toImage().isGrayscale()
    with qtbot.waitSignal(photo_window.blindspots.sig_answer_shown, timeout=20000) as blocker:
        qtbot.mouseDClick(tiles[0], Qt.MouseButton.LeftButton)
    assert photo_window.tabs.currentWidget() is photo_window.blindspots
    assert blocker.args[0] == photo_window.blindspots.choice.source

    photo_window.tabs.setCurrentWidget(explorer)
    with qtbot.waitSignal(explorer.sig_rows_shown, timeout=20000):
        explorer.model.setCurrentText("FC100-100-10")
    assert explorer.dataset is explorer.test_set  # back to digits for a digit network


def test_a_damaged_weights_file_keeps_the_network_in_use(qtbot, photo_window, tmp_path):
    view = photo_window.blindspots
    damaged = tmp_path / "resnet18.pth"
    damaged.write_bytes(b"PK\x03\x04 not really a zip")
    with qtbot.waitSignal(photo_window.sig_message, timeout=10000) as blocker:
        view.use_weights_file("ResNet-18", str(damaged))
    assert "resnet18.pth" in blocker.args[0]
    assert view.network_name == "EfficientNet-Lite0"
    assert view.network_panel.selected_name() == "EfficientNet-Lite0"


def test_the_chosen_photo_comes_back_after_a_restart(qtbot, settings_file):
    from conftest import open_window
    from window_actions import click_model

    first = open_window(qtbot, settings_file)
    click_model(qtbot, first, "EfficientNet-Lite0")
    view = first.blindspots
    qtbot.waitUntil(lambda: view.choice is not None and view.original_probabilities is not None
                    and view.photo_source.sample_list.count() >= 2, timeout=60000)
    coffee = next(view.photo_source.sample_list.item(row).data(Qt.ItemDataRole.UserRole)
                  for row in range(view.photo_source.sample_list.count())
                  if view.photo_source.sample_list.item(row).text() == "Espresso")
    view.photo_source.open_path(coffee)
    qtbot.waitUntil(lambda: view.choice.path == coffee and view.original_probabilities is not None, timeout=60000)
    first.close()
    again = open_window(qtbot, settings_file)
    qtbot.waitUntil(lambda: again.blindspots.network_name == "EfficientNet-Lite0" and again.blindspots.choice is not None
                    and again.blindspots.original_probabilities is not None, timeout=60000)
    assert again.blindspots.choice.path == coffee
    again.close()
