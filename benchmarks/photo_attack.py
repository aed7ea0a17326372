"""A targeted blind-spot search on each sample photo with EfficientNet-Lite0 (target: 60 s, distortion <= 0.01, < 4 GB).

Each photo (resources/samples, 224x224 as the network sees it) is pushed to "ostrich", the
class the paper used for AlexNet, with the search the window and `blindspot attack --image`
use (core/attack/search.py: config_for(network), PHOTO_ATTACK for photos). Reported per photo: the time of the search alone, its RMS
distortion (pixels in [0, 1]; the paper's AlexNet average was 0.0065), the 8-bit PNG's RMS distortion
(core/attack/quantise.py's lattice search), its ratio to the float one (target <= 1.2), whether it still fools
the network and that search's time, and the process's peak
resident memory sampled every 50 ms during the search.
Run: python benchmarks/photo_attack.py [--target ostrich] [--json FILE]
"""

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np
import torch

from blindspot_gui.core.attack.quantise import quantise_result
from blindspot_gui.core.attack.search import PHOTO_ATTACK, blindspot_search, config_for
from blindspot_gui.core.images import read_image
from blindspot_gui.core.models.class_names import class_index
from blindspot_gui.core.models.photo_catalogue import load_photo_model
from blindspot_gui.core.photos import prepare_photo, sample_photos

TARGET_SECONDS, TARGET_DISTORTION, TARGET_MEMORY_GB, TARGET_RATIO = 60.0, 0.01, 4.0, 1.2


def resident_gb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e9


class PeakMemory:
    """Samples resident memory in the background; ``peak`` is the largest value seen (GB)."""

    def __init__(self):
        self.peak = resident_gb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, resident_gb())

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="ostrich")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    model = load_photo_model("efficientnet-lite0")
    config = config_for(model)
    assert config == PHOTO_ATTACK, "a photo network gets the photo search"
    target = class_index(args.target, model.class_names)
    names = model.class_names
    rows = []
    print(f"EfficientNet-Lite0, target {names[target]!r}, {torch.get_num_threads()} threads, config {config}")
    print("| photo | before | after | seconds | distortion | largest change (/255) | 8-bit distortion | 8-bit / float "
          "| 8-bit PNG still fools | 8-bit seconds | peak memory GB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for photo in sample_photos():
        pixels = torch.from_numpy(prepare_photo(read_image(photo.path)))[None]
        with PeakMemory() as memory:
            started = time.perf_counter()
            result = blindspot_search(model, pixels, target, None, config=config)[0]
            seconds = time.perf_counter() - started
        started = time.perf_counter()
        kept = quantise_result(model, result)
        quantise_seconds = time.perf_counter() - started
        still = kept is not None and int(model.probabilities(kept.pixels).argmax()) == target
        row = {"photo": photo.path.name, "before": names[result.original_prediction],
               "after": names[result.adversarial_prediction], "success": result.success, "seconds": round(seconds, 1),
               "distortion": result.distortion, "linf_255": round(255 * result.linf, 1),
               "png_distortion": None if kept is None else kept.distortion,
               "png_ratio": None if kept is None else round(kept.ratio, 3), "png_fools": still,
               "png_seconds": round(quantise_seconds, 2), "peak_memory_gb": round(memory.peak, 2)}
        rows.append(row)
        png = f"{kept.distortion:.4f} | {kept.ratio:.2f}" if kept else "— | —"
        print(f"| {row['photo']} | {row['before']} | {row['after']} | {row['seconds']} | {row['distortion']:.4f} | "
              f"{row['linf_255']} | {png} | {'yes' if still else 'no'} | {row['png_seconds']} | "
              f"{row['peak_memory_gb']} |")
    seconds = np.array([row["seconds"] for row in rows])
    distortions = np.array([row["distortion"] for row in rows if row["success"]])
    print(f"\nall succeeded: {all(row['success'] for row in rows)}; time mean {seconds.mean():.1f} s, max {seconds.max():.1f} s "
          f"(target {TARGET_SECONDS:.0f} s); mean distortion {distortions.mean():.4f} (target <= {TARGET_DISTORTION}, "
          f"paper's AlexNet 0.0065); peak memory {max(row['peak_memory_gb'] for row in rows):.2f} GB "
          f"(target < {TARGET_MEMORY_GB:.0f} GB)")
    ratios = [row["png_ratio"] for row in rows if row["png_ratio"] is not None]
    print(f"8-bit PNGs still fooling: {sum(row['png_fools'] for row in rows)}/{len(rows)} (target all); 8-bit / float "
          f"RMS mean {np.mean(ratios):.2f}, max {max(ratios):.2f} (target <= {TARGET_RATIO})" if ratios else
          "no 8-bit PNG")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
