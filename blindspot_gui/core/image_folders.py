"""A folder of the user's images as a data set: digits made MNIST-style, or photos as a photo network sees them."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from blindspot_gui.core.data import Dataset
from blindspot_gui.core.photos import read_photo
from blindspot_gui.core.images import IMAGE_FILE_PATTERNS, ImageFileError, load_digit_image
from blindspot_gui.core.monitor import Monitor

PHOTO_FOLDER_LIMIT = 1000
"""Photos kept from one folder at most (each 224x224 colour photo takes 0.6 MB as float32)."""
DIGIT_FOLDER_LIMIT = 60_000
"""Digits kept from one folder at most: as many as MNIST's training set (3 KB each, 190 MB in all)."""
FOLDER_LIST_LIMIT = 100_000
"""Entries (files and subfolders) looked at in one folder tree at most; past this the listing stops and says so."""


def load_image_folder(folder, photos: bool = False, monitor: Monitor | None = None,
                      limit: int | None = None) -> tuple[Dataset, list[str]]:
    """Every image file in ``folder`` (and its subfolders) as a data set: digits made MNIST-style, or photos.

    Digits are (N, 1, 28, 28), at most DIGIT_FOLDER_LIMIT of them; with ``photos`` each file is resized and
    centre-cropped as photo networks see it, (N, 3, 224, 224), and only the first PHOTO_FOLDER_LIMIT files are read.
    A file's class is the name of the top subfolder it sits in ("images/cats/x/a.png" is a "cats");
    files directly in the folder get the class "(none)". Returns the data set and the names of the files
    that could not be read (or were beyond the limit), which are left out; when the folder tree has more than
    FOLDER_LIST_LIMIT entries, the last item of that list is a sentence saying the listing stopped there.
    ``monitor`` receives progress for each file and may cancel (Cancelled is raised between two files); ``limit``
    reads fewer files than those limits.
    """
    monitor = monitor or Monitor()
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageFileError(f"'{folder}' is not a folder.")
    paths, listing_stopped = _image_files(folder, monitor)
    limit = min(PHOTO_FOLDER_LIMIT if photos else DIGIT_FOLDER_LIMIT, limit if limit is not None else math.inf)
    skipped = [path.name for path in paths[limit:]]
    paths = paths[:limit]
    pixels, classes, files = [], [], []
    for number, path in enumerate(paths):
        monitor.check()
        monitor.progress(number / len(paths), f"reading {path.name} ({number + 1:,} of {len(paths):,})")
        try:
            pixels.append(read_photo(path) if photos else load_digit_image(path).pixels[None])
        except ImageFileError:
            skipped.append(path.name)
            continue
        parts = path.relative_to(folder).parts
        classes.append(parts[0] if len(parts) > 1 else "(none)")
        files.append(str(path))
    if listing_stopped:
        skipped.append(f"(the folder holds more than {FOLDER_LIST_LIMIT:,} entries: only the first "
                       f"{FOLDER_LIST_LIMIT:,} were looked at; choose a smaller folder)")
    if not pixels:
        raise ImageFileError(f"'{folder}' holds no readable image (PNG, JPEG, BMP, ...).")
    monitor.progress(1.0, f"read {len(files):,} images")
    names = tuple(sorted(set(classes)))
    number = {name: index for index, name in enumerate(names)}
    labels = torch.tensor([number[name] for name in classes], dtype=torch.long)
    images = torch.from_numpy(np.stack(pixels))
    return Dataset(images, labels, names, f"folder {folder}", files=tuple(files)), skipped


def _image_files(folder: Path, monitor: Monitor) -> tuple[list[Path], bool]:
    """The image files (regular files with an image suffix) in ``folder``'s tree, sorted, and whether the listing
    stopped at FOLDER_LIST_LIMIT entries. Symbolic links to folders are not followed (no loops)."""
    suffixes = {pattern.lstrip("*") for pattern in IMAGE_FILE_PATTERNS}
    paths, seen = [], 0
    for root, subfolders, names in os.walk(folder):
        monitor.check()
        monitor.progress(0.0, f"listing {root}")
        subfolders.sort()
        for name in sorted(names) + subfolders:
            seen += 1
            if seen > FOLDER_LIST_LIMIT:
                return sorted(paths), True
            path = Path(root, name)
            if path.suffix.lower() in suffixes and path.is_file():
                paths.append(path)
    return sorted(paths), False
