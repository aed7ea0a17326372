"""The paper's section 3: which held-out images most excite a unit, or a random direction, of a layer.

For a layer with activation vector phi(x), the images x' = argmax <phi(x), v> over a held-out set
are found for v a natural basis vector e_i (one unit) or a random unit vector; the paper's claim is
that both look equally "semantically coherent". Activations are captured with forward hooks
(always removed), cached in memory and on disk per (weights, layer, mode, data set), and a new
direction then costs one matrix-vector product (the capture and the caches: ``activations``).
"""

from __future__ import annotations

from collections import Counter
from copy import deepcopy
from dataclasses import dataclass

import numpy as np
import torch

from blindspot_gui.core.activations import (  # noqa: F401  (the unit explorer's names, owned by activations)
    ACTIVATION_BUDGET,
    CAPTURE_BATCH,
    CAPTURE_PIXELS,
    DISK_CACHE_LIMIT,
    MODES,
    ActivationCache,
    Activations,
    CacheError,
    LayerError,
    capture_activations,
    default_cache_dir,
    layer_names,
)
from blindspot_gui.core.data import Dataset
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor

@dataclass(frozen=True)
class DirectionResult:
    """The top (or bottom) k images of a direction: data-set indices, scores <phi(x), v>, labels."""

    title: str
    indices: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    @property
    def purity(self) -> float:
        return label_purity(self.labels)


def label_purity(labels) -> float:
    """Share of the images that carry the most frequent label (1: all alike, 1/k: all different)."""
    labels = list(np.asarray(labels).tolist())
    if not labels:
        return float("nan")
    return Counter(labels).most_common(1)[0][1] / len(labels)


def unit_direction(dimension: int, unit: int) -> torch.Tensor:
    """The natural basis vector e_unit."""
    if not 0 <= unit < dimension:
        raise ValueError(f"unit {unit} does not exist: this layer has units 0 to {dimension - 1}")
    direction = torch.zeros(dimension)
    direction[unit] = 1.0
    return direction


def random_direction(dimension: int, seed: int) -> torch.Tensor:
    """A random unit vector, uniformly distributed on the sphere, reproducible from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    direction = torch.randn(dimension, generator=generator)
    return direction / direction.norm()


def top_images(activations: Activations, direction, k: int = 8, bottom: bool = False,
               title: str = "") -> DirectionResult:
    """The k images with the largest (or, with ``bottom``, smallest) <phi(x), direction>."""
    direction = torch.as_tensor(np.asarray(direction, dtype=np.float32)).reshape(-1)
    if direction.numel() != activations.dimension:
        raise ValueError(f"the direction has {direction.numel()} entries but the layer has {activations.dimension}")
    if not 1 <= k <= len(activations.values):
        raise ValueError(f"k must be between 1 and {len(activations.values)}")
    scores = activations.values @ direction
    chosen = torch.topk(scores, k, largest=not bottom).indices
    return DirectionResult(title, chosen.numpy(), scores[chosen].numpy(), activations.labels[chosen].numpy())


def rank_many(activations: Activations, directions: torch.Tensor, k: int = 8, bottom: bool = False,
              titles=None) -> list[DirectionResult]:
    """``top_images`` for the rows of ``directions`` (m, D) at once: one pass over the activations."""
    if directions.ndim != 2 or directions.shape[1] != activations.dimension:
        raise ValueError(f"directions must have shape (m, {activations.dimension})")
    scores = activations.values @ directions.T
    return _top_columns(activations, scores, k, bottom, titles)


def rank_units(activations: Activations, units, k: int = 8, bottom: bool = False, titles=None) -> list[DirectionResult]:
    """``top_images`` for natural-basis directions: the scores are just the units' own columns."""
    units = list(units)
    if any(not 0 <= unit < activations.dimension for unit in units):
        raise ValueError(f"units must lie between 0 and {activations.dimension - 1}")
    return _top_columns(activations, activations.values[:, units], k, bottom, titles)


def _top_columns(activations: Activations, scores: torch.Tensor, k: int, bottom: bool, titles) -> list[DirectionResult]:
    if not 1 <= k <= len(scores):
        raise ValueError(f"k must be between 1 and {len(scores)}")
    titles = list(titles) if titles is not None else [""] * scores.shape[1]
    values, chosen = torch.topk(scores, k, dim=0, largest=not bottom)
    return [DirectionResult(titles[column], chosen[:, column].numpy(), values[:, column].numpy(),
                            activations.labels[chosen[:, column]].numpy())
            for column in range(scores.shape[1])]


def unit_title(layer: str, unit: int, mode: str, unit_shape) -> str:
    if mode == "full" and len(unit_shape) == 3:
        channels, height, width = unit_shape
        channel, rest = divmod(unit, height * width)
        return f"unit {unit} of layer {layer} (channel {channel}, row {rest // width}, column {rest % width})"
    if mode != "full" and len(unit_shape) == 3:
        return f"channel {unit} of layer {layer} ({mode.replace('channel-', 'spatial ')})"
    return f"unit {unit} of layer {layer}"


COMPARED_DIRECTIONS = 100
"""How many units (at most the layer's width) and how many random directions a purity comparison ranks."""
Z_95 = 1.959964
"""The normal quantile of a two-sided 95% interval."""


def mean_interval(values) -> tuple[float, float, float]:
    """(mean, lower, upper): the mean with a 95% normal-approximation interval (mean +- 1.96 standard errors)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    error = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    return mean, mean - Z_95 * error, mean + Z_95 * error


def _difference_interval(first, second) -> tuple[float, float, float]:
    """The difference of two independent means with its 95% normal-approximation interval."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    difference = float(first.mean() - second.mean())
    error = float(np.sqrt(first.var(ddof=1) / len(first) + second.var(ddof=1) / len(second)))
    return difference, difference - Z_95 * error, difference + Z_95 * error


def purity_comparison(activations: Activations, count: int = COMPARED_DIRECTIONS, k: int = 8, seed: int = 0,
                      random_count: int | None = None) -> dict:
    """Mean label purity of the top-k images of ``count`` units (at most the layer's width) against
    ``random_count`` (default ``count``) random directions, each mean with a 95% interval over the
    directions, and the difference units - random with its own interval."""
    random_count = count if random_count is None else random_count
    if count < 2 or random_count < 2:
        raise ValueError("a comparison needs at least 2 units and 2 random directions")
    units = np.sort(np.random.default_rng(seed).choice(activations.dimension, size=min(count, activations.dimension),
                                                      replace=False))
    unit_purities = [row.purity for row in rank_units(activations, units.tolist(), k)]
    directions = torch.stack([random_direction(activations.dimension, seed + 1 + index)
                              for index in range(random_count)])
    random_purities = [row.purity for row in rank_many(activations, directions, k)]
    unit_mean, unit_low, unit_high = mean_interval(unit_purities)
    random_mean, random_low, random_high = mean_interval(random_purities)
    difference = _difference_interval(unit_purities, random_purities)
    return {"layer": activations.layer, "mode": activations.mode, "directions": len(units), "units": len(units),
            "random_directions": random_count, "width": activations.dimension, "k": k,
            "unit_purity": unit_mean, "random_purity": random_mean,
            "unit_interval": (unit_low, unit_high), "random_interval": (random_low, random_high),
            "difference": difference[0], "difference_interval": difference[1:],
            "unit_purity_std": float(np.std(unit_purities)), "random_purity_std": float(np.std(random_purities))}


def randomly_initialised(model: Classifier, seed: int = 0) -> Classifier:
    """A copy of ``model`` with the same architecture and fresh, untrained weights drawn from ``seed``
    (every module's own ``reset_parameters``, PyTorch's default initialisation)."""
    copy = deepcopy(model)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        reset = [module.reset_parameters() for module in copy.network.modules() if hasattr(module, "reset_parameters")]
    if not reset:
        raise LayerError(f"{model.name} has no layers that can be initialised afresh (a TorchScript file?)")
    return copy


@dataclass(frozen=True)
class TrainingComparison:
    """Units against random directions of one layer, in the trained network and in a randomly initialised copy."""

    trained: dict
    untrained: dict

    @property
    def summary(self) -> dict:
        return {**self.trained, "untrained": self.untrained}


def compare_with_untrained(model: Classifier, data: Dataset, layer: str, mode: str = "full", k: int = 8,
                           count: int = COMPARED_DIRECTIONS, seed: int = 0, cache: "ActivationCache | None" = None,
                           monitor: Monitor | None = None) -> TrainingComparison:
    """``purity_comparison`` on ``layer`` of the trained network and of a seeded random initialisation of it:
    what training puts in the space, against what the architecture alone gives."""
    monitor = monitor or Monitor()
    fetch = cache.get if cache is not None else (lambda m, d, name, how, mon: capture_activations(m, d, name, how, mon))
    trained = purity_comparison(fetch(model, data, layer, mode, monitor.scaled(0.0, 0.45)), count, k, seed)
    monitor.check()
    untrained_model = randomly_initialised(model, seed).to(model.device)
    untrained = purity_comparison(fetch(untrained_model, data, layer, mode, monitor.scaled(0.5, 0.95)), count, k, seed)
    monitor.progress(1.0, "compared")
    output = layer == layer_names(model)[-1]
    return TrainingComparison({**trained, "output": output}, {**untrained, "output": output})


PREFERRED_NETWORKS = ("FC100-100-10", "ConvNet", "FC200-200-10", "AE400-10")
"""Networks with hidden layers the unit explorer opens on, in this order of preference (the first ranks the
10,000 test images in a fraction of a second); a network without hidden layers has only output units, one per
class, which beat random directions by construction."""


def default_network(names) -> str:
    """The network the unit explorer opens on: the first of PREFERRED_NETWORKS listed, else the first name."""
    names = list(names)
    return next((name for name in PREFERRED_NETWORKS if name in names), names[0] if names else "")


def default_layer(names: list[str], photos: bool) -> str:
    """The layer shown first: a digit network's last hidden layer (never its output layer when it has hidden
    ones); a photo network's pooled features."""
    if photos:
        pooled = [name for name in names if "pool" in name.lower()]
        return pooled[-1] if pooled else names[-1]
    hidden = hidden_layers(names)
    nonlinear = [name for name in hidden if name.startswith(("sigmoid", "relu", "code", "tanh"))]
    return (nonlinear or hidden or names)[-1]


def hidden_layers(names: list[str]) -> list[str]:
    """The layers before the last one, whose output is the network's answer (the logits)."""
    return list(names[:-1])


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def _interval(low: float, high: float, points: bool = False) -> str:
    if points:
        return f"{100 * low:+.0f} to {100 * high:+.0f} points"
    return f"{100 * max(low, 0.0):.0f}–{100 * min(high, 1.0):.0f}%"  # a purity lies in [0, 1]


def _verdict(summary: dict) -> str:
    """"purer", "less pure" or "as pure": units against random directions, by the difference's 95% interval."""
    low, high = summary["difference_interval"]
    return "purer than" if low > 0 else "less pure than" if high < 0 else "no purer than"


def comparison_text(summary: dict) -> str:
    """What a comparison shows, in plain words, whichever way it goes (``summary`` from ``TrainingComparison``)."""
    layer, k = summary["layer"], summary["k"]
    untrained = summary.get("untrained")
    lines = [f"Layer {layer}, top {k} images per direction, mean label purity with its 95% interval: "
             f"{summary['units']} units {_percent(summary['unit_purity'])} ({_interval(*summary['unit_interval'])}), "
             f"{summary['random_directions']} random directions {_percent(summary['random_purity'])} "
             f"({_interval(*summary['random_interval'])})."]
    if summary["units"] < COMPARED_DIRECTIONS:
        lines.append(f"(This layer has only {summary['width']} units: all of them are compared.)")
    verdict = _verdict(summary)
    difference = f"{100 * summary['difference']:+.0f} points, 95% interval {_interval(*summary['difference_interval'], True)}"
    if verdict == "no purer than":
        lines.append(f"On this layer single units are no purer than random directions ({difference}): "
                     "as the paper found, the meaning is spread over the space, not held by single units.")
    elif verdict == "purer than":
        lines.append(f"On this layer single units are purer than random directions ({difference}): here the "
                     "units do carry more of the meaning than other directions, against the paper's finding.")
    else:
        lines.append(f"On this layer random directions are purer than single units ({difference}): the units "
                     "hold no privileged meaning here; mixtures of units sort the images better than any one unit.")
    if summary.get("output"):
        lines.append("But this is the output layer: its units are the classes themselves, pure by construction. "
                     "Choose a hidden layer to test the paper's claim.")
    if untrained is not None:
        lines.append(f"A randomly initialised copy of the network (same layers, no training): units "
                     f"{_percent(untrained['unit_purity'])} ({_interval(*untrained['unit_interval'])}), random "
                     f"directions {_percent(untrained['random_purity'])} ({_interval(*untrained['random_interval'])}); "
                     f"its units are {_verdict(untrained)} its random directions. Training took units from "
                     f"{_percent(untrained['unit_purity'])} to {_percent(summary['unit_purity'])} and random "
                     f"directions from {_percent(untrained['random_purity'])} to {_percent(summary['random_purity'])}.")
    lines.append("The other side: Bau et al., \"Network Dissection\" (CVPR 2017), measured many labelled concepts on "
                 "ImageNet networks and found units more interpretable than random rotations of the same space.")
    return " ".join(lines)
