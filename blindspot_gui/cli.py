"""The `blindspot` command line: list, evaluate and train the zoo's models (a front end on the core)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from blindspot_gui.core.data import DatasetError
from blindspot_gui.core.monitor import Cancelled, Monitor
from blindspot_gui.core.weights import WeightsError, load_zoo_model, model_status, save_model, user_models_dir
from blindspot_gui.core.zoo import ZOO, UnknownModelError, find_spec

EXIT_USAGE = 2
EXIT_FAILURE = 1


def percent(fraction) -> str:
    return "—" if fraction is None else f"{100 * fraction:.2f}%"


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
    from blindspot_gui.core.training import measure_errors

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


def command_train(args) -> int:
    from blindspot_gui.core.data import training_part
    from blindspot_gui.core.training import train_model

    if args.limit is not None and args.limit < 1:
        print("blindspot train: --limit must be a positive number of images", file=sys.stderr)
        return EXIT_USAGE
    if args.all == bool(args.names):
        print("blindspot train: give model names or --all (not both)", file=sys.stderr)
        return EXIT_USAGE
    specs = list(ZOO) if args.all else [find_spec(name) for name in args.names]
    out = Path(args.out) if args.out else user_models_dir()
    for spec in specs:
        bar = TerminalProgress(f"{spec.name:<20}")
        data = training_part(spec.training_data).subset(range(args.limit)) if args.limit else None
        try:
            result = train_model(spec, Monitor(on_progress=bar), device=args.device, data=data)
        finally:
            bar.finish()
        path = save_model(result.model, spec, result.metadata, out)
        errors = result.metadata["errors"]
        summary = ", ".join(f"{part} {percent(error)}" for part, error in errors.items())
        print(f"{spec.name}: {summary} (paper test {percent(spec.paper.test_error)}); "
              f"{result.metadata['wall_time_s']:.0f}s -> {path}")
    return 0


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


def command_attack(args) -> int:
    from blindspot_gui.core.imagenet import is_photo_model_name

    if args.image or args.model_file:
        return command_attack_photo(args)
    if not args.model:
        raise ValueError("say which network to attack with --model (for a photo: --image FILE too)")
    if is_photo_model_name(args.model):
        raise ValueError(f"{args.model} classifies photos: give the photo with --image FILE")
    import numpy as np

    from blindspot_gui.core.attack.search import AttackConfig, blindspot_search
    from blindspot_gui.core.data import load_mnist

    split, start, stop = parse_image_range(args.images)
    dataset = load_mnist(split)
    if stop > len(dataset):
        raise ValueError(f"the {split} set has {len(dataset)} images; {args.images} goes past its end")
    model = load_zoo_model(args.model)
    images, labels = dataset.images[start:stop], dataset.labels[start:stop]
    bar = TerminalProgress(f"attack {find_spec(args.model).name}")
    started = time.perf_counter()
    try:
        results = blindspot_search(model, images, args.target, labels, engine=args.engine,
                                   config=AttackConfig(seed=args.seed, untargeted_candidates=args.candidates),
                                   monitor=Monitor(on_progress=bar))
    finally:
        bar.finish()
    seconds = time.perf_counter() - started
    for result in results:
        result.index += start
    succeeded = [result for result in results if result.success]
    distortions = np.array([result.distortion for result in succeeded])
    print(f"{len(results)} images from {split}[{start}:{stop}], target {args.target}, engine {args.engine}")
    print(f"  success rate      {100 * len(succeeded) / len(results):.1f}%")
    if len(distortions):
        print(f"  mean distortion   {distortions.mean():.4f}   (RMS over pixels in [0, 1]; successful images)")
        print(f"  median distortion {np.median(distortions):.4f}")
    print(f"  time per image    {1000 * seconds / len(results):.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps([result.to_record() for result in results], indent=1) + "\n")
    if args.npz:
        np.savez_compressed(
            args.npz,
            original=np.stack([result.original for result in results]),
            adversarial=np.stack([result.adversarial for result in results]),
            label=np.array([result.label for result in results]),
            target=np.array([-1 if result.target is None else result.target for result in results]),
            index=np.array([result.index for result in results]),
        )
    return 0


def command_attack_photo(args) -> int:
    """One photo through an ImageNet network (or the user's own), pushed to the class named by --target."""
    import torch

    from blindspot_gui.core.attack.search import blindspot_search
    from blindspot_gui.core.images import read_image
    from blindspot_gui.core.imagenet import (
        DEFAULT_PHOTO_MODEL, PHOTO_ATTACK, load_custom_photo_model, load_photo_model, prepare_photo,
    )

    if not args.image:
        raise ValueError("give the photo to attack with --image FILE")
    if args.model_file:
        model = load_custom_photo_model(args.model_file, args.architecture, args.preprocessing, args.classes)
    else:
        model = load_photo_model(args.model or DEFAULT_PHOTO_MODEL)
    pixels = torch.from_numpy(prepare_photo(read_image(args.image), model.preprocessing))
    target = _photo_target(args.target, model)
    bar = TerminalProgress(f"attack {model.name}")
    started = time.perf_counter()
    try:
        result = blindspot_search(model, pixels[None], target, None,
                                  config=PHOTO_ATTACK, monitor=Monitor(on_progress=bar))[0]
    finally:
        bar.finish()
    seconds = time.perf_counter() - started
    names = model.class_names
    wanted = "the nearest wrong class" if result.target is None else repr(names[result.target])
    print(f"{Path(args.image).name} through {model.name}, target {wanted}")
    print(f"  before  {_top_classes(result.probabilities_before, names)}")
    print(f"  after   {_top_classes(result.probabilities_after, names)}")
    print(f"  {'success' if result.success else 'FAILED'}: now {names[result.adversarial_prediction]!r}; "
          f"distortion {result.distortion:.4f} RMS (pixels in [0, 1]), largest change {result.linf * 255:.1f}/255; "
          f"{seconds:.1f} s")
    if args.json:
        record = result.to_record() | {"class_names": {"original": names[result.original_prediction],
                                                       "adversarial": names[result.adversarial_prediction]},
                                       "model": model.name, "image": str(args.image), "seconds": round(seconds, 2)}
        Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    if args.save and result.success:
        _save_photo(model, result, args.save)
    return 0 if result.success else EXIT_FAILURE


def _save_photo(model, result, path) -> None:
    """Save the adversarial photo as an 8-bit PNG that still fools the network (its change scaled up if need be)."""
    import numpy as np

    from blindspot_gui.core.attack.search import distortion_measures
    from blindspot_gui.core.images import save_rgb_png
    from blindspot_gui.core.imagenet import quantised_adversarial

    kept = quantised_adversarial(model, result.original, result.adversarial, result.original_prediction, result.target)
    if kept is None:
        print(f"  not saved: rounded to 8 bits the photo no longer fools {model.name}, even with 4 times the change")
        return
    pixels, scale = kept
    save_rgb_png(pixels, path)
    distortion = distortion_measures(pixels - np.asarray(result.original))[0]
    print(f"  saved {path}: 8-bit PNG that still fools the network (change scaled ×{scale:.2f}, distortion {distortion:.4f})")


def _photo_target(text: str, model):
    """A rule name (next, random, least-likely, none) as it is; otherwise the class the text names."""
    from blindspot_gui.core.attack.search import TARGET_POLICIES
    from blindspot_gui.core.imagenet import class_index

    return text if text in TARGET_POLICIES else class_index(text, model.class_names)


def _top_classes(probabilities, names, count: int = 3) -> str:
    order = probabilities.argsort()[::-1][:count]
    return ", ".join(f"{names[i]} {100 * probabilities[i]:.1f}%" for i in order)


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
    canvas.save(path, format="PNG")


def command_units(args) -> int:
    from blindspot_gui.core.data import load_mnist
    from blindspot_gui.core.units import (
        ActivationCache,
        random_direction,
        top_images,
        unit_direction,
        unit_title,
    )

    if (args.unit is None) == (args.random is None):
        print("blindspot units: give either --unit I or --random SEED", file=sys.stderr)
        return EXIT_USAGE
    model = load_zoo_model(args.model)
    data = load_mnist("test")
    started = time.perf_counter()
    activations = ActivationCache().get(model, data, args.layer, args.mode)
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
    if args.json:
        record = {"model": find_spec(args.model).name, "layer": args.layer, "mode": args.mode, "title": title,
                  "direction": direction.tolist(), "which": which, "indices": result.indices.tolist(),
                  "scores": result.scores.tolist(), "labels": result.labels.tolist(), "purity": result.purity}
        Path(args.json).write_text(json.dumps(record) + "\n")
    if args.png:
        save_image_row(data.images[result.indices, 0].numpy(),
                       [f"{int(label)} ({float(score):.2f})" for label, score in zip(result.labels, result.scores)],
                       args.png)
    return 0


def _run_experiment(args, monitor: Monitor) -> dict:
    from blindspot_gui.core import experiments

    if args.experiment == "table5":
        return experiments.table5(args.model, monitor)
    if args.experiment == "advtrain":
        if args.epochs is not None and args.epochs < 1:
            raise ValueError("--epochs must be at least 1")
        return experiments.advtrain(args.per_layer, monitor, args.epochs)
    n = None if args.n == "all" else _positive_count(args.n)
    run = {"table1": experiments.table1, "table2": experiments.table2, "table3": experiments.table3,
           "table4": experiments.table4}[args.experiment]
    return run(n, monitor, args.rule)


def _positive_count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"--n must be a positive number or 'all', not {text!r}") from None
    if n < 1:
        raise ValueError("--n must be a positive number or 'all'")
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
    import csv

    from blindspot_gui.core.experiments import comparison_table, table_as_csv, table_as_text

    bar = TerminalProgress(f"reproduce {args.experiment}")
    started = time.perf_counter()
    monitor = Monitor(on_progress=bar, on_partial=_print_advtrain_partial if args.experiment == "advtrain" else None)
    try:
        result = _run_experiment(args, monitor)
    finally:
        bar.finish()
    table = comparison_table(result)
    header, rows = table_as_text(table)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"{table.title} — ours (paper)")
    for line in (header, *rows):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)))
    for note in table.notes:
        print(note)
    print(f"{time.perf_counter() - started:.1f} s (finished parts are kept and reused: {result.get('folder', '—')})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    if args.csv:
        header, rows = table_as_csv(table)
        with open(args.csv, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows(rows)
    return 0


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
    evaluate.set_defaults(run=command_eval)

    train = commands.add_parser("train", help="train zoo models from scratch")
    train.add_argument("names", nargs="*", metavar="NAME", help="model names or keys")
    train.add_argument("--all", action="store_true", help="train every model of the zoo")
    train.add_argument("--out", help=f"folder for weights and records (default: {user_models_dir()})")
    train.add_argument("--limit", type=int, metavar="N",
                       help="train on only the first N images of the model's training data (a quick trial)")
    train.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    train.set_defaults(run=command_train)
    attack = commands.add_parser("attack", help="find blind spots: the paper's box-constrained L-BFGS search")
    attack.add_argument("--model", help="model name or key, e.g. fc100-100-10, or a photo network: efficientnet-lite0 "
                                        "(the default with --image)")
    attack.add_argument("--images", default="test:0:10", help="test:START:STOP or train:START:STOP (default test:0:10)")
    attack.add_argument("--target", default="next",
                        help="next, random, least-likely, none (untargeted) or a label 0-9 (default: next)")
    attack.add_argument("--engine", choices=("fast", "reference"), default="fast",
                        help="fast: batched torch L-BFGS-B; reference: scipy L-BFGS-B per image (default: fast)")
    attack.add_argument("--seed", type=int, default=0, help="seed of the random target rule")
    attack.add_argument("--candidates", type=int, default=9, metavar="K",
                        help="untargeted: search only the K most promising wrong labels (default: all 9)")
    attack.add_argument("--json", metavar="FILE", help="write one record per image")
    attack.add_argument("--npz", metavar="FILE", help="write arrays original, adversarial, label, target, index")
    attack.add_argument("--image", metavar="FILE", help="a photo for an ImageNet network (any size; resized and cropped "
                                                        "to 224x224 as the network expects)")
    attack.add_argument("--model-file", metavar="FILE", help="your own photo classifier: TorchScript, or a state dict "
                                                             "with --architecture")
    attack.add_argument("--architecture", help="torchvision architecture of --model-file's state dict, e.g. resnet18")
    attack.add_argument("--preprocessing", default="imagenet", choices=("imagenet", "efficientnet-lite", "none"),
                        help="normalisation --model-file expects (default imagenet)")
    attack.add_argument("--classes", metavar="FILE", help="class names of --model-file, one per line")
    attack.add_argument("--save", metavar="FILE", help="photos: save the adversarial photo as a PNG")
    attack.set_defaults(run=command_attack)

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
    units.add_argument("--json", metavar="FILE", help="write the direction, image indices, scores and labels")
    units.add_argument("--png", metavar="FILE", help="save the images side by side")
    units.set_defaults(run=command_units)

    reproduce = commands.add_parser("reproduce", help="reproduce a table of the paper (ours beside the paper's)")
    reproduce.add_argument("experiment", choices=("table1", "table2", "table3", "table4", "table5", "advtrain"))
    reproduce.add_argument("--model", help="table5: a zoo model or a photo network (e.g. efficientnet-lite0) instead of "
                                          "the paper's AlexNet")
    reproduce.add_argument("--rule", default="random", choices=("random", "next", "nearest"),
                           help="tables 1-4: the target label of each attack (default: a seeded random wrong label)")
    reproduce.add_argument("--per-layer", action="store_true",
                           help="advtrain: also train on adversarial examples of each hidden layer's output")
    reproduce.add_argument("--epochs", type=int, help="advtrain: fewer epochs for a quick look (not saved to the zoo)")
    reproduce.add_argument("--n", default="1000",
                           help="images to attack per model (training images for tables 1-2, test images for "
                                "tables 3-4), or 'all' (default 1000)")
    reproduce.add_argument("--json", metavar="FILE", help="write the full result")
    reproduce.add_argument("--csv", metavar="FILE", help="write the table")
    reproduce.set_defaults(run=command_reproduce)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (UnknownModelError, WeightsError, DatasetError, ValueError) as error:
        print(f"blindspot {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except (KeyboardInterrupt, Cancelled):
        print(f"\nblindspot {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
