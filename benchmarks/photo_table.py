"""A photo network's Table 1 over a folder of labelled photos: its wall time, per photo, and the figures.

The folder is any that ``reproduce table1 --images`` reads. ``--from-samples REPO`` first makes one: a flat folder of
every tenth photo (100 of them) of a copy of github.com/EliSchwartz/imagenet-sample-images (one ImageNet photo per
class, files named by WordNet id in the class order), with a labels.csv giving each photo's class number. Each run
starts from an empty part store, so every part is computed.
Run: python benchmarks/photo_table.py --from-samples PATH_TO_REPO [--n 100] [--model efficientnet-lite0]
     python benchmarks/photo_table.py --images FOLDER
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from blindspot_gui.core.experiments import comparison_table, photo_table1, table_as_text


def folder_from_samples(repository: Path, target: Path, every: int = 10) -> Path:
    """Every ``every``-th photo of the sample-images repository, with a labels.csv of class numbers."""
    photos = sorted(repository.glob("n*.JPEG"))
    if len(photos) != 1000:
        raise SystemExit(f"{repository} has {len(photos)} photos named n*.JPEG, not ImageNet's 1000 classes")
    target.mkdir(parents=True, exist_ok=True)
    lines = []
    for number in range(0, 1000, every):
        shutil.copy(photos[number], target / photos[number].name)
        lines.append(f"{photos[number].name},{number}")
    (target / "labels.csv").write_text("\n".join(lines) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path)
    source.add_argument("--from-samples", type=Path)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--model", default="efficientnet-lite0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blindspot-bench-") as home:
        folder = args.images or folder_from_samples(args.from_samples, Path(home) / "photos")
        os.environ["BLINDSPOT_HOME"] = home
        started = time.perf_counter()
        result = photo_table1(args.model, folder, args.n)
        seconds = time.perf_counter() - started
    header, rows = table_as_text(comparison_table(result))
    print("  ".join(header))
    for row in rows:
        print("  ".join(row))
    attacked = result["rows"][0]["attacked"]
    print(f"{result['source']}: {seconds:.1f} s in all, {seconds / result['n']:.2f} s per photo, "
          f"{seconds / max(attacked, 1):.2f} s per attacked photo ({attacked} attacked)")


if __name__ == "__main__":
    main()
