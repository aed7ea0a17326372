"""The Classifier: the same logits as the raw network on the same pixels, whatever the network's origin; the API
and the cache of loaded networks on top of it."""


import numpy as np
import pytest
import torch

from blindspot_gui import api
from blindspot_gui.core.models.classifier import PREPROCESSINGS, Classifier, as_classifier
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.photo_catalogue import build_architecture, load_photo_model
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.core.models.weights_io import write_safetensors
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.photos import read_photo, sample_photos
from model_files import export_onnx

IMAGENET = PREPROCESSINGS["imagenet"]


def normalised(pixels: torch.Tensor, mean, std) -> torch.Tensor:
    """(x - mean) / std per channel, computed here rather than by the Classifier."""
    return (pixels - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


@pytest.fixture(scope="module")
def digits():
    images, labels = api.load_mnist("test")
    return images[:64], labels[:64]


@pytest.fixture(scope="module")
def photos():
    """The shipped sample photos as the networks see them, (N, 3, 224, 224) in [0, 1]."""
    return torch.from_numpy(np.stack([read_photo(sample.path) for sample in sample_photos()[:3]]))


@pytest.fixture(scope="module")
def own_photo_network(tmp_path_factory):
    """A user's photo network: mobilenet_v3_small with random weights and 12 classes, saved as a state dict."""
    torch.manual_seed(0)
    network = build_architecture("mobilenet_v3_small", classes=12).eval()
    path = tmp_path_factory.mktemp("own") / "mobile12.pt"
    torch.save(network.state_dict(), path)
    return network, path


def assert_a_classifier_for_inference(classifier: Classifier, origin: str) -> None:
    assert isinstance(classifier, Classifier) and classifier.origin == origin
    assert not classifier.training and not any(module.training for module in classifier.modules())
    assert not any(parameter.requires_grad for parameter in classifier.parameters())
    with pytest.raises(RuntimeError, match="Classifier, made for inference"):
        classifier.train()
    assert not classifier.training


# --- the same logits as the raw network, for every origin -------------------------------------------------------


def test_a_zoo_classifier_gives_its_networks_logits(digits):
    images, _ = digits
    classifier = load_zoo_model("FC100-100-10")
    assert_a_classifier_for_inference(classifier, "zoo")
    assert classifier.input_shape == (1, 28, 28) and classifier.is_digit_network and classifier.num_classes == 10
    assert classifier.preprocessing is None
    with torch.no_grad():
        assert torch.equal(classifier(images), classifier.network(images))
    assert "fc1" in classifier.layers() and not any(name.startswith("network") for name in classifier.layers())


def test_a_catalogue_photo_classifier_gives_its_network_the_normalised_pixels(photos):
    classifier = load_photo_model("EfficientNet-Lite0")
    assert_a_classifier_for_inference(classifier, "catalogue")
    assert classifier.input_shape == (3, 224, 224) and not classifier.is_digit_network
    assert classifier.num_classes == 1000 and classifier.class_names[9] == "ostrich"
    with torch.no_grad():
        expected = classifier.network(normalised(photos, [127 / 255] * 3, [128 / 255] * 3))  # (x·255 − 127) / 128
        assert torch.equal(classifier(photos), expected)
        assert torch.allclose(classifier.network((photos * 255 - 127) / 128), expected, rtol=0, atol=1e-4)


def test_a_users_digit_state_dict_in_safetensors_gives_the_zoo_networks_logits(tmp_path, digits):
    images, _ = digits
    zoo = load_zoo_model("ConvNet")
    path = write_safetensors(zoo.network.state_dict(), tmp_path / "mine.safetensors")
    classifier = load_own_network(path)
    assert_a_classifier_for_inference(classifier, "file")
    assert classifier.name == "mine.safetensors" and classifier.description == "ConvNet architecture"
    assert classifier.is_digit_network and classifier.class_names == zoo.class_names
    with torch.no_grad():
        assert torch.equal(classifier(images), zoo.network(images))
    assert classifier.fingerprint == zoo.fingerprint  # the same weights, wherever they were read from


def test_a_users_photo_state_dict_gives_its_networks_logits(own_photo_network, photos):
    network, path = own_photo_network
    classifier = load_own_network(path, "mobilenet_v3_small", "imagenet")
    assert_a_classifier_for_inference(classifier, "file")
    assert classifier.input_shape == (3, 224, 224) and classifier.num_classes == 12
    assert classifier.class_names[11] == "class 11" and classifier.description == "mobilenet_v3_small architecture"
    with torch.no_grad():
        expected = network(normalised(photos, IMAGENET.mean, IMAGENET.std))
        assert torch.equal(classifier(photos), expected)


def test_an_onnx_digit_network_gives_the_exported_modules_logits(tmp_path, digits):
    images, _ = digits  # 64 images: the batch axis the export fixed at 1 is freed, not run one image at a time
    network = find_spec("FC200-200-10").build().eval()
    classifier = load_own_network(export_onnx(network, tmp_path / "digits.onnx", torch.rand(1, 1, 28, 28)))
    assert_a_classifier_for_inference(classifier, "file")
    assert classifier.is_digit_network and classifier.name == "digits.onnx"
    assert classifier.description == "ONNX model; its batch axis freed"
    assert classifier.class_names == [str(digit) for digit in range(10)]
    with torch.no_grad():
        torch.testing.assert_close(classifier(images), network(images), rtol=1e-5, atol=1e-6)


class SmallPhotoNet(torch.nn.Module):
    """A small photo classifier of the usual parts (convolutions, batch norm, pooling, a linear head), quick to
    export."""

    def __init__(self, classes: int = 12):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 5, stride=4, padding=2), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.Hardswish())
        self.head = torch.nn.Linear(16, classes)

    def forward(self, x):
        return self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1))


def test_an_onnx_photo_network_gives_the_exported_modules_logits(tmp_path, photos):
    torch.manual_seed(0)
    network = SmallPhotoNet()
    norm = network.features[1]
    norm.running_mean.uniform_(-0.5, 0.5)  # statistics the export must carry, not batch norm's defaults
    norm.running_var.uniform_(0.5, 2.0)
    network.eval()
    path = export_onnx(network, tmp_path / "photos.onnx", torch.rand(1, 3, 224, 224))
    classifier = load_own_network(path, preprocessing="imagenet")
    assert_a_classifier_for_inference(classifier, "file")
    assert classifier.input_shape == (3, 224, 224) and classifier.num_classes == 12 and len(photos) > 1
    assert classifier.description == "ONNX model; its batch axis freed" and classifier.preprocessing == IMAGENET
    with torch.no_grad():
        expected = network(normalised(photos, IMAGENET.mean, IMAGENET.std))
        torch.testing.assert_close(classifier(photos), expected, rtol=1e-5, atol=1e-6)


def test_a_bare_module_made_a_classifier_keeps_its_logits(digits):
    images, _ = digits
    network = find_spec("FC10(1e-4)").build()
    network.train()
    classifier = as_classifier(network, (1, 28, 28))
    assert_a_classifier_for_inference(classifier, "module")
    assert classifier.class_names == [str(label) for label in range(10)]
    with torch.no_grad():
        assert torch.equal(classifier(images), network(images))


# --- the API and the cache --------------------------------------------------------------------------------------


def test_the_api_loads_a_classifier_by_zoo_name_photo_name_or_path(tmp_path, own_photo_network):
    assert api.load_classifier("fc100-100-10").name == "FC100-100-10"
    assert api.load_classifier("efficientnet-lite0").name == "EfficientNet-Lite0"
    write_safetensors(load_zoo_model("FC10(1e-2)").network.state_dict(), tmp_path / "fc10.safetensors")
    own = api.load_classifier(str(tmp_path / "fc10.safetensors"))
    assert own.origin == "file" and own.description == "FC10(1e-4) architecture"  # the first zoo architecture it fits
    _, path = own_photo_network
    photo = api.load_classifier(path, architecture="mobilenet_v3_small", preprocessing="imagenet")
    assert photo.origin == "file" and photo.num_classes == 12
    with pytest.raises(ValueError, match="only apply to a network loaded from a file"):
        api.load_classifier("FC100-100-10", architecture="resnet18")


def test_the_api_attacks_a_classifier_a_bare_module_and_a_name_alike(digits):
    images, labels = digits
    images, labels = images[:2], labels[:2]
    classifier = api.load_model("FC100-100-10")
    bare = find_spec("FC100-100-10").build()
    bare.load_state_dict(classifier.network.state_dict())
    bare.train()
    by_classifier = api.attack(classifier, images, "next", labels)
    by_module = api.attack(bare, images, "next", labels)
    by_name = api.attack("fc100-100-10", images, "next", labels)
    assert not bare.training  # a bare module is put in eval mode
    for results in (by_classifier, by_module, by_name):
        assert [r.success for r in results] == [True, True]
        assert [r.target for r in results] == [(int(label) + 1) % 10 for label in labels]
    assert [r.distortion for r in by_module] == pytest.approx([r.distortion for r in by_classifier], rel=1e-5)
    assert [r.distortion for r in by_name] == pytest.approx([r.distortion for r in by_classifier], rel=1e-5)


def test_the_api_attacks_a_photo_network_on_a_photo(own_photo_network):
    coffee = next(sample for sample in sample_photos() if sample.path.stem == "coffee")
    pixels = torch.from_numpy(read_photo(coffee.path))
    result = api.attack("EfficientNet-Lite0", pixels, 9)[0]  # with the settings the application uses for photos
    assert result.adversarial.shape == (3, 224, 224)
    assert result.success and result.adversarial_prediction == 9 and 0 < result.distortion <= 0.01
    assert int(api.load_classifier("EfficientNet-Lite0").probabilities(result.adversarial).argmax()) == 9
    _, path = own_photo_network
    with pytest.raises(ValueError, match=r"takes images of shape \(3, 224, 224\)"):  # a digit is no photo
        api.attack(load_own_network(path, "mobilenet_v3_small", "imagenet"), torch.zeros(1, 1, 28, 28))


def test_a_classifier_refuses_training():
    classifier = api.load_model("FC10(1e-4)")
    with pytest.raises(RuntimeError, match="train its network instead"):
        classifier.train()
    classifier.eval()  # eval is always allowed
    assert not classifier.training and not classifier.network.training


def test_the_model_cache_holds_one_classifier_for_every_spelling_of_a_name():
    cache = ModelCache()
    first = cache.get("FC100-100-10")
    assert cache.get("fc100-100-10") is first and cache.get(" FC100-100-10 ") is first
    photo = cache.get("EfficientNet-Lite0")
    assert cache.get("efficientnet-lite0") is photo
    assert set(cache.loaded()) == {"FC100-100-10", "EfficientNet-Lite0"}
    cache.forget("FC100-100-10")
    assert cache.get("fc100-100-10") is not first


def test_the_classifier_alone_says_photo_or_digit_and_the_search_settings_follow_it():
    """A small 3x32x32 network is a photo network everywhere (it had digit settings by its number of inputs)."""
    from torch import nn as torch_nn

    from blindspot_gui.core.attack.compare import DIGIT_BUDGETS, PHOTO_BUDGETS, budgets_for
    from blindspot_gui.core.attack.config import PHOTO_ATTACK, AttackConfig, config_for
    from blindspot_gui.core.models.classifier import Classifier

    def small(shape):
        return Classifier(torch_nn.Sequential(torch_nn.Flatten(), torch_nn.Linear(int(np.prod(shape)), 10)),
                          name="small", input_shape=shape, class_names=[str(n) for n in range(10)])

    photo, digits = small((3, 32, 32)), small((1, 28, 28))
    assert not photo.is_digit_network and config_for(photo) == PHOTO_ATTACK and budgets_for(photo) == PHOTO_BUDGETS
    assert digits.is_digit_network and config_for(digits) == AttackConfig() and budgets_for(digits) == DIGIT_BUDGETS
