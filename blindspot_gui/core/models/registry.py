"""The cache of loaded networks, by name, shared by the window's tabs and their worker threads."""

from __future__ import annotations

import threading

from torch import nn

from blindspot_gui.core.imagenet import find_photo_model, is_photo_model_name, load_photo_model
from blindspot_gui.core.weights import load_zoo_model
from blindspot_gui.core.zoo import find_spec


class ModelCache:
    """Networks loaded once and kept (zoo models, photo networks, the user's own), safe to use from worker threads."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._models: dict[str, nn.Module] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> nn.Module:
        """The model called ``name``: one put here, a zoo model or a photo network (loaded on first use, outside the lock)."""
        with self._lock:
            if name in self._models:
                return self._models[name]
        if is_photo_model_name(name):
            name, model = find_photo_model(name).name, load_photo_model(name).to(self.device)
        else:
            name = find_spec(name).name
            model = load_zoo_model(name, device=self.device)
        with self._lock:
            return self._models.setdefault(name, model)

    def put(self, name: str, model: nn.Module) -> None:
        with self._lock:
            self._models[name] = model.to(self.device).eval()

    def forget(self, name: str) -> None:
        with self._lock:
            self._models.pop(name, None)

    def loaded(self) -> dict[str, nn.Module]:
        with self._lock:
            return dict(self._models)
