"""A user's own network from a file: a state dict with its architecture, or a trusted TorchScript, as a Classifier.

One reader for every such file, digits or photos. A state dict (safetensors, or ``torch.save``'s
format read with ``weights_only=True``) is data: it is put into a zoo architecture (a digit
network) or a torchvision architecture (a photo network), named by the user or, for digits,
the first zoo architecture it fits. A TorchScript file is a program: refused unless the user
trusts it, then inspected, loaded and probed once on a blank digit, else a blank photo, to learn
its input and its number of classes. Call these from a worker thread; a ``monitor`` lets a Cancel
stop the work between steps.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.data import MNIST_CLASS_NAMES
from blindspot_gui.core.models.class_names import imagenet_class_names, read_class_names
from blindspot_gui.core.models.classifier import PREPROCESSINGS, Classifier, Preprocessing
from blindspot_gui.core.models.mnist_zoo import IMAGE_SHAPE, ZOO, UnknownModelError, find_spec
from blindspot_gui.core.models.photo_catalogue import build_architecture, photo_classifier
from blindspot_gui.core.models.weights_io import (
    WeightsError,
    existing_file,
    first_line,
    is_torchscript,
    load_state_into,
    load_torchscript,
    read_state_dict,
)
from blindspot_gui.core.monitor import Monitor

DIGIT_PROBE = "a 28x28 grey image"
PHOTO_PROBE = "a 224x224 colour photo"


def load_own_network(path, architecture: str | None = None, preprocessing: str | None = None,
                     class_names_file=None, *, trust_code: bool = False,
                     monitor: Monitor | None = None) -> Classifier:
    """The network in the file at ``path`` as a Classifier named after the file.

    ``architecture`` is a zoo name (a digit network) or a torchvision builder name (a photo
    network); a state dict without one is tried on each zoo architecture. ``preprocessing`` (a key of
    PREPROCESSINGS, default "imagenet") is for photo networks and makes a TorchScript file a photo
    network. Class names come from ``class_names_file`` (one per line, as many as outputs), else
    the digits, ImageNet's for 1,000 outputs, or "class 0", "class 1", ...
    """
    path = existing_file(path, "Model file")
    monitor = monitor or Monitor()
    if preprocessing is not None and preprocessing not in PREPROCESSINGS:
        raise WeightsError(f"unknown preprocessing {preprocessing!r}; choose {', '.join(PREPROCESSINGS)}")
    names = read_class_names(class_names_file) if class_names_file else None
    if is_torchscript(path):
        classifier = _torchscript_classifier(path, preprocessing, trust_code, monitor)
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
    if not architecture:
        raise WeightsError(f"'{path.name}' is a state dict: say which torchvision architecture it belongs to.")
    state = read_state_dict(path)
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


def _torchscript_classifier(path: Path, preprocessing: str | None, trust_code: bool, monitor: Monitor) -> Classifier:
    """A trusted TorchScript file, probed on a blank digit (unless a photo preprocessing is given), else a blank photo."""
    network = load_torchscript(path, trust_code)
    if preprocessing is None:
        try:
            classes = output_size(network, IMAGE_SHAPE, path.name, DIGIT_PROBE, monitor)
        except WeightsError as digit_error:
            try:
                return _torchscript_photo(network, path, PREPROCESSINGS["imagenet"], monitor)
            except WeightsError:
                raise digit_error from None
        return _digit_classifier(network, path, "TorchScript model", classes=classes)
    return _torchscript_photo(network, path, PREPROCESSINGS[preprocessing], monitor)


def _torchscript_photo(network: nn.Module, path: Path, preprocessing: Preprocessing, monitor: Monitor) -> Classifier:
    classifier = photo_classifier(network, preprocessing, [], path.name, "file", "TorchScript model")
    classes = output_size(classifier, classifier.input_shape, path.name, PHOTO_PROBE, monitor, blank=0.5)
    classifier.class_names = _numbered(classes)
    return classifier


def output_size(model: nn.Module, input_shape: tuple[int, ...], source: str, probe: str, monitor: Monitor,
                blank: float = 0.0) -> int:
    """How many logits ``model`` returns for one blank image of ``input_shape``: runs its forward once."""
    monitor.check()
    try:
        with torch.inference_mode():
            output = model(torch.full((1, *input_shape), blank))
    except Exception as error:  # a user's network may fail in any way
        raise WeightsError(f"'{source}' fails on {probe}: {first_line(error)}") from None
    monitor.check()
    if not isinstance(output, torch.Tensor) or output.ndim != 2 or output.shape[0] != 1 or output.shape[1] < 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise WeightsError(f"'{source}' returns {shape} for {probe}; a classifier must return one row of logits.")
    return int(output.shape[1])


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
