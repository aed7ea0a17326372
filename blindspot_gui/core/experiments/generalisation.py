"""Tables 2 and 4: how often the adversarial examples made for one model fool the others, beside Gaussian noise.

The examples are those of Tables 1 and 3 (attacked.py, whose stored parts are reused). The
Gaussian noise is added without clipping to [0, 1], a choice where the paper is silent: clipped
noise on MNIST's black background is a brightening of mean 0.4 * stddev that fools the nets 10
times as often (FC100-100-10 at stddev 0.3: 50% clipped, 7% unclipped, paper 5%); both are reported.
"""

from __future__ import annotations

import torch

from blindspot_gui.core.attack.noise import gaussian_noise_error, rescale_perturbation
from blindspot_gui.core.experiments.attacked import attack_images, attacked_table, with_fixed_threads
from blindspot_gui.core.experiments.paper import PAPER_TABLE2, PAPER_TABLE4, TABLE1_MODELS, TABLE3_MODELS
from blindspot_gui.core.experiments.targets import DEFAULT_TARGET_RULE, TARGET_RULES
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.training.loop import predict_labels

NOISE_STDDEVS = (0.1, 0.3)


def _error_rates(models: dict, images: torch.Tensor, labels: torch.Tensor) -> list[float | None]:
    if len(images) == 0:
        return [None] * len(models)
    return [float((predict_labels(model, images) != labels).float().mean()) for model in models.values()]


def _noise_rows(models: dict, images, labels, stddev: float, paper, seed: int) -> list[dict]:
    """Error rates under unclipped Gaussian noise (compared with the paper) and under clipped noise."""
    rows = []  # "(clipped)": noisy pixels clipped to [0, 1]; see the module's docstring
    for clip in (False, True):
        errors = [gaussian_noise_error(model, images, labels, stddev, draws=1, seed=seed, clip=clip).error_rate
                  for model in models.values()]
        label = f"Gaussian noise, stddev {stddev}" + (" (clipped)" if clip else "")
        rows.append({"examples": label, "errors": errors, "distortion": stddev,
                     "paper": None if clip else list(paper), "paper_distortion": None if clip else stddev})
    return rows


def _transfer_row(label: str, models: dict, examples, truth, distortion, paper, paper_distortion) -> dict:
    return {"examples": label, "errors": _error_rates(models, examples, truth), "distortion": distortion,
            "paper": paper, "paper_distortion": paper_distortion}


def _matrix_result(experiment: str, first: dict, columns, rows: list[dict], rule: str) -> dict:
    return {"experiment": experiment, "n": first["n"], "split": first["split"], "columns": list(columns),
            "rows": rows, "target_rule": rule, "target_rule_text": TARGET_RULES[rule], "folder": first["folder"],
            "notes": first["notes"]}


@with_fixed_threads
def table2(n: int | None = 1000, monitor: Monitor | None = None, rule: str = DEFAULT_TARGET_RULE,
           device: str = "cpu") -> dict:
    """Cross-model generalisation: the error each model makes on the examples made for each other model."""
    monitor = monitor or Monitor()
    first, arrays_by_model, models = attacked_table("table1", TABLE1_MODELS, "train", n, rule,
                                                    monitor.scaled(0.0, 0.9), device)
    images, labels = attack_images(n)
    matrix = []
    for row in first["rows"]:
        made = arrays_by_model[row["model"]]["success"]
        examples = torch.from_numpy(arrays_by_model[row["model"]]["adversarial"][made])
        matrix.append(_transfer_row(row["model"], models, examples, labels[torch.from_numpy(made)], row["distortion"],
                                    list(PAPER_TABLE2[row["model"]]), row["paper_distortion"]))
    for position, stddev in enumerate(NOISE_STDDEVS):
        monitor.progress(0.9 + 0.05 * position, f"Gaussian noise, stddev {stddev}")
        matrix.extend(_noise_rows(models, images, labels, stddev, PAPER_TABLE2[f"noise {stddev}"], position))
    monitor.progress(1.0, "table 2 done")
    return _matrix_result("table2", first, TABLE1_MODELS, matrix, rule)


def _examples_rows(row: dict, arrays: dict, models: dict, images, labels) -> tuple[dict, dict]:
    """The Table 4 rows of the examples made for ``row``'s model: as they are, and amplified to stddev 0.1."""
    made = arrays["success"]
    truth = labels[torch.from_numpy(made)]
    distortion = row["distortion"]
    label = f"distorted for {row['model']}" + ("" if distortion is None else f" (av. stddev {distortion:.3f})")
    examples = _transfer_row(label, models, torch.from_numpy(arrays["adversarial"][made]), truth,
                             distortion, list(PAPER_TABLE4[row["model"]]), row["paper_distortion"])
    amplified = rescale_perturbation(images[torch.from_numpy(made)].numpy(), arrays["adversarial"][made], 0.1)
    amplified_row = _transfer_row(f"distorted for {row['model']}, amplified to stddev 0.1", models,
                                  torch.from_numpy(amplified), truth, 0.1,
                                  list(PAPER_TABLE4[f"{row['model']} amplified"]), 0.1)
    return examples, amplified_row


@with_fixed_threads
def table4(n: int | None = 1000, monitor: Monitor | None = None, rule: str = DEFAULT_TARGET_RULE,
           device: str = "cpu") -> dict:
    """Cross-training-set generalisation on test-set examples, amplified examples and noise (Table 4)."""
    monitor = monitor or Monitor()
    first, arrays_by_model, models = attacked_table("table3", TABLE3_MODELS, "test", n, rule,
                                                    monitor.scaled(0.0, 0.9), device)
    images, labels = attack_images(n, "test")
    pairs = [_examples_rows(row, arrays_by_model[row["model"]], models, images, labels) for row in first["rows"]]
    monitor.progress(0.95, "Gaussian noise")
    matrix = [*(examples for examples, _ in pairs),
              *_noise_rows(models, images, labels, 0.06, PAPER_TABLE4["noise 0.06"], 0),
              *(amplified for _, amplified in pairs),
              *_noise_rows(models, images, labels, 0.1, PAPER_TABLE4["noise 0.1"], 1)]
    monitor.progress(1.0, "table 4 done")
    return _matrix_result("table4", first, TABLE3_MODELS, matrix, rule)
