"""The reproduce command: a table of the paper or adversarial training, here or on a Ray cluster, beside the paper."""

from __future__ import annotations

import dataclasses
import time

from blindspot_gui.cli.common import TerminalProgress, UsageError, cancellable, check_device, check_outputs
from blindspot_gui.cli.common import device_of, refuse_unused, write_outputs
from blindspot_gui.core.files import atomic_write_json, atomic_write_text, check_writable_folder
from blindspot_gui.core.models.photo_catalogue import find_photo_model, is_photo_model_name
from blindspot_gui.core.models.registry import canonical_name
from blindspot_gui.core.models.zoo_weights import user_models_dir
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.report import percent


TABLES = ("table1", "table2", "table3", "table4", "noisecurve", "advnoise", "vote")
FIELD_OPTIONS = {"model": "--model", "models": "--model", "per_layer": "--per-layer", "epochs": "--epochs",
                 "device": "--device", "rule": "--rule", "n": "--n", "images": "--images"}
"""The command-line option of each field of an experiment's settings (its spec in the registry)."""


def _options_of(experiment: str) -> set[str]:
    """The options ``experiment`` takes: its spec's settings, and its photo table's (``table1 --model ...``)."""
    from blindspot_gui.core.experiments import REGISTRY

    specs = [REGISTRY[name] for name in (experiment, f"photo_{experiment}") if name in REGISTRY]
    return {FIELD_OPTIONS[field] for spec in specs for field in spec.options}


def check_reproduce(args) -> None:
    """Refuse options the experiment would ignore, a bad --n or --epochs, and outputs that could not be written."""
    from blindspot_gui.core import experiments
    from blindspot_gui.core.experiments import experiments_dir

    uses = _options_of(args.experiment)
    unused = {name: text for name, text in FIELD_OPTIONS.items() if text not in uses and name != "models"}
    refuse_unused(args, unused, f"by {args.experiment}")
    check_device(device_of(args), here=args.cluster is None)
    if args.experiment in TABLES:
        args.count = None if args.n == "all" else _positive_count(args.n or DEFAULT_N)
    if _experiment_name(args).startswith("photo_"):
        _check_photo_table(args)
    elif args.images is not None:
        raise UsageError(f"--images needs --model: the photo network(s) whose {args.experiment} it is (e.g. "
                         "efficientnet-lite0)")
    if args.cluster is not None:
        from blindspot_gui.core.experiments.backends import INSTALL_HINT, ray_installed

        if not ray_installed():
            raise UsageError(f"--cluster: {INSTALL_HINT}")
    if args.epochs is not None and args.epochs < 1:
        raise UsageError("--epochs must be at least 1")
    args.settings = _settings(args)
    if (problem := experiments.REGISTRY[_experiment_name(args)].problem(args.settings)) is not None:
        raise UsageError(problem)
    check_outputs({"--json": args.json, "--csv": args.csv})
    check_writable_folder(experiments_dir(), "experiment folder")
    if args.experiment == "advtrain" and args.epochs is None:
        check_writable_folder(user_models_dir(), "model folder")


DEFAULT_N = "1000"


def _experiment_name(args) -> str:
    """The registry's name of what ``reproduce`` was asked for: table1 or table2 with --model is a photo table."""
    photo = args.experiment in ("table1", "table2") and args.model is not None
    return f"photo_{args.experiment}" if photo else args.experiment


def _photo_networks(args) -> list[str]:
    """The photo networks of --model: one for table1, two or more separated by commas for table2."""
    return [name.strip() for name in args.model.split(",")] if args.experiment == "table2" else [args.model]


def _check_photo_table(args) -> None:
    from blindspot_gui.core.experiments import PHOTO_RULES

    for name in _photo_networks(args):
        if not is_photo_model_name(name):
            raise UsageError(f"{args.experiment}'s --model is a photo network (e.g. efficientnet-lite0), not "
                             f"{name!r}; the digit networks' {args.experiment} is `reproduce {args.experiment}` "
                             "without --model")
    if args.experiment == "table2" and len({find_photo_model(name).key for name in _photo_networks(args)}) < 2:
        raise UsageError("table2 --model takes two or more photo networks separated by commas, e.g. "
                         "efficientnet-lite0,resnet18")
    if args.rule is not None and args.rule not in PHOTO_RULES:
        raise UsageError(f"a photo table takes --rule {' or '.join(PHOTO_RULES)} (nearest would rank all "
                         "its classes)")


def _settings(args):
    """The experiment's settings from the command line: an instance of its spec's settings class."""
    from blindspot_gui.core import experiments

    kind = experiments.REGISTRY[_experiment_name(args)].settings
    given = {"n": getattr(args, "count", None), "rule": args.rule or experiments.DEFAULT_TARGET_RULE,
             "model": canonical_name(args.model or "FC100-100-10") if args.experiment in ("noisecurve", "vote") else args.model,
             "per_layer": args.per_layer, "epochs": args.epochs, "images": args.images,
             "models": tuple(_photo_networks(args)) if args.model else None, "device": device_of(args)}
    return kind(**{field.name: given[field.name] for field in dataclasses.fields(kind)})


def _run_experiment(args, monitor: Monitor) -> dict:
    from blindspot_gui.core import experiments

    settings = getattr(args, "settings", None) or _settings(args)
    return experiments.run_experiment(_experiment_name(args), settings, monitor, cluster=args.cluster)


def _positive_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"--n must be a positive number or 'all', not {text!r}") from None
    if n < 1:
        raise UsageError("--n must be a positive number or 'all'")
    return n


def _advtrain_line(report) -> str:
    """The baseline's line before adversarial training, then one line per finished epoch."""
    from blindspot_gui.core.experiments import AdvTrainBaseline

    if isinstance(report, AdvTrainBaseline):
        return (f"before: {report.model} test error {percent(report.test_error)}, "
                f"av. min. distortion {report.distortion:.4f}")
    distortion = "" if report.distortion is None else f", av. min. distortion {report.distortion:.4f}"
    return f"epoch {report.epoch}/{report.epochs}: test error {percent(report.test_error)}{distortion}"


def command_reproduce(args) -> int:
    from blindspot_gui.core.experiments import comparison_table, table_as_csv_text, table_as_text

    bar = TerminalProgress(f"reproduce {args.experiment}")
    started = time.perf_counter()
    monitor = cancellable(args, on_progress=bar,
                          on_partial=(lambda report: bar.write(_advtrain_line(report)))
                          if args.experiment == "advtrain" else None)
    try:
        result = _run_experiment(args, monitor)
    finally:
        bar.finish()
    table = comparison_table(result)
    header, rows = table_as_text(table)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"{table.title} — ours (paper)" if table.has_paper else f"{table.title} — ours")
    for line in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)))
    for note in table.notes:
        print(note)
    print(f"{time.perf_counter() - started:.1f} s (finished parts are kept and reused: {result.get('folder', '—')})")
    return write_outputs("reproduce", [
        (args.json, lambda path: atomic_write_json(path, result), "the result"),
        (args.csv, lambda path: atomic_write_text(path, table_as_csv_text(table)), "the table"),
    ])
