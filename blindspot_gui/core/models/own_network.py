"""A user's own network from a file: an ONNX graph, or a state dict with its architecture, as a Classifier.

One reader for every such file, digits or photos, all of them data. An ONNX file carries its
architecture (:mod:`blindspot_gui.core.models.onnx_network`): its input shape says whether it
reads digits (1x28x28, like the zoo) or photos. A state dict (safetensors, or ``torch.save``'s
format read with ``weights_only=True``) is put into a zoo architecture (a digit network) or a
torchvision architecture (a photo network), named by the user or, for digits, the first zoo
architecture it fits. A TorchScript file is a program and is refused, with how to convert it to
ONNX. Call these from a worker thread; a ``monitor`` lets a Cancel stop the work between steps.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.data import MNIST_CLASS_NAMES
from blindspot_gui.core.models.class_names import imagenet_class_names, read_class_names
from blindspot_gui.core.models.classifier import PREPROCESSINGS, Classifier
from blindspot_gui.core.models.mnist_zoo import IMAGE_SHAPE, ZOO, UnknownModelError, find_spec
from blindspot_gui.core.models.onnx_network import class_names_from_metadata, is_onnx, load_onnx
from blindspot_gui.core.models.photo_catalogue import build_architecture, photo_classifier
from blindspot_gui.core.models.weights_io import (
    WeightsError,
    check_finite,
    existing_file,
    load_state_into,
    read_state_dict,
)
from blindspot_gui.core.monitor import Monitor


def load_own_network(path, architecture: str | None = None, preprocessing: str | None = None,
                     class_names_file=None, *, input_range: str | None = None,
                     monitor: Monitor | None = None) -> Classifier:
    """The network in the file at ``path`` as a Classifier named after the file.

    ``architecture`` is a zoo name (a digit network) or a torchvision builder name (a photo
    network); a state dict without one is tried on each zoo architecture; an ONNX file takes none.
    ``preprocessing`` (a key of PREPROCESSINGS; default "imagenet", or an ONNX file's metadata) is for
    photo networks, ``input_range`` ("0-1" or "0-255") for ONNX files. Class names come from
    ``class_names_file`` (one per line, as many as outputs), else an ONNX file's metadata, else the
    digits, ImageNet's for 1,000 outputs, or "class 0", "class 1", ...
    """
    path = existing_file(path, "Model file")
    monitor = monitor or Monitor()
    if preprocessing is not None and preprocessing not in PREPROCESSINGS:
        raise WeightsError(f"unknown preprocessing {preprocessing!r}; choose {', '.join(PREPROCESSINGS)}")
    names = read_class_names(class_names_file) if class_names_file else None
    if architecture and is_onnx(path):
        raise WeightsError(f"'{path.name}' is an ONNX file, which carries its own architecture: leave the "
                           "architecture out.")
    if is_onnx(path):
        classifier, names_inside = _onnx_classifier(path, preprocessing, input_range, monitor)
        if names is None and names_inside is not None:
            names, class_names_file = names_inside, f"{path.name}'s metadata"
    elif architecture in _photo_architectures() or (architecture is None and preprocessing is not None):
        classifier = _photo_state_classifier(path, architecture, preprocessing or "imagenet", monitor)
    else:
        classifier = _digit_state_classifier(path, architecture, monitor)
    return _named(classifier, names, class_names_file)


def _photo_architectures() -> set[str]:
    import torchvision.models  # imported only when a photo architecture is asked about: it takes a second

    return set(torchvision.models.list_models(torchvision.models)) | {"efficientnet-lite0"}


def _digit_state_classifier(path: Path, architecture: str | None, monitor: Monitor) -> Classifier:
    state = read_state_dict(path)
    candidates = [_zoo_architecture(architecture)] if architecture else list(ZOO)
    for spec in candidates:
        monitor.check()
        try:
            network = load_state_into(spec.build(), state, path.name)
        except WeightsError:
            if architecture:
                raise
            continue
        return _digit_classifier(network, path, f"{spec.name} architecture")
    raise WeightsError(f"'{path.name}' holds a state dict that fits none of the zoo's architectures; for a photo "
                       "network, say which torchvision architecture it belongs to.")


def _zoo_architecture(architecture: str):
    try:
        return find_spec(architecture)
    except UnknownModelError:
        raise WeightsError(f"no classifier called {architecture!r} in the zoo or in torchvision (for example: "
                           "fc100-100-10, conv, alexnet, resnet18, mobilenet_v3_small)") from None


def _digit_classifier(network: nn.Module, path: Path, description: str, classes: int = 10) -> Classifier:
    names = MNIST_CLASS_NAMES if classes == 10 else [f"class {index}" for index in range(classes)]
    return Classifier(network, name=path.name, input_shape=IMAGE_SHAPE, class_names=names, origin="file",
                      description=description)


def _photo_state_classifier(path: Path, architecture: str | None, preprocessing: str, monitor: Monitor) -> Classifier:
    state = read_state_dict(path)  # a file that is no state dict at all says so first
    if not architecture:
        raise WeightsError(f"'{path.name}' is a state dict: say which torchvision architecture it belongs to.")
    monitor.check()
    classes = _classes_in_state(state, architecture)
    if classes < 2:
        raise WeightsError(f"'{path.name}' has a classifier with {classes} output(s); a classifier needs at least two.")
    network = build_architecture(architecture, classes)
    monitor.check()
    network = load_state_into(network, state, path.name)
    return photo_classifier(network, PREPROCESSINGS[preprocessing], _numbered(classes), path.name, "file",
                            f"{architecture} architecture")


def _classes_in_state(state: dict, architecture: str) -> int:
    """How many classes a state dict of ``architecture`` has: the rows, in ``state``, of the architecture's last
    weight that has one row per class (found on a 1,000-class copy built without memory, on the meta device)."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # torchvision's notes on initialisation
        reference = build_architecture(architecture, 1000).state_dict()
    heads = [name for name, tensor in reference.items()
             if name.endswith("weight") and tensor.ndim >= 2 and tensor.shape[0] == 1000
             and isinstance(state.get(name), torch.Tensor) and state[name].ndim == tensor.ndim]
    return int(state[heads[-1]].shape[0]) if heads else 1000


def _onnx_classifier(path: Path, preprocessing: str | None, input_range: str | None,
                     monitor: Monitor) -> tuple[Classifier, list[str] | None]:
    """An ONNX file as a digit network (a 1x28x28 input) or a photo network of its own input size, with the class
    names its metadata gives (or None)."""
    converted = load_onnx(path, input_range, monitor)
    check_finite(dict(converted.network.state_dict()), path.name)
    description = "ONNX model" + "".join(f"; {note}" for note in converted.notes)
    names = class_names_from_metadata(converted.metadata, path.name)
    if converted.input.is_digit:
        if preprocessing is not None:
            raise WeightsError(f"'{path.name}' reads 28x28 digits, which take no photo preprocessing: leave it out.")
        return _digit_classifier(converted.network, path, description, converted.classes), names
    chosen = preprocessing or converted.metadata.get("preprocessing", "imagenet")
    if chosen not in PREPROCESSINGS:
        raise WeightsError(f"'{path.name}': unknown preprocessing {chosen[:40]!r} in its metadata; choose "
                           f"{', '.join(PREPROCESSINGS)}.")
    side = converted.input.image_shape[1]
    base = PREPROCESSINGS[chosen]
    fitted = replace(base, resize=round(side * base.resize / base.crop), crop=side)  # 256/224 of its own size
    return photo_classifier(converted.network, fitted, _numbered(converted.classes), path.name, "file",
                            description), names


def _numbered(classes: int) -> list[str]:
    return imagenet_class_names() if classes == 1000 else [f"class {index}" for index in range(classes)]


def _named(classifier: Classifier, names, class_names_file) -> Classifier:
    """The classifier with the names of ``class_names_file``, which must name each of its outputs."""
    if names is None:
        return classifier
    if len(names) != classifier.num_classes:
        raise WeightsError(f"'{Path(class_names_file).name}' names {len(names)} classes but the model has "
                           f"{classifier.num_classes} outputs.")
    classifier.class_names = list(names)
    return classifier
