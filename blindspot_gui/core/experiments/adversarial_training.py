"""Section 4.2: adversarial training of a 100-100-10 net, beside the same net trained with weight decay only.

The training itself is core/training/adversarial.py (its epochs are sent as ``AdvTrainReport``
partial results); this experiment measures the baseline first (sent as an ``AdvTrainBaseline``),
trains with a checkpoint in its store folder, and reports both nets beside the paper's figures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.experiments.paper import PAPER_ADVTRAIN
from blindspot_gui.core.experiments.backends import PartJob, run_one
from blindspot_gui.core.experiments.store import (
    STORE_VERSION,
    PartStore,
    device_suffix,
    experiments_dir,
    is_fraction,
    is_number,
    require,
)
from blindspot_gui.core.models.mnist_zoo import ModelSpec, find_spec
from blindspot_gui.core.models.zoo_weights import load_zoo_model, save_model, user_models_dir
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.training.adversarial import PROBE_IMAGES, average_min_distortion
from blindspot_gui.core.training.loop import measure_errors
from blindspot_gui.core.training.plain import train_model

ADVTRAIN_BASELINE = "FC100-100-10"
ADVTRAIN_MODELS = {False: "FC100-100-10 (adversarial)", True: "FC100-100-10 (adversarial, per layer)"}


@dataclass(frozen=True)
class AdvTrainBaseline:
    """The partial result sent before training starts: the net trained with weight decay only, as measured."""

    model: str
    test_error: float
    distortion: float
    """average minimum distortion on the first PROBE_IMAGES test images (random wrong targets)."""


def check_baseline(record: dict, fingerprint: str) -> None:
    """Raise PartError unless ``record`` is the baseline's figures for the weights ``fingerprint``."""
    require(record.get("model") == ADVTRAIN_BASELINE, f"it is not the record of {ADVTRAIN_BASELINE}")
    require(record.get("weights") == fingerprint, f"it was computed with other weights of {ADVTRAIN_BASELINE}")
    require(is_fraction(record.get("test_error")), "its test error is missing or not a number")
    require(is_number(record.get("distortion")) and record["distortion"] >= 0, "its distortion is not a number")


def _advtrain_spec(per_layer: bool, epochs: int | None) -> ModelSpec:
    """The zoo's adversarially trained net, its recipe shortened to ``epochs`` when given."""
    spec = find_spec(ADVTRAIN_MODELS[per_layer])
    if epochs is not None:
        spec = dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe, epochs=epochs))
    return spec


def _advtrain_store(spec: ModelSpec, device: str) -> PartStore:
    """The run's folder, named after its recipe and device: a changed recipe never resumes an old run."""
    settings = json.dumps([dataclasses.asdict(spec.recipe), dataclasses.asdict(spec.adversarial)], sort_keys=True)
    digest = hashlib.sha256(settings.encode()).hexdigest()[:10]
    return PartStore(experiments_dir() / f"advtrain-{spec.key}-e{spec.recipe.epochs}-{digest}{device_suffix(device)}"
                                         f"-v{STORE_VERSION}")


def _baseline(store: PartStore, monitor: Monitor) -> dict:
    """The weight-decay-only net's test error and distortion: stored for its weights, else measured and stored."""
    model = load_zoo_model(ADVTRAIN_BASELINE)
    fingerprint = model.fingerprint
    baseline = store.load_record("baseline", lambda record: check_baseline(record, fingerprint))
    if baseline is not None:
        return baseline
    monitor.progress(0.0, f"{ADVTRAIN_BASELINE} (weight decay only): average minimum distortion"
                     + "".join(f" ({note})" for note in store.notes))
    test = load_mnist("test")
    probe, probe_labels = test.images[:PROBE_IMAGES], test.labels[:PROBE_IMAGES]
    baseline = {"model": ADVTRAIN_BASELINE, "test_error": measure_errors(model, find_spec(ADVTRAIN_BASELINE))["test"],
                "distortion": average_min_distortion(model, probe, probe_labels, monitor=monitor.quiet(0, 0.02)),
                "weights": fingerprint}
    monitor.check()
    store.save("baseline", baseline)
    return baseline


def advtrain(per_layer: bool = False, monitor: Monitor | None = None, epochs: int | None = None,
             device: str = "cpu") -> dict:
    """Adversarial training of a 100-100-10 net (section 4.2), beside the same net trained with weight decay only.

    The net is saved to the user's model folder, where the window and ``load_zoo_model`` find it;
    every finished epoch is checkpointed, so a cancelled run resumes. ``epochs`` shortens the
    recipe (for tests and quick looks; such a run is kept apart and not saved as the zoo model). The net trains
    on ``device``; the baseline is measured on the CPU.
    """
    monitor = monitor or Monitor()
    spec = _advtrain_spec(per_layer, epochs)
    store = _advtrain_store(spec, device)
    baseline = _baseline(store, monitor)
    monitor.partial(AdvTrainBaseline(baseline["model"], baseline["test_error"], baseline["distortion"]))
    trained = train_model(spec, monitor.scaled(0.02, 1.0), device, checkpoint=store.path("checkpoint", ".pt"),
                          run_part=lambda key, function, args, span: run_one(PartJob(key, function, args, device),
                                                                              span))
    saved = save_model(trained.model, spec, trained.metadata, user_models_dir() if epochs is None else store.folder)
    metadata = trained.metadata
    return {"experiment": "advtrain", "model": spec.name, "per_layer": per_layer,
            "layers": list(spec.adversarial.layers), "epochs": spec.recipe.epochs, "baseline": baseline,
            "adversarial": {"model": spec.name, "test_error": metadata["errors"]["test"],
                            "train_error": metadata["errors"]["train"],
                            "distortion": metadata["average_min_distortion"]},
            "paper": PAPER_ADVTRAIN, "curve": metadata["curve"], "probe_images": PROBE_IMAGES,
            "seconds": metadata["wall_time_s"], "weights": str(saved), "saved_to_zoo": epochs is None,
            "folder": str(store.folder), "notes": list(store.notes)}
