"""What the unit explorer runs in the task runner: Qt-free functions of a Classifier and a data set.

Loading a network, ranking the images along a layer's units and random directions, and comparing
the label purity of many of each (in the network and in a randomly initialised copy); each takes the
task's ``monitor`` last, as TaskController.start passes it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from blindspot_gui.core.data import Dataset
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.core.units import (
    COMPARED_DIRECTIONS,
    ActivationCache,
    DirectionResult,
    compare_with_untrained,
    random_direction,
    rank_many,
    rank_units,
    unit_title,
)


class RowRequest(NamedTuple):
    """The rows asked for: ``rows`` units of ``layer`` (read in ``mode``) from ``first`` on, as many random
    directions from ``seed`` on, each with its top (or, with ``bottom``, its bottom) ``k`` images."""

    layer: str
    mode: str
    first: int
    rows: int
    k: int
    bottom: bool
    seed: int


class RankedRows(NamedTuple):
    """The layer's dimension, and the images ranked along its units and along random directions."""

    dimension: int
    units: list[DirectionResult]
    randoms: list[DirectionResult]


def load_network(models: ModelCache, name: str, monitor=None) -> Classifier:
    """The network called ``name``, from the cache or loaded into it (a photo network takes seconds)."""
    return models.get(name)


def rank_rows(cache: ActivationCache, network: Classifier, dataset: Dataset, request: RowRequest,
              monitor=None) -> RankedRows:
    """The images of ``dataset`` ranked along the requested units and random directions of ``network``."""
    activations = cache.get(network, dataset, request.layer, request.mode, monitor)
    start = max(0, min(request.first, activations.dimension - request.rows))
    unit_range = range(start, min(start + request.rows, activations.dimension))
    units = rank_units(activations, unit_range, request.k, request.bottom,
                       [unit_title(request.layer, unit, request.mode, activations.unit_shape) for unit in unit_range])
    seeds = range(request.seed, request.seed + request.rows)
    directions = torch.stack([random_direction(activations.dimension, seed) for seed in seeds])
    randoms = rank_many(activations, directions, request.k, request.bottom,
                        [f"random direction seed {seed} of layer {request.layer}" for seed in seeds])
    return RankedRows(activations.dimension, units, randoms)


def compare_purity_of(cache: ActivationCache, network: Classifier, dataset: Dataset, layer: str, mode: str,
                      k: int, count: int = COMPARED_DIRECTIONS, seed: int = 0, monitor=None) -> dict:
    """Mean label purity (95% intervals) of ``count`` units against as many random directions, in the network
    and in a randomly initialised copy of it (see ``compare_with_untrained``)."""
    return compare_with_untrained(network, dataset, layer, mode, k, count, seed, cache, monitor).summary


def purity_text(dataset: Dataset, rows: RankedRows) -> str:
    """The mean label purity of the rows of units and of random directions, in a sentence."""
    if len(dataset.class_names) < 2:
        return (f"These {len(dataset)} images share one class, so label purity says nothing here: "
                "choose a folder with one subfolder per class.")
    unit_purity = np.mean([row.purity for row in rows.units]) if rows.units else float("nan")
    random_purity = np.mean([row.purity for row in rows.randoms]) if rows.randoms else float("nan")
    return (f"Mean label purity of these rows: units {100 * unit_purity:.0f}%, "
            f"random directions {100 * random_purity:.0f}%.")
