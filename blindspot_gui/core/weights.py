"""Finding, loading and saving model weights; weight files are untrusted input.

State dicts are read only with ``torch.load(weights_only=True)``. A TorchScript archive is a
compiled program rather than data: it is loaded with ``torch.jit.load``, which runs TorchScript
code but never arbitrary Python, and only when the user chooses such a file.
"""

from __future__ import annotations

import json
import threading
import pickle
import pickletools
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.resources import resource_path, user_dir
from blindspot_gui.core.zoo import ZOO, ModelSpec, find_spec


class WeightsError(ValueError):
    """A weights file is missing, corrupt, unsafe, or does not fit the architecture."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


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


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """Read a state dict with ``torch.load(weights_only=True)``, turning every failure into a WeightsError."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file '{path}' does not exist.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols are not for our users
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not _is_pickle(path):
            raise WeightsError(f"'{path}' is not a readable PyTorch weights file (damaged or another format).") from None
        raise WeightsError(
            f"Refused to load '{path}': it contains Python objects other than tensors, which could run code "
            "when loaded. Only plain state dicts (torch.save(model.state_dict(), file)) are accepted."
        ) from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as error:
        raise WeightsError(f"'{path}' is not a readable PyTorch weights file ({first_line(error)}).") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in state.items()
    ):
        raise WeightsError(f"'{path}' does not hold a state dict (a mapping of parameter names to tensors).")
    return state


def _is_pickle(path: Path) -> bool:
    """Whether ``path`` is a torch zip archive or a well-formed pickle stream (as opposed to garbage)."""
    if zipfile.is_zipfile(path):
        return True
    try:
        with open(path, "rb") as stream:
            for _ in pickletools.genops(stream):
                pass
        return True
    except Exception:  # pickletools raises ValueError and others on malformed streams
        return False


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Copy ``state`` into ``model``, explaining a mismatch of names or shapes in one message."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shapes = [
        f"{name} {tuple(state[name].shape)} instead of {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if missing or unexpected or wrong_shapes:
        details = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:4])}" if missing else "",
                f"unexpected {', '.join(unexpected[:4])}" if unexpected else "",
                f"wrong shape: {', '.join(wrong_shapes[:3])}" if wrong_shapes else "",
            )
            if part
        )
        raise WeightsError(f"'{source}' does not fit this architecture ({details}).")
    model.load_state_dict(state)
    return model


def load_zoo_model(name: str, weights_path=None, device: str = "cpu") -> nn.Module:
    """The zoo model ``name`` with its trained weights (or those at ``weights_path``), in eval mode."""
    spec = find_spec(name)
    if weights_path is None:
        status = model_status(spec)
        if not status.available:
            raise WeightsError(
                f"No weights for {spec.name}: train them with `blindspot train {spec.key}` "
                f"(looked in {', '.join(str(d) for d in model_dirs())})."
            )
        weights_path = status.weights_path
    model = load_state_into(spec.build(), read_state_dict(weights_path), str(weights_path))
    return model.to(device).eval()


def save_model(model: nn.Module, spec: ModelSpec, metadata: dict, directory) -> Path:
    """Write ``<key>.pt`` (state dict) and ``<key>.json`` (training record) into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    weights_path = directory / spec.weights_file
    temporary = weights_path.with_suffix(".pt.part")
    torch.save({name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}, temporary)
    temporary.replace(weights_path)
    (directory / spec.metadata_file).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return weights_path


class ModelCache:
    """Zoo models loaded once and kept, safe to use from worker threads."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._models: dict[str, nn.Module] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> nn.Module:
        """The model called ``name``: one put here, a zoo model or a photo network (loaded on first use, outside the lock)."""
        from blindspot_gui.core.imagenet import find_photo_model, is_photo_model_name, load_photo_model

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


def is_torchscript(path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip with compiled code) rather than a state dict."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def check_classifier(model: nn.Module, source: str) -> nn.Module:
    """Refuse a model that does not map (1, 1, 28, 28) images to (1, 10) logits."""
    try:
        with torch.inference_mode():
            output = model(torch.zeros(1, 1, 28, 28))
    except Exception as error:  # a user's model may fail in any way
        raise WeightsError(f"'{source}' fails on a 28x28 grey image: {first_line(error)}") from None
    if not isinstance(output, torch.Tensor) or tuple(output.shape) != (1, 10):
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise WeightsError(f"'{source}' returns {shape} for one image; a digit classifier must return 10 logits.")
    return model


def load_weights_file(path, architecture: str | None = None) -> tuple[nn.Module, str]:
    """A user's weights file as an eval-mode model, and a description of what it is.

    A TorchScript archive is loaded with ``torch.jit.load``; anything else must be a state dict,
    read with ``weights_only=True``, of the zoo architecture ``architecture`` or, when none is
    given, of the first zoo architecture it fits.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Weights file '{path}' does not exist.")
    if is_torchscript(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch marks TorchScript deprecated; files remain
                model = torch.jit.load(str(path), map_location="cpu")
        except Exception as error:  # TorchScript reports problems with many exception types
            raise WeightsError(f"'{path.name}' is a damaged TorchScript file ({first_line(error)}).") from None
        return check_classifier(model.eval(), path.name), "TorchScript model"
    state = read_state_dict(path)
    candidates = [find_spec(architecture)] if architecture else list(ZOO)
    for spec in candidates:
        try:
            model = load_state_into(spec.build(), state, path.name)
        except WeightsError:
            if architecture:
                raise
            continue
        return model.eval(), f"{spec.name} architecture"
    raise WeightsError(f"'{path.name}' holds a state dict that fits none of the zoo's architectures.")
