"""Tables 1 and 3: each model's errors and the attack of every image it classifies correctly, one stored part per model.

Each attacked table is split into parts (one per model); a part is saved as soon as it is done
(store.py), so a cancelled or crashed run picks up where it stopped. Tables 2 and 4
(generalisation.py) feed the same parts' adversarial examples to the other models.

Only the images a model classifies correctly are attacked ("for any correctly classified image",
section 4.2); the error induced by a model's own examples is then 100% by construction, as on
the diagonal of Tables 2 and 4. The target of each attack follows a rule (targets.py).
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch

from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.experiments.backends import PartJob, cluster_address, require_same_weights, run_parts
from blindspot_gui.core.experiments.paper import TABLE1_MODELS, TABLE3_MODELS
from blindspot_gui.core.experiments.store import PartStore, is_count, is_fraction, is_number, require
from blindspot_gui.core.experiments.targets import (
    DEFAULT_TARGET_RULE,
    TARGET_RULES,
    attack_config,
    check_target_rule,
    experiment_targets,
)
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.threads import torch_threads
from blindspot_gui.core.training.loop import error_names, measure_errors, predict_labels

ATTACK_BATCH = 250
EXPERIMENT_THREADS = 1
"""PyTorch's intra-op threads while Tables 1 to 4 compute. MKL's sums differ in their last bits with the
thread count, and the automatic count follows the load of the machine, so a part computed before a
crash and one computed after it could otherwise differ from an uninterrupted run. A fixed count makes
every figure independent of the load (and one thread never collapses on a busy machine)."""


def attack_images(n: int | None, split: str = "train"):
    """The first n images of ``split`` (all for None); every model is attacked on the same ones."""
    data = load_mnist(split)
    count = len(data) if n is None else min(n, len(data))
    return data.images[:count], data.labels[:count]


def attack_part(name: str, model, images, labels, rule: str, monitor: Monitor) -> tuple[dict, dict]:
    """Attack with ``rule`` the images that ``model`` (named ``name`` in the record) classifies correctly, in batches;
    (record, arrays of the adversarial images, success and distortion)."""
    started = time.perf_counter()
    targets = experiment_targets(labels, rule)
    correct = torch.nonzero(predict_labels(model, images) == labels).flatten()
    adversarial = images.clone()
    success = torch.zeros(len(images), dtype=torch.bool)
    distortion = torch.full((len(images),), float("nan"))
    for start in range(0, len(correct), ATTACK_BATCH):
        chosen = correct[start : start + ATTACK_BATCH]
        sub = monitor.quiet(start / len(correct), min(start + ATTACK_BATCH, len(correct)) / len(correct))
        wanted = targets[chosen] if rule != "nearest" else "none"
        results = blindspot_search(model, images[chosen], wanted, labels[chosen], config=attack_config(rule),
                                   monitor=sub)
        monitor.check()  # a cancelled search returns partial results: do not keep them as a finished part
        for index, result in zip(chosen.tolist(), results):
            adversarial[index] = torch.from_numpy(result.adversarial)
            success[index] = result.success
            distortion[index] = result.distortion
    made = success.numpy()
    record = {"model": name, "images": len(images), "attacked": len(correct),
              "success": float(made.sum() / max(len(correct), 1)),
              "distortion": float(distortion.numpy()[made].mean()) if made.any() else None,
              "seconds": round(time.perf_counter() - started, 2)}
    return record, {"adversarial": adversarial.numpy().astype(np.float32), "success": made,
                    "distortion": distortion.numpy().astype(np.float32)}


def _check_attack_record(record: dict, name: str, count: int, fingerprint: str) -> None:
    """Raise PartError unless ``record`` is the finished attack of ``name`` (these weights) on ``count`` images."""
    require(record.get("model") == name, f"it is a part of {record.get('model')!r}, not of {name!r}")
    require(record.get("weights") == fingerprint, "it was computed with other weights of this model")
    require(record.get("images") == count and is_count(record.get("images")),
            f"it was computed on {record.get('images')!r} images, not {count}")
    require(is_count(record.get("attacked")) and record["attacked"] <= count, "its count of attacked images is wrong")
    require(is_fraction(record.get("success")), "its attack success is not a number between 0 and 1")
    distortion = record.get("distortion")
    require(distortion is None or (is_number(distortion) and distortion >= 0), "its distortion is not a number")
    for error in error_names(find_spec(name)):
        require(is_fraction(record.get(f"{error}_error")), f"its {error} error is missing or not a number")


def _check_attack_arrays(arrays: dict, record: dict, images: torch.Tensor, fingerprint: str) -> None:
    """Raise PartError unless ``arrays`` are the adversarial images, success and distortion behind ``record``."""
    count = len(images)
    for key, dtype, shape in (("adversarial", np.float32, tuple(images.shape)), ("success", np.bool_, (count,)),
                              ("distortion", np.float32, (count,))):
        require(key in arrays, f"it lacks the array {key!r}")
        require(arrays[key].dtype == dtype, f"its {key} array is {arrays[key].dtype}, not {np.dtype(dtype)}")
        require(arrays[key].shape == shape, f"its {key} array has shape {arrays[key].shape}, not {shape}")
    weights = arrays.get("weights")
    require(weights is not None and weights.dtype.kind == "U" and weights.shape == () and str(weights) == fingerprint,
            "its arrays were computed with other weights of this model")
    adversarial, success, distortion = arrays["adversarial"], arrays["success"], arrays["distortion"]
    in_range = adversarial.min(initial=0) >= 0 and adversarial.max(initial=0) <= 1
    require(bool(np.isfinite(adversarial).all()) and in_range, "its adversarial images are not all numbers in [0, 1]")
    require(bool(np.isfinite(distortion[success]).all()), "its distortions are not all numbers")
    require(int(success.sum()) == round(record["success"] * record["attacked"]),
            "its arrays do not belong to its record (the counts of successes differ)")


def _stored_attack(store: PartStore, name: str, images: torch.Tensor,
                   fingerprint: str) -> tuple[dict | None, dict | None]:
    """The stored record and arrays of ``name``'s part when both are valid for these images and weights."""
    record = store.load_record(name, lambda stored: _check_attack_record(stored, name, len(images), fingerprint))
    if record is None:
        return None, None
    arrays = store.load_arrays(name, lambda stored: _check_attack_arrays(stored, record, images, fingerprint))
    return (record, arrays) if arrays is not None else (None, None)


def compute_model_part(name: str, images, labels, rule: str, fingerprint: str, device: str = "cpu",
                       monitor: Monitor | None = None) -> tuple[dict, dict]:
    """One part of an attacked table, computed from its arguments alone (here or on a cluster's worker): zoo model
    ``name``'s errors and its attack of ``images`` on ``device``; ``fingerprint`` is the weights the driver has."""
    monitor = monitor or Monitor()
    with torch_threads(EXPERIMENT_THREADS):  # the same figures wherever the part runs (see EXPERIMENT_THREADS)
        model = load_zoo_model(name, device=device)
        require_same_weights(name, model.fingerprint, fingerprint)
        monitor.progress(0.0, f"{name}: errors")
        errors = measure_errors(model, find_spec(name))
        monitor.progress(0.05, f"{name}: attacking {len(images)} images")
        record, arrays = attack_part(name, model, images, labels, rule, monitor.scaled(0.05, 1.0))
    record |= {f"{part_name}_error": error for part_name, error in errors.items()} | {"weights": fingerprint}
    arrays["weights"] = np.array(fingerprint)
    return record, arrays


def _with_paper(record: dict, name: str) -> dict:
    """A part's record as a table row, with the paper's figures for the model beside ours."""
    paper = find_spec(name).paper
    return record | {"paper_train_error": paper.train_error, "paper_test_error": paper.test_error,
                     "paper_P1_error": paper.p1_error, "paper_P2_error": paper.p2_error,
                     "paper_distortion": paper.distortion}


def _attacked_rows(experiment: str, names, split: str, n: int | None, rule: str, monitor: Monitor,
                   device: str) -> tuple[list[dict], PartStore, dict[str, dict], dict[str, Classifier]]:
    """Errors and the attack of each model on the first n images of ``split``; finished parts are reused.

    Returns the rows, the store, each model's arrays (adversarial images, success, distortion) and
    the models themselves.
    """
    images, labels = attack_images(n, split)
    store = PartStore.for_run(experiment, len(images), rule, device)
    here = device if cluster_address() is None else "cpu"  # a cluster's parts need no GPU where the run starts
    models = {name: load_zoo_model(name, device=here) for name in names}
    parts = {}
    for name in names:
        record, arrays = _stored_attack(store, name, images, models[name].fingerprint)
        if record is not None:
            parts[name] = (record | {"reused": True}, arrays)

    def keep(name: str, part: tuple[dict, dict]) -> None:  # stored as soon as it is done: a stopped run resumes
        store.save(name, *part)
        parts[name] = part

    for note in store.notes:  # a damaged or foreign part: said while the run starts, and kept in the result
        monitor.progress(0.0, note)
    missing = [PartJob(name, compute_model_part, (name, images, labels, rule, models[name].fingerprint, device),
                       device) for name in names if name not in parts]
    run_parts(missing, monitor, keep)
    rows = [_with_paper(parts[name][0], name) for name in names]
    return rows, store, {name: parts[name][1] for name in names}, models


def attacked_table(experiment: str, names, split: str, n: int | None, rule: str, monitor: Monitor | None,
                   device: str = "cpu"):
    """A table of attacked models (on ``device``) as a result dictionary, the arrays behind it, and the models."""
    check_target_rule(rule)
    rows, store, arrays, models = _attacked_rows(experiment, names, split, n, rule, monitor or Monitor(), device)
    result = {"experiment": experiment, "n": rows[0]["images"], "split": split, "target_rule": rule,
              "target_rule_text": TARGET_RULES[rule], "rows": rows, "folder": str(store.folder),
              "notes": list(store.notes)}
    return result, arrays, models


def with_fixed_threads(experiment):
    """The experiment, computed with EXPERIMENT_THREADS intra-op threads whatever the load, so its figures are
    reproducible however a run is split; the previous count is restored afterwards.

    torch's count is set for the calling thread and becomes the one new threads start with, so work
    started elsewhere while an experiment runs (a search in the window) also gets it; its results
    do not depend on it.
    """
    @functools.wraps(experiment)
    def run(*args, **kwargs):
        with torch_threads(EXPERIMENT_THREADS):
            return experiment(*args, **kwargs)
    return run


@with_fixed_threads
def table1(n: int | None = 1000, monitor: Monitor | None = None, rule: str = DEFAULT_TARGET_RULE,
           device: str = "cpu") -> dict:
    """Training error, test error and average minimum distortion (on n training images) of each Table 1 model."""
    return attacked_table("table1", TABLE1_MODELS, "train", n, rule, monitor, device)[0]


@with_fixed_threads
def table3(n: int | None = 1000, monitor: Monitor | None = None, rule: str = DEFAULT_TARGET_RULE,
           device: str = "cpu") -> dict:
    """The P1/P2 models' errors on P1, P2 and the test set, and their average minimum distortion (test images)."""
    return attacked_table("table3", TABLE3_MODELS, "test", n, rule, monitor, device)[0]
