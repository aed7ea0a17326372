"""The attack command on a photo: one image through an ImageNet network (or the user's own), pushed to a class."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from blindspot_gui.cli.common import EXIT_FAILURE, TerminalProgress, cancellable, write_outputs
from blindspot_gui.cli.networks import photo_network_and_image, photo_target
from blindspot_gui.cli.search import failure_detail, goal_text, minimal_line, quantised_image, search_request, write_npz
from blindspot_gui.core.attack.request import search_chain
from blindspot_gui.core.attack.search import failure_sentence
from blindspot_gui.core.files import atomic_write, atomic_write_json
from blindspot_gui.core.images import save_rgb_png


def command_attack_photo(args) -> int:
    """One photo through an ImageNet network (or the user's own), pushed to the class named by --target."""
    import torch

    model, pixels = photo_network_and_image(args)
    pixels = torch.from_numpy(pixels)
    target = photo_target(args.target, model)
    bar = TerminalProgress(f"attack {model.name}")
    monitor = cancellable(args, on_progress=bar)
    started = time.perf_counter()
    try:
        minimal, results = search_chain(model, pixels[None], search_request(args, target), None,
                                        engine=args.engine or "fast", monitor=monitor)
        result = results[0]
    finally:
        bar.finish()
    monitor.check()
    seconds = time.perf_counter() - started
    names = model.class_names
    wanted = "the nearest wrong class" if result.target is None else repr(names[result.target])
    print(f"{Path(args.image).name} through {model.name}, target {wanted}")
    print(f"  before  {_top_classes(result.probabilities_before, names)}")
    if minimal is not None:
        print(minimal_line(minimal))
    print(f"  after   {_top_classes(result.probabilities_after, names)}")
    print(f"  {'success' if result.success else 'FAILED'}: now {names[result.adversarial_prediction]!r} "
          f"({100 * result.target_probability:.1f}%, goal {goal_text(args)}); "
          f"distortion {result.distortion:.4f} RMS (pixels in [0, 1]), largest change {result.linf * 255:.1f}/255; "
          f"{seconds:.1f} s")
    if not result.success and not result.cancelled:
        print(f"  {failure_sentence(result, model.class_name, 'photo')} "
              f"{failure_detail(model, args)}")
    record = result.to_record() | {"class_names": {"original": names[result.original_prediction],
                                                   "adversarial": names[result.adversarial_prediction]},
                                   "model": model.name, "image": str(args.image), "seconds": round(seconds, 2)}
    arrays = {"prediction": np.array([result.original_prediction]),
              "adversarial_prediction": np.array([result.adversarial_prediction])}
    saved = quantised_image(model, result) if args.save else None
    code = write_outputs("attack", [
        (args.json, lambda path: atomic_write_json(path, record), "the record"),
        (args.npz, lambda path: write_npz(path, [result], arrays), "the arrays"),
        (args.save if saved else None, lambda path: _save_photo(saved, path), "the adversarial photo"),
    ])
    return code if result.success and (saved or not args.save) else EXIT_FAILURE


def _save_photo(saved, path: Path) -> None:
    """Save the adversarial photo as an 8-bit PNG that still fools the network (searched on the 8-bit lattice)."""
    atomic_write(path, lambda stream: save_rgb_png(saved.pixels, stream))
    print(f"  saved {path}: 8-bit PNG that still fools the network; distortion {saved.distortion:.4f} RMS "
          f"(float {saved.float_distortion:.4f}, ×{saved.ratio:.2f})")


def _top_classes(probabilities, names, count: int = 3) -> str:
    order = probabilities.argsort()[::-1][:count]
    return ", ".join(f"{names[i]} {100 * probabilities[i]:.1f}%" for i in order)
