"""Where a blind spot's change takes hold: each layer's gain for the change and for random noise of the same size.

For a change r of an image x and a layer l with output phi_l, the layer's **gain** is
||phi_l(x + r) - phi_l(x)|| / ||r|| and its **step** ||Delta phi_l|| / ||Delta phi_(l-1)|| (phi_0 = x).
The paper's section 4.3 bounds every step from above (Table 5: the layer's operator norm, times
the slopes of the activations and poolings between it and the layer before). Measured on the blind
spot and on many draws of Gaussian noise rescaled to exactly ||r|| (not clipped to the pixel box, as
the bounds concern any r), the gains show where the two part: the blind spot's change is carried
and grown, noise of the same size is not.

The layers are a digit network's weight layers (linear and convolution, with Table 5's bounds,
computed by core/lipschitz.py as ``reproduce table5`` computes them) and a photo network's top-level
blocks (a block holds several layers, skip connections or gates, so no product of bounds applies).
"""

from __future__ import annotations

import copy
import threading
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from blindspot_gui.core.batches import in_batches, original_and_change
from blindspot_gui.core.lipschitz import layer_bound, layer_inputs
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor

NOISE_DRAWS = 32
"""Draws of random noise the blind spot is compared with."""
MOVED_UNITS = 5
"""Units listed in the layer where the blind spot and noise part."""
PHOTO_BOUND_NOTE = ("no bound per block: a photo network's block holds several layers, with skip connections or "
                    "gates, and Table 5 bounds single layers of a plain chain")
WEIGHT_LAYER_TYPES = (nn.Linear, nn.Conv2d)


@dataclass(frozen=True)
class LayerGain:
    """One layer of the pathway: the blind spot's gain and step, noise's (median over draws), the step's bound."""

    name: str
    units: int
    gain: float
    step: float
    noise_gain: float
    noise_gain_low: float
    """10th percentile over the draws."""
    noise_gain_high: float
    """90th percentile over the draws."""
    noise_step: float
    bound: float | None
    """Table 5's upper bound on the step; None where it gives none."""


@dataclass(frozen=True)
class MovedUnit:
    """A unit of the parting layer: how far the blind spot moved it, and noise on average (absolute changes)."""

    unit: int
    """its index in the layer's flattened output (as the unit explorer counts)."""
    position: tuple[int, ...]
    """the same unit in the layer's output shape: (channel, row, column) of a feature map, (unit,) of a vector."""
    change: float
    noise_change: float


@dataclass(frozen=True)
class Pathway:
    """The gains of every layer for one blind spot, where it parts from noise, and the units it moved most there."""

    network: str
    size: float
    """||r||, the L2 size of the change (pixels in [0, 1])."""
    draws: int
    layers: tuple[LayerGain, ...]
    parting: str
    """the first layer where the gap between the blind spot's and noise's gains (log scale) is half its final size."""
    moved: tuple[MovedUnit, ...]
    bound_note: str | None
    """why some or all steps have no bound."""

    @property
    def reading(self) -> str:
        """The pathway in one line, e.g. "The change grows 41× by fc3; noise of the same size shrinks (×0.62)"."""
        last = self.layers[-1]
        change = f"grows {_times(last.gain)}" if last.gain >= 1 else f"shrinks ({_times(last.gain)})"
        noise = f"grows {_times(last.noise_gain)}" if last.noise_gain >= 1 else f"shrinks ({_times(last.noise_gain)})"
        return (f"The change {change} by {last.name}; noise of the same size {noise}. "
                f"They part at {self.parting}.")

    def to_record(self) -> dict:
        return {"network": self.network, "size": self.size, "draws": self.draws, "parting": self.parting,
                "reading": self.reading, "bound_note": self.bound_note,
                "layers": [asdict(layer) for layer in self.layers], "moved": [asdict(unit) for unit in self.moved]}


def _times(value: float) -> str:
    return f"{value:.0f}×" if value >= 10 else f"{value:.2g}×"


def pathway_layers(classifier: Classifier) -> list[str]:
    """The layers a pathway measures, input to output: a digit network's weight layers, a photo network's top-level
    blocks (the children that hold weights, a list or sequence of blocks taken block by block)."""
    if classifier.is_digit_network:
        return [name for name, module in classifier.network.named_modules()
                if name and isinstance(module, WEIGHT_LAYER_TYPES)]
    names = []
    for name, child in classifier.network.named_children():
        if isinstance(child, (nn.ModuleList, nn.Sequential)):
            names += [f"{name}.{inner}" for inner, block in child.named_children() if _has_weights(block)]
        elif _has_weights(child):
            names.append(name)
    return names


def _has_weights(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def pathway(classifier: Classifier, original, adversarial, draws: int = NOISE_DRAWS, seed: int = 0,
            monitor: Monitor | None = None) -> Pathway:
    """The pathway of the change ``adversarial - original`` (each (C, H, W), pixels in [0, 1]) through ``classifier``,
    beside ``draws`` Gaussian draws of the same L2 size (seeded, on the CPU)."""
    monitor = monitor or Monitor()
    x, change = original_and_change(classifier, original, adversarial)
    size = float(change.norm())
    if not size > 0:
        raise ValueError("the change is zero: there is no blind spot to follow")
    if draws < 2:
        raise ValueError("draws must be at least 2")
    noise = torch.randn((draws, *x.shape), generator=torch.Generator().manual_seed(seed))
    noise *= size / noise.flatten(1).norm(dim=1).view(-1, *([1] * x.ndim))
    monitor.progress(0.0, "following the change through the layers")
    names = pathway_layers(classifier)
    outputs, shapes = _layer_outputs(classifier, names, torch.cat([x[None], (x + change)[None], x[None] + noise]), monitor)
    bounds, note = step_bounds(classifier, names)
    monitor.progress(0.9, "comparing with noise")
    layers, differences = [], []
    previous_change, previous_noise = torch.tensor(size), torch.full((draws,), size)
    for name in names:
        moved = outputs[name][1:] - outputs[name][:1]  # the blind spot's change, then each draw's
        lengths = moved.norm(dim=1)
        noise_gains = (lengths[1:] / size).numpy()
        layers.append(LayerGain(name, int(moved.shape[1]), float(lengths[0] / size), float(lengths[0] / previous_change),
                                float(np.median(noise_gains)), float(np.percentile(noise_gains, 10)),
                                float(np.percentile(noise_gains, 90)), float((lengths[1:] / previous_noise).median()),
                                bounds.get(name)))
        differences.append(moved)
        previous_change, previous_noise = lengths[0], lengths[1:]
    parting = _parting(layers)
    monitor.progress(1.0, "pathway done")
    return Pathway(classifier.name, size, draws, tuple(layers), layers[parting].name,
                   _moved_units(differences[parting], shapes[names[parting]]), note)


def _layer_outputs(classifier: Classifier, names: list[str], images: torch.Tensor, monitor: Monitor) -> dict:
    """Each named layer's outputs for ``images``, flattened per image: {name: (N, units)}, in batches, on the CPU."""
    modules = classifier.layers()
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    shapes: dict[str, tuple[int, ...]] = {}

    capturing_thread = threading.get_ident()

    def keep(name):
        def hook(_module, _inputs, output) -> None:
            if threading.get_ident() != capturing_thread:
                return  # another thread's pass through the same network (the transfer check, beside this)
            if not isinstance(output, torch.Tensor):
                raise ValueError(f"layer {name!r} does not give one tensor")
            shapes[name] = tuple(output.shape[1:])
            captured[name].append(output.detach().flatten(1).float().cpu())
        return hook

    hooks = [modules[name].register_forward_hook(keep(name)) for name in names]
    try:
        in_batches(classifier, images, classifier.device, monitor.scaled(0.0, 0.8),
                   progress="following the change through the layers")
    finally:
        for hook in hooks:
            hook.remove()
    return {name: torch.cat(parts) for name, parts in captured.items()}, shapes


def _parting(layers: list[LayerGain]) -> int:
    """The first layer where the gap log(blind spot's gain / noise's gain) reaches half its size at the output (the
    widest gap's layer if noise ends ahead)."""
    gaps = [np.log(max(layer.gain, 1e-30) / max(layer.noise_gain, 1e-30)) for layer in layers]
    if gaps[-1] <= 0:
        return int(np.argmax(gaps))
    return next(index for index, gap in enumerate(gaps) if gap >= 0.5 * gaps[-1])


def _moved_units(moved: torch.Tensor, shape: tuple[int, ...]) -> tuple[MovedUnit, ...]:
    """The units the blind spot moved most (first row of ``moved``), with the noise draws' mean absolute change."""
    change, noise = moved[0].abs(), moved[1:].abs().mean(dim=0)
    order = torch.argsort(change, descending=True)[:MOVED_UNITS]
    return tuple(MovedUnit(int(unit), tuple(int(i) for i in np.unravel_index(int(unit), shape)), float(change[unit]),
                           float(noise[unit])) for unit in order)


_BOUNDS: dict[str, dict[str, float]] = {}
_BOUNDS_LOCK = threading.Lock()
BOUNDS_KEPT = 16
"""Networks whose step bounds are kept in memory (keyed by their weights' fingerprint)."""


def step_bounds(classifier: Classifier, names: list[str]) -> tuple[dict[str, float], str | None]:
    """Table 5's bound on each named layer's step, and why there are none (a photo network); kept per weights."""
    if not classifier.is_digit_network:
        return {}, PHOTO_BOUND_NOTE
    key = f"{classifier.fingerprint}:{','.join(names)}"
    with _BOUNDS_LOCK:
        known = _BOUNDS.get(key)
    if known is None:
        try:
            known = _compute_step_bounds(classifier, names)
        except ValueError as error:  # a layer of a user's own network with no known slope
            return {}, f"no bounds: {error}"
        with _BOUNDS_LOCK:
            if len(_BOUNDS) >= BOUNDS_KEPT:
                _BOUNDS.pop(next(iter(_BOUNDS)))
            _BOUNDS[key] = known
    return dict(known), None


def _compute_step_bounds(classifier: Classifier, names: list[str]) -> dict[str, float]:
    """For each layer l of ``names``: the slopes of the modules after layer l - 1 times layer l's own bound, in double
    precision and by the Fourier method where it applies, as Table 5 (core/experiments/bounds.py) computes them."""
    network = copy.deepcopy(classifier.network).double()
    preprocessing = classifier.preprocessing
    normalised = preprocessing is not None and not preprocessing.is_identity
    wanted, bounds, factor = set(names), {}, 1.0 / min(preprocessing.std) if normalised else 1.0
    for name, module, shape in layer_inputs(network, classifier.input_shape):
        bound = layer_bound(name, module, shape, conv_method="fourier")
        factor *= 1.0 if bound is None else bound.bound
        if name in wanted:
            bounds[name], factor = factor, 1.0
    return bounds
