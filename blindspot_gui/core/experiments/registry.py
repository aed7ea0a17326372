"""Every experiment by name, with the settings it takes: the one entry point of the command line and the window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from blindspot_gui.core.experiments.adversarial_training import advtrain
from blindspot_gui.core.experiments.attacked import table1, table3
from blindspot_gui.core.experiments.backends import use_cluster
from blindspot_gui.core.experiments.bounds import table5
from blindspot_gui.core.experiments.generalisation import table2, table4
from blindspot_gui.core.experiments.photo_attacked import photo_table1, photo_table2
from blindspot_gui.core.experiments.targets import DEFAULT_TARGET_RULE
from blindspot_gui.core.models.photo_catalogue import DEFAULT_PHOTO_MODEL
from blindspot_gui.core.monitor import Monitor


@dataclass(frozen=True)
class AttackedTableSettings:
    """Tables 1 to 4: images attacked per model (None: all of them), the target rule and the torch device."""

    n: int | None = 1000
    rule: str = DEFAULT_TARGET_RULE
    device: str = "cpu"


@dataclass(frozen=True)
class PhotoTableSettings:
    """A photo table of the photo networks ``models`` (one for Table 1, two or more for Table 2) on the photos of
    folder ``images`` (None: the sample photos): how many (None: all), the target rule and the torch device."""

    models: tuple[str, ...] = (DEFAULT_PHOTO_MODEL,)
    images: str | None = None
    n: int | None = 1000
    rule: str = DEFAULT_TARGET_RULE
    device: str = "cpu"


def _one_network(settings: PhotoTableSettings) -> str:
    if len(settings.models) != 1:
        raise ValueError(f"a photo Table 1 is of one network, not of {len(settings.models)}")
    return settings.models[0]


@dataclass(frozen=True)
class BoundsSettings:
    """Table 5: the network whose layers are bounded (None: the paper's AlexNet); bounds are computed on the CPU."""

    model: str | None = None


@dataclass(frozen=True)
class AdvTrainSettings:
    """Adversarial training: examples of every hidden layer too, fewer epochs for a quick look (None: all), and the
    torch device it trains on."""

    per_layer: bool = False
    epochs: int | None = None
    device: str = "cpu"


REGISTRY: dict[str, tuple[type, Callable[..., dict]]] = {
    "table1": (AttackedTableSettings, lambda settings, monitor: table1(settings.n, monitor, settings.rule,
                                                                      settings.device)),
    "photo_table1": (PhotoTableSettings, lambda settings, monitor: photo_table1(
        _one_network(settings), settings.images, settings.n, monitor, settings.rule, settings.device)),
    "table2": (AttackedTableSettings, lambda settings, monitor: table2(settings.n, monitor, settings.rule,
                                                                      settings.device)),
    "photo_table2": (PhotoTableSettings, lambda settings, monitor: photo_table2(
        settings.models, settings.images, settings.n, monitor, settings.rule, settings.device)),
    "table3": (AttackedTableSettings, lambda settings, monitor: table3(settings.n, monitor, settings.rule,
                                                                      settings.device)),
    "table4": (AttackedTableSettings, lambda settings, monitor: table4(settings.n, monitor, settings.rule,
                                                                      settings.device)),
    "table5": (BoundsSettings, lambda settings, monitor: table5(settings.model, monitor)),
    "advtrain": (AdvTrainSettings, lambda settings, monitor: advtrain(settings.per_layer, monitor, settings.epochs,
                                                                     settings.device)),
}
"""Every experiment by name: the settings it takes and how to run it; the command line and the window both use it."""


def run_experiment(name: str, settings, monitor: Monitor | None = None, cluster: str | None = None) -> dict:
    """Run experiment ``name`` with ``settings`` (an instance of its settings class in REGISTRY), its parts on the Ray
    cluster at ``cluster`` ("local", "auto" or an address; see ``backends.use_cluster``) or here (None)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; use one of {', '.join(REGISTRY)}")
    kind, run = REGISTRY[name]
    if not isinstance(settings, kind):
        raise TypeError(f"{name} takes {kind.__name__}, not {type(settings).__name__}")
    with use_cluster(cluster):
        return run(settings, monitor)
