"""The compare command: one image attacked by ours and by FGSM, DeepFool, DDN and C&W, as a table and PNGs."""

from __future__ import annotations

import time
from pathlib import Path

from blindspot_gui.cli.common import TerminalProgress, UsageError, cancellable, write_outputs
from blindspot_gui.cli.networks import photo_target
from blindspot_gui.cli.one_image import check_one_image, one_image
from blindspot_gui.cli.search import goal_number
from blindspot_gui.core.attack.compare import METHODS, compare_methods, foolbox_version
from blindspot_gui.core.attack.goal import check_goal
from blindspot_gui.core.attack.quantise import quantised_adversarial
from blindspot_gui.core.files import atomic_write, check_writable_folder
from blindspot_gui.core.images import save_grey_png, save_rgb_png


def check_compare(args) -> None:
    """Refuse, before any work: a digit with a photo network (or the reverse), unknown methods, an unwritable --save."""
    check_one_image(args, "compare")
    args.confidence = goal_number(args.confidence, "--confidence", percent=True)
    try:
        check_goal(args.confidence, None)
    except ValueError as error:
        raise UsageError(f"--confidence: {error}") from None
    args.methods = [name.strip() for name in (args.methods or ",".join(METHODS)).split(",") if name.strip()]
    unknown = [name for name in args.methods if name not in METHODS]
    if unknown or not args.methods:
        raise UsageError(f"--methods: unknown method {unknown[0]!r} — choose from {','.join(METHODS)}" if unknown
                         else f"--methods: name at least one of {','.join(METHODS)}")
    if args.save:
        args.save = check_writable_folder(args.save, "--save folder")


def command_compare(args) -> int:
    """The image attacked by each method: a table of distortion and time, and with --save each 8-bit PNG."""
    model, pixels, label, what = one_image(args)
    target = photo_target(args.target, model)
    bar = TerminalProgress(f"compare on {model.name}")
    monitor = cancellable(args, on_progress=bar)
    started = time.perf_counter()
    try:
        results = compare_methods(model, pixels, label, target, methods=args.methods, confidence=args.confidence,
                                  monitor=monitor)
    finally:
        bar.finish()
    monitor.check()  # interrupted: the unfinished comparison is not presented as one
    answer = int(model.probabilities(pixels).argmax())
    wanted = "the nearest wrong class" if results[0].target is None else repr(model.class_name(results[0].target))
    goal = "" if args.confidence is None else f", goal p ≥ {args.confidence:g}"
    print(f"{what} through {model.name}, which says {model.class_name(answer)!r}; target {wanted}{goal}")
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
            fooled = "not run" if not result.ran else "no" if result.prediction is None else "not sure"
            answer = "—" if result.prediction is None else (
                f"{class_name(result.prediction)} ({100 * result.probability:.0f}%)")
            rows.append((result.name, result.budget, fooled, answer, "—", "—", "—", "—",
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
    if pixels.shape[0] == 1:
        atomic_write(path, lambda stream: save_grey_png(pixels[0], stream))
    else:
        atomic_write(path, lambda stream: save_rgb_png(pixels, stream))
