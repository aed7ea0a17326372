"""The floating-window vote on photos: EfficientNet-Lite0's four sample photos pushed to "ostrich".

For each photo: the network's and the vote's answer on the photo itself, the smallest blind spot
(the paper's goal) and whether the vote still says ostrich on it, then the search aimed at the vote
(core/defence.py ``adaptive_config``: 8 copies of the vote's own jitter, other draws than the
vote's, ostrich on 90% of them) and whether it fools the vote. Prints one line per photo and the
totals, with the RMS of each change.

Run: python benchmarks/vote_photos.py [--threads 2] [--copies 8] [--share 0.9]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from blindspot_gui.core.attack.config import config_for
from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.defence import adaptive_config, vote, window_for
from blindspot_gui.core.models.photo_catalogue import load_photo_model
from blindspot_gui.core.photos import read_photo, sample_photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--copies", type=int, default=None, help="copies the aimed attack averages (default 8)")
    parser.add_argument("--share", type=float, default=0.9, help="share of its copies it must fool (default 0.9)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    photo = load_photo_model("efficientnet-lite0")
    samples = sample_photos()
    pixels = torch.stack([torch.from_numpy(read_photo(sample.path, photo.preprocessing.resize,
                                                      photo.preprocessing.crop)) for sample in samples])
    ostrich = photo.class_names.index("ostrich")
    window = window_for(photo)
    print(f"the vote: {window.describe()}")
    started = time.perf_counter()
    clean = vote(photo, pixels, window)
    with torch.inference_mode():
        alone = photo(pixels).argmax(1).numpy()
    minimal = blindspot_search(photo, pixels, ostrich, config=config_for(photo))
    smallest = vote(photo, np.stack([result.adversarial for result in minimal]), window)
    searched = time.perf_counter()
    aimed = blindspot_search(photo, pixels, ostrich, config=adaptive_config(photo, window, args.share, args.copies))
    through = vote(photo, np.stack([result.adversarial for result in aimed]), window)
    name = photo.class_name
    for index, sample in enumerate(samples):
        print(f"{sample.path.name}: network {name(int(alone[index]))}, vote {name(int(clean.answers[index]))} "
              f"({clean.votes[index]}/9); smallest change RMS {minimal[index].distortion:.4f} "
              f"(fooled: {minimal[index].success}) -> vote {name(int(smallest.answers[index]))} "
              f"({smallest.votes[index]}/9); aimed at the vote RMS {aimed[index].distortion:.4f} "
              f"(found: {aimed[index].success}) -> vote {name(int(through.answers[index]))} ({through.votes[index]}/9)")
    stopped = sum(int(answer) != ostrich for answer in smallest.answers)
    fooled = sum(int(answer) == ostrich for answer in through.answers)
    print(f"the vote stops {stopped} of {len(samples)} smallest blind spots; aimed at it, {fooled} of {len(samples)} "
          f"say ostrich; mean RMS {np.mean([r.distortion for r in minimal]):.4f} -> "
          f"{np.mean([r.distortion for r in aimed]):.4f}; {searched - started:.0f} s, then "
          f"{time.perf_counter() - searched:.0f} s ({args.threads} threads; the aimed attack: "
          f"{args.copies or 'default'} copies, share {args.share})")


if __name__ == "__main__":
    main()
