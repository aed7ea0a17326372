"""Untargeted search over the K most promising wrong labels instead of all nine: time against distortion.

Attacks the first 100 correctly classified MNIST test images of the shipped FC100-100-10 untargeted
with K = 9, 4, 3, 2 candidate labels and prints time per image, mean distortion, and how many
images get the same perturbation as the exhaustive search. Run: python benchmarks/untargeted_candidates.py
"""

import time

import numpy as np
import torch

from blindspot_gui.api import load_mnist, load_model
from blindspot_gui.core.attack.search import AttackConfig, blindspot_search


def main() -> None:
    model = load_model("FC100-100-10")
    images, labels = load_mnist("test")
    with torch.inference_mode():
        correct = torch.nonzero(model(images).argmax(1) == labels).flatten()[:100]
    images, labels = images[correct], labels[correct]
    blindspot_search(model, images[:5], "none", labels[:5])  # warm-up
    exhaustive = None
    print("| labels searched | time per image | mean RMS | same as all nine | more than 1% larger |")
    print("|---|---|---|---|---|")
    for candidates in (9, 4, 3, 2):
        started = time.perf_counter()
        results = blindspot_search(model, images, "none", labels,
                                   config=AttackConfig(untargeted_candidates=candidates))
        seconds = time.perf_counter() - started
        distortion = np.array([result.distortion for result in results])
        exhaustive = distortion if exhaustive is None else exhaustive
        same = np.mean(np.abs(distortion - exhaustive) < 1e-6)
        worse = np.mean(distortion > 1.01 * exhaustive)
        print(f"| {candidates} | {1000 * seconds / len(images):.1f} ms | {distortion.mean():.5f} | "
              f"{100 * same:.0f}% | {100 * worse:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
