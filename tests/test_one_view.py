"""The one blind-spot view attacks a digit, a photo and a user's own network end to end, through clicks."""

import numpy as np
import torch
from PySide6.QtCore import Qt

from blindspot_gui.core.models.mnist_zoo import find_spec
from window_actions import click_item, click_model


def click_thumbnail(qtbot, strip, text: str) -> None:
    item = next(strip.item(row) for row in range(strip.count()) if strip.item(row).text() == text)
    strip.scrollToItem(item)
    qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=strip.visualItemRect(item).center())


def press_run_and_wait(qtbot, view, timeout):
    with qtbot.waitSignal(view.sig_search_finished, timeout=timeout) as blocker:
        qtbot.mouseClick(view.search_panel.run_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def assert_triptych_shows(view, shape) -> None:
    """Original, change and adversarial image are all drawn, at the network's image size."""
    for panel in (view.viewer.original_panel, view.viewer.perturbation_panel, view.viewer.adversarial_panel):
        assert panel.image.image is not None and panel.image.image.shape[:2] == shape


def choose_policy(view, policy) -> None:
    combo = view.search_panel.policy
    combo.setCurrentIndex(combo.findData(policy))


def test_a_digit_network_is_fooled_through_clicks(qtbot, window):
    view = window.blindspots
    click_model(qtbot, window, "FC200-200-10")
    qtbot.waitUntil(lambda: view.network_name == "FC200-200-10", timeout=10000)
    with qtbot.waitSignal(view.sig_answer_shown, timeout=10000):
        click_thumbnail(qtbot, view.image_source.strip, "3")
    assert view.choice.index == 3
    choose_policy(view, "none")
    result = press_run_and_wait(qtbot, view, 30000)
    assert result.success and result.adversarial_prediction != result.original_prediction
    assert view.viewer.adversarial_panel.answer.text() == (
        f"says {result.adversarial_prediction}  ({100 * result.probabilities_after[result.adversarial_prediction]:.0f}%)")
    assert_triptych_shows(view, (28, 28))


def test_a_photo_network_is_fooled_through_clicks(qtbot, window):
    view = window.blindspots
    qtbot.waitUntil(lambda: not window.runner.is_running("catalogue"), timeout=30000)
    click_model(qtbot, window, "EfficientNet-Lite0")
    qtbot.waitUntil(lambda: view.network_name == "EfficientNet-Lite0", timeout=60000)
    assert view.image_sources.currentWidget() is view.photo_source  # the sample photos, not the MNIST browser
    with qtbot.waitSignal(view.sig_answer_shown, timeout=20000):
        click_item(qtbot, view.photo_source.sample_list, "Rocket")
    assert view.choice.source == "rocket.jpg" and view.search_panel.class_field.text() == "ostrich"
    result = press_run_and_wait(qtbot, view, 240000)
    assert result.success and view.classifier.class_names[result.adversarial_prediction] == "ostrich"
    assert view.viewer.adversarial_panel.answer.text().startswith("says ostrich")
    assert_triptych_shows(view, (224, 224))
    assert view.viewer.original_panel.image.image.shape == (224, 224, 3)  # in colour


def test_your_own_network_is_fooled_through_clicks(qtbot, window, tmp_path):
    view = window.blindspots
    path = tmp_path / "my_convnet.pt"
    torch.manual_seed(0)
    network = find_spec("ConvNet").build()
    network.load_state_dict(view.models.get("ConvNet").network.state_dict())
    torch.save(network.state_dict(), path)
    with qtbot.waitSignal(view.sig_network_added, timeout=20000):
        view.load_own_network(str(path))
    click_model(qtbot, window, "FC100-100-10")  # another network, then back to one's own, in the one list
    qtbot.waitUntil(lambda: view.network_name == "FC100-100-10", timeout=10000)
    click_model(qtbot, window, "my_convnet.pt")
    assert view.network_name == "my_convnet.pt" and "ConvNet" in view.network_panel.custom["my_convnet.pt"]
    with qtbot.waitSignal(view.sig_answer_shown, timeout=10000):
        click_thumbnail(qtbot, view.image_source.strip, "1")
    view.search_panel.choose(8)
    result = press_run_and_wait(qtbot, view, 30000)
    assert result.success and result.adversarial_prediction == 8
    assert view.viewer.adversarial_panel.answer.text().startswith("says 8")
    assert_triptych_shows(view, (28, 28))
    assert np.abs(view.viewer.adversarial_panel.image.image - result.adversarial[0]).max() < 1e-6
