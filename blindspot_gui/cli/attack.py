"""The attack command: its checks, and the paper's search on MNIST digits (a photo goes to attack_photo)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from blindspot_gui.cli.attack_photo import command_attack_photo
from blindspot_gui.cli.common import (
    DEFAULT_IMAGES,
    EXIT_FAILURE,
    TerminalProgress,
    UsageError,
    cancellable,
    check_device,
    check_outputs,
    device_of,
    parse_image_range,
    refuse_unused,
    write_outputs,
)
from blindspot_gui.cli.networks import PHOTO_OPTIONS, check_architecture_file, digit_network
from blindspot_gui.cli.search import (
    check_search_options,
    failure_detail,
    goal_text,
    minimal_line,
    quantised_image,
    search_request,
    write_npz,
)
from blindspot_gui.core.attack.request import search_chain
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.files import atomic_write, atomic_write_json
from blindspot_gui.core.images import save_grey_png
from blindspot_gui.core.models.photo_catalogue import is_photo_model_name


DIGIT_OPTIONS = {"images": "--images"}


def check_attack(args) -> None:
    """Refuse, before any work, options the chosen path would ignore and outputs that could not be written."""
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
        check_architecture_file(args)
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
        check_architecture_file(args)
        args.split, args.start, args.stop = parse_image_range(args.images or DEFAULT_IMAGES)
        if args.save and args.stop - args.start != 1:
            raise UsageError("--save writes one adversarial digit as a PNG: give one image (--images test:I), "
                             "or use --npz for several")
    check_search_options(args)
    check_outputs({"--json": args.json, "--npz": args.npz, "--save": args.save})


def command_attack(args) -> int:
    if args.image:
        return command_attack_photo(args)
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
        minimal, results = search_chain(model, images, search_request(args, args.target), labels, engine=engine,
                                        monitor=monitor)
    finally:
        bar.finish()
    monitor.check()  # interrupted: the best-so-far results are not presented or written as the answer
    seconds = time.perf_counter() - started
    for result in results:
        result.index += start
    succeeded = [result for result in results if result.success]
    distortions = np.array([result.distortion for result in succeeded])
    print(f"{len(results)} images from {split}[{start}:{stop}], target {args.target}, engine {engine}, "
          f"goal {goal_text(args)}")
    if minimal is not None:
        print(minimal_line(minimal))
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
              f"search's limits: {failure_detail(model, args)}")
    print(f"  time per image    {1000 * seconds / len(results):.1f} ms ({args.threads} CPU thread"
          f"{'' if args.threads == 1 else 's'})")
    arrays = {"label": np.array([result.label for result in results]),
              "index": np.array([result.index for result in results])}
    saved = quantised_image(model, results[0]) if args.save else None
    code = write_outputs("attack", [
        (args.json, lambda path: atomic_write_json(path, [result.to_record() for result in results]), "the records"),
        (args.npz, lambda path: write_npz(path, results, arrays), "the arrays"),
        (args.save if saved else None, lambda path: _save_digit(saved, path), "the adversarial digit"),
    ])
    return code if saved or not args.save else EXIT_FAILURE


def _wanted(args) -> str:
    wanted = "another class" if args.target == "none" else "their target"
    return wanted + ("" if args.confidence is None and args.margin is None and args.robust is None
                     else f" with {goal_text(args)}")


def _save_digit(saved, path: Path) -> None:
    """The adversarial digit as an 8-bit PNG that still fools the network (searched on the 8-bit lattice)."""
    atomic_write(path, lambda stream: save_grey_png(saved.pixels[0], stream))
    print(f"  saved {path}: 8-bit PNG; the network says {saved.answer} (still fooled); distortion "
          f"{saved.distortion:.4f} RMS (float {saved.float_distortion:.4f}, ×{saved.ratio:.2f})")
