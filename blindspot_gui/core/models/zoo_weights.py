"""Where the MNIST zoo's weights live (the user's trained ones first, then the shipped ones), loading them as Classifiers and saving new ones."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.data import MNIST_CLASS_NAMES
from blindspot_gui.core.files import atomic_file, atomic_write_text
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.mnist_zoo import IMAGE_SHAPE, ModelSpec, find_spec
from blindspot_gui.core.models.weights_io import WeightsError, load_state_into, read_state_dict
from blindspot_gui.core.resources import resource_path, user_dir

def user_models_dir() -> Path:
    """Where models trained by the user go: $BLINDSPOT_HOME/models, else ~/.local/share/blindspot_gui/models."""
    return user_dir("models")


def bundled_models_dir() -> Path:
    """The weights shipped with the application (resources/models)."""
    return resource_path("models")


def model_dirs() -> list[Path]:
    """Folders searched for weights, first match wins: the user's trained models, then the shipped ones."""
    return [user_models_dir(), bundled_models_dir()]


@dataclass(frozen=True)
class ModelStatus:
    """Whether a zoo model's weights are present, where, and what its training record says."""

    spec: ModelSpec
    weights_path: Path | None
    metadata: dict | None

    @property
    def available(self) -> bool:
        return self.weights_path is not None

    @property
    def test_error(self) -> float | None:
        return (self.metadata or {}).get("errors", {}).get("test")


def read_metadata(path: Path) -> dict | None:
    """The JSON training record at ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def model_status(spec: ModelSpec) -> ModelStatus:
    for directory in model_dirs():
        weights = directory / spec.weights_file
        if weights.is_file():
            return ModelStatus(spec, weights, read_metadata(directory / spec.metadata_file))
    return ModelStatus(spec, None, None)


def load_zoo_model(name: str, weights_path=None, device: str = "cpu") -> Classifier:
    """The zoo model ``name`` with its trained weights (or those at ``weights_path``), as a Classifier."""
    spec = find_spec(name)
    if weights_path is None:
        status = model_status(spec)
        if not status.available:
            raise WeightsError(
                f"No weights for {spec.name}: train them with `blindspot train {spec.key}` "
                f"(looked in {', '.join(str(d) for d in model_dirs())})."
            )
        weights_path = status.weights_path
    network = load_state_into(spec.build(), read_state_dict(weights_path), str(weights_path))
    return zoo_classifier(network.to(device), spec)


def zoo_classifier(network: nn.Module, spec: ModelSpec) -> Classifier:
    """A zoo architecture's network as a Classifier of MNIST digits (no preprocessing)."""
    return Classifier(network, name=spec.name, input_shape=IMAGE_SHAPE, class_names=MNIST_CLASS_NAMES, origin="zoo",
                      description=spec.description)


def save_model(model: nn.Module, spec: ModelSpec, metadata: dict, directory) -> Path:
    """Write ``<key>.pt`` (state dict) and ``<key>.json`` (training record) into ``directory``, each in one step.

    The order makes sure a record is only ever found beside the weights it describes: the new
    weights are written to a temporary file (so a full disk fails before anything is replaced),
    the old record is removed, the weights are renamed into place, and the new record follows.
    Writing the record first would, after a crash, leave the new record beside the old weights;
    writing it after the weights without removing the old one would leave the old record beside
    the new weights. This way a crash leaves the old pair, or weights without a record (shown
    as untested), never a record of other weights.
    """
    directory = Path(directory)
    weights_path = directory / spec.weights_file
    metadata_path = directory / spec.metadata_file
    record = json.dumps(metadata, indent=2) + "\n"  # fails now, before any file is touched, if it cannot be written
    network = model.network if isinstance(model, Classifier) else model
    state = {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()}
    with atomic_file(weights_path) as stream:
        torch.save(state, stream)
        metadata_path.unlink(missing_ok=True)
    atomic_write_text(metadata_path, record)
    return weights_path


