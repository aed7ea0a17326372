"""The floating-window vote as a defence, measured: what it costs on clean images, which blind spots it stops, and
how often an attack aimed at the vote itself still gets through.

For one zoo network and the first n test images: the vote's error against the network's; the
smallest blind spot of every image the network gets right (untargeted, the nearest wrong class;
stored and resumable as Tables 1 and 3's attacks) and how often the vote still gives a wrong
answer on it; then, for the same images and wrong answers, the search aimed at the vote (the robust
goal over copies of the vote's own jitter, core/defence.py ``adaptive_config``), a stored part too.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.defence import FloatingWindow, adaptive_config, vote
from blindspot_gui.core.defence import window_for
from blindspot_gui.core.experiments.attacked import attack_images, attacked_table, with_fixed_threads
from blindspot_gui.core.experiments.backends import PartJob, require_same_weights, run_one
from blindspot_gui.core.experiments.store import PartStore, is_count, is_fraction, require
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.training.loop import predict_labels

RULE = "nearest"
"""The blind spots the vote is shown: each image's smallest, its nearest wrong class."""


def adaptive_part(name: str, images, labels, targets, fingerprint: str, window: dict, device: str = "cpu",
                  monitor: Monitor | None = None) -> tuple[dict, dict]:
    """One part (here or on a cluster's worker): zoo net ``name`` attacked through the vote ``window`` on ``images``,
    each towards its ``targets`` label."""
    classifier = load_zoo_model(name, device=device)
    require_same_weights(name, classifier.fingerprint, fingerprint)
    started = time.perf_counter()
    config = adaptive_config(classifier, FloatingWindow(**window))
    results = blindspot_search(classifier, images, torch.as_tensor(targets), labels, config=config, monitor=monitor)
    (monitor or Monitor()).check()  # a cancelled search returns partial results: not a finished part
    record = {"model": name, "weights": fingerprint, "window": window, "images": len(images),
              "copies": config.robust_copies, "share": config.robust, "seconds": round(time.perf_counter() - started, 2)}
    arrays = {"adversarial": np.stack([result.adversarial for result in results]).astype(np.float32),
              "success": np.array([result.success for result in results], dtype=bool),
              "distortion": np.array([result.distortion for result in results], dtype=np.float32)}
    return record, arrays


def _check_adaptive(record: dict, name: str, fingerprint: str, window: dict, count: int) -> None:
    require(record.get("model") == name and record.get("weights") == fingerprint, "it was made for other weights")
    require(record.get("window") == window, "it was aimed at another vote")
    require(is_count(record.get("images")) and record["images"] == count, "it was made for other images")
    require(is_count(record.get("copies")) and is_fraction(record.get("share")), "it does not say how it aimed")


def _check_adaptive_arrays(arrays: dict, count: int, shape: tuple) -> None:
    for key, dtype, size in (("adversarial", np.float32, (count, *shape)), ("success", np.bool_, (count,)),
                             ("distortion", np.float32, (count,))):
        require(key in arrays and arrays[key].dtype == dtype and arrays[key].shape == size,
                f"its {key} array is missing or of the wrong kind")
    adversarial = arrays["adversarial"]
    require(bool(np.isfinite(adversarial).all()) and adversarial.min(initial=0) >= 0 and adversarial.max(initial=0) <= 1,
            "its images are not all numbers in [0, 1]")


def _aimed_at_vote(store: PartStore, name: str, classifier, images, labels, targets, window: FloatingWindow,
                   device: str, monitor: Monitor) -> tuple[dict, dict]:
    """The stored or computed part of the attack aimed at the vote: (its record, its arrays)."""
    fields = dataclasses.asdict(window)
    key = f"aimed-at-vote-{name}"
    record = store.load_record(key, lambda stored: _check_adaptive(stored, name, classifier.fingerprint, fields,
                                                                   len(images)))
    arrays = None if record is None else store.load_arrays(
        key, lambda stored: _check_adaptive_arrays(stored, len(images), tuple(images.shape[1:])))
    if arrays is None:
        job = PartJob(key, adaptive_part, (name, images, labels, targets, classifier.fingerprint, fields, device),
                      device, f"{name}: the attack aimed at the vote")
        record, arrays = run_one(job, monitor)
        store.save(key, record, arrays)
    return record, arrays


def _rates(classifier, window, examples, truth) -> tuple[float | None, float | None]:
    """(share the network gets wrong, share the vote gets wrong) on ``examples`` of true labels ``truth``."""
    if len(examples) == 0:
        return None, None
    network = float((predict_labels(classifier, examples) != truth).float().mean())
    return network, float((vote(classifier, examples, window).answers != truth.numpy()).mean())


@with_fixed_threads
def vote_defence(model: str = "FC100-100-10", n: int | None = 1000, monitor: Monitor | None = None,
                 device: str = "cpu") -> dict:
    """The vote's clean error, the share of smallest blind spots it stops, and the attack aimed at it."""
    monitor = monitor or Monitor()
    first, arrays, models = attacked_table("vote", (model,), "test", n, RULE, monitor.scaled(0.0, 0.3), device)
    classifier, found = models[model], arrays[model]
    window = window_for(classifier)
    images, labels = attack_images(n, "test")
    monitor.progress(0.3, "the vote on the clean images")
    clean = _rates(classifier, window, images, labels)
    fooled = torch.from_numpy(np.flatnonzero(found["success"]))
    minimal = torch.from_numpy(found["adversarial"][fooled.numpy()])
    targets = predict_labels(classifier, minimal)
    store = PartStore(Path(first["folder"]))
    how, aimed = _aimed_at_vote(store, model, classifier, images[fooled], labels[fooled], targets, window, device,
                           monitor.scaled(0.35, 0.95))
    monitor.progress(0.95, "the vote on the blind spots")
    rows = [_row("clean test images", *clean, None, len(images)),
            _row("the smallest blind spots", *_rates(classifier, window, minimal, labels[fooled]),
                 float(found["distortion"][fooled.numpy()].mean()) if len(fooled) else None, len(fooled)),
            _row("aimed at the vote",
                 *_rates(classifier, window, torch.from_numpy(aimed["adversarial"][aimed["success"]]),
                         labels[fooled][torch.from_numpy(aimed["success"])]),
                 float(aimed["distortion"][aimed["success"]].mean()) if aimed["success"].any() else None,
                 int(aimed["success"].sum()))]
    monitor.progress(1.0, "vote done")
    return {"experiment": "vote", "model": model, "n": first["n"], "attacked": first["rows"][0]["attacked"],
            "window": dataclasses.asdict(window), "window_text": window.describe(),
            "aimed_text": f"the robust goal over {how['copies']} copies of the vote's jitter (another seed), "
                          f"the wrong answer on {how['share']:.0%} of them",
            "aimed_found": int(aimed["success"].sum()), "rows": rows, "folder": first["folder"],
            "notes": first["notes"] + store.notes, "target_rule": RULE, "target_rule_text": first["target_rule_text"]}


def _row(label: str, network: float | None, voted: float | None, distortion: float | None, count: int) -> dict:
    return {"examples": label, "network_error": network, "vote_error": voted, "distortion": distortion,
            "count": count}
