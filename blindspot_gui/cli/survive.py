"""The survive command: whether blind spots keep fooling the network after natural changes (codecs, shifts, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from blindspot_gui.cli.common import EXIT_FAILURE, TerminalProgress, UsageError, cancellable, write_outputs
from blindspot_gui.cli.networks import digit_network
from blindspot_gui.cli.one_image import check_goal_choice, check_one_image, one_blind_spot
from blindspot_gui.core.files import atomic_write_json
from blindspot_gui.core.models.photo_catalogue import is_photo_model_name, load_photo_model
from blindspot_gui.core.survival import FAMILIES, Survival, survival


def check_survive(args) -> None:
    """--image (a search first) or --npz (blind spots found before), not both; the goal of the search."""
    if (args.image is None) == (args.npz is None):
        raise UsageError("give --image (a search for its blind spot first) or --npz (blind spots saved by "
                         "`blindspot attack --npz`)")
    if args.npz is not None:
        if args.goal is not None or args.share is not None or args.confidence is not None or args.target != "none":
            raise UsageError("--goal, --share, --confidence and --target choose the search for --image; --npz holds "
                             "blind spots already found — leave them out")
        if not args.model or args.model_file:
            raise UsageError("--npz: say which network its blind spots fool with --model (a zoo or photo network)")
        return
    check_one_image(args, "survive")
    check_goal_choice(args)


def command_survive(args) -> int:
    bar = TerminalProgress("survive")
    monitor = cancellable(args, on_progress=bar)
    try:
        if args.npz is None:
            model, result, what = one_blind_spot(args, monitor.scaled(0.0, 0.8))
            if not result.success:
                print(f"{what} through {model.name}: no blind spot found for this target, so nothing to survive")
                return EXIT_FAILURE
            pairs, names = [(result.original, result.adversarial)], [what]
        else:
            model = _npz_network(args)
            pairs = read_blind_spots(args.npz, model.input_shape)
            names = [f"{Path(args.npz).name} #{index}" for index in range(len(pairs))]
        found = []
        for index, (original, adversarial) in enumerate(pairs):
            found.append(survival(model, original, adversarial,
                                  monitor=monitor.scaled(0.8 + 0.2 * index / len(pairs), 0.8 + 0.2 * (index + 1) / len(pairs))
                                  if args.npz is None else monitor.scaled(index / len(pairs), (index + 1) / len(pairs))))
    finally:
        bar.finish()
    _print_survival(found, names, model.name)
    record = {"network": model.name, "goal": (args.goal or "minimal") if args.npz is None else "as saved",
              "blind_spots": [entry.to_record() | {"image": name} for entry, name in zip(found, names)],
              "mean_shares": mean_shares(found)}
    return write_outputs("survive", [(args.json, lambda path: atomic_write_json(path, record), "the table")])


def mean_shares(found: list[Survival]) -> dict[str, float]:
    """Per family, the mean over the blind spots of the share of its changes each survives."""
    return {family: float(np.mean([entry.shares()[family] for entry in found])) for family in (*FAMILIES, "all")}


def _print_survival(found: list[Survival], names: list[str], network: str) -> None:
    if len(found) == 1:
        entry = found[0]
        print(f"{names[0]} through {network}: distortion (RMS) {entry.distortion:.4f}")
        for name, answer, kept, fine in zip(entry.names, entry.answers, entry.survived(), entry.original_answers):
            note = "" if fine == entry.original_answer else "  (the change alone fools it on the original: not counted)"
            print(f"  {name:24s} answer {answer:4d}  {'still fooled' if kept else 'not fooled'}{note}")
    shares = mean_shares(found)
    distortion = np.mean([entry.distortion for entry in found])
    print(f"{len(found)} blind spot{'s' if len(found) != 1 else ''} of {network}, mean distortion (RMS) "
          f"{distortion:.4f}; share of each family's changes under which the answer stays wrong:")
    print("  " + "  ".join(f"{family} {100 * shares[family]:.0f}%" for family in (*FAMILIES, "all")))


def _npz_network(args):
    """The network of --model that the saved blind spots were found for: a zoo or a photo network."""
    return load_photo_model(args.model) if is_photo_model_name(args.model) else digit_network(args)


def read_blind_spots(path, shape: tuple[int, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(original, adversarial) pairs from an NPZ written by `blindspot attack --npz`: arrays of (N, *shape) in [0, 1],
    read without pickles; a ValueError naming the file and what is wrong otherwise."""
    name = Path(path).name
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [key for key in ("original", "adversarial") if key not in arrays.files]
            if missing:
                raise KeyError(missing[0])
            original, adversarial = (np.asarray(arrays[key], dtype=np.float32) for key in ("original", "adversarial"))
    except KeyError as error:
        raise ValueError(f"{name} has no array {error}: write it with `blindspot attack --npz`") from None
    except (OSError, ValueError, EOFError, TypeError) as error:
        raise ValueError(f"{name} is not a readable NPZ file ({' '.join(str(error).split())[:120]})") from None
    if original.shape != adversarial.shape or original.shape[1:] != tuple(shape) or len(original) == 0:
        raise ValueError(f"{name} holds arrays of shape {original.shape} and {adversarial.shape}; this network reads "
                         f"images of {'x'.join(map(str, shape))}")
    if not (np.isfinite(original).all() and np.isfinite(adversarial).all()) or original.min() < 0 or \
            original.max() > 1 or adversarial.min() < 0 or adversarial.max() > 1:
        raise ValueError(f"{name} holds pixels outside [0, 1] or not numbers")
    return list(zip(original, adversarial))
