"""ONNX networks as users bring them: hand-made and exported graphs give torch's logits and are attacked end to end.

What is accepted is defined here: NCHW and NHWC inputs, 1 channel (28x28 digits, or MNIST's 784
pixels in a row) or 3 (square photos of any size up to 4096), a final Softmax (left out: the
search works on logits), pixels in 0-1 or 0-255 (from the metadata or the user), class names from
the metadata or a file, the batch axis freed where an export fixed it at 1, and graphs that mix a
batch up run one image at a time.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from model_files import export_onnx, graph_file, linear_digits, random_linear_digits
from blindspot_gui import api
from blindspot_gui.cli import main
from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.models.onnx_network import OneImageAtATime
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.weights_io import WeightsError
from blindspot_gui.core.photos import read_photo

ROOT = Path(__file__).resolve().parent.parent
CAT = ROOT / "resources" / "samples" / "cat.png"
RTOL = 1e-5


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Within a relative tolerance of 1e-5 of the largest logit (the logits of a random net may sit near zero)."""
    ours, theirs = ours.detach(), theirs.detach()
    assert ours.shape == theirs.shape
    assert float((ours - theirs).abs().max()) <= RTOL * float(theirs.abs().max()), float((ours - theirs).abs().max())


@pytest.fixture(scope="module")
def digits():
    images, labels = api.load_mnist("test")
    return images[:6], labels[:6]


def test_a_hand_made_digit_graph_gives_its_own_arithmetic_and_is_attacked_in_batches(tmp_path, digits):
    path, weight, bias = random_linear_digits(tmp_path / "linear.onnx", softmax=True)
    model = load_own_network(path)
    assert model.is_digit_network and model.class_names[:3] == ["0", "1", "2"]
    assert "final Softmax left out" in model.description and not isinstance(model.network, OneImageAtATime)
    images, labels = digits
    expected = torch.from_numpy(images.numpy().reshape(6, 784) @ weight.T + bias)
    _close(model(images), expected)
    results = blindspot_search(model, images, "next", labels, engine="fast")  # the batched engine, six at once
    assert all(result.success for result in results)
    assert all(result.adversarial_prediction == (result.label + 1) % 10 for result in results)


def test_the_zoo_network_exported_with_a_fixed_batch_matches_the_zoo_and_its_blind_spots(tmp_path, digits, fc100):
    path = export_onnx(fc100.network, tmp_path / "fc100.onnx", torch.rand(1, 1, 28, 28))
    model = load_own_network(path)
    assert "batch axis freed" in model.description and not isinstance(model.network, OneImageAtATime)
    images, labels = digits
    _close(model(images), fc100(images))
    ours = blindspot_search(model, images[:3], "next", labels[:3], engine="fast")
    zoos = blindspot_search(fc100, images[:3], "next", labels[:3], engine="fast")
    for mine, theirs in zip(ours, zoos):
        assert mine.success and mine.adversarial_prediction == theirs.adversarial_prediction
        assert mine.distortion == pytest.approx(theirs.distortion, rel=0.02)


def test_an_onnx_digit_network_is_attacked_from_the_command_line_like_a_zoo_network(tmp_path, capsys):
    path, _, _ = random_linear_digits(tmp_path / "mine.onnx", seed=3)
    assert main(["attack", "--model-file", str(path), "--images", "test:0:4", "--npz", str(tmp_path / "r.npz")]) == 0
    out = capsys.readouterr().out
    assert "4 images from test[0:4]" in out and "success rate      100.0%" in out
    assert np.load(tmp_path / "r.npz")["adversarial"].shape == (4, 1, 28, 28)
    assert main(["attack", "--model-file", str(path), "--image", str(CAT)]) == 1
    assert "reads 28x28 digits, not photos" in capsys.readouterr().err


def test_a_flat_input_of_784_pixels_reads_digits(tmp_path, digits):
    from onnx import helper

    rng = np.random.default_rng(1)
    weight, bias = rng.normal(0, 0.05, (10, 784)).astype(np.float32), np.zeros(10, np.float32)
    path = graph_file(tmp_path / "flat.onnx", [helper.make_node("Gemm", ["pixels", "weight", "bias"], ["logits"],
                                                                 transB=1)],
                      {"weight": weight, "bias": bias}, input_shape=(None, 784))
    model = load_own_network(path)
    images, _ = digits
    assert model.is_digit_network
    _close(model(images), torch.from_numpy(images.numpy().reshape(6, 784) @ weight.T))


class _Channels(nn.Module):
    """A photo network that takes channels last (as Keras exports) and ends in a Softmax, on pixels in 0-255."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x):
        return torch.softmax(self.network(x.permute(0, 3, 1, 2) / 255.0), dim=1)


def test_a_channels_last_photo_network_of_its_own_size_on_0_to_255_with_names_in_its_metadata(tmp_path):
    import onnx

    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.Tanh(),
                            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4)).eval()
    path = export_onnx(_Channels(network), tmp_path / "keras-like.onnx", torch.rand(1, 96, 96, 3) * 255)
    stored = onnx.load(str(path))
    for key, value in (("input_range", "0-255"), ("class_names", '["cat", "dog", "fish", "bird"]'),
                       ("preprocessing", "none")):
        stored.metadata_props.add(key=key, value=value)
    onnx.save(stored, str(path))
    model = load_own_network(path)
    assert model.input_shape == (3, 96, 96) and model.class_names == ["cat", "dog", "fish", "bird"]
    assert model.preprocessing.crop == 96 and model.preprocessing.resize == round(96 * 256 / 224)
    pixels = torch.rand(3, 3, 96, 96)
    _close(model(pixels), network(pixels))
    photo = torch.from_numpy(read_photo(CAT, model.preprocessing.resize, model.preprocessing.crop))
    result = blindspot_search(model, photo[None], "none", None, engine="fast")[0]  # the nearest other class
    assert result.success and result.adversarial_prediction != result.original_prediction
    assert model.class_name(result.adversarial_prediction) in ("cat", "dog", "fish", "bird")
    (tmp_path / "names.txt").write_text("a\nb\nc\nd\n")
    assert load_own_network(path, class_names_file=tmp_path / "names.txt").class_names == ["a", "b", "c", "d"]
    assert load_own_network(path, input_range="0-1")(pixels).shape == (3, 4)  # the user's choice over the metadata


def test_a_torchvision_network_exported_at_224_gives_torchs_logits_behind_imagenet_normalisation(tmp_path):
    torch.manual_seed(0)
    network = torchvision.models.resnet18(num_classes=7).eval()
    path = export_onnx(network, tmp_path / "resnet18.onnx", torch.rand(1, 3, 224, 224))
    model = load_own_network(path)
    assert model.input_shape == (3, 224, 224) and model.preprocessing.name == "imagenet"
    pixels = torch.rand(2, 3, 224, 224)
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    _close(model(pixels), network((pixels - mean) / std))


def test_a_torchvision_network_exported_at_64_pixels_is_attacked_end_to_end_on_a_photo(tmp_path):
    torch.manual_seed(0)
    network = torchvision.models.resnet18(num_classes=7).eval()
    model = load_own_network(export_onnx(network, tmp_path / "resnet18-64.onnx", torch.rand(1, 3, 64, 64)))
    assert model.input_shape == (3, 64, 64) and model.preprocessing.crop == 64
    photo = torch.from_numpy(read_photo(CAT, model.preprocessing.resize, model.preprocessing.crop))[None]
    mean, std = (torch.tensor(values).view(1, 3, 1, 1) for values in (model.preprocessing.mean, model.preprocessing.std))
    _close(model(photo), network((photo - mean) / std))
    result = blindspot_search(model, photo, "none", None, engine="fast")[0]
    assert result.success and result.adversarial_prediction != result.original_prediction
    assert int(model(torch.as_tensor(result.adversarial)[None]).argmax()) == result.adversarial_prediction


def test_a_graph_that_mixes_up_a_batch_runs_one_image_at_a_time(tmp_path, digits):
    from onnx import helper

    rng = np.random.default_rng(2)
    weight = rng.normal(0, 0.05, (10, 784)).astype(np.float32)
    nodes = [helper.make_node("Flatten", ["pixels"], ["flat"], axis=1),
             helper.make_node("ReduceMean", ["flat"], ["batch_mean"], axes=[0], keepdims=1),  # ties images together
             helper.make_node("Sub", ["flat", "batch_mean"], ["centred"]),
             helper.make_node("Add", ["centred", "flat"], ["mixed"]),
             helper.make_node("Gemm", ["mixed", "weight", "bias"], ["logits"], transB=1)]
    path = graph_file(tmp_path / "mixes.onnx", nodes, {"weight": weight, "bias": np.zeros(10, np.float32)},
                      input_shape=(1, 1, 28, 28), opset=13)
    model = load_own_network(path)
    assert isinstance(model.network, OneImageAtATime) and "one image at a time" in model.description
    images, _ = digits
    alone = torch.cat([model(images[index:index + 1]) for index in range(6)])
    _close(model(images), alone)


@pytest.mark.parametrize("shape, words", [
    ((None, 1, 32, 32), "input shape"), ((None, 3, 64, 48), "input shape"), ((None, 2, 28, 28), "input shape"),
    ((None, 28, 28), "input shape"),
])
def test_inputs_outside_what_is_read_are_refused_saying_what_is(tmp_path, shape, words):
    from onnx import helper

    path = graph_file(tmp_path / "odd.onnx", [helper.make_node("Flatten", ["pixels"], ["logits"], axis=1)],
                      input_shape=shape)
    with pytest.raises(WeightsError, match=f"'odd.onnx': its {words} .* is not one this application reads: "
                                           r"\(N, C, H, W\) or \(N, H, W, C\)"):
        load_own_network(path)


def test_an_architecture_or_a_wrong_number_of_names_is_refused_for_an_onnx_file(tmp_path):
    path = linear_digits(tmp_path / "d.onnx", np.zeros((10, 784)), np.zeros(10))
    with pytest.raises(WeightsError, match="'d.onnx' is an ONNX file, which carries its own architecture"):
        load_own_network(path, "resnet18")
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    with pytest.raises(WeightsError, match="names 3 classes but the model has 10 outputs"):
        load_own_network(path, class_names_file=tmp_path / "three.txt")
    with pytest.raises(WeightsError, match="reads 28x28 digits, which take no photo preprocessing"):
        load_own_network(path, preprocessing="imagenet")


def test_an_output_written_without_a_shape_by_an_older_tool_is_read(tmp_path, digits):
    import onnx

    path, weight, bias = random_linear_digits(tmp_path / "old.onnx")
    stored = onnx.load(str(path))
    stored.graph.output[0].type.tensor_type.ClearField("shape")
    onnx.save(stored, str(path))
    images, _ = digits
    _close(load_own_network(path)(images), torch.from_numpy(images.numpy().reshape(6, 784) @ weight.T + bias))
