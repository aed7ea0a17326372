"""Every experiment by name, as one spec (title, description, settings, checks, run) that the CLI and the window read."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable

from blindspot_gui.core.experiments.adversarial_training import advtrain
from blindspot_gui.core.experiments.attacked import table1, table3
from blindspot_gui.core.experiments.backends import use_cluster
from blindspot_gui.core.experiments.bounds import table5
from blindspot_gui.core.experiments.generalisation import table2, table4
from blindspot_gui.core.experiments.noise_curve import MULTIPLES, noise_curve
from blindspot_gui.core.experiments.noise_training import adversarial_vs_noise
from blindspot_gui.core.experiments.vote_defence import vote_defence
from blindspot_gui.core.experiments.photo_attacked import PHOTO_RULES, photo_table1, photo_table2
from blindspot_gui.core.experiments.targets import DEFAULT_TARGET_RULE, TARGET_RULES
from blindspot_gui.core.models.mnist_zoo import zoo_names
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


@dataclass(frozen=True)
class NoiseCurveSettings:
    """The noise curve: the zoo network, how many test images (None: all), and the torch device of its searches."""

    model: str = "FC100-100-10"
    n: int | None = 1000
    device: str = "cpu"


@dataclass(frozen=True)
class VoteSettings:
    """The floating-window vote: the zoo network, how many test images (None: all), and the torch device."""

    model: str = "FC100-100-10"
    n: int | None = 1000
    device: str = "cpu"


@dataclass(frozen=True)
class AdvNoiseSettings:
    """Adversarial training vs noise: test images attacked per net (None: all), the target rule, fewer epochs for a
    quick look at the plain and noise nets (None: the adversarial nets' recipe), and the torch device."""

    n: int | None = 1000
    rule: str = DEFAULT_TARGET_RULE
    epochs: int | None = None
    device: str = "cpu"


NUMBER_WORDS = {1: "one", 2: "two", 3: "three"}


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment as every front end shows it: title, description, the settings it takes, its checks, its run."""

    name: str
    title: str
    description: str
    settings: type
    run: Callable[..., dict]
    rules: dict[str, str] | None = None
    """the target rules it takes (None: it attacks nothing)."""
    networks: tuple[int, int | None] | None = None
    """how many photo networks it takes in ``models``, at least and at most (None: no limit); None: it takes none."""

    @property
    def options(self) -> tuple[str, ...]:
        """The settings it takes, by field name ("n", "rule", "device", "model", "models", ...)."""
        return tuple(field.name for field in fields(self.settings))

    def problem(self, settings) -> str | None:
        """Why ``settings`` cannot run (None: they can), in words for the command line and the window alike."""
        if not isinstance(settings, self.settings):
            return f"{self.name} takes {self.settings.__name__}, not {type(settings).__name__}"
        n, epochs = getattr(settings, "n", None), getattr(settings, "epochs", None)
        if n is not None and n < 1:
            return "the number of images must be at least 1"
        if epochs is not None and epochs < 1:
            return "the number of epochs must be at least 1"
        if self.rules is not None and settings.rule not in self.rules:
            return f"{self.title} takes the target rule {' or '.join(self.rules)}, not {settings.rule!r}"
        if self.networks is not None:
            return self._networks_problem(len(set(settings.models)))
        if self.settings in (NoiseCurveSettings, VoteSettings) and settings.model not in zoo_names():
            return f"{self.title} is measured on a digit network of the zoo, not on {settings.model!r}"
        return None

    def _networks_problem(self, count: int) -> str | None:
        least, most = self.networks
        if most == least and count != least:
            return f"{self.title} is of {least} network{'s' if least > 1 else ''}, not of {count}"
        if count < least:
            return f"{self.title} takes {self.fewest_networks()} or more photo networks, not {count}"
        return None

    def fewest_networks(self) -> str:
        """The fewest photo networks it takes, in words ("two")."""
        return NUMBER_WORDS.get(self.networks[0], str(self.networks[0]))


def _spec(name, title, description, settings, run, rules=None, networks=None) -> tuple[str, ExperimentSpec]:
    return name, ExperimentSpec(name, title, description, settings, run, rules, networks)


REGISTRY: dict[str, ExperimentSpec] = dict([
    _spec("table1", "Table 1 — MNIST models", "Training and test error of the six networks, and the average size of "
          "the smallest change that fools each (attacks on training images).", AttackedTableSettings,
          lambda settings, monitor: table1(settings.n, monitor, settings.rule, settings.device), TARGET_RULES),
    _spec("photo_table1", "Table 1 — a photo network", "The same measurement for a network that sees photos: its "
          "error on a folder of your photos (one subfolder per class, named by the class) and the smallest change "
          "that fools it on each photo it gets right. No folder: the sample photos.", PhotoTableSettings,
          lambda settings, monitor: photo_table1(settings.models[0], settings.images, settings.n, monitor,
                                                 settings.rule, settings.device), PHOTO_RULES, (1, 1)),
    _spec("table2", "Table 2 — fooling other networks", "Examples made for one network, fed to every other network: "
          "how often they fool it. Random noise for comparison.", AttackedTableSettings,
          lambda settings, monitor: table2(settings.n, monitor, settings.rule, settings.device), TARGET_RULES),
    _spec("photo_table2", "Table 2 — photo networks", "Photos changed to fool one network, shown to the others: how "
          "often they fool them too, beside random noise far larger than the changes. Tick two or more networks "
          "whose weights are on this computer.", PhotoTableSettings,
          lambda settings, monitor: photo_table2(settings.models, settings.images, settings.n, monitor,
                                                 settings.rule, settings.device), PHOTO_RULES, (2, None)),
    _spec("table3", "Table 3 — two halves of the data", "Three networks trained on disjoint halves P1 and P2 of the "
          "training set: their errors and smallest changes (test images).", AttackedTableSettings,
          lambda settings, monitor: table3(settings.n, monitor, settings.rule, settings.device), TARGET_RULES),
    _spec("table4", "Table 4 — across training sets", "Examples made for a net trained on one half fool nets trained "
          "on the other half; amplified, far more so. Noise for comparison.", AttackedTableSettings,
          lambda settings, monitor: table4(settings.n, monitor, settings.rule, settings.device), TARGET_RULES),
    _spec("table5", "Table 5 — Lipschitz bounds", "An upper bound on how much each layer can stretch a small change "
          "(operator norms).", BoundsSettings, lambda settings, monitor: table5(settings.model, monitor)),
    _spec("advtrain", "Adversarial training", "Train a 100-100-10 net with a pool of its own adversarial examples "
          "(section 4.2): a lower test error than weight decay alone, and blind spots further away. The full recipe "
          "takes about 25 minutes on a 2-core laptop.", AdvTrainSettings,
          lambda settings, monitor: advtrain(settings.per_layer, monitor, settings.epochs, settings.device)),
    _spec("noisecurve", "Noise against blind spots", "How often versus how much: the share of test images random "
          f"noise fools at {', '.join(map(str, MULTIPLES))} times each image's smallest blind spot, beside the blind "
          "spots themselves (all of them at 1×).", NoiseCurveSettings,
          lambda settings, monitor: noise_curve(settings.model, settings.n, monitor, settings.device)),
    _spec("vote", "A vote of jittered copies", "The floating-window defence: the answer is the majority of 9 "
          "copies of the image, shifted by up to a pixel, with noise. What it costs on clean test images, how many "
          "of the smallest blind spots it stops, and how often an attack aimed at the vote itself still fools it.",
          VoteSettings, lambda settings, monitor: vote_defence(settings.model, settings.n, monitor, settings.device)),
    _spec("advnoise", "Adversarial training vs noise", "The paper's main claim, measured: FC100-100-10 trained "
          "with weight decay only, with Gaussian noise the size of the adversarial changes (and twice it), and "
          "adversarially (the zoo's nets, same recipe) — each net's test error, the size of its blind spots, how "
          "often another net's blind spots fool it, and its error under noise. Trains three nets: about 15 minutes "
          "on a 2-core laptop.", AdvNoiseSettings,
          lambda settings, monitor: adversarial_vs_noise(settings.n, monitor, settings.rule, settings.epochs,
                                                         settings.device), TARGET_RULES),
])
"""Every experiment by name: the one spec the command line, the Experiments tab and ``run_experiment`` read."""


def run_experiment(name: str, settings, monitor: Monitor | None = None, cluster: str | None = None) -> dict:
    """Run experiment ``name`` with ``settings`` (an instance of its settings class in REGISTRY), its parts on the Ray
    cluster at ``cluster`` ("local", "auto" or an address; see ``backends.use_cluster``) or here (None)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; use one of {', '.join(REGISTRY)}")
    spec = REGISTRY[name]
    if (problem := spec.problem(settings)) is not None:
        raise (TypeError if not isinstance(settings, spec.settings) else ValueError)(problem)
    with use_cluster(cluster):
        return spec.run(settings, monitor)
