"""Unit analysis: top-k against hand-computed activations, hooks always removed, the cache, the CLI."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from blindspot_gui.cli import main
from blindspot_gui.core.data import Dataset, load_mnist
from blindspot_gui.core.models.classifier import as_classifier, weights_fingerprint
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.units import (
    ActivationCache,
    LayerError,
    capture_activations,
    label_purity,
    layer_names,
    purity_comparison,
    random_direction,
    top_images,
    unit_direction,
)


class Tiny(nn.Module):
    """phi(x) at "hidden" = ReLU(W x) with W chosen so the activations are known by hand."""

    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.hidden = nn.Linear(4, 3, bias=False)
        self.relu = nn.ReLU()
        self.out = nn.Linear(3, 2)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [1.0, 1.0, -1.0, 0]]))

    def forward(self, x):
        return self.out(self.relu(self.hidden(self.flatten(x))))


def tiny(network_class=Tiny):
    """The network as a Classifier of 2x2 grey images."""
    return as_classifier(network_class(), (1, 2, 2))


@pytest.fixture
def tiny_data():
    images = torch.tensor([[0.9, 0.05, 0.0, 0], [0.2, 0.8, 0.5, 0], [0.5, 0.5, 0.0, 0], [0.1, 0.2, 0.9, 0]])
    return Dataset(images.reshape(4, 1, 2, 2), torch.tensor([0, 1, 2, 1]), ("a", "b", "c"), "tiny")


def test_top_k_matches_activations_computed_by_hand(tiny_data):
    activations = capture_activations(tiny(), tiny_data, "relu", batch_size=3)
    by_hand = torch.relu(tiny_data.images.reshape(4, 4) @ Tiny().hidden.weight.T)
    assert torch.allclose(activations.values, by_hand)
    result = top_images(activations, unit_direction(3, 0), k=2)
    assert result.indices.tolist() == [0, 2] and np.allclose(result.scores, [0.9, 0.5])
    assert top_images(activations, unit_direction(3, 2), k=1).indices.tolist() == [2]  # 0.5 + 0.5 - 0 = 1 > 0.95
    lowest = top_images(activations, [0.0, 1.0, 0.0], k=2, bottom=True)
    assert lowest.indices.tolist() == [0, 3] and lowest.labels.tolist() == [0, 1]


def test_hooks_are_removed_even_when_the_forward_pass_fails(tiny_data):
    model = tiny()

    def explode(*_):
        raise RuntimeError("boom")

    model.network.out.register_forward_pre_hook(explode)
    with pytest.raises(RuntimeError, match="boom"):
        capture_activations(model, tiny_data, "relu")
    assert not model.network.relu._forward_hooks


def test_bad_layer_mode_direction_and_unit_are_clear(tiny_data):
    model = tiny()
    with pytest.raises(LayerError, match="'nope' is not a layer.*hidden, relu, out"):
        capture_activations(model, tiny_data, "nope")
    with pytest.raises(ValueError, match="mode must be"):
        capture_activations(model, tiny_data, "relu", mode="median")
    activations = capture_activations(model, tiny_data, "relu")
    with pytest.raises(ValueError, match="has 2 entries but the layer has 3"):
        top_images(activations, [1.0, 0.0])
    with pytest.raises(ValueError, match="unit 7 does not exist"):
        unit_direction(3, 7)
    assert layer_names(model) == ["hidden", "relu", "out"]


def test_random_directions_are_unit_length_and_reproducible():
    first, again, other = random_direction(50, 5), random_direction(50, 5), random_direction(50, 6)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert float(first.norm()) == pytest.approx(1.0)


def test_label_purity():
    assert label_purity([3, 3, 3, 1]) == 0.75 and label_purity([1, 2, 3, 4]) == 0.25


def test_conv_layers_give_full_maps_or_one_number_per_channel():
    from blindspot_gui.api import load_model

    model, data = load_model("ConvNet"), load_mnist("test").subset(range(200))
    full = capture_activations(model, data, "relu1")
    assert full.values.shape == (200, 16 * 24 * 24) and full.unit_shape == (16, 24, 24)
    means = capture_activations(model, data, "relu1", mode="channel-mean")
    assert torch.allclose(means.values, full.values.reshape(200, 16, -1).mean(dim=2), atol=1e-6)
    maxima = capture_activations(model, data, "relu1", mode="channel-max")
    assert torch.allclose(maxima.values, full.values.reshape(200, 16, -1).amax(dim=2))


def test_cache_serves_memory_then_disk_and_recomputes_after_new_weights(tmp_path):
    from blindspot_gui.api import load_model

    model, data = load_model("FC100-100-10"), load_mnist("test")
    cache = ActivationCache(tmp_path)
    first = cache.get(model, data, "sigmoid2")
    assert cache.get(model, data, "sigmoid2") is first
    fresh = ActivationCache(tmp_path).get(model, data, "sigmoid2")  # from disk
    assert torch.equal(fresh.values, first.values)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    with torch.no_grad():
        model.network.fc1.weight.add_(0.01)
    cache.get(model, data, "sigmoid2")
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_hidden_layers_random_directions_are_as_coherent_as_units():
    from blindspot_gui.api import load_model

    activations = capture_activations(load_model("ConvNet"), load_mnist("test"), "relu3")
    comparison = purity_comparison(activations, count=30, k=8)
    assert comparison["random_purity"] >= comparison["unit_purity"] - 0.1


def test_cli_units_prints_and_writes_json_and_png(tmp_path, capsys):
    record, picture = tmp_path / "unit.json", tmp_path / "unit.png"
    assert main(["units", "--model", "fc100-100-10", "--layer", "sigmoid2", "--unit", "7", "--top", "5",
                 "--json", str(record), "--png", str(picture)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("unit 7 of layer sigmoid2: top 5 of 10000")
    saved = json.loads(record.read_text())
    assert len(saved["indices"]) == 5 and len(saved["direction"]) == 100 and saved["direction"][7] == 1.0
    assert saved["scores"] == sorted(saved["scores"], reverse=True)
    assert picture.read_bytes()[:4] == b"\x89PNG"
    assert main(["units", "--model", "fc100-100-10", "--layer", "sigmoid2", "--random", "3"]) == 0
    assert main(["units", "--model", "fc100-100-10", "--layer", "sigmoid2"]) == 2


def test_ranking_many_directions_at_once_matches_one_at_a_time():
    from blindspot_gui.api import load_model
    from blindspot_gui.core.units import rank_many, rank_units

    activations = capture_activations(load_model("FC100-100-10"), load_mnist("test").subset(range(500)), "sigmoid2")
    directions = torch.stack([random_direction(100, seed) for seed in (1, 2, 3)])
    together = rank_many(activations, directions, k=6, bottom=True)
    for row, result in enumerate(together):
        alone = top_images(activations, directions[row], k=6, bottom=True)
        assert result.indices.tolist() == alone.indices.tolist()
        assert np.allclose(result.scores, alone.scores, atol=1e-5)
    units = rank_units(activations, [4, 9], k=5, titles=["a", "b"])
    assert units[1].indices.tolist() == top_images(activations, unit_direction(100, 9), k=5).indices.tolist()
    assert units[0].title == "a"


def test_a_damaged_cache_file_is_replaced(tmp_path):
    from blindspot_gui.api import load_model

    model, data = load_model("FC10(1e-2)"), load_mnist("test")
    first = ActivationCache(tmp_path).get(model, data, "fc1")
    (cached,) = tmp_path.glob("*.npz")
    cached.write_bytes(cached.read_bytes()[:200])
    again = ActivationCache(tmp_path).get(model, data, "fc1")
    assert torch.equal(again.values, first.values)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    assert torch.equal(ActivationCache(tmp_path).get(model, data, "fc1").values, first.values)  # rewritten


def test_a_layer_used_twice_in_one_forward_pass_is_refused(tiny_data):
    class Twice(Tiny):
        def forward(self, x):
            hidden = self.relu(self.hidden(self.flatten(x)))
            return self.out(self.relu(hidden))

    with pytest.raises(LayerError, match="ran 2 times"):
        capture_activations(tiny(Twice), tiny_data, "relu")


def test_the_weights_fingerprint_follows_every_change_of_the_weights():
    model = find_spec("FC100-100-10").build()
    first = weights_fingerprint(model)
    assert weights_fingerprint(model) == first
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)  # changed in place
    second = weights_fingerprint(model)
    assert second != first
    model.load_state_dict(find_spec("FC100-100-10").build().state_dict())  # copied in
    third = weights_fingerprint(model)
    assert third not in (first, second)
    model.fc1.weight = torch.nn.Parameter(model.fc1.weight.detach().clone() * 2)  # replaced
    assert weights_fingerprint(model) != third
    assert as_classifier(model).fingerprint == weights_fingerprint(model)  # a Classifier's is its network's


def test_two_threads_can_capture_the_same_network_at_once():
    from concurrent.futures import ThreadPoolExecutor

    from blindspot_gui.api import load_model

    model, data = load_model("FC100-100-10"), load_mnist("test").subset(range(3000))
    alone = capture_activations(model, data, "sigmoid2", batch_size=100).values
    with ThreadPoolExecutor(2) as pool:  # a replaced ranking may still be ending while the next one starts
        both = list(pool.map(lambda _: capture_activations(model, data, "sigmoid2", batch_size=100).values, range(2)))
    # Close, not equal: two callers sharing PyTorch's thread pool may split a sum differently from one caller alone
    # (with 4 threads on 2 cores the last bit differs, 3.6e-7), and nothing promises more. A mix-up of the two
    # threads' hooks gives another batch's rows, another image's activations (sigmoids apart by far more than this),
    # or a batch too many or too few (another shape): all fail here.
    for values in both:
        torch.testing.assert_close(values, alone, rtol=1e-5, atol=1e-6)
