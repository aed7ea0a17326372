"""Where a blind spot's change takes hold (core/pathway.py): gains against closed forms, bounds against Table 5's code,
real blind spots against noise."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from blindspot_gui.core.lipschitz import linear_norm
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.pathway import PHOTO_BOUND_NOTE, pathway, pathway_layers


def linear_digits() -> Classifier:
    """Two linear layers and nothing else: each layer's gain for r is ||W r|| / ||r|| (the biases cancel)."""
    torch.manual_seed(3)
    network = nn.Sequential(nn.Flatten(), nn.Linear(784, 20), nn.Linear(20, 10))
    return Classifier(network, name="linear", input_shape=(1, 28, 28), class_names=[str(k) for k in range(10)])


def test_gains_steps_and_bounds_of_a_linear_network_are_its_closed_forms():
    classifier = linear_digits()
    w1, w2 = classifier.network[1].weight.double(), classifier.network[2].weight.double()
    original = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(1))
    change = 0.05 * torch.randn(1, 28, 28, generator=torch.Generator().manual_seed(2))
    found = pathway(classifier, original, original + change, draws=16, seed=5)
    r = change.double().flatten()
    assert [layer.name for layer in found.layers] == ["1", "2"]
    assert found.size == pytest.approx(float(r.norm()), rel=1e-6)
    first, second = found.layers
    assert first.gain == pytest.approx(float((w1 @ r).norm() / r.norm()), rel=1e-4)
    assert second.gain == pytest.approx(float((w2 @ w1 @ r).norm() / r.norm()), rel=1e-4)
    assert second.step == pytest.approx(float((w2 @ w1 @ r).norm() / (w1 @ r).norm()), rel=1e-4)
    noise = torch.randn((16, 1, 28, 28), generator=torch.Generator().manual_seed(5)).double().flatten(1)
    noise *= r.norm() / noise.norm(dim=1, keepdim=True)
    assert first.noise_gain == pytest.approx(float(np.median(((noise @ w1.T).norm(dim=1) / r.norm()).numpy())), rel=1e-4)
    assert first.bound == pytest.approx(float(torch.linalg.matrix_norm(w1, ord=2)), rel=1e-6)
    assert second.bound == pytest.approx(float(torch.linalg.matrix_norm(w2, ord=2)), rel=1e-6)
    assert found.bound_note is None and first.units == 20 and second.units == 10
    assert found.moved[0].change == pytest.approx(float((w1 @ r).abs().max()), rel=1e-4)


def test_a_real_blind_spot_grows_where_noise_of_its_size_does_not(fc100, blind_spot):
    found = pathway(fc100, blind_spot.original, blind_spot.adversarial)
    assert [layer.name for layer in found.layers] == ["fc1", "fc2", "fc3"]
    last = found.layers[-1]
    assert last.gain > 5 * last.noise_gain_high, found.reading  # the blind spot's change, carried; noise's, not
    for layer in found.layers:  # every step within Table 5's bound, for the blind spot and for noise
        assert layer.step <= layer.bound * (1 + 1e-5) and layer.noise_step <= layer.bound * (1 + 1e-5), layer
    fc1, fc2 = (copy.deepcopy(layer).double() for layer in (fc100.network.fc1, fc100.network.fc2))
    assert found.layers[0].bound == pytest.approx(linear_norm(fc1), rel=1e-9)
    assert found.layers[1].bound == pytest.approx(0.25 * linear_norm(fc2), rel=1e-9)  # the sigmoid's slope, then fc2
    assert found.parting in ("fc1", "fc2", "fc3") and found.reading.startswith("The change grows")
    assert len(found.moved) == 5 and found.moved[0].change >= found.moved[-1].change


def test_a_photo_network_is_followed_block_by_block_without_bounds():
    from blindspot_gui.core.models.photo_catalogue import load_photo_model

    classifier = load_photo_model("efficientnet-lite0")
    names = pathway_layers(classifier)
    assert names[0] == "_conv_stem" and "_blocks.0" in names and "_blocks.15" in names and names[-1] == "_fc"
    original = torch.rand(3, 224, 224, generator=torch.Generator().manual_seed(0))
    change = 0.002 * torch.randn(3, 224, 224, generator=torch.Generator().manual_seed(1))
    found = pathway(classifier, original, (original + change).clamp(0, 1), draws=4)
    assert all(layer.bound is None for layer in found.layers) and found.bound_note == PHOTO_BOUND_NOTE
    assert found.layers[-1].units == 1000


def test_a_zero_change_is_refused(fc100):
    image = torch.zeros(1, 28, 28)
    with pytest.raises(ValueError, match="change is zero"):
        pathway(fc100, image, image)


def test_cli_pathway_prints_the_layers_and_writes_them(tmp_path, capsys):
    import json

    from blindspot_gui.cli import main

    record = tmp_path / "pathway.json"
    assert main(["pathway", "--model", "fc100-100-10", "--image", "test:0", "--draws", "8", "--json", str(record)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(record.read_text())
    assert [layer["name"] for layer in written["layers"]] == ["fc1", "fc2", "fc3"] and written["draws"] == 8
    assert written["reading"] in printed and "MNIST test image 0 (a 7)" in printed
    assert all(layer["step"] <= layer["bound"] * (1 + 1e-5) for layer in written["layers"])


@pytest.mark.parametrize("arguments, says", [
    (["--model", "efficientnet-lite0", "--image", "test:0"], "is an MNIST digit"),
    (["--model", "fc100-100-10", "--image", "test:0", "--goal", "minimal", "--confidence", "0.9"], "takes no --confidence"),
    (["--model", "fc100-100-10", "--image", "test:0", "--draws", "1"], "--draws must be at least 2"),
])
def test_cli_pathway_refuses_what_does_not_go_together(arguments, says, capsys):
    from blindspot_gui.cli import main

    assert main(["pathway", *arguments]) == 2
    assert says in capsys.readouterr().err


def test_the_layers_tab_follows_each_result_and_opens_a_moved_unit(qtbot, window):
    from window_actions import run_and_wait

    view = window.blindspots
    with qtbot.waitSignal(view.sig_transfer_shown, timeout=30000):
        assert run_and_wait(qtbot, window).success
    assert view.pathway_view.pathway is None and not view.is_running("pathway")  # not computed out of sight
    with qtbot.waitSignal(view.sig_pathway_shown, timeout=30000):
        view.result_views.setCurrentWidget(view.pathway_view)
    shown = view.pathway_view.pathway
    assert [layer.name for layer in shown.layers] == ["fc1", "fc2", "fc3"] and shown.network == "FC100-100-10"
    assert view.pathway_view.reading.text().startswith(shown.reading)
    view.result_views.setCurrentWidget(view.pathway_view)
    units = view.pathway_view.units
    assert f'<a href="{shown.moved[0].unit}">unit {shown.moved[0].unit}</a>' in units.text()
    units.linkActivated.emit(str(shown.moved[0].unit))  # what a click on the unit's link sends
    explorer = window.unit_explorer
    assert window.tabs.currentWidget() is explorer
    qtbot.waitUntil(lambda: explorer.layer.currentText() == shown.parting
                    and explorer.first_unit.value() == shown.moved[0].unit, timeout=20000)
    window.tabs.setCurrentWidget(view)
    view.step_image(1)  # another image: the pathway of the last one goes
    qtbot.waitUntil(lambda: view.pathway_view.pathway is None, timeout=5000)
    assert view.pathway_view.units.text() == ""


def test_another_thread_using_the_same_network_does_not_mix_into_the_pathway(fc100):
    """The window checks transfer to the same network while it follows the pathway: hooks keep only their own thread."""
    import threading

    original = torch.rand(1, 28, 28, generator=torch.Generator().manual_seed(4))
    adversarial = (original + 0.05 * torch.randn(1, 28, 28, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    alone = pathway(fc100, original, adversarial, draws=8)
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            with torch.inference_mode():
                fc100(torch.rand(3, 1, 28, 28))

    other = threading.Thread(target=busy)
    other.start()
    try:
        together = [pathway(fc100, original, adversarial, draws=8) for _ in range(20)]
    finally:
        stop.set()
        other.join()
    assert all(found == alone for found in together)
