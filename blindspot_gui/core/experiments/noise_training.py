"""Adversarial training against the standard trick of adding noise: FC100-100-10 trained several ways, each measured.

The claim measured (issue 25, part 5; the paper's section 4.2 and the seed's retelling): training on
examples whose distortions cause errors does more than the usual trick of training on noisy images.
Every net here has FC100-100-10's architecture and weight decay and the adversarial net's recipe
(the same seed, minibatches, pixel shifts and epochs):

- weight decay only;
- Gaussian noise added to every training image, unclipped, of standard deviation sigma and 2 sigma,
  where sigma is the mean RMS of the adversarial examples the adversarial net trained on (read from
  its training record: the mean over its epochs of the pool's mean distortion);
- the zoo's adversarially trained nets (input, and per layer), made by ``blindspot reproduce advtrain``
  with this recipe; they are trained here only where their weights are missing.

Each net is then measured: test error, the average minimum distortion on the first n test images
(the target rule of Tables 1 to 4), its error on FC200-200-10's adversarial examples of Table 2
(the first n training images) and its error under unclipped Gaussian noise on the test set at
Table 2's standard deviations. Each training and each measurement is a stored part (weights as
plain arrays, read without pickles), computed here or on a Ray cluster; a stopped run resumes.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from blindspot_gui.core.attack.noise import gaussian_noise_error
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.experiments.adversarial_training import ADVTRAIN_BASELINE, ADVTRAIN_MODELS, advtrain
from blindspot_gui.core.experiments.attacked import EXPERIMENT_THREADS, attack_images, attack_part, attacked_table
from blindspot_gui.core.experiments.attacked import with_fixed_threads
from blindspot_gui.core.experiments.backends import PartJob, run_parts
from blindspot_gui.core.experiments.generalisation import NOISE_STDDEVS
from blindspot_gui.core.experiments.store import (
    STORE_VERSION,
    PartStore,
    device_suffix,
    experiments_dir,
    is_count,
    is_fraction,
    is_number,
    require,
)
from blindspot_gui.core.experiments.targets import DEFAULT_TARGET_RULE, TARGET_RULES, check_target_rule
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.mnist_zoo import ModelSpec, find_spec
from blindspot_gui.core.models.zoo_weights import load_zoo_model, model_status, zoo_classifier
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.threads import torch_threads
from blindspot_gui.core.training.loop import predict_labels
from blindspot_gui.core.training.plain import train_model

NOISE_MULTIPLES = (1, 2)
"""The noise-trained nets: Gaussian noise of these multiples of the mean adversarial change."""
TRANSFER_SOURCE = "FC200-200-10"
"""The net whose Table 2 adversarial examples every net is fed."""


def training_spec(epochs: int | None = None) -> ModelSpec:
    """FC100-100-10 with the adversarial net's recipe (seed, minibatches, shifts, epochs), shortened to ``epochs``."""
    recipe = find_spec(ADVTRAIN_MODELS[False]).recipe
    if epochs is not None:
        recipe = dataclasses.replace(recipe, epochs=epochs)
    return dataclasses.replace(find_spec(ADVTRAIN_BASELINE), recipe=recipe)


def mean_adversarial_change() -> tuple[float, str]:
    """(sigma, where it comes from): the mean RMS of the examples in the zoo adversarial net's pool over its epochs.

    Raises ValueError, saying what to do, when the net or its training record is missing or was trained with
    another recipe than the one every net here gets."""
    spec = find_spec(ADVTRAIN_MODELS[False])
    status = model_status(spec)
    if not status.available or status.metadata is None:
        raise ValueError(f"{spec.name} and its training record are needed (the noise's size is the mean change it "
                         f"trained on): make them with `blindspot reproduce advtrain`")
    record = status.metadata
    if record.get("recipe") != dataclasses.asdict(spec.recipe):
        raise ValueError(f"{spec.name} at {status.weights_path} was trained with another recipe than the zoo's: "
                         "train it again with `blindspot reproduce advtrain`")
    sizes = [point["pool"]["input"]["distortion"] for point in record.get("curve", [])
             if isinstance(point.get("pool", {}).get("input", {}).get("distortion"), (int, float))]
    if not sizes or not np.isfinite(sizes).all() or min(sizes) <= 0:
        raise ValueError(f"the training record of {spec.name} ({status.weights_path}) has no positive pool sizes: "
                         "train it again with `blindspot reproduce advtrain`")
    return float(np.mean(sizes)), f"the mean RMS of {spec.name}'s training examples over {len(sizes)} epochs"


def _adversarial_nets_present(monitor: Monitor) -> None:
    """Train the zoo's adversarial nets with their full recipe where their weights are missing (the application ships
    them; a user may have deleted them), so that this one command makes every net of its table."""
    for per_layer, name in ADVTRAIN_MODELS.items():
        if not model_status(find_spec(name)).available:
            monitor.progress(0.0, f"{name} is missing: training it first (blindspot reproduce advtrain)")
            advtrain(per_layer, monitor.quiet(0.0, 0.0))
            monitor.check()


def _way_key(stddev: float) -> str:
    return "plain" if stddev == 0 else f"noise-{stddev:.5f}"


def train_part(stddev: float, epochs: int | None, device: str = "cpu",
               monitor: Monitor | None = None) -> tuple[dict, dict]:
    """One training part (here or on a cluster's worker): the net trained with input noise ``stddev`` (0: none)."""
    spec = training_spec(epochs)
    with torch_threads(EXPERIMENT_THREADS):
        trained = train_model(spec, monitor or Monitor(), device, input_noise=stddev)
    network = trained.model
    fingerprint = zoo_classifier(network, spec).fingerprint
    record = {"way": _way_key(stddev), "input_noise": stddev, "epochs": spec.recipe.epochs,
              "test_error": trained.metadata["errors"]["test"], "train_error": trained.metadata["errors"]["train"],
              "seconds": trained.metadata["wall_time_s"], "weights": fingerprint}
    arrays = {name: tensor.numpy().astype(np.float32) for name, tensor in network.state_dict().items()}
    return record, arrays | {"weights": np.array(fingerprint)}


def _network_from(arrays: dict, spec: ModelSpec) -> Classifier:
    """The trained net held in a part's arrays, checked: the names and shapes of ``spec``'s layers, finite numbers."""
    network = spec.build()
    expected = network.state_dict()
    for name, tensor in expected.items():
        require(name in arrays, f"it lacks the weights {name!r}")
        require(arrays[name].dtype == np.float32 and arrays[name].shape == tuple(tensor.shape),
                f"its weights {name!r} are {arrays[name].dtype} {arrays[name].shape}, not float32 "
                f"{tuple(tensor.shape)}")
        require(bool(np.isfinite(arrays[name]).all()), f"its weights {name!r} are not all finite")
    network.load_state_dict({name: torch.from_numpy(arrays[name]) for name in expected})
    network.eval()
    return zoo_classifier(network, spec)


def _check_training(record: dict, stddev: float, epochs: int) -> None:
    require(record.get("input_noise") == stddev and record.get("epochs") == epochs,
            "it was trained with other noise or epochs")
    for name in ("test_error", "train_error"):
        require(is_fraction(record.get(name)), f"its {name.replace('_', ' ')} is missing or not a number")
    require(isinstance(record.get("weights"), str), "it does not say which weights it holds")


def _stored_net(store: PartStore, stddev: float, spec: ModelSpec) -> tuple[dict, Classifier] | None:
    """The stored training part of ``stddev`` (record, net) when its record and weights check out."""
    key = f"train-{_way_key(stddev)}"
    record = store.load_record(key, lambda stored: _check_training(stored, stddev, spec.recipe.epochs))
    if record is None:
        return None
    held: dict = {}

    def check(arrays: dict) -> None:
        held["net"] = _network_from(arrays, spec)
        require(held["net"].fingerprint == record["weights"], "its weights are not those its record names")

    return (record, held["net"]) if store.load_arrays(key, check) is not None else None


def measure_part(label: str, arrays: dict | None, zoo_name: str | None, epochs: int | None, n: int | None,
                 rule: str, examples: np.ndarray, truth: np.ndarray, device: str = "cpu",
                 monitor: Monitor | None = None) -> tuple[dict, None]:
    """One measuring part: a net (trained weights in ``arrays``, or the zoo's ``zoo_name``) attacked on the first n
    test images, fed the transfer examples, and tested under noise."""
    monitor = monitor or Monitor()
    with torch_threads(EXPERIMENT_THREADS):
        net = load_zoo_model(zoo_name) if zoo_name else _network_from(arrays, training_spec(epochs))
        test = load_mnist("test")
        images, labels = attack_images(n, "test")
        attacked, _ = attack_part(label, net.to(device), images, labels, rule, monitor.scaled(0.0, 0.95))
        net = net.to("cpu")
        transfer = float((predict_labels(net, torch.from_numpy(examples)) != torch.from_numpy(truth)).float().mean())
        noise = {str(stddev): gaussian_noise_error(net, test.images, test.labels, stddev, draws=1, seed=position,
                                                   clip=False).error_rate
                 for position, stddev in enumerate(NOISE_STDDEVS)}
        record = {"net": label, "weights": net.fingerprint,
                  "distortion": attacked["distortion"], "success": attacked["success"],
                  "attacked": attacked["attacked"], "images": attacked["images"], "transfer_error": transfer,
                  "noise_error": noise}
    return record, None


def _check_measure(record: dict, fingerprint: str, count: int) -> None:
    require(record.get("weights") == fingerprint, "it was measured on other weights")
    require(record.get("images") == count and is_count(record.get("attacked")), "it was measured on other images")
    for name in ("success", "transfer_error"):
        require(is_fraction(record.get(name)), f"its {name.replace('_', ' ')} is missing or not a number")
    distortion = record.get("distortion")
    require(distortion is None or (is_number(distortion) and distortion >= 0), "its distortion is not a number")
    noise = record.get("noise_error")
    require(isinstance(noise, dict) and all(is_fraction(noise.get(str(s))) for s in NOISE_STDDEVS),
            "its errors under noise are missing")


@dataclasses.dataclass(frozen=True)
class Way:
    """One way FC100-100-10 was trained: its label in the table, the net, the zoo's name for it (None: trained by
    this experiment) and what its training says (input noise, errors, seconds)."""

    label: str
    net: Classifier
    zoo_name: str | None
    training: dict


def _trained_ways(store: PartStore, labels: dict, spec: ModelSpec, device: str, monitor: Monitor) -> list[Way]:
    """A Way for every noise level of ``labels`` ({stddev: label}), trained (a part each) where the store has none."""
    stddevs = list(labels)
    ways = {stddev: found for stddev in stddevs if (found := _stored_net(store, stddev, spec)) is not None}

    def keep(key: str, part: tuple[dict, dict]) -> None:
        store.save(key, *part)
        stddev = part[0]["input_noise"]
        ways[stddev] = (part[0], _network_from(part[1], spec))

    jobs = [PartJob(f"train-{_way_key(stddev)}", train_part, (stddev, spec.recipe.epochs, device), device,
                    f"training FC100-100-10 ({labels[stddev]})")
            for stddev in stddevs if stddev not in ways]
    run_parts(jobs, monitor, keep)
    return [Way(labels[stddev], ways[stddev][1], None, ways[stddev][0]) for stddev in stddevs]


def _zoo_ways() -> list[Way]:
    """The zoo's adversarial nets, as ways of training."""
    return [Way(name, load_zoo_model(name), name, _zoo_training(name)) for name in ADVTRAIN_MODELS.values()]


def _way_labels(sigma: float) -> dict:
    """{stddev: label}: no noise (weight decay only), then each multiple of ``sigma``."""
    labels = {0.0: "weight decay only"}
    for multiple in NOISE_MULTIPLES:
        labels[multiple * sigma] = f"Gaussian noise {'' if multiple == 1 else f'{multiple}'}σ = {multiple * sigma:.4f}"
    return labels


def _store(n: int, rule: str, epochs: int, device: str) -> PartStore:
    return PartStore(experiments_dir() / f"advnoise-n{n}-{rule}-e{epochs}{device_suffix(device)}-v{STORE_VERSION}")


@with_fixed_threads
def adversarial_vs_noise(n: int | None = 1000, monitor: Monitor | None = None, rule: str = DEFAULT_TARGET_RULE,
                         epochs: int | None = None, device: str = "cpu") -> dict:
    """FC100-100-10 trained plainly, with noise of sigma and 2 sigma, and adversarially: each net's figures.

    ``epochs`` shortens the noise and plain nets' training for a quick look (the adversarial nets stay the zoo's,
    so such a table compares unequal nets, and says so)."""
    monitor = monitor or Monitor()
    check_target_rule(rule)
    started = time.perf_counter()
    _adversarial_nets_present(monitor)
    sigma, sigma_source = mean_adversarial_change()
    spec = training_spec(epochs)
    images, _ = attack_images(n, "test")
    store = _store(len(images), rule, spec.recipe.epochs, device)
    ways = _trained_ways(store, _way_labels(sigma), spec, device, monitor.scaled(0.0, 0.7)) + _zoo_ways()
    monitor.check()
    source, arrays, _ = attacked_table("table1", (TRANSFER_SOURCE,), "train", n, rule, monitor.scaled(0.7, 0.75),
                                       device)
    examples, truth = _transfer_examples(arrays[TRANSFER_SOURCE], n)
    measured = _measured(store, ways, spec, len(images), n, rule, examples, truth, device, monitor.scaled(0.75, 1.0))
    rows = [_row(way, measured[way.label]) for way in ways]
    notes = list(store.notes)
    if epochs is not None:
        notes.append(f"a quick look: the plain and noise nets trained {epochs} epochs, the adversarial nets are the "
                     f"zoo's ({find_spec(ADVTRAIN_MODELS[False]).recipe.epochs} epochs): not a fair comparison")
    monitor.progress(1.0, "adversarial training vs noise done")
    return {"experiment": "advnoise", "n": len(images), "split": "test", "rule": rule, "target_rule": rule,
            "target_rule_text": TARGET_RULES[rule], "epochs": spec.recipe.epochs, "sigma": sigma,
            "sigma_source": sigma_source, "transfer_source": TRANSFER_SOURCE,
            "transfer_examples": int(len(truth)), "noise_stddevs": list(NOISE_STDDEVS), "rows": rows,
            "folder": str(store.folder), "notes": notes, "reused_table1": source["rows"][0].get("reused", False),
            "run_seconds": round(time.perf_counter() - started, 1)}


def _transfer_examples(arrays: dict, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    """FC200-200-10's successful Table 2 examples and their true labels."""
    made = arrays["success"]
    _, labels = attack_images(n, "train")
    return arrays["adversarial"][made], labels.numpy()[made]


def _measured(store, ways: list[Way], spec, count, n, rule, examples, truth, device, monitor: Monitor) -> dict:
    """{label: record} of every way's measurements, a stored part each."""
    measured = {}
    for way in ways:
        record = store.load_record(f"measure-{way.net.fingerprint}",
                                   lambda stored, net=way.net: _check_measure(stored, net.fingerprint, count))
        if record is not None:
            measured[way.label] = record

    def keep(key: str, part: tuple[dict, None]) -> None:
        store.save(key, part[0])
        measured[part[0]["net"]] = part[0]

    jobs = [PartJob(f"measure-{way.net.fingerprint}", measure_part,
                    (way.label, None if way.zoo_name else _weights_of(way.net), way.zoo_name, spec.recipe.epochs, n,
                     rule, examples, truth, device), device, f"measuring {way.label}")
            for way in ways if way.label not in measured]
    run_parts(jobs, monitor, keep)
    return measured


def _weights_of(net: Classifier) -> dict:
    return {name: tensor.detach().cpu().numpy() for name, tensor in net.network.state_dict().items()}


def _zoo_training(name: str) -> dict:
    """What a zoo net's training record says of it, as a training part's record does."""
    record = model_status(find_spec(name)).metadata or {}
    errors = record.get("errors") if isinstance(record.get("errors"), dict) else {}
    return {"input_noise": None, "test_error": errors.get("test"), "train_error": errors.get("train"),
            "seconds": record.get("wall_time_s")}


def _row(way: Way, measured: dict) -> dict:
    trained = way.training
    return {"net": way.label, "test_error": trained["test_error"], "train_error": trained["train_error"],
            "distortion": measured["distortion"], "attack_success": measured["success"],
            "transfer_error": measured["transfer_error"], "noise_error": measured["noise_error"],
            "input_noise": trained["input_noise"], "training_seconds": trained["seconds"]}
