"""The `blindspot` command line: list, evaluate and train the zoo's models (a front end on the core)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from blindspot_gui.core.data import DatasetError
from blindspot_gui.core.files import OutputError, atomic_write, atomic_write_json, atomic_write_text, check_writable
from blindspot_gui.core.files import check_writable_folder, os_reason
from blindspot_gui.core.images import ImageFileError
from blindspot_gui.core.monitor import Cancelled, Monitor
from blindspot_gui.core.report import percent
from blindspot_gui.core.threads import configure_threads
from blindspot_gui.core.memory import OUT_OF_MEMORY, is_out_of_memory
from blindspot_gui.core.models.weights_io import WeightsError
from blindspot_gui.core.models.zoo_weights import load_zoo_model, model_status, save_model, user_models_dir
from blindspot_gui.core.models.mnist_zoo import ZOO, UnknownModelError, find_spec

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
INTERRUPT_GRACE_S = 1.0
"""After Ctrl+C, how long the work may take to stop by itself before the process ends regardless."""


class UsageError(ValueError):
    """Options that do not go together, or that the chosen path would ignore (exit status 2)."""


class TerminalProgress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    WIDTH = 30

    def __init__(self, label: str, stream=sys.stderr):
        self.label = label
        self.stream = stream
        self.started = time.perf_counter()
        self._last_draw = 0.0

    def __call__(self, fraction: float, message: str = "") -> None:
        now = time.perf_counter()
        if now - self._last_draw < 0.1 and fraction < 1.0:
            return
        self._last_draw = now
        filled = int(self.WIDTH * fraction)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        elapsed = now - self.started
        self.stream.write(f"\r{self.label} [{bar}] {100 * fraction:5.1f}% {elapsed:6.0f}s {message[:40]:<40}")
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def cancellable(args, on_progress=None, on_partial=None) -> Monitor:
    """A monitor for the command's work that Ctrl+C cancels (see :func:`run_interruptibly`)."""
    monitor = Monitor(on_progress=on_progress, on_partial=on_partial)
    args.monitors.append(monitor)
    return monitor


def check_outputs(outputs: dict) -> None:
    """Refuse now, before any work, an output path that could not be written later: {option: path or None}."""
    for option, path in outputs.items():
        if path is not None:
            check_writable(path, f"{option} file")


def write_outputs(command: str, outputs: list[tuple[str | None, Callable[[Path], object], str]]) -> int:
    """Write each asked-for output (path, write(path), what); 0 if all were written, else EXIT_FAILURE.

    An output that cannot be written (a full disk, a folder removed meanwhile) is not lost: it is
    written to a file in the temporary folder instead, and a message says where.
    """
    code = 0
    for path, write, what in outputs:
        if path is None:
            continue
        try:
            write(Path(path))
        except OSError as error:
            code = EXIT_FAILURE
            reason = os_reason(error)
            kept = _write_fallback(Path(path), write)
            where = f"kept in '{kept}' instead: move it where you want it" if kept else "the temporary folder failed too"
            print(f"blindspot {command}: could not write {what} '{path}' ({reason}) — {where}", file=sys.stderr)
    return code


def _write_fallback(path: Path, write: Callable[[Path], object]) -> Path | None:
    """Write the output to a new file in the temporary folder; its path, or None if that fails too."""
    try:
        handle, name = tempfile.mkstemp(prefix=f"blindspot-{path.stem}-", suffix=path.suffix)
        os.close(handle)
        write(Path(name))
        return Path(name)
    except OSError:
        return None


def device_of(args) -> str:
    """The torch device of --device (the CPU when it is not given)."""
    return getattr(args, "device", None) or "cpu"


def add_device_option(command, what: str) -> None:
    command.add_argument("--device", help=f"the torch device for {what}: cpu (the default), cuda or cuda:N")


def check_device(text: str, here: bool = True) -> str:
    """The torch device ``text`` if it exists on this machine (``here``; else only if it is a device at all, for
    parts that run on a cluster's machines); refused with a UsageError otherwise."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {text} is not a device — use cpu, or cuda on a machine with an NVIDIA GPU") from None
    if not here:
        from blindspot_gui.core.experiments.backends import cluster_device_problem

        problem = cluster_device_problem(text)
        if problem is not None:
            raise UsageError(f"--device {text}: {problem}")
        return text
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {text}: no CUDA GPU is usable on this machine — use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"numbered from 0 — use cuda:0")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {text}: Apple's Metal GPU is not usable here — use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {text}: blindspot runs on cpu, cuda or mps — use one of those")
    return text


def refuse_unused(args, options: dict[str, str], reason: str) -> None:
    """A UsageError naming the options given (attribute name -> option text) that ``reason`` says are unused."""
    given = [text for name, text in options.items() if getattr(args, name) not in (None, False)]
    if given:
        one = len(given) == 1
        raise UsageError(f"{', '.join(given)} {'is' if one else 'are'} not used {reason} — leave {'it' if one else 'them'} out")


def command_models(args) -> int:
    rows = []
    for spec in ZOO:
        status = model_status(spec)
        errors = (status.metadata or {}).get("errors", {})
        rows.append(
            {
                "name": spec.name,
                "key": spec.key,
                "description": spec.description,
                "status": "present" if status.available else "missing",
                "weights": str(status.weights_path) if status.available else None,
                "training_data": spec.training_data,
                "train_error": errors.get("train"),
                "test_error": errors.get("test"),
                "paper_test_error": spec.paper.test_error,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'model':<20} {'key':<17} {'weights':<8} {'train err':>9} {'test err':>9} {'paper':>7}  description")
    for row in rows:
        print(
            f"{row['name']:<20} {row['key']:<17} {row['status']:<8} {percent(row['train_error']):>9} "
            f"{percent(row['test_error']):>9} {percent(row['paper_test_error']):>7}  {row['description']}"
        )
    return 0


def command_eval(args) -> int:
    from blindspot_gui.core.training.loop import measure_errors

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
    from blindspot_gui.core.models.photo_catalogue import is_photo_model_name

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
    from blindspot_gui.core.training.plain import train_model

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
    from blindspot_gui.core.data import training_part

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


DEFAULT_IMAGES = "test:0:10"


def parse_image_range(text: str) -> tuple[str, int, int]:
    """'test:START:STOP' (or 'train:...'; 'test:I' for one image) -> (split, start, stop)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("train", "test"):
        raise ValueError(f"--images must look like test:START:STOP or train:START:STOP, not {text!r}")
    try:
        start = int(parts[1])
        stop = int(parts[2]) if len(parts) == 3 else start + 1
    except ValueError:
        raise ValueError(f"--images needs whole numbers, not {text!r}") from None
    if not 0 <= start < stop:
        raise ValueError(f"--images range {start}:{stop} is empty or negative")
    return parts[0], start, stop


PHOTO_OPTIONS = {"architecture": "--architecture", "preprocessing": "--preprocessing", "classes": "--classes",
                 "input_range": "--input-range"}
DIGIT_OPTIONS = {"images": "--images"}


def check_attack(args) -> None:
    """Refuse, before any work, options the chosen path would ignore and outputs that could not be written."""
    from blindspot_gui.core.models.photo_catalogue import is_photo_model_name

    check_device(device_of(args))
    if args.model_file and args.model:
        raise UsageError("give --model or --model-file, not both")
    if not args.model_file:
        refuse_unused(args, PHOTO_OPTIONS, "without --model-file (they describe that file)")
    if args.image:
        if args.model and not is_photo_model_name(args.model):
            raise UsageError(f"{args.model} classifies MNIST digits, not photos — attack test digits with "
                             "--images test:I, or give a photo network (e.g. efficientnet-lite0) for --image")
        refuse_unused(args, DIGIT_OPTIONS, "with --image (it chooses MNIST test digits)")
        _check_architecture_file(args)
    else:
        if not (args.model or args.model_file):
            raise UsageError("say which network to attack with --model (for a photo: --image FILE too)")
        if args.model and is_photo_model_name(args.model):
            raise UsageError(f"{args.model} classifies photos: give the photo with --image FILE")
        if args.model_file and not args.images:
            raise UsageError("say what to attack with --model-file: MNIST test digits with --images test:A:B, or a "
                             "photo with --image FILE")
        if args.preprocessing:
            raise UsageError("--preprocessing is for photo networks: leave it out for MNIST digits (--images)")
        _check_architecture_file(args)
        args.split, args.start, args.stop = parse_image_range(args.images or DEFAULT_IMAGES)
        if args.save and args.stop - args.start != 1:
            raise UsageError("--save writes one adversarial digit as a PNG: give one image (--images test:I), "
                             "or use --npz for several")
    _check_search_options(args)
    check_outputs({"--json": args.json, "--npz": args.npz, "--save": args.save})


def _check_search_options(args) -> None:
    if args.seed is not None and args.target != "random":
        raise UsageError("--seed chooses the targets of --target random; it is not used with --target "
                         f"{args.target} — leave it out")
    if args.candidates is not None and args.target != "none":
        raise UsageError("--candidates is for untargeted searches (--target none); it is not used with --target "
                         f"{args.target} — leave it out")
    if args.candidates is not None and args.candidates < 1:
        raise UsageError("--candidates must be at least 1")
    args.confidence = _goal_number(args.confidence, "--confidence", percent=True)
    args.margin = _goal_number(args.margin, "--margin")
    from blindspot_gui.core.attack.goal import check_goal  # imports torch: only once the options are read

    if args.confidence is not None and args.margin is not None:
        raise UsageError("give --confidence or --margin, not both")
    for option, confidence, margin in (("--confidence", args.confidence, None), ("--margin", None, args.margin)):
        try:
            check_goal(confidence, margin)
        except ValueError as error:
            raise UsageError(f"{option}: {error}") from None


def _goal_number(text: str | None, option: str, percent: bool = False) -> float | None:
    """The number given for a goal option (``percent``: "90%" reads as 0.9); a UsageError for anything else."""
    if text is None:
        return None
    given = text.strip()
    scale = 100.0 if percent and given.endswith("%") else 1.0
    try:
        return float(given.removesuffix("%") if scale != 1.0 else given) / scale
    except ValueError:
        example = "0.9 or 90%" if percent else "2"
        raise UsageError(f"{option} takes a number, e.g. {example}, not {text!r}") from None


def _check_architecture_file(args) -> None:
    """--architecture describes a state dict; an ONNX file carries its own, and only it has an input range."""
    from blindspot_gui.core.models.onnx_network import is_onnx

    if not (args.model_file and Path(args.model_file).is_file()):
        return
    graph = is_onnx(args.model_file)
    if args.architecture and graph:
        raise UsageError(f"--architecture is not used: '{args.model_file}' is ONNX, which carries its own "
                         "architecture — leave it out")
    if args.input_range and not graph:
        raise UsageError(f"--input-range is not used: '{args.model_file}' holds weights for an architecture that "
                         "reads pixels in 0-1 — leave it out")


def own_network(args, photo: bool):
    """The network of --model-file with the options that describe it, on --device; a state dict of a ``photo``
    network takes ImageNet's normalisation unless --preprocessing says otherwise (an ONNX file's metadata may)."""
    from blindspot_gui.core.models.onnx_network import is_onnx
    from blindspot_gui.core.models.own_network import load_own_network

    preprocessing = args.preprocessing or ("imagenet" if photo and not is_onnx(args.model_file) else None)
    model = load_own_network(args.model_file, args.architecture, preprocessing, args.classes,
                             input_range=args.input_range, monitor=cancellable(args))
    return model.to(device_of(args))


def digit_network(args):
    """The digit network of --model (the zoo) or --model-file, on --device; a ValueError for a photo network."""
    if not args.model_file:
        return load_zoo_model(args.model, device=device_of(args))
    model = own_network(args, photo=False)
    if not model.is_digit_network:
        raise ValueError(f"'{args.model_file}' reads {'x'.join(map(str, model.input_shape))} photos, not 28x28 "
                         "digits: give the photo with --image FILE")
    return model


def _search_config(base, args):
    """The search settings of ``base`` with the seed and candidate count the user gave."""
    changes = {"seed": args.seed, "untargeted_candidates": args.candidates, "confidence": args.confidence,
               "margin": args.margin}
    return dataclasses.replace(base, **{name: value for name, value in changes.items() if value is not None})


def command_attack(args) -> int:
    if args.image:
        return command_attack_photo(args)
    import numpy as np

    from blindspot_gui.core.attack.search import AttackConfig, blindspot_search
    from blindspot_gui.core.data import load_mnist

    split, start, stop = args.split, args.start, args.stop
    dataset = load_mnist(split)
    if stop > len(dataset):
        raise ValueError(f"the {split} set has {len(dataset)} images; {args.images} goes past its end")
    model = digit_network(args)
    images, labels = dataset.images[start:stop], dataset.labels[start:stop]
    engine = args.engine or "fast"
    bar = TerminalProgress(f"attack {model.name}")
    monitor = cancellable(args, on_progress=bar)
    started = time.perf_counter()
    try:
        results = blindspot_search(model, images, args.target, labels, engine=engine,
                                   config=_search_config(AttackConfig(), args), monitor=monitor)
    finally:
        bar.finish()
    monitor.check()  # interrupted: the best-so-far results are not presented or written as the answer
    seconds = time.perf_counter() - started
    for result in results:
        result.index += start
    succeeded = [result for result in results if result.success]
    distortions = np.array([result.distortion for result in succeeded])
    print(f"{len(results)} images from {split}[{start}:{stop}], target {args.target}, engine {engine}, "
          f"goal {_goal_text(args)}")
    print(f"  success rate      {100 * len(succeeded) / len(results):.1f}%")
    if len(distortions):
        print(f"  mean distortion   {distortions.mean():.4f}   (RMS over pixels in [0, 1]; successful images)")
        print(f"  median distortion {np.median(distortions):.4f}")
        print(f"  target probability median {100 * np.median([result.target_probability for result in succeeded]):.1f}%"
              "   (untargeted: of the new answer)")
    failed = [result for result in results if not result.success and not result.cancelled]
    if failed:
        print(f"  {len(failed)} image{'s' if len(failed) > 1 else ''} ({', '.join(str(r.index) for r in failed[:10])}"
              f"{', …' if len(failed) > 10 else ''}) could not be made to look like {_wanted(args)} within the "
              f"search's limits: {_failure_detail(AttackConfig(), args)}")
    print(f"  time per image    {1000 * seconds / len(results):.1f} ms ({args.threads} CPU thread"
          f"{'' if args.threads == 1 else 's'})")
    arrays = {"label": np.array([result.label for result in results]),
              "index": np.array([result.index for result in results])}
    saved = _quantised_image(model, results[0]) if args.save else None
    code = write_outputs("attack", [
        (args.json, lambda path: atomic_write_json(path, [result.to_record() for result in results]), "the records"),
        (args.npz, lambda path: _write_npz(path, results, arrays), "the arrays"),
        (args.save if saved else None, lambda path: _save_digit(saved, path), "the adversarial digit"),
    ])
    return code if saved or not args.save else EXIT_FAILURE


def _goal_text(args) -> str:
    if args.confidence is not None:
        return f"probability ≥ {args.confidence:.10g}"
    return f"logit margin ≥ {args.margin:.10g}" if args.margin is not None else "minimal (the paper)"


def _wanted(args) -> str:
    wanted = "another class" if args.target == "none" else "their target"
    return wanted + ("" if args.confidence is None and args.margin is None else f" with {_goal_text(args)}")


def _failure_detail(base, args) -> str:
    """The technical reason of a failure, and what to try."""
    config = _search_config(base, args)
    goal = " or leave out --confidence/--margin" if config.confidence is not None or config.margin is not None else ""
    return (f"no c reached it ({config.max_iterations} L-BFGS iterations per solve, c bracketed around a linear "
            f"estimate) — try another --target{goal}")


def _write_npz(path: Path, results, extra: dict) -> None:
    """original and adversarial (N, C, H, W: channels first, pixels in [0, 1]), target (-1: untargeted), and ``extra``."""
    import numpy as np

    arrays = {"original": np.stack([result.original for result in results]),
              "adversarial": np.stack([result.adversarial for result in results]),
              "target": np.array([-1 if result.target is None else result.target for result in results])} | extra
    atomic_write(path, lambda stream: np.savez_compressed(stream, **arrays))


def _save_digit(saved, path: Path) -> None:
    """The adversarial digit as an 8-bit PNG that still fools the network (searched on the 8-bit lattice)."""
    from blindspot_gui.core.images import save_grey_png

    atomic_write(path, lambda stream: save_grey_png(saved.pixels[0], stream))
    print(f"  saved {path}: 8-bit PNG; the network says {saved.answer} (still fooled); distortion "
          f"{saved.distortion:.4f} RMS (float {saved.float_distortion:.4f}, ×{saved.ratio:.2f})")


def command_attack_photo(args) -> int:
    """One photo through an ImageNet network (or the user's own), pushed to the class named by --target."""
    import numpy as np
    import torch

    from blindspot_gui.core.attack.search import blindspot_search, config_for, failure_sentence

    model, pixels = _photo_network_and_image(args)
    pixels = torch.from_numpy(pixels)
    target = _photo_target(args.target, model)
    bar = TerminalProgress(f"attack {model.name}")
    monitor = cancellable(args, on_progress=bar)
    started = time.perf_counter()
    try:
        result = blindspot_search(model, pixels[None], target, None, engine=args.engine or "fast",
                                  config=_search_config(config_for(model), args), monitor=monitor)[0]
    finally:
        bar.finish()
    monitor.check()
    seconds = time.perf_counter() - started
    names = model.class_names
    wanted = "the nearest wrong class" if result.target is None else repr(names[result.target])
    print(f"{Path(args.image).name} through {model.name}, target {wanted}")
    print(f"  before  {_top_classes(result.probabilities_before, names)}")
    print(f"  after   {_top_classes(result.probabilities_after, names)}")
    print(f"  {'success' if result.success else 'FAILED'}: now {names[result.adversarial_prediction]!r} "
          f"({100 * result.target_probability:.1f}%, goal {_goal_text(args)}); "
          f"distortion {result.distortion:.4f} RMS (pixels in [0, 1]), largest change {result.linf * 255:.1f}/255; "
          f"{seconds:.1f} s")
    if not result.success and not result.cancelled:
        print(f"  {failure_sentence(result, model.class_name, 'photo')} "
              f"{_failure_detail(config_for(model), args)}")
    record = result.to_record() | {"class_names": {"original": names[result.original_prediction],
                                                   "adversarial": names[result.adversarial_prediction]},
                                   "model": model.name, "image": str(args.image), "seconds": round(seconds, 2)}
    arrays = {"prediction": np.array([result.original_prediction]),
              "adversarial_prediction": np.array([result.adversarial_prediction])}
    saved = _quantised_image(model, result) if args.save else None
    code = write_outputs("attack", [
        (args.json, lambda path: atomic_write_json(path, record), "the record"),
        (args.npz, lambda path: _write_npz(path, [result], arrays), "the arrays"),
        (args.save if saved else None, lambda path: _save_photo(saved, path), "the adversarial photo"),
    ])
    return code if result.success and (saved or not args.save) else EXIT_FAILURE


def _photo_network_and_image(args):
    """The photo network of --model or --model-file (default EfficientNet-Lite0), and --image read as it sees photos:
    (Classifier, float32 (3, H, W) pixels in [0, 1])."""
    from blindspot_gui.core.models.photo_catalogue import DEFAULT_PHOTO_MODEL, load_photo_model
    from blindspot_gui.core.photos import read_photo

    if args.model_file:
        model = own_network(args, photo=True)
        if model.is_digit_network:
            raise ValueError(f"'{args.model_file}' reads 28x28 digits, not photos: attack MNIST test digits with "
                             "--images test:I")
    else:
        model = load_photo_model(args.model or DEFAULT_PHOTO_MODEL).to(device_of(args))
    return model, read_photo(args.image, model.preprocessing.resize, model.preprocessing.crop)


def _quantised_image(model, result):
    """The 8-bit image nearest the float result that still meets its goal (a Quantised), or None with the reason printed."""
    from blindspot_gui.core.attack.quantise import quantise_result

    if not result.success:
        print("  not saved: the search did not fool the network")
        return None
    kept = quantise_result(model, result)
    if kept is None:
        print(f"  not saved: no 8-bit image within 4 times the change still fools {model.name}; "
              "use --npz for the exact pixels")
    return kept


def _save_photo(saved, path: Path) -> None:
    """Save the adversarial photo as an 8-bit PNG that still fools the network (searched on the 8-bit lattice)."""
    from blindspot_gui.core.images import save_rgb_png

    atomic_write(path, lambda stream: save_rgb_png(saved.pixels, stream))
    print(f"  saved {path}: 8-bit PNG that still fools the network; distortion {saved.distortion:.4f} RMS "
          f"(float {saved.float_distortion:.4f}, ×{saved.ratio:.2f})")


def _photo_target(text: str, model):
    """A rule name (next, random, least-likely, none) as it is; otherwise the class the text names."""
    from blindspot_gui.core.attack.search import TARGET_POLICIES
    from blindspot_gui.core.models.class_names import class_index

    return text if text in TARGET_POLICIES else class_index(text, model.class_names)


def _top_classes(probabilities, names, count: int = 3) -> str:
    order = probabilities.argsort()[::-1][:count]
    return ", ".join(f"{names[i]} {100 * probabilities[i]:.1f}%" for i in order)


def check_compare(args) -> None:
    """Refuse, before any work: a digit with a photo network (or the reverse), unknown methods, an unwritable --save."""
    from blindspot_gui.core.attack.compare import METHODS
    from blindspot_gui.core.models.photo_catalogue import is_photo_model_name

    if args.model_file and args.model:
        raise UsageError("give --model or --model-file, not both")
    if not args.model_file:
        refuse_unused(args, PHOTO_OPTIONS, "without --model-file (they describe that file)")
    args.digit = _digit_reference(args.image)
    if args.digit is not None and (args.model_file or not args.model or is_photo_model_name(args.model)):
        raise UsageError(f"{args.image} is an MNIST digit: compare on it with a zoo network, e.g. --model fc100-100-10 "
                         "(photo networks take --image FILE)")
    if args.digit is None:
        if args.model and not is_photo_model_name(args.model):
            raise UsageError(f"{args.model} classifies MNIST digits, not photos — give --image test:I")
        _check_architecture_file(args)
    args.methods = [name.strip() for name in (args.methods or ",".join(METHODS)).split(",") if name.strip()]
    unknown = [name for name in args.methods if name not in METHODS]
    if unknown or not args.methods:
        raise UsageError(f"--methods: unknown method {unknown[0]!r} — choose from {','.join(METHODS)}" if unknown
                         else f"--methods: name at least one of {','.join(METHODS)}")
    if args.save:
        args.save = check_writable_folder(args.save, "--save folder")


def _digit_reference(text: str) -> tuple[str, int] | None:
    """(split, index) for --image test:I or train:I; None for anything else (a photo file)."""
    if Path(text).is_file() or not text.startswith(("test:", "train:")):
        return None
    try:
        split, start, stop = parse_image_range(text)
    except ValueError:
        raise UsageError(f"--image: give one MNIST digit as test:I (e.g. test:0) or a photo file, not {text!r}") from None
    if stop - start != 1:
        raise UsageError(f"--image {text}: compare takes one image — give test:I")
    return split, start


def _comparison_input(args):
    """(network, pixels (C, H, W) in [0, 1], true label or None, the image in words) for compare."""
    if args.digit is None:
        model, pixels = _photo_network_and_image(args)
        return model, pixels, None, Path(args.image).name
    from blindspot_gui.core.data import load_mnist

    split, index = args.digit
    dataset = load_mnist(split)
    if index >= len(dataset):
        raise ValueError(f"the {split} set has {len(dataset)} images; {args.image} goes past its end")
    label = int(dataset.labels[index])
    return load_zoo_model(args.model), dataset.images[index].numpy(), label, f"MNIST {split} image {index} (a {label})"


def command_compare(args) -> int:
    """The image attacked by each method: a table of distortion and time, and with --save each 8-bit PNG."""
    from blindspot_gui.core.attack.compare import compare_methods, foolbox_version

    model, pixels, label, what = _comparison_input(args)
    target = _photo_target(args.target, model)
    bar = TerminalProgress(f"compare on {model.name}")
    monitor = cancellable(args, on_progress=bar)
    started = time.perf_counter()
    try:
        results = compare_methods(model, pixels, label, target, methods=args.methods, monitor=monitor)
    finally:
        bar.finish()
    monitor.check()  # interrupted: the unfinished comparison is not presented as one
    answer = int(model.probabilities(pixels).argmax())
    wanted = "the nearest wrong class" if results[0].target is None else repr(model.class_name(results[0].target))
    print(f"{what} through {model.name}, which says {model.class_name(answer)!r}; target {wanted}")
    _print_comparison(results, model)
    foolbox = foolbox_version()
    print(f"{time.perf_counter() - started:.1f} s in all ({args.threads} CPU thread{'' if args.threads == 1 else 's'})"
          + (f"; DeepFool, DDN and C&W from foolbox {foolbox}" if foolbox else ""))
    return _save_comparison(args, model, pixels, results) if args.save else 0


COMPARISON_COLUMNS = ("method", "budget", "fooled", "answer", "RMS", "× ours", "L2", "L∞", "time")


def comparison_rows(results, class_name) -> list[tuple[str, ...]]:
    """One row of text per method: name, budget, fooled?, answer, RMS, ratio to ours, L2, L∞ (and in 1/255), time."""
    ours = next((result.distortion for result in results if result.method == "ours" and result.success), None)
    rows = []
    for result in results:
        if not result.success:
            fooled = "not run" if not result.ran else "no"
            rows.append((result.name, result.budget, fooled, "—", "—", "—", "—", "—",
                         _seconds(result.seconds) if result.ran else "—"))
            continue
        ratio = f"{result.distortion / ours:.2f}" if ours else "—"
        rows.append((result.name, result.budget, "yes", f"{class_name(result.prediction)} ({100 * result.probability:.0f}%)",
                     f"{result.distortion:.5f}", ratio, f"{result.l2:.3f}", f"{result.linf:.3f} ({255 * result.linf:.1f}/255)",
                     _seconds(result.seconds)))
    return rows


def _seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 0.1 else f"{1000 * seconds:.0f} ms"


def _print_comparison(results, model) -> None:
    rows = comparison_rows(results, model.class_name)
    widths = [max(len(line[column]) for line in (COMPARISON_COLUMNS, *rows)) for column in range(len(COMPARISON_COLUMNS))]
    for line in (COMPARISON_COLUMNS, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
    for result in results:
        if result.message:
            print(f"  {result.name}: {result.message}")
    print("RMS: the paper's distortion, sqrt(mean of the squared change), pixels in [0, 1]; × ours: RMS over ours")


def _save_comparison(args, model, pixels, results) -> int:
    """The original and each method's adversarial image as 8-bit PNGs that still fool the network, in --save."""
    from blindspot_gui.core.attack.quantise import quantised_adversarial

    outputs = [(args.save / "original.png", lambda path: _write_png(pixels, path), "the original")]
    for result in results:
        if not result.success:
            continue
        kept = quantised_adversarial(model, pixels, result.adversarial, result.original_prediction, result.target)
        if kept is None:
            print(f"  {result.method}.png not saved: no 8-bit image within 4 times its change still fools {model.name}")
            continue
        outputs.append((args.save / f"{result.method}.png", lambda path, kept=kept: _write_png(kept.pixels, path),
                        f"the image of {result.name}"))
        print(f"  {result.method}.png: 8-bit, still fooled (says {model.class_name(kept.answer)!r}); RMS "
              f"{kept.distortion:.5f} after rounding (float {kept.float_distortion:.5f})")
    code = write_outputs("compare", outputs)
    print(f"  saved in {args.save}")
    return code


def _write_png(pixels, path: Path) -> None:
    from blindspot_gui.core.images import save_grey_png, save_rgb_png

    if pixels.shape[0] == 1:
        atomic_write(path, lambda stream: save_grey_png(pixels[0], stream))
    else:
        atomic_write(path, lambda stream: save_rgb_png(pixels, stream))


def save_image_row(images, captions, path, scale: int = 4) -> None:
    """Save (k, 28, 28) images in [0, 1] side by side, each with its caption underneath, as a PNG."""
    import numpy as np
    from PIL import Image, ImageDraw

    size, caption_height, gap = 28 * scale, 14, 4
    canvas = Image.new("L", (len(images) * (size + gap) + gap, size + caption_height + 2 * gap), 255)
    draw = ImageDraw.Draw(canvas)
    for column, (pixels, caption) in enumerate(zip(images, captions)):
        tile = Image.fromarray(np.clip(np.asarray(pixels) * 255, 0, 255).astype(np.uint8)).resize((size, size))
        left = gap + column * (size + gap)
        canvas.paste(tile, (left, gap))
        draw.text((left + 2, gap + size + 1), caption, fill=0)
    atomic_write(path, lambda stream: canvas.save(stream, format="PNG"))


def check_units(args) -> None:
    from blindspot_gui.core.data import load_mnist

    if (args.unit is None) == (args.random is None):
        raise UsageError("give either --unit I or --random SEED")
    check_device(device_of(args))
    data = load_mnist("test")
    if not 1 <= args.top <= len(data):
        raise UsageError(f"--top must be between 1 and {len(data)} (the MNIST test images)")
    check_outputs({"--json": args.json, "--png": args.png})
    args.network = load_zoo_model(args.model, device=device_of(args))
    if args.mode != "full":  # one image through the layer tells its shape, before all 10,000 are
        from blindspot_gui.core.units import capture_activations

        shape = capture_activations(args.network, data.subset(range(1)), args.layer, "full").unit_shape
        if len(shape) != 3:
            raise UsageError(f"--mode {args.mode} is for convolutional layers (one number per channel); layer "
                             f"{args.layer} outputs {shape[0] if shape else 1} numbers — leave --mode out")


def command_units(args) -> int:
    from blindspot_gui.core.data import load_mnist
    from blindspot_gui.core.units import (
        ActivationCache,
        random_direction,
        top_images,
        unit_direction,
        unit_title,
    )

    data = load_mnist("test")
    started = time.perf_counter()
    activations = ActivationCache().get(args.network, data, args.layer, args.mode, monitor=cancellable(args))
    if args.unit is not None:
        direction = unit_direction(activations.dimension, args.unit)
        title = unit_title(args.layer, args.unit, args.mode, activations.unit_shape)
    else:
        direction = random_direction(activations.dimension, args.random)
        title = f"random direction seed {args.random} of layer {args.layer}"
    result = top_images(activations, direction, args.top, bottom=args.bottom, title=title)
    seconds = time.perf_counter() - started
    which = "bottom" if args.bottom else "top"
    print(f"{title}: {which} {args.top} of {len(data)} MNIST test images ({activations.dimension} dimensions, "
          f"{args.mode}); label purity {100 * result.purity:.0f}%; {seconds:.2f} s")
    for index, score, label in zip(result.indices, result.scores, result.labels):
        print(f"  image {int(index):5d}  label {int(label)}  score {float(score):.4f}")
    record = {"model": find_spec(args.model).name, "layer": args.layer, "mode": args.mode, "title": title,
              "direction": direction.tolist(), "which": which, "indices": result.indices.tolist(),
              "scores": result.scores.tolist(), "labels": result.labels.tolist(), "purity": result.purity}
    captions = [f"{int(label)} ({float(score):.2f})" for label, score in zip(result.labels, result.scores)]
    return write_outputs("units", [
        (args.json, lambda path: atomic_write_json(path, record, indent=None), "the record"),
        (args.png, lambda path: save_image_row(data.images[result.indices, 0].numpy(), captions, path), "the images"),
    ])


TABLES = ("table1", "table2", "table3", "table4")
EXPERIMENT_OPTIONS = {
    "table5": {"model": "--model"},
    "advtrain": {"per_layer": "--per-layer", "epochs": "--epochs", "device": "--device"},
    "tables": {"rule": "--rule", "n": "--n", "device": "--device"},
}
"""The options each experiment uses; the others are refused."""
EXPERIMENT_OPTIONS["table1"] = EXPERIMENT_OPTIONS["table2"] = EXPERIMENT_OPTIONS["tables"] | {
    "model": "--model", "images": "--images"}  # with --model, a photo table


def check_reproduce(args) -> None:
    """Refuse options the experiment would ignore, a bad --n or --epochs, and outputs that could not be written."""
    from blindspot_gui.core.experiments import experiments_dir

    uses = EXPERIMENT_OPTIONS.get(args.experiment, EXPERIMENT_OPTIONS["tables"])
    unused = {name: text for options in EXPERIMENT_OPTIONS.values() for name, text in options.items() if name not in uses}
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
    from blindspot_gui.core.models.photo_catalogue import find_photo_model, is_photo_model_name

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


def _run_experiment(args, monitor: Monitor) -> dict:
    from blindspot_gui.core import experiments

    name = _experiment_name(args)
    kind = experiments.REGISTRY[name][0]
    given = {"n": getattr(args, "count", None), "rule": args.rule or experiments.DEFAULT_TARGET_RULE,
             "model": args.model, "per_layer": args.per_layer, "epochs": args.epochs, "images": args.images,
             "models": tuple(_photo_networks(args)) if args.model else None, "device": device_of(args)}
    settings = kind(**{field.name: given[field.name] for field in dataclasses.fields(kind)})
    return experiments.run_experiment(name, settings, monitor, cluster=args.cluster)


def _positive_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise UsageError(f"--n must be a positive number or 'all', not {text!r}") from None
    if n < 1:
        raise UsageError("--n must be a positive number or 'all'")
    return n


def _print_advtrain_partial(report) -> None:
    """Prints the baseline, then each epoch of an adversarial training run as it finishes."""
    if isinstance(report, dict):
        baseline = report["baseline"]
        print(f"\rbefore: {baseline['model']} test error {percent(baseline['test_error'])}, "
              f"av. min. distortion {baseline['distortion']:.4f}", file=sys.stderr)
        return
    distortion = "" if report.distortion is None else f", av. min. distortion {report.distortion:.4f}"
    print(f"\repoch {report.epoch}/{report.epochs}: test error {percent(report.test_error)}{distortion}",
          file=sys.stderr)


def command_reproduce(args) -> int:
    from blindspot_gui.core.experiments import comparison_table, table_as_csv_text, table_as_text

    bar = TerminalProgress(f"reproduce {args.experiment}")
    started = time.perf_counter()
    monitor = cancellable(args, on_progress=bar,
                          on_partial=_print_advtrain_partial if args.experiment == "advtrain" else None)
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


def add_own_network_options(command) -> None:
    """--model-file and what describes it: a user's own photo classifier (attack and compare)."""
    command.add_argument("--model-file", metavar="FILE", help="your own classifier, digits or photos: an ONNX file "
                                                              "(.onnx), or weights (.safetensors or a state dict) "
                                                              "with --architecture")
    command.add_argument("--input-range", choices=("0-1", "0-255"),
                         help="pixel values an ONNX --model-file expects (default: its metadata's, else 0-1)")
    command.add_argument("--architecture", help="torchvision architecture of --model-file's state dict, e.g. resnet18")
    command.add_argument("--preprocessing", choices=("imagenet", "efficientnet-lite", "none"),
                         help="normalisation --model-file expects (default imagenet)")
    command.add_argument("--classes", metavar="FILE", help="class names of --model-file, one per line")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blindspot",
        description="Reproduce and explore the blind spots of neural networks (Szegedy et al., ICLR 2014).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    models = commands.add_parser("models", help="list the model zoo with weight status and errors")
    models.add_argument("--json", action="store_true", help="print JSON instead of a table")
    models.set_defaults(run=command_models)

    evaluate = commands.add_parser("eval", help="re-measure a model's training and test error")
    evaluate.add_argument("name", help="model name or key, e.g. fc100-100-10")
    evaluate.add_argument("--weights", help="evaluate this weights file instead of the installed one")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.set_defaults(run=command_eval, check=check_eval)

    train = commands.add_parser("train", help="train zoo models from scratch")
    train.add_argument("names", nargs="*", metavar="NAME", help="model names or keys")
    train.add_argument("--all", action="store_true", help="train every model of the zoo")
    train.add_argument("--out", help=f"folder for weights and records (default: {user_models_dir()})")
    train.add_argument("--limit", type=int, metavar="N",
                       help="train on only the first N images of the model's training data (a quick trial)")
    add_device_option(train, "training")
    train.set_defaults(run=command_train, check=check_train)
    attack = commands.add_parser("attack", help="find blind spots: the paper's box-constrained L-BFGS search")
    attack.add_argument("--model", help="model name or key, e.g. fc100-100-10, or a photo network: efficientnet-lite0 "
                                        "(the default with --image)")
    attack.add_argument("--images", help=f"digits: test:START:STOP or train:START:STOP (default {DEFAULT_IMAGES})")
    add_device_option(attack, "the search")
    attack.add_argument("--target", default="next",
                        help="next, random, least-likely, none (untargeted) or a label 0-9 (default: next)")
    attack.add_argument("--engine", choices=("fast", "reference"),
                        help="fast: batched torch L-BFGS-B; reference: scipy L-BFGS-B per image (default: fast)")
    attack.add_argument("--seed", type=int, help="--target random: seed of the random wrong labels (default 0)")
    attack.add_argument("--confidence", metavar="P",
                        help="a confident blind spot: the smallest change after which the network answers the target "
                             "with probability at least P (0 < P < 1, e.g. 0.9 or 90%%); default: the paper's minimal "
                             "change, which stops at the decision boundary")
    attack.add_argument("--margin", metavar="K",
                        help="a confident blind spot by logits: the target's logit at least K above every other "
                             "(K > 0); not with --confidence")
    attack.add_argument("--candidates", type=int, metavar="K",
                        help="--target none: search the K wrong classes a linear model of the network puts nearest "
                             "(default 4; 9 searches every wrong digit)")
    attack.add_argument("--json", metavar="FILE", help="write one record per image")
    attack.add_argument("--npz", metavar="FILE",
                        help="write arrays original and adversarial (N, C, H, W: channels first, pixels in [0, 1]; "
                             "digits 1x28x28, photos 3x224x224 as the network sees them), target (-1: untargeted), "
                             "and for digits label and index, for photos prediction and adversarial_prediction")
    attack.add_argument("--image", metavar="FILE", help="a photo for an ImageNet network (any size; resized and cropped "
                                                        "to 224x224 as the network expects)")
    add_own_network_options(attack)
    attack.add_argument("--save", metavar="FILE", help="save the adversarial image as an 8-bit PNG (one digit, or "
                                                       "the photo, its change scaled up if rounding undoes it)")
    attack.set_defaults(run=command_attack, check=check_attack)

    compare = commands.add_parser("compare", help="one image attacked by ours and by FGSM, DeepFool, DDN and C&W: "
                                                  "distortion and time of each")
    compare.add_argument("--image", required=True, metavar="test:I|FILE",
                         help="an MNIST test digit (test:I, with a zoo --model) or a photo file (a photo network)")
    compare.add_argument("--model", help="model name or key, e.g. fc100-100-10, or a photo network: efficientnet-lite0 "
                                         "(the default for a photo)")
    compare.add_argument("--target", default="none",
                         help="none (the nearest wrong class: every method runs; the default), next, random, "
                              "least-likely, or a class (a digit, or an ImageNet name such as ostrich); DeepFool only "
                              "runs untargeted")
    compare.add_argument("--methods", metavar="LIST",
                         help="comma-separated, from ours,fgsm,deepfool,ddn,cw (default: all, in that order)")
    compare.add_argument("--save", metavar="DIR",
                         help="write original.png and each method's adversarial image as an 8-bit PNG that still "
                              "fools the network (searched on the 8-bit lattice)")
    add_own_network_options(compare)
    compare.set_defaults(run=command_compare, check=check_compare)

    units = commands.add_parser("units", help="the test images that most excite a unit or a random direction")
    units.add_argument("--model", required=True, help="model name or key, e.g. conv")
    units.add_argument("--layer", required=True, help="a module name from model.named_modules(), e.g. relu3")
    units.add_argument("--unit", type=int, help="the unit (natural basis direction e_I)")
    units.add_argument("--random", type=int, metavar="SEED", help="a random unit-length direction from SEED")
    units.add_argument("--top", type=int, default=8, metavar="K", help="how many images (default 8)")
    units.add_argument("--bottom", action="store_true", help="the K images that excite it least instead")
    units.add_argument("--mode", choices=("full", "channel-mean", "channel-max"), default="full",
                       help="conv layers: the whole flattened feature map (default, as in the paper) "
                            "or one number per channel")
    add_device_option(units, "the network")
    units.add_argument("--json", metavar="FILE", help="write the direction, image indices, scores and labels")
    units.add_argument("--png", metavar="FILE", help="save the images side by side")
    units.set_defaults(run=command_units, check=check_units)

    reproduce = commands.add_parser("reproduce", help="reproduce a table of the paper (ours beside the paper's)")
    reproduce.add_argument("experiment", choices=("table1", "table2", "table3", "table4", "table5", "advtrain"))
    reproduce.add_argument("--model", help="table5: a zoo model or a photo network (e.g. efficientnet-lite0) instead of "
                                          "the paper's AlexNet; table1: a photo network, attacked on --images; "
                                          "table2: photo networks separated by commas (efficientnet-lite0,resnet18)")
    reproduce.add_argument("--images", metavar="FOLDER",
                           help="table1 or table2 with --model: a folder with one subfolder of photos per class, each named by "
                                "the class's exact name or number, or photos with a labels.csv of lines "
                                "'file,class' (default: the sample photos whose class is known)")
    reproduce.add_argument("--rule", choices=("random", "next", "nearest"),
                           help="tables 1-4: the target label of each attack (default random: a seeded random wrong "
                                "label; the photo tables take random or next)")
    reproduce.add_argument("--per-layer", action="store_true",
                           help="advtrain: also train on adversarial examples of each hidden layer's output")
    reproduce.add_argument("--epochs", type=int, help="advtrain: fewer epochs for a quick look (not saved to the zoo)")
    reproduce.add_argument("--n",
                           help="images to attack per model (training images for tables 1-2, test images for "
                                "tables 3-4, photos of --images for the photo tables), or 'all' (default 1000)")
    add_device_option(reproduce, "tables 1-4, the photo tables and advtrain (with --cluster, each part asks "
                                 "the cluster for a GPU of its own)")
    reproduce.add_argument("--cluster", metavar="ADDRESS",
                           help="compute each part (a network, 16 photos, a layer's bound, an epoch) as a task on "
                                "a Ray cluster: 'local' (start "
                                "one on this machine), 'auto' (the one running here) or its address; finished parts "
                                "come back here and are stored as in a local run (needs pip install "
                                "\"blindspot-gui[cluster]\")")
    reproduce.add_argument("--json", metavar="FILE", help="write the full result")
    reproduce.add_argument("--csv", metavar="FILE", help="write the table")
    reproduce.set_defaults(run=command_reproduce, check=check_reproduce)
    return parser


HINTS = {
    OutputError: "choose another path",
    UnknownModelError: "`blindspot models` lists the zoo",
    ImageFileError: "check the image file, or give another",
}
"""What to do, for errors whose messages say only what went wrong."""


def error_line(command: str, error: BaseException) -> str:
    """``blindspot COMMAND: what — what to do`` on one line."""
    what = " ".join(str(error).split()) or type(error).__name__
    hint = next((hint for kind, hint in HINTS.items() if isinstance(error, kind)), None)
    if hint is None and isinstance(error, OSError) and not isinstance(error, OutputError):
        what = f"{os_reason(error)}" + (f": '{error.filename}'" if error.filename else "")
        hint = "check the file and its permissions"
    return f"blindspot {command}: {what.rstrip('.')} — {hint}" if hint and " — " not in what else f"blindspot {command}: {what}"


def run_interruptibly(work: Callable[[], int], monitors: list[Monitor], command: str,
                      grace: float = INTERRUPT_GRACE_S) -> int:
    """Run ``work`` in a worker thread so that Ctrl+C is heard even while a model's C++ code runs.

    The main thread waits in short steps. On Ctrl+C it cancels ``monitors``; work that stops
    within ``grace`` seconds ends as an ordinary interruption (KeyboardInterrupt is raised here),
    work that does not (a C++ forward pass that never returns) ends the process with status 130.
    An exception of the work is raised here as it is.
    """
    outcome: dict = {}
    done = threading.Event()  # not Thread.join: a join interrupted by Ctrl+C may report a running thread as ended

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the main thread, which reports it
            outcome["error"] = error
        finally:
            done.set()

    try:  # start() too: Ctrl+C may come as soon as the work runs, before start() has returned here
        threading.Thread(target=target, name=f"blindspot {command}", daemon=True).start()
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        for monitor in monitors:
            monitor.cancel()
        try:
            done.wait(grace)
        except KeyboardInterrupt:  # a second Ctrl+C: stop waiting
            pass
        if not done.is_set():
            print(f"\nblindspot {command}: interrupted", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.monitors = []
    from blindspot_gui.core.threads import torch_threads

    try:
        with torch_threads(None):  # configure_threads sets the process's count: a caller (a test) gets its own back
            args.threads = configure_threads()
            if getattr(args, "check", None):
                args.check(args)
            return run_interruptibly(lambda: args.run(args), args.monitors, args.command)
    except UsageError as error:
        print(error_line(args.command, error), file=sys.stderr)
        return EXIT_USAGE
    except (UnknownModelError, WeightsError, DatasetError, ImageFileError, OutputError, ValueError, OSError) as error:
        print(error_line(args.command, error), file=sys.stderr)
        return EXIT_FAILURE
    except (KeyboardInterrupt, Cancelled):
        print(f"\nblindspot {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug or a library failure: one line, and how to see more
        if is_out_of_memory(error):
            print(f"blindspot {args.command}: {OUT_OF_MEMORY}", file=sys.stderr)
            return EXIT_FAILURE
        if os.environ.get("BLINDSPOT_TRACEBACK"):
            raise
        print(f"blindspot {args.command}: unexpected {type(error).__name__}: {' '.join(str(error).split())[:300]} — "
              "run again with BLINDSPOT_TRACEBACK=1 for the details, and report it", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
