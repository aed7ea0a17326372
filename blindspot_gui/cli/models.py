"""The commands on the MNIST zoo itself: models (list it), eval (re-measure errors) and train."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from blindspot_gui.cli.common import EXIT_FAILURE, TerminalProgress, UsageError, cancellable, check_device, device_of
from blindspot_gui.core.data import training_part
from blindspot_gui.core.files import check_writable_folder, os_reason
from blindspot_gui.core.models.mnist_zoo import ZOO, find_spec
from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS, is_photo_model_name, photo_model_status
from blindspot_gui.core.models.zoo_weights import load_zoo_model, model_status, save_model, user_models_dir
from blindspot_gui.core.report import percent
from blindspot_gui.core.training.loop import measure_errors
from blindspot_gui.core.training.plain import train_model


def command_models(args) -> int:
    """Every network: the MNIST zoo's (with their measured and the paper's errors), then the photo networks."""
    rows = [_digit_row(spec) for spec in ZOO] + [_photo_row(entry) for entry in PHOTO_MODELS]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [("network", "key", "kind", "weights", "train err", "test err", "paper", "description")]
    table += [(row["name"], row["key"], row["kind"], row["status"], percent(row["train_error"]),
               percent(row["test_error"]), percent(row["paper_test_error"]), row["description"]) for row in rows]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]) - 1)]
    numeric = {4, 5, 6}
    for line in table:
        cells = [cell.rjust(width) if column in numeric else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(line, widths))]
        print("  ".join([*cells, line[-1]]))
    return 0


def _digit_row(spec) -> dict:
    status = model_status(spec)
    errors = (status.metadata or {}).get("errors", {})
    return {"name": spec.name, "key": spec.key, "kind": "digits", "description": spec.description,
            "status": "present" if status.available else "missing",
            "weights": str(status.weights_path) if status.available else None,
            "training_data": spec.training_data, "train_error": errors.get("train"), "test_error": errors.get("test"),
            "paper_test_error": spec.paper.test_error}


def _photo_row(entry) -> dict:
    status = photo_model_status(entry)
    return {"name": entry.name, "key": entry.key, "kind": "photos", "description": entry.description,
            "status": "present" if status.available else "missing",
            "weights": str(status.weights_path) if status.available else None,
            "training_data": "ImageNet", "train_error": None, "test_error": None, "paper_test_error": None}


def command_eval(args) -> int:
    spec = find_spec(args.name)
    model = load_zoo_model(spec.name, weights_path=args.weights)
    started = time.perf_counter()
    errors = measure_errors(model, spec)
    record = {"name": spec.name, "errors": errors, "seconds": round(time.perf_counter() - started, 2),
              "paper": {"train": spec.paper.train_error, "test": spec.paper.test_error,
                        "P1": spec.paper.p1_error, "P2": spec.paper.p2_error}}
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    print(f"{spec.name}")
    for part, error in errors.items():
        print(f"  {part:<6} error {percent(error):>7}   (paper: {percent(record['paper'].get(part))})")
    return 0


def check_eval(args) -> None:
    if is_photo_model_name(args.name):
        raise UsageError(f"{args.name} classifies photos; eval re-measures the MNIST zoo's errors — "
                         "give a zoo model (`blindspot models` lists them)")


def check_train(args) -> None:
    """Everything that can be refused before training: names, --limit, --device, the output folder."""
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be a positive number of images")
    if args.all == bool(args.names):
        raise UsageError("give model names or --all (not both)")
    args.specs = list(ZOO) if args.all else [find_spec(name) for name in args.names]
    check_device(device_of(args))
    args.out = check_writable_folder(args.out or user_models_dir(), "--out folder")


def command_train(args) -> int:
    code = 0
    for spec in args.specs:
        data = _limited_training_data(spec, args.limit)
        bar = TerminalProgress(f"{spec.name:<20}")
        try:
            result = train_model(spec, cancellable(args, on_progress=bar), device=device_of(args), data=data)
        finally:
            bar.finish()
        errors = result.metadata["errors"]
        summary = ", ".join(f"{part} {percent(error)}" for part, error in errors.items())
        print(f"{spec.name}: {summary} (paper test {percent(spec.paper.test_error)}); "
              f"{result.metadata['wall_time_s']:.0f}s")
        code = max(code, _save_trained(result, spec, args.out))
    return code


def _limited_training_data(spec, limit: int | None):
    """The first ``limit`` images of the spec's training data (None: all of it, the default)."""
    if limit is None:
        return None
    data = training_part(spec.training_data)
    if limit >= len(data):
        print(f"blindspot train: --limit {limit} is not less than the {len(data)} training images of {spec.name}; "
              "training on all of them", file=sys.stderr)
        return None
    return data.subset(range(limit))


def _save_trained(result, spec, out: Path) -> int:
    """Save the trained model in ``out``; if that fails, in a new temporary folder (named), and return 1."""
    try:
        path = save_model(result.model, spec, result.metadata, out)
    except OSError as error:
        try:
            kept = save_model(result.model, spec, result.metadata, tempfile.mkdtemp(prefix=f"blindspot-{spec.key}-"))
            where = f"kept in '{kept.parent}' instead: move {kept.name} and {spec.metadata_file} into {out}"
        except OSError:
            where = "the temporary folder failed too"
        print(f"blindspot train: could not save {spec.name} in '{out}' ({os_reason(error)}) — {where}",
              file=sys.stderr)
        return EXIT_FAILURE
    print(f"  saved {path}")
    return 0
