"""Every network by name: loading a Classifier from the MNIST zoo or the photo catalogue, and the cache of loaded ones."""

from __future__ import annotations

import threading
from pathlib import Path

from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.mnist_zoo import ZOO, UnknownModelError, find_spec, zoo_names
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS, find_photo_model, is_photo_model_name, load_photo_model
from blindspot_gui.core.models.zoo_weights import load_zoo_model


def network_names() -> list[str]:
    """The names of every network the application knows: the MNIST zoo's, then the photo catalogue's."""
    return zoo_names() + [entry.name for entry in PHOTO_MODELS]


def canonical_name(name: str) -> str:
    """The name a zoo or catalogue network is known by, for any spelling of it; UnknownModelError otherwise."""
    if is_photo_model_name(name):
        return find_photo_model(name).name
    try:
        return find_spec(name).name
    except UnknownModelError:
        raise UnknownModelError(f"Unknown network {name!r}. Digit networks: {', '.join(s.key for s in ZOO)}; photo "
                                f"networks: {', '.join(entry.key for entry in PHOTO_MODELS)}.") from None


def load_classifier(name, device: str = "cpu", **file_options) -> Classifier:
    """A Classifier by name (a zoo or catalogue network) or by the path of a user's weights file.

    A path is read by :func:`load_own_network` with ``file_options`` (architecture, preprocessing,
    class_names_file, input_range, monitor); names never touch the file system beyond their weights.
    """
    if isinstance(name, Path) or (isinstance(name, str) and not _is_known(name) and Path(name).suffix):
        return load_own_network(name, **file_options).to(device)
    if file_options:
        raise ValueError(f"{', '.join(file_options)} only apply to a network loaded from a file")
    if is_photo_model_name(name):
        return load_photo_model(name).to(device)
    return load_zoo_model(name, device=device)


def _is_known(name: str) -> bool:
    try:
        canonical_name(name)
    except UnknownModelError:
        return False
    return True


class ModelCache:
    """Classifiers loaded once and kept (zoo models, photo networks, the user's own), safe to use from worker threads."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._models: dict[str, Classifier] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Classifier:
        """The network called ``name``: one put here, a zoo model or a photo network (loaded on first use, outside the lock)."""
        with self._lock:
            if name in self._models:
                return self._models[name]
        name = canonical_name(name)
        with self._lock:
            if name in self._models:
                return self._models[name]
        model = load_classifier(name, device=self.device)
        with self._lock:
            return self._models.setdefault(name, model)

    def put(self, name: str, model: Classifier) -> None:
        with self._lock:
            self._models[name] = model.to(self.device)

    def forget(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)

    def loaded(self) -> dict[str, Classifier]:
        with self._lock:
            return dict(self._models)
