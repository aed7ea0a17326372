"""What the digit and photo attacks share: the search's options and settings, its goal in words, and its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blindspot_gui.cli.common import UsageError
from blindspot_gui.core.attack.goal import check_goal
from blindspot_gui.core.attack.request import SearchRequest
from blindspot_gui.core.attack.quantise import quantise_result
from blindspot_gui.core.files import atomic_write


def check_search_options(args) -> None:
    """Refuse --seed, --candidates, --confidence and --margin where the target or each other leave them unused or
    wrong; the goal's numbers are read into ``args``."""
    if args.seed is not None and args.target != "random":
        raise UsageError("--seed chooses the targets of --target random; it is not used with --target "
                         f"{args.target} — leave it out")
    if args.candidates is not None and args.target != "none":
        raise UsageError("--candidates is for untargeted searches (--target none); it is not used with --target "
                         f"{args.target} — leave it out")
    if args.candidates is not None and args.candidates < 1:
        raise UsageError("--candidates must be at least 1")
    args.confidence = goal_number(args.confidence, "--confidence", percent=True)
    args.margin = goal_number(args.margin, "--margin")
    if args.confidence is not None and args.margin is not None:
        raise UsageError("give --confidence or --margin, not both")
    for option, confidence, margin in (("--confidence", args.confidence, None), ("--margin", None, args.margin)):
        try:
            check_goal(confidence, margin)
        except ValueError as error:
            raise UsageError(f"{option}: {error}") from None
    check_goal_name(args)


DEFAULT_CONFIDENCE = 0.9
DEFAULT_ROBUST_SHARE = 0.9


def check_goal_name(args) -> None:
    """--goal minimal, confident or robust beside --confidence / --margin / --share: read into ``args.confidence``,
    ``args.margin`` and ``args.robust`` (a confident goal without a number asks for p >= 0.9, a robust one for 90% of
    its changed copies)."""
    goal, given = args.goal, args.confidence is not None or getattr(args, "margin", None) is not None
    args.robust = None
    if args.share is not None and goal != "robust":
        raise UsageError("--share is the robust goal's share of changed copies — add --goal robust or leave it out")
    if goal in ("minimal", "robust") and given:
        raise UsageError(f"--goal {goal} takes no --confidence or --margin (they set the confident goal)")
    if goal == "confident" and not given:
        args.confidence = DEFAULT_CONFIDENCE
    if goal == "robust":
        args.robust = DEFAULT_ROBUST_SHARE if args.share is None else goal_number(args.share, "--share", percent=True)
        try:
            check_goal(None, None, args.robust)
        except ValueError as error:
            raise UsageError(f"--share: {error}") from None


def goal_number(text: str | None, option: str, percent: bool = False) -> float | None:
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


def search_request(args, target) -> SearchRequest:
    """What the user asked for on the command line, as the window asks it (one policy: ``SearchRequest``)."""
    return SearchRequest(target=target, confidence=args.confidence, margin=args.margin, robust=args.robust,
                         seed=args.seed, candidates=args.candidates)


def minimal_line(minimal) -> str:
    """The smallest changes a confident search started from, to compare with it: "  smallest change first ..." """
    fooled = [result.distortion for result in minimal if result.success]
    mean = f", mean distortion {np.mean(fooled):.4f}" if fooled else ""
    return (f"  smallest change first: {len(fooled)} of {len(minimal)} fooled{mean} "
            "(then the confident or robust change for the same answer)")


def goal_text(args) -> str:
    if getattr(args, "robust", None) is not None:
        return f"the answer on ≥ {100 * args.robust:g}% of changed copies (robust)"
    if args.confidence is not None:
        return f"probability ≥ {args.confidence:.10g}"
    return f"logit margin ≥ {args.margin:.10g}" if args.margin is not None else "minimal (the paper)"


def failure_detail(model, args) -> str:
    """The technical reason of a failure, and what to try."""
    config = search_request(args, args.target).config(model)
    goal = " or leave out --confidence/--margin/--goal" if not config.goal.minimal else ""
    return (f"no c reached it ({config.max_iterations} L-BFGS iterations per solve, c bracketed around a linear "
            f"estimate) — try another --target{goal}")


def write_npz(path: Path, results, extra: dict) -> None:
    """original and adversarial (N, C, H, W: channels first, pixels in [0, 1]), target (-1: untargeted), and ``extra``."""
    arrays = {"original": np.stack([result.original for result in results]),
              "adversarial": np.stack([result.adversarial for result in results]),
              "target": np.array([-1 if result.target is None else result.target for result in results])} | extra
    atomic_write(path, lambda stream: np.savez_compressed(stream, **arrays))


def quantised_image(model, result):
    """The 8-bit image nearest the float result that still meets its goal (a Quantised), or None with the reason printed."""
    if not result.success:
        print("  not saved: the search did not fool the network")
        return None
    kept = quantise_result(model, result)
    if kept is None:
        print(f"  not saved: no 8-bit image within 4 times the change still fools {model.name}; "
              "use --npz for the exact pixels")
    return kept
