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
    model = api.load_model("ConvNet").double()
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
    bounds = layer_bounds(api.load_model("FC100-100-10").double(), (1, 28, 28))
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
