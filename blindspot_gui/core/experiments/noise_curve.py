"""How often against how much: random noise at 1 to 50 times each image's smallest blind spot, and what it fools.

For one zoo network and the first n test images: the smallest change that fools it on each image
it classifies correctly (the untargeted search, the nearest wrong class; stored and resumable as
Tables 1 and 3's attacks, on a Ray cluster too), then Gaussian noise whose RMS is k times that
image's blind spot RMS, for k in MULTIPLES, clipped to the pixel box as a real image would be,
``NOISE_DRAWS`` seeded draws per image. The paper and its retellings say blind spots are an order
of magnitude smaller than noise that fools a network; this measures the whole curve.
"""

from __future__ import annotations

import numpy as np
import torch

from blindspot_gui.core.attack.noise import gaussian_noise_error
from blindspot_gui.core.experiments.attacked import attack_images, attacked_table, with_fixed_threads
from blindspot_gui.core.monitor import Monitor

MULTIPLES = (1, 2, 5, 10, 20, 50)
NOISE_DRAWS = 10
RULE = "nearest"
"""the smallest blind spot of each image: its nearest wrong class."""


@with_fixed_threads
def noise_curve(model: str = "FC100-100-10", n: int | None = 1000, monitor: Monitor | None = None,
                device: str = "cpu") -> dict:
    """The share of images that blind spots fool (at 1x their own size) and that noise fools at each multiple."""
    monitor = monitor or Monitor()
    first, arrays, models = attacked_table("noisecurve", (model,), "test", n, RULE, monitor.scaled(0.0, 0.8), device)
    classifier, found = models[model], arrays[model]
    images, labels = attack_images(n, "test")
    fooled = np.asarray(found["success"], dtype=bool)
    sizes = np.asarray(found["distortion"], dtype=np.float64)[fooled]
    chosen = torch.from_numpy(np.flatnonzero(fooled))
    rows = []
    for position, multiple in enumerate(MULTIPLES):
        monitor.check()
        monitor.progress(0.8 + 0.2 * position / len(MULTIPLES), f"noise at {multiple}x each blind spot")
        report = gaussian_noise_error(classifier, images[chosen], labels[chosen], multiple * sizes,
                                      draws=NOISE_DRAWS, seed=position, monitor=monitor)
        rows.append({"multiple": multiple, "noise_fools": report.error_rate,
                     "images_fooled_once": float((report.per_image_error > 0).mean()),
                     "mean_noise_rms": float(np.mean(multiple * sizes))})
    monitor.progress(1.0, "noise curve done")
    attacked = first["rows"][0]
    return {"experiment": "noisecurve", "model": model, "n": first["n"], "attacked": attacked["attacked"],
            "blind_spots_fool": attacked["success"], "mean_distortion": attacked["distortion"],
            "draws": NOISE_DRAWS, "rows": rows, "folder": first["folder"], "notes": first["notes"],
            "target_rule": RULE, "target_rule_text": first["target_rule_text"]}
