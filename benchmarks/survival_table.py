"""Do blind spots survive natural changes? The share per family for minimal and confident blind spots.

FC100-100-10 on the first 100 MNIST test images (untargeted: the nearest wrong class) and
EfficientNet-Lite0 on the four sample photos (target ostrich), each with the smallest change (the
paper's goal) and with the confident goal p >= 0.9; every blind spot goes through the survival
panel of core/survival.py (codecs through Pillow, shifts, rotations, rescaling, brightness, noise of
its own RMS). Prints one markdown row per (network, goal): the mean RMS and the share of each
family's changes under which the answer stays wrong.

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


def row(label: str, classifier, images, target, labels, confidence) -> None:
    started = time.perf_counter()
    results = search_chain(classifier, images, SearchRequest(target=target, confidence=confidence), labels)[1]
    found = [survival(classifier, result.original, result.adversarial) for result in results if result.success]
    shares = {family: np.mean([entry.shares()[family] for entry in found]) for family in (*FAMILIES, "all")}
    rms = np.mean([entry.distortion for entry in found])
    goal = "minimal" if confidence is None else f"confident p ≥ {confidence:g}"
    cells = " | ".join(f"{100 * shares[family]:.0f}%" for family in (*FAMILIES, "all"))
    print(f"| {label} | {goal} | {len(found)}/{len(results)} | {rms:.4f} | {cells} | "
          f"{time.perf_counter() - started:.0f} s |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print("| network, images | goal | fooled | mean RMS | " + " | ".join((*FAMILIES, "all")) + " | time |")
    print("|---" * (len(FAMILIES) + 6) + "|")
    digits, fc100 = load_mnist("test"), load_model("FC100-100-10")
    for confidence in (None, 0.9):
        row(f"FC100-100-10, {args.images} MNIST test images", fc100, digits.images[:args.images], "none",
            digits.labels[:args.images], confidence)
    photo = load_photo_model("efficientnet-lite0")
    pixels = torch.stack([torch.from_numpy(read_photo(sample.path, photo.preprocessing.resize,
                                                      photo.preprocessing.crop)) for sample in sample_photos()])
    ostrich = photo.class_names.index("ostrich")
    for confidence in (None, 0.9):
        row("EfficientNet-Lite0, 4 sample photos → ostrich", photo, pixels, ostrich, None, confidence)


if __name__ == "__main__":
    main()
