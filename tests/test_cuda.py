"""The CUDA path: searches, training, units and experiments on a GPU give the CPU's results up to float rounding.
Skipped on machines without one (benchmarks/gpu_speed.py measures the speed there)."""

import json

import numpy as np
import pytest
import torch

from blindspot_gui.cli import main
from blindspot_gui.core import experiments
from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.photo_catalogue import load_photo_model
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.photos import read_photo, sample_photos
from blindspot_gui.core.training.loop import predict_labels
from blindspot_gui.core.training.plain import train_model
from blindspot_gui.core.units import capture_activations

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


def distortions(model, images, labels, targets="next"):
    return np.array([result.distortion for result in blindspot_search(model, images, targets, labels)])


@pytest.mark.parametrize("name", ["fc100-100-10", "conv"])
def test_a_search_on_the_gpu_finds_the_cpus_distortions(name):
    data = load_mnist("test").subset(range(20))
    on_cpu = distortions(load_zoo_model(name), data.images, data.labels)
    on_gpu = distortions(load_zoo_model(name, device="cuda"), data.images, data.labels)
    assert np.allclose(on_gpu, on_cpu, rtol=0.02), np.abs(on_gpu / on_cpu - 1).max()
    assert abs(on_gpu.mean() / on_cpu.mean() - 1) < 0.005


def test_a_photo_search_on_the_gpu_finds_the_cpus_distortion():
    photo = next(photo for photo in sample_photos() if photo.path.name == "coffee.png")
    pixels = torch.from_numpy(read_photo(photo.path))[None]
    model = load_photo_model("efficientnet-lite0")
    label = predict_labels(model, pixels)
    on_cpu = distortions(model, pixels, label, 9)[0]
    on_gpu = distortions(load_photo_model("efficientnet-lite0").to("cuda"), pixels, label, 9)[0]
    assert on_gpu == pytest.approx(on_cpu, rel=0.05)


def test_training_on_the_gpu_reaches_the_cpus_errors():
    spec = find_spec("fc100-100-10")
    data = load_mnist("train").subset(range(5000))
    on_cpu = train_model(spec, device="cpu", data=data).metadata["errors"]["test"]
    on_gpu = train_model(spec, device="cuda", data=data).metadata["errors"]["test"]
    assert abs(on_gpu - on_cpu) < 0.01


def test_units_on_the_gpu_capture_the_cpus_activations():
    data = load_mnist("test").subset(range(500))
    on_cpu = capture_activations(load_zoo_model("conv"), data, "relu1").values
    on_gpu = capture_activations(load_zoo_model("conv", device="cuda"), data, "relu1").values
    assert torch.allclose(torch.as_tensor(on_gpu), torch.as_tensor(on_cpu), atol=1e-4)


def test_table2_on_the_gpu_gives_the_cpus_figures_in_a_store_of_its_own(isolated_user_folder, tmp_path):
    on_cpu = experiments.table2(n=30, rule="next")
    assert main(["reproduce", "table2", "--n", "30", "--rule", "next", "--device", "cuda",
                 "--json", str(tmp_path / "gpu.json")]) == 0
    on_gpu = json.loads((tmp_path / "gpu.json").read_text())
    assert on_gpu["folder"].endswith("-cuda-v%d" % experiments.STORE_VERSION) and on_gpu["folder"] != on_cpu["folder"]
    for ours, theirs in zip(on_gpu["rows"], on_cpu["rows"]):
        assert ours["examples"] == theirs["examples"]
        assert np.allclose([e for e in ours["errors"] if e is not None],
                           [e for e in theirs["errors"] if e is not None], atol=0.07)
        assert ours["distortion"] == pytest.approx(theirs["distortion"], rel=0.02)
