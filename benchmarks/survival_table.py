"""Do blind spots survive natural changes? The share per family for minimal, confident and robust blind spots.

FC100-100-10 on the first 100 MNIST test images (untargeted: the nearest wrong class) and
EfficientNet-Lite0 on the four sample photos (target ostrich), each with the smallest change (the
paper's goal), with the confident goal p >= 0.9 and with the robust goal (90% of its changed copies,
core/attack/robust.py); every blind spot goes through the survival
panel of core/survival.py (codecs through Pillow, shifts, rotations, rescaling, brightness, noise of
its own RMS). Prints one markdown row per (network, goal): the median RMS, its ratio to the minimal
changes' median, and the share of each family's changes under which the answer stays wrong.

Run: python benchmarks/survival_table.py [--images 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from blindspot_gui.api import load_model
from blindspot_gui.core.attack.request import SearchRequest, search_chain
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.models.photo_catalogue import load_photo_model
from blindspot_gui.core.photos import read_photo, sample_photos
from blindspot_gui.core.survival import FAMILIES, survival


GOALS = (("minimal", {}), ("confident p ≥ 0.9", {"confidence": 0.9}), ("robust, 90% of its copies", {"robust": 0.9}))


def row(label: str, classifier, images, target, labels, goal: str, asked: dict) -> None:
    started = time.perf_counter()
    minimal, results = search_chain(classifier, images, SearchRequest(target=target, **asked), labels)
    found = [survival(classifier, result.original, result.adversarial) for result in results if result.success]
    shares = {family: np.mean([entry.shares()[family] for entry in found]) for family in (*FAMILIES, "all")}
    rms = np.median([entry.distortion for entry in found])
    cells = " | ".join(f"{100 * shares[family]:.0f}%" for family in (*FAMILIES, "all"))
    ratio = "1" if minimal is None else f"{rms / np.median([r.distortion for r in minimal if r.success]):.2f}"
    print(f"| {label} | {goal} | {len(found)}/{len(results)} | {rms:.4f} | {ratio} | {cells} | "
          f"{time.perf_counter() - started:.0f} s |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print("| network, images | goal | fooled | median RMS | × minimal | " + " | ".join((*FAMILIES, "all")) + " | time |")
    print("|---" * (len(FAMILIES) + 7) + "|")
    digits, fc100 = load_mnist("test"), load_model("FC100-100-10")
    for goal, asked in GOALS:
        row(f"FC100-100-10, {args.images} MNIST test images", fc100, digits.images[:args.images], "none",
            digits.labels[:args.images], goal, asked)
    photo = load_photo_model("efficientnet-lite0")
    pixels = torch.stack([torch.from_numpy(read_photo(sample.path, photo.preprocessing.resize,
                                                      photo.preprocessing.crop)) for sample in sample_photos()])
    ostrich = photo.class_names.index("ostrich")
    for goal, asked in GOALS:
        row("EfficientNet-Lite0, 4 sample photos → ostrich", photo, pixels, ostrich, None, goal, asked)


if __name__ == "__main__":
    main()
