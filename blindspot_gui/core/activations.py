"""A layer's activations phi(x) over a data set: captured with forward hooks (always removed), cached in memory and on disk.

Activations are kept per (weights, layer, mode, data set); a cache file is checked against the
network before it is used (a probe of its first images), and one too large is kept in memory only.
The unit explorer (``units``) ranks images by directions of these activations.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from blindspot_gui.core.data import Dataset
from blindspot_gui.core.files import StoredFileError, atomic_write, read_arrays
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.resources import user_dir

MODES = ("full", "channel-mean", "channel-max")
"""How a convolutional feature map (C, H, W) becomes phi(x): flattened whole (the paper), or one
number per channel (its spatial mean or maximum). Fully connected layers are always "full"."""

CAPTURE_BATCH = 1000
"""Images per forward pass for 28x28 digits; larger images go in proportionally smaller batches."""
CAPTURE_PIXELS = 1000 * 28 * 28
"""Input values per forward pass at most (a 224x224 photo counts 150,528: five photos a batch)."""
ACTIVATION_BUDGET = 2 * 2**30
"""Bytes the activations of one layer over one data set may take; more is refused with a clear message."""
DISK_CACHE_LIMIT = 200 * 2**20
"""Activations larger than this (bytes, float32) are cached in memory only."""


class LayerError(ValueError):
    """The layer name is not a module of the model, or its output is not a tensor."""


@dataclass(frozen=True)
class Activations:
    """phi(x) of every image of a data set: (N, D) float32, with the labels and how phi was taken."""

    values: torch.Tensor
    labels: torch.Tensor
    layer: str
    mode: str
    unit_shape: tuple[int, ...]
    """shape of one image's output of the layer before flattening, e.g. (16, 24, 24) or (100,)."""

    @property
    def dimension(self) -> int:
        return int(self.values.shape[1])


def layer_names(model: Classifier) -> list[str]:
    """Names of the network's layers (leaf modules) whose outputs can be explored, input to output."""
    return [name for name, module in model.layers().items() if not list(module.children())
            and not isinstance(module, (nn.Flatten, nn.Dropout))]


def _reduce(output: torch.Tensor, mode: str) -> torch.Tensor:
    if output.ndim == 4 and mode == "channel-mean":
        return output.mean(dim=(2, 3))
    if output.ndim == 4 and mode == "channel-max":
        return output.amax(dim=(2, 3))
    return output.flatten(1)


def capture_activations(model: Classifier, data: Dataset, layer: str, mode: str = "full",
                        monitor: Monitor | None = None, batch_size: int = CAPTURE_BATCH) -> Activations:
    """phi(x) at ``layer`` for every image of ``data``, with a forward hook that is always removed."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    modules = model.layers()
    if layer not in modules:
        raise LayerError(f"{layer!r} is not a layer of this model; its layers are: {', '.join(layer_names(model))}")
    monitor = monitor or Monitor()
    captured: list[torch.Tensor] = []
    shapes: list[tuple[int, ...]] = []

    capturing_thread = threading.get_ident()

    def hook(_module, _inputs, output):
        if threading.get_ident() != capturing_thread:
            return  # another thread's forward pass through the same network (a replaced ranking still ending)
        if not isinstance(output, torch.Tensor):
            raise LayerError(f"layer {layer!r} does not output a tensor")
        reduced = _reduce(output, mode)
        if not captured and len(data) * reduced.shape[1] * 4 > ACTIVATION_BUDGET:
            raise LayerError(f"layer {layer!r} has {reduced.shape[1]:,} dimensions: for {len(data):,} images that is "
                             f"{len(data) * reduced.shape[1] * 4 / 2**30:.1f} GB; choose a later layer, fewer images "
                             "or one number per channel (channel-mean)")
        shapes.append(tuple(output.shape[1:]))
        captured.append(reduced.float().cpu())

    try:
        handle = modules[layer].register_forward_hook(hook)
    except RuntimeError as error:  # e.g. TorchScript modules take no Python hooks
        raise LayerError(f"cannot watch layer {layer!r} of this model: {error}") from None
    device = model.device
    batch_size = max(1, min(batch_size, CAPTURE_PIXELS // max(1, data.images[0].numel())))
    try:
        with torch.inference_mode():
            for start in range(0, len(data), batch_size):
                monitor.check()
                before = len(captured)
                model(data.images[start : start + batch_size].to(device))
                if len(captured) != before + 1:
                    raise LayerError(f"layer {layer!r} ran {len(captured) - before} times for one batch; "
                                     "only layers used exactly once in the forward pass can be explored")
                monitor.progress(min(start + batch_size, len(data)) / len(data), f"activations of {layer}")
    finally:
        handle.remove()
    return Activations(torch.cat(captured), data.labels.clone(), layer, mode, shapes[0] if shapes else ())


def default_cache_dir() -> Path:
    """$BLINDSPOT_HOME/activations, else ~/.cache/blindspot_gui/activations."""
    return user_dir("activations", cache=True)


class ActivationCache:
    """Activations kept in memory and as .npy files, keyed by (weights, layer, mode, data set)."""

    def __init__(self, directory: Path | None = None, keep_in_memory: int = 6):
        self.directory = Path(directory) if directory else default_cache_dir()
        self.keep_in_memory = keep_in_memory
        self._memory: dict[str, Activations] = {}
        self._data_ids: dict[int, tuple[Dataset, str]] = {}
        self._lock = threading.Lock()
        self.notes: list[str] = []
        """Why cache files were ignored (damaged, or holding the wrong content), one line each."""

    def key(self, model: Classifier, layer: str, mode: str, data: Dataset) -> str:
        layer_id = hashlib.sha256(layer.encode()).hexdigest()[:12]
        return f"{model.fingerprint}-{layer_id}-{mode}-{self._data_fingerprint(data)}"

    def _data_fingerprint(self, data: Dataset) -> str:
        """A SHA-256 of the images and labels themselves (computed once per data set object)."""
        with self._lock:
            known = self._data_ids.get(id(data))
            if known is not None and known[0] is data:
                return known[1]
        digest = hashlib.sha256(data.images.numpy().tobytes())
        digest.update(data.labels.numpy().tobytes())
        fingerprint = digest.hexdigest()[:16]
        with self._lock:
            self._data_ids[id(data)] = (data, fingerprint)
        return fingerprint

    def get(self, model: Classifier, data: Dataset, layer: str, mode: str = "full",
            monitor: Monitor | None = None) -> Activations:
        """The activations, from memory, from disk, or captured now (and then stored in both)."""
        key = self.key(model, layer, mode, data)
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        activations = self._load(key, model, data, layer, mode, monitor)
        if activations is None:
            activations = capture_activations(model, data, layer, mode, monitor)
            self._store(key, activations)
        return self._remember(key, activations)

    def _remember(self, key: str, activations: Activations) -> Activations:
        with self._lock:
            kept = self._memory.setdefault(key, activations)
            while len(self._memory) > self.keep_in_memory:
                self._memory.pop(next(iter(self._memory)))
            return kept

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    def _load(self, key: str, model: Classifier, data: Dataset, layer: str, mode: str,
              monitor: Monitor | None) -> Activations | None:
        """The activations stored under ``key`` if the file holds what it should; else None (the file is removed)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            stored = read_arrays(path)
            missing = {"values", "unit_shape"} - set(stored)
            if missing:
                raise CacheError(f"it lacks {', '.join(sorted(missing))}")
            values, unit_shape = stored["values"], stored["unit_shape"]
            shape = _checked_cache(values, unit_shape, len(data), mode)
        except Exception as error:  # damaged (bad zip, CRC, truncation) or wrong content: computed again
            self._discard(path, error, monitor)
            return None
        mismatch = _probe_mismatch(model, data, layer, mode, values, shape)
        if mismatch:
            self._discard(path, CacheError(mismatch), monitor)
            return None
        return Activations(torch.from_numpy(values), data.labels.clone(), layer, mode, shape)

    def _discard(self, path: Path, error: Exception, monitor: Monitor | None) -> None:
        """Remove an unusable cache file and say why, in ``notes`` and through the monitor's message."""
        reason = str(error) if isinstance(error, StoredFileError) else f"it cannot be read ({type(error).__name__})"
        note = f"ignored the activation cache {path}: {reason}; computing again"
        self.notes.append(note)
        (monitor or Monitor()).progress(0.0, note)
        path.unlink(missing_ok=True)

    def _store(self, key: str, activations: Activations) -> None:
        if activations.values.numel() * 4 > DISK_CACHE_LIMIT:
            return  # kept in memory only
        values, unit_shape = activations.values.numpy(), np.array(activations.unit_shape, dtype=np.int64)
        try:
            atomic_write(self._path(key), lambda stream: np.savez(stream, values=values, unit_shape=unit_shape))
        except OSError:
            pass  # no disk cache (read-only or full disk): memory still works


class CacheError(StoredFileError):
    """An activation cache file that can be read but does not hold what it should."""


def _width_of(unit_shape: tuple[int, ...], mode: str) -> int:
    """phi(x)'s dimension for a layer output of ``unit_shape`` taken in ``mode`` (see ``_reduce``)."""
    if mode != "full" and len(unit_shape) == 3:
        return unit_shape[0]
    return int(np.prod(unit_shape, dtype=np.int64))


def _checked_cache(values: np.ndarray, unit_shape: np.ndarray, count: int, mode: str) -> tuple[int, ...]:
    """The unit shape of cached ``values`` for ``count`` images, or CacheError saying what is wrong."""
    if values.dtype != np.float32 or values.ndim != 2:
        raise CacheError(f"its values are {values.dtype} of shape {values.shape}, not float32 (images, dimensions)")
    if len(values) != count:
        raise CacheError(f"it holds {len(values)} images, not {count}")
    if unit_shape.dtype.kind not in "iu" or unit_shape.ndim != 1 or (unit_shape <= 0).any():
        raise CacheError("its unit shape is not a list of positive sizes")
    shape = tuple(int(size) for size in unit_shape)
    if _width_of(shape, mode) != values.shape[1]:
        raise CacheError(f"its unit shape {shape} does not give its width {values.shape[1]}")
    if not np.isfinite(values).all():
        raise CacheError("its values are not all finite numbers")
    return shape


def _probe_mismatch(model: Classifier, data: Dataset, layer: str, mode: str, values: np.ndarray,
                    shape: tuple[int, ...]) -> str:
    """Why cached ``values`` are not this layer's (its output for the first image, computed now), or ""."""
    if len(data) == 0:
        return ""
    probe = capture_activations(model, data.subset([0]), layer, mode)
    if probe.unit_shape != shape:
        return f"its unit shape {shape} is not the layer's {probe.unit_shape}"
    expected = probe.values[0]
    if not torch.allclose(torch.from_numpy(values[0]), expected, rtol=1e-3, atol=1e-4 * (1 + float(expected.abs().max()))):
        return "its values are not this layer's activations"
    return ""
