"""Lipschitz bounds: Fourier against power iteration, and never below what a network actually does."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from blindspot_gui import api
from blindspot_gui.core.lipschitz import (
    conv_norm_fourier,
    conv_norm_power,
    layer_bounds,
    linear_norm,
    network_bound,
)


def test_linear_bound_is_the_largest_singular_value():
    layer = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[3.0, 0, 0], [0, 1.0, 0]]))
    assert abs(linear_norm(layer) - 3.0) < 1e-9


def test_fourier_and_power_iteration_agree_on_a_stride_one_convolution():
    torch.manual_seed(0)
    layer = nn.Conv2d(3, 5, 3, padding=1).double()
    fourier = conv_norm_fourier(layer, 48, 48)
    power = conv_norm_power(layer, (3, 48, 48))
    assert power <= fourier * 1.0001  # zero padding can only lower the circular norm
    assert power >= 0.97 * fourier


def test_bound_is_never_below_the_measured_ratio_on_random_pairs():
    model = api.load_model("ConvNet").network.double()  # the bare network: MNIST's Classifier has no preprocessing
    bounds = layer_bounds(model, (1, 28, 28))
    assert [bound.name for bound in bounds if bound.kind in ("conv", "linear")] == ["conv1", "conv2", "fc1", "fc2"]
    bound = network_bound(bounds)
    generator = torch.Generator().manual_seed(1)
    first = torch.rand(64, 1, 28, 28, generator=generator, dtype=torch.float64)
    second = (first + 0.05 * torch.randn(first.shape, generator=generator, dtype=torch.float64)).clamp(0, 1)
    with torch.no_grad():
        ratio = (model(first) - model(second)).norm(dim=1) / (first - second).flatten(1).norm(dim=1)
    assert float(ratio.max()) <= bound


def test_sigmoid_nets_carry_the_quarter_slope():
    bounds = layer_bounds(api.load_model("FC100-100-10").network.double(), (1, 28, 28))
    assert [bound.kind for bound in bounds] == ["linear", "sigmoid", "linear", "sigmoid", "linear"]
    assert [bound.bound for bound in bounds if bound.kind == "sigmoid"] == [0.25, 0.25]


def test_table5_for_a_zoo_model_lists_every_weight_layer():
    from blindspot_gui.core.experiments import table5

    result = table5("ConvNet")
    assert [row["layer"] for row in result["rows"]] == ["conv1", "conv2", "fc1", "fc2"]
    assert all(row["bound"] > 0 for row in result["rows"])
    product = 1.0
    for row in result["rows"]:
        product *= row["bound"]
    assert abs(result["network_bound"] - product) < 1e-6 * product


def test_table5_keeps_each_layer_so_a_cancelled_run_resumes():
    from blindspot_gui.core.experiments import experiments_dir, table5
    from blindspot_gui.core.monitor import Cancelled, Monitor

    def cancel_at_fc1(fraction, message):
        if message == "bounding fc1":
            monitor.cancel()

    monitor = Monitor(on_progress=cancel_at_fc1)
    with pytest.raises(Cancelled):
        table5("ConvNet", monitor)
    folders = list((experiments_dir()).glob("table5-*"))
    assert len(folders) == 1 and set(json.loads((folders[0] / "bounds.json").read_text())) == {"conv1", "conv2"}
    result = table5("ConvNet")
    assert [row["layer"] for row in result["rows"]] == ["conv1", "conv2", "fc1", "fc2"]
    stored = json.loads((Path(result["folder"]) / "bounds.json").read_text())
    assert set(stored) == {"conv1", "conv2", "fc1", "fc2"}
    assert result["rows"][0]["bound"] == stored["conv1"]["bound"]


def test_batch_norm_grouped_and_self_padding_convolutions_are_bounded_as_they_run():
    from efficientnet_lite_pytorch.utils import get_same_padding_conv2d

    torch.manual_seed(0)
    same = get_same_padding_conv2d(image_size=(20, 20))
    model = nn.Sequential(same(3, 8, kernel_size=3, stride=2, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
                          same(8, 8, kernel_size=3, stride=1, groups=8, bias=False), nn.BatchNorm2d(8),
                          nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    for norm in (model[1], model[4]):
        norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(-2, 2)
    model = model.double().eval()
    bounds = layer_bounds(model, (3, 20, 20))
    kinds = [(bound.name, bound.kind) for bound in bounds]
    assert ("0", "conv") in kinds and ("1", "batchnorm") in kinds and ("3", "conv") in kinds
    assert not any(name.startswith("0.") for name, _ in kinds)  # the padding inside a convolution is part of it
    first_conv = next(bound for bound in bounds if bound.name == "0")
    unpadded = nn.Conv2d(3, 8, 3, stride=2, bias=False).double()
    unpadded.weight.data.copy_(model[0].weight.data)
    assert first_conv.bound >= conv_norm_power(unpadded, (3, 20, 20)) * 0.99  # padding only adds outputs (power
    # iteration approaches the norm from below, within a fraction of a percent)
    bound = network_bound(bounds)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(20):
            x = torch.rand((1, 3, 20, 20), generator=generator, dtype=torch.float64)
            y = x + 1e-3 * torch.randn(x.shape, generator=generator, dtype=torch.float64)
            ratio = (model(x) - model(y)).norm() / (x - y).norm()
            assert ratio <= bound


def test_table5_for_a_photo_network_counts_its_normalisation_and_says_when_the_product_is_no_bound(monkeypatch):
    from blindspot_gui.core import experiments
    from blindspot_gui.core.models import photo_catalogue

    def small_network(architecture, classes=1000):  # a quick stand-in with the same kinds of layers
        assert architecture == "mobilenet_v3_small"
        return nn.Sequential(nn.Conv2d(3, 4, 3, stride=8), nn.BatchNorm2d(4), nn.Hardswish(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, classes))

    monkeypatch.setattr(photo_catalogue, "build_architecture", small_network)
    result = experiments.table5("mobilenet_v3_small")
    assert "random initial weights" in result["model"] and "not a bound of the network" in result["model"]
    assert result["network_bound"] is None and not result["chain"]
    scale = next(factor for factor in result["other_factors"] if factor["layer"] == "normalisation")
    assert abs(scale["bound"] - 1 / 0.224) < 1e-9  # the smallest of ImageNet's channel stds
    assert result["rows"][0]["input_shape"] == [3, 224, 224]
    table = experiments.comparison_table(result)
    assert not any(label.startswith("whole network") for label, _ in table.rows)


def test_every_layer_of_every_photo_network_has_a_bound():
    from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS, build_architecture
    from blindspot_gui.core.lipschitz import _bounded_modules, activation_bounds

    for entry in PHOTO_MODELS:
        network = build_architecture(entry.architecture)
        for name, module in _bounded_modules(network):
            known = isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)) or isinstance(
                module, tuple(activation_bounds()))
            assert known, f"{entry.name}: no bound for {name} ({type(module).__name__})"
