"""Table 5: upper Lipschitz bounds of each layer of AlexNet (or of a zoo or photo network), kept layer by layer.

The bounds themselves are computed by core/lipschitz.py. Each weight layer's bound is a part (backends.PartJob),
computed here or on a Ray cluster, and stored as soon as it is known, keyed by the network's weights, so a
cancelled run resumes at the next layer.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace

import torch

from blindspot_gui.core.experiments.paper import PAPER_TABLE5
from blindspot_gui.core.experiments.store import STORE_VERSION, PartStore, experiments_dir, is_count, is_number, require
from blindspot_gui.core.experiments.backends import PartJob, require_same_weights, run_parts
from blindspot_gui.core.lipschitz import WEIGHT_MODULES, LayerBound, layer_bound, layer_inputs, network_bound
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.photo_catalogue import (
    find_photo_model,
    is_photo_model_name,
    load_photo_model,
    photo_model_status,
)
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.threads import torch_threads

WEIGHT_LAYERS = ("conv", "linear")
LAYER_BOUND_FIELDS = {"name", "kind", "bound", "method", "input_shape", "stride"}


@dataclass(frozen=True)
class _BoundedNetwork:
    """What Table 5 bounds: the network, what it is, and how its bounds combine."""

    classifier: Classifier
    description: str
    chain: bool
    """a plain chain of layers, so that the product of the layers' bounds bounds the network."""
    normalisation: LayerBound | None
    """a photo network's (x - mean) / std, a layer of bound 1 / min(std) in [0, 1] pixel space."""
    paper: bool
    """AlexNet: compared with the paper's Table 5."""
    fingerprint: str = ""
    """the weights' fingerprint as read (float32), before the network is made double precision."""


@functools.lru_cache(maxsize=1)
def _network_for_bounds(model_name: str | None) -> _BoundedNetwork:
    """None: torchvision's AlexNet as Table 5 bounds it (no normalisation); else a zoo model or a photo network; in
    double precision. The last one is kept, so that the parts of a run done in one process load it once."""
    if model_name is None:
        target = _photo_network_for_bounds("alexnet", normalised=False)
    elif is_photo_model_name(model_name):
        target = _photo_network_for_bounds(model_name, normalised=True)
    else:
        target = _BoundedNetwork(load_zoo_model(model_name), f"{find_spec(model_name).name}, shipped weights", True,
                                 None, False)
    fingerprint = target.classifier.fingerprint
    target.classifier.network.double()
    return replace(target, fingerprint=fingerprint)


def _photo_network_for_bounds(name: str, normalised: bool) -> _BoundedNetwork:
    """A photo network of the catalogue (core/models/photo_catalogue.py), with its weights when they are on this
    machine and randomly initialised (seed 0, and saying so) when they are not."""
    entry = find_photo_model(name)
    status = photo_model_status(entry)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # the random initialisation is the same on every run
        classifier = load_photo_model(entry.name, random_weights=not status.available)
    description = (f"{entry.name}, ImageNet weights from {status.weights_path}" if status.available else
                   f"{entry.name} architecture with random initial weights, seed 0 ({status.reason})")
    if entry.key == "alexnet":
        description += "; its channel counts differ from the paper's network"
    if not entry.chain:
        description += ("; it has skip connections or gates, so the product of its layers' bounds is not a bound of"
                        " the network")
    scale = LayerBound("normalisation", "scale", 1.0 / min(classifier.preprocessing.std), "1 / smallest std",
                       classifier.input_shape) if normalised else None
    return _BoundedNetwork(classifier, description, entry.chain, scale, entry.key == "alexnet")


def _check_bounds(record: dict) -> None:
    """Raise PartError unless ``record`` maps layer names to the fields of a LayerBound."""
    for name, fields in record.items():
        require(isinstance(fields, dict), f"its entry {name!r} is not an object")
        require(set(fields) == LAYER_BOUND_FIELDS, f"its entry {name!r} does not have the fields of a layer's bound")
        require(fields["name"] == name and isinstance(fields["kind"], str) and isinstance(fields["method"], str),
                f"its entry {name!r} does not name its layer, kind and method")
        require(is_number(fields["bound"]) and fields["bound"] >= 0, f"the bound of {name!r} is not a number")
        require(isinstance(fields["input_shape"], list) and all(is_count(size) for size in fields["input_shape"]),
                f"the input shape of {name!r} is not a list of sizes")
        require(fields["stride"] is None or is_count(fields["stride"]), f"the stride of {name!r} is not a count")


def compute_layer_bound(model_name: str | None, layer: str, shape: tuple[int, ...], fingerprint: str,
                        threads: int | None = None, monitor: Monitor | None = None) -> dict:
    """One part of Table 5, computed from its arguments alone (here or on a cluster's worker): the bound of weight
    layer ``layer``, for inputs of ``shape``, of the network Table 5 bounds for ``model_name``, whose weights must
    be ``fingerprint``, with the ``threads`` of the machine that asked (sums round differently with another
    count)."""
    monitor = monitor or Monitor()
    target = _network_for_bounds(model_name)
    if target.fingerprint != fingerprint:
        _network_for_bounds.cache_clear()  # the weights changed on disk since they were read: read them again
        target = _network_for_bounds(model_name)
        require_same_weights(target.description, target.fingerprint, fingerprint)
    monitor.progress(0.0, f"bounding {layer}")
    monitor.check()
    module = dict(target.classifier.network.named_modules())[layer]
    with torch_threads(threads):
        return asdict(layer_bound(layer, module, tuple(shape), conv_method="fourier"))


def _bounds_of(model_name: str | None, target: _BoundedNetwork, store: PartStore,
               monitor: Monitor) -> list[LayerBound]:
    """Every layer's bound, in order: those stored in ``store`` taken as they are, the weight layers' others computed
    as parts (here or on a cluster) and each stored as soon as it is known, the activations' slopes here."""
    stored = store.load_record("bounds", _check_bounds) or {}
    for note in store.notes:
        monitor.progress(0.0, note)

    def keep(name: str, fields: dict) -> None:
        stored[name] = fields
        store.save("bounds", stored)

    layers = layer_inputs(target.classifier.network, target.classifier.input_shape)
    fingerprint = target.fingerprint
    threads = torch.get_num_threads()
    run_parts([PartJob(name, compute_layer_bound, (model_name, name, shape, fingerprint, threads))
               for name, module, shape in layers if isinstance(module, WEIGHT_MODULES) and name not in stored],
              monitor.scaled(0.05, 1.0), keep)
    bounds = [LayerBound(**{**stored[name], "input_shape": tuple(stored[name]["input_shape"])}) if name in stored
              else layer_bound(name, module, shape) for name, module, shape in layers]
    bounds = [bound for bound in bounds if bound is not None]
    if target.normalisation is not None:
        bounds.insert(0, target.normalisation)
    return bounds


def _bound_rows(target: _BoundedNetwork, bounds: list[LayerBound]) -> list[dict]:
    """The weight layers' bounds as table rows, beside the paper's AlexNet figures when ``target`` is AlexNet."""
    rows = []
    for position, bound in enumerate(bound for bound in bounds if bound.kind in WEIGHT_LAYERS):
        paper = PAPER_TABLE5[position] if target.paper and position < len(PAPER_TABLE5) else (None, None)
        rows.append({"layer": bound.name, "kind": bound.kind, "stride": bound.stride, "method": bound.method,
                     "input_shape": list(bound.input_shape), "bound": bound.bound,
                     "paper_layer": paper[0], "paper_bound": paper[1]})
    return rows


def table5(model_name: str | None = None, monitor: Monitor | None = None) -> dict:
    """Upper Lipschitz bound of every layer and of the whole network (AlexNet unless a zoo or photo model is named).

    Each layer's bound is kept on disk as soon as it is computed, keyed by the weights themselves,
    so a cancelled run resumes at the next layer; inside ``backends.use_cluster`` the layers are bounded on a Ray
    cluster.
    """
    monitor = monitor or Monitor()
    monitor.progress(0.0, "loading the network")
    _network_for_bounds.cache_clear()  # the weights on disk now, not those of an earlier run
    try:
        target = _network_for_bounds(model_name)
        store = PartStore(experiments_dir() / f"table5-{target.fingerprint}-v{STORE_VERSION}")
        bounds = _bounds_of(model_name, target, store, monitor)
    finally:
        _network_for_bounds.cache_clear()  # AlexNet in double precision takes half a gigabyte
    return {"experiment": "table5", "model": target.description, "rows": _bound_rows(target, bounds),
            "network_bound": network_bound(bounds) if target.chain else None,
            "chain": target.chain,
            "other_factors": [{"layer": b.name, "bound": b.bound} for b in bounds if b.kind not in WEIGHT_LAYERS],
            "folder": str(store.folder), "notes": list(store.notes)}
