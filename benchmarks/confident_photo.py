"""A photo's confident search with the c bracket of the minimal one (span 4) and the wider one it uses (span 32).

For every sample photo through EfficientNet-Lite0, target "ostrich", goal p >= 0.9 (``--confidence``),
prints the time to the first confident change (the first result the window can show), the time of
the whole search, its RMS distortion and the probability reached, and the means per span. This
is the measurement behind ``config.PHOTO_CONFIDENT_SPAN``.

Run: python benchmarks/confident_photo.py [--confidence 0.9] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from blindspot_gui.core.attack.config import PHOTO_ATTACK
from blindspot_gui.core.attack.search import SearchProgress, blindspot_search
from blindspot_gui.core.models.photo_catalogue import load_photo_model
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.photos import read_photo, sample_photos


def timed(model, pixels, target, config):
    """(seconds to the first success, seconds in all, the result)."""
    started, first = time.perf_counter(), []

    def partial(progress):
        if isinstance(progress, SearchProgress) and np.isfinite(progress.best_distortion[0]) and not first:
            first.append(time.perf_counter() - started)

    result = blindspot_search(model, pixels, target, None, config=config, monitor=Monitor(on_partial=partial))[0]
    return (first[0] if first else float("nan")), time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_photo_model("efficientnet-lite0")
    target = model.class_names.index("ostrich")
    photos = [(sample.path.name, torch.from_numpy(read_photo(sample.path, model.preprocessing.resize,
                                                              model.preprocessing.crop))[None])
              for sample in sample_photos()]
    for span in (PHOTO_ATTACK.grid_span, 32.0):
        config = dataclasses.replace(PHOTO_ATTACK, grid_span=span, confidence=args.confidence, partial_interval=0.0)
        rows = []
        for name, pixels in photos:
            first, total, result = timed(model, pixels, target, config)
            rows.append((first, total, result.distortion))
            print(f"span {span:4.0f}  {name:14s} first {first:5.2f} s  all {total:5.2f} s  RMS {result.distortion:.5f}"
                  f"  p {result.target_probability:.3f}  {'fooled' if result.success else 'FAILED'}", flush=True)
        first, total, rms = np.mean(rows, axis=0)
        print(f"span {span:4.0f}  mean           first {first:5.2f} s  all {total:5.2f} s  RMS {rms:.5f}")


if __name__ == "__main__":
    main()
