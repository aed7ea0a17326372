"""Table 1 for a photo network: its error on labelled photos and the attack of those it classifies correctly, stored
in parts of PHOTO_CHUNK photos, so that a stopped run resumes where it stopped and parts can be computed anywhere.

The photos come from a folder with one subfolder per class, named by the class's name or number as the network
knows it ("tabby", "281"); without a folder, from the application's sample photos whose class is known. The paper
gives no Table 1 for ImageNet; its one figure there, AlexNet's average distortion of 0.006508 over 64 examples made
"ostrich" (figure 5), is stated beside ours as a note.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from blindspot_gui.core.attack.config import config_for
from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.experiments.attacked import with_fixed_threads
from blindspot_gui.core.experiments.store import (
    STORE_VERSION,
    PartStore,
    experiments_dir,
    is_count,
    is_number,
    require,
)
from blindspot_gui.core.experiments.targets import DEFAULT_TARGET_RULE, check_target_rule, experiment_targets
from blindspot_gui.core.image_folders import load_image_folder
from blindspot_gui.core.models.class_names import class_index
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.photo_catalogue import find_photo_model, load_photo_model
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.photos import read_photo, sample_photos
from blindspot_gui.core.training.loop import predict_labels

PHOTO_CHUNK = 16
"""Photos per stored part (about a minute of EfficientNet-Lite0 searches on 2 cores)."""
PHOTO_RULES = {
    "random": "a random wrong label per photo (seeded by its position, the same for every network)",
    "next": "the next label, (y + 1) mod the number of classes",
}
"""The target rules of a photo table, described; "nearest" would rank all 1000 classes by a gradient each."""
PAPER_ALEXNET_DISTORTION = 0.006508


@dataclass(frozen=True)
class LabelledPhotos:
    """Photos (N, 3, 224, 224) as the network sees them, their classes in the network's numbering, where they come
    from, and what was left out and why."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str
    notes: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        """Identifies the photos and their classes (part of the store folder's name)."""
        digest = hashlib.sha1(self.images.numpy().tobytes())
        digest.update(self.labels.numpy().astype(np.int64).tobytes())
        return digest.hexdigest()[:16]


def folder_photos(folder, class_names, n: int | None = None, monitor: Monitor | None = None) -> LabelledPhotos:
    """The photos of ``folder`` (the first ``n``) with their classes: a photo in a subfolder has the class the
    subfolder names (its exact name or number in ``class_names``), a photo directly in the folder the class its line
    of the folder's labels file gives (LABEL_FILES); a ValueError says which photo or subfolder has no class."""
    folder = Path(folder)
    data, skipped = load_image_folder(folder, photos=True, monitor=monitor, limit=n)
    by_file = _labels_file(folder, class_names) if "(none)" in data.class_names else {}
    numbers = []
    for name in data.class_names:
        if name == "(none)":
            numbers.append(-1)
            continue
        try:
            numbers.append(class_index(name, list(class_names), exact=True))
        except ValueError as error:
            raise ValueError(f"the subfolder '{name}' of '{folder}' is not a class of this network ({error}); name "
                             "each subfolder by a class's exact name or number") from None
    labels = torch.tensor(numbers)[data.labels]
    for index, path in enumerate(data.files):
        if labels[index] < 0:
            name = Path(path).name
            if name not in by_file:
                raise ValueError(f"the photo '{name}' lies directly in '{folder}' but its labels file has no line "
                                 f"for it: add \"{name},<class>\" to {LABEL_FILES[0]}, or move it into a subfolder "
                                 "named by its class")
            labels[index] = by_file[name]
    notes = (f"left out (not readable, or beyond the photos asked for): {', '.join(skipped[:5])}"
             f"{' …' if len(skipped) > 5 else ''}",) if skipped else ()
    return LabelledPhotos(data.images, labels, f"{len(labels)} photos of folder {folder}", notes)


LABEL_FILES = ("labels.csv", "labels.txt")
"""A folder's labels file for the photos directly in it: a line "file name,class" (or a tab or a space between
them) per photo, the class by its exact name or number."""
LABEL_FILE_LIMIT = 10_000_000
"""Bytes of a labels file read at most (a million photos' lines)."""


def _labels_file(folder: Path, class_names) -> dict[str, int]:
    """The class number of each file named in ``folder``'s labels file; a ValueError names a bad line."""
    path = next((folder / name for name in LABEL_FILES if (folder / name).is_file()), None)
    if path is None:
        raise ValueError(f"'{folder}' has photos directly in it but no labels file: put each photo in a subfolder "
                         f"named by its class (tabby/cat1.jpg or 281/cat1.jpg), or write {LABEL_FILES[0]} with a "
                         "line \"cat1.jpg,tabby\" per photo")
    with open(path, "rb") as stream:
        raw = stream.read(LABEL_FILE_LIMIT + 1)
    if len(raw) > LABEL_FILE_LIMIT:
        raise ValueError(f"{path} is larger than {LABEL_FILE_LIMIT // 1_000_000} MB: not a labels file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    by_file, known = {}, {}  # known: each class text once (class_index scans every class name)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        separator = next((mark for mark in (",", "\t") if mark in line), None)
        parts = line.split(separator, 1) if separator else line.split(None, 1)
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"line {number} of {path} is not \"file name,class\": {line[:80]!r}")
        wanted = parts[1].strip()
        try:
            if wanted not in known:
                known[wanted] = class_index(wanted, list(class_names), exact=True)
        except ValueError as error:
            raise ValueError(f"line {number} of {path}: {error}") from None
        by_file[parts[0].strip()] = known[wanted]
    return by_file


def sample_labelled_photos(class_names, n: int | None = None) -> LabelledPhotos:
    """The sample photos whose class is known (the first ``n``), saying which were left out."""
    images, labels, unlabelled = [], [], []
    for photo in sample_photos():
        expected = photo.expected_class
        if expected is None:
            unlabelled.append(photo.path.name)
            continue
        images.append(torch.from_numpy(read_photo(photo.path)))
        labels.append(class_index(expected, list(class_names), exact=True))
    count = len(labels) if n is None else min(n, len(labels))
    notes = ("no folder given: the sample photos whose class is known"
             + (f" ({', '.join(unlabelled)} left out: no ImageNet class)" if unlabelled else ""),)
    return LabelledPhotos(torch.stack(images)[:count], torch.tensor(labels)[:count], f"{count} sample photos", notes)


def _attack_chunk(model: Classifier, images, labels, rule: str, start: int, monitor: Monitor) -> tuple[dict, dict]:
    """The network's answers on one chunk of photos and the attack of those it gets right."""
    started = time.perf_counter()
    predictions = predict_labels(model, images)
    correct = torch.nonzero(predictions == labels).flatten()
    success = np.zeros(len(images), dtype=bool)
    distortion = np.full(len(images), np.nan, dtype=np.float32)
    targets = experiment_targets(labels, rule, len(model.class_names), start)
    for position, index in enumerate(correct.tolist()):
        sub = monitor.quiet(position / len(correct), (position + 1) / len(correct))
        result = blindspot_search(model, images[index : index + 1], int(targets[index]), labels[index : index + 1],
                                  config=config_for(model), monitor=sub)[0]
        monitor.check()  # a cancelled search returns its best so far: not a finished part
        success[index], distortion[index] = result.success, result.distortion
    record = {"start": start, "photos": len(images), "correct": len(correct), "succeeded": int(success.sum()),
              "weights": model.fingerprint, "seconds": round(time.perf_counter() - started, 2)}
    return record, {"prediction": predictions.numpy().astype(np.int64), "success": success,
                    "distortion": distortion}


def _check_chunk(record: dict, arrays: dict | None, start: int, count: int, fingerprint: str) -> None:
    """Raise PartError unless ``record`` (and ``arrays``) are the finished chunk at ``start`` of ``count`` photos."""
    require(record.get("start") == start and record.get("photos") == count, "it is another chunk of photos")
    require(record.get("weights") == fingerprint, "it was computed with other weights of this network")
    require(is_count(record.get("correct")) and is_count(record.get("succeeded"))
            and record["succeeded"] <= record["correct"] <= count, "its counts are wrong")
    if arrays is None:
        return
    for key, kind in (("prediction", "i"), ("success", "b"), ("distortion", "f")):
        require(key in arrays and arrays[key].shape == (count,) and arrays[key].dtype.kind == kind,
                f"its {key} array is missing or malformed")
    success = arrays["success"]
    require(int(success.sum()) == record["succeeded"], "its arrays do not belong to its record")
    require(all(is_number(float(value)) and value >= 0 for value in arrays["distortion"][success]),
            "its distortions are not all numbers")


def _chunk(store: PartStore, model: Classifier, photos: LabelledPhotos, start: int, rule: str,
           monitor: Monitor) -> tuple[dict, dict]:
    """The chunk of photos at ``start``: reused when stored and valid, else computed and saved."""
    images, labels = photos.images[start : start + PHOTO_CHUNK], photos.labels[start : start + PHOTO_CHUNK]
    name = f"photos-{start:06d}"
    fingerprint = model.fingerprint
    record = store.load_record(name, lambda stored: _check_chunk(stored, None, start, len(images), fingerprint))
    arrays = None if record is None else store.load_arrays(
        name, lambda stored: _check_chunk(record, stored, start, len(images), fingerprint))
    if record is not None and arrays is not None:
        return record | {"reused": True}, arrays
    record, arrays = _attack_chunk(model, images, labels, rule, start, monitor)
    store.save(name, record, arrays)
    return record, arrays


@with_fixed_threads
def photo_table1(network: str, folder: str | Path | None = None, n: int | None = 1000, monitor: Monitor | None = None,
                 rule: str = DEFAULT_TARGET_RULE) -> dict:
    """A photo network's error on the photos of ``folder`` (None: the sample photos) and the success and average
    minimum distortion of the attack of those it classifies correctly (the first ``n`` photos; None: all)."""
    check_target_rule(rule)
    if rule not in PHOTO_RULES:
        raise ValueError(f"a photo table takes the target rule {' or '.join(PHOTO_RULES)}, not {rule!r}")
    monitor = monitor or Monitor()
    entry = find_photo_model(network)
    model = load_photo_model(entry.key)
    monitor.progress(0.0, "reading the photos")
    photos = (sample_labelled_photos(model.class_names, n) if folder is None else
              folder_photos(folder, model.class_names, n, monitor.scaled(0.0, 0.05)))
    store = PartStore(experiments_dir() / f"photo-table1-{entry.key}-{photos.digest}-{rule}-v{STORE_VERSION}")
    starts = range(0, len(photos.labels), PHOTO_CHUNK)
    records, arrays = [], []
    for number, start in enumerate(starts):
        part = monitor.scaled(0.05 + 0.95 * number / len(starts), 0.05 + 0.95 * (number + 1) / len(starts))
        part.progress(0.0, f"{entry.name}: photos {start + 1}-{min(start + PHOTO_CHUNK, len(photos.labels))} "
                           f"of {len(photos.labels)}")
        record, stored = _chunk(store, model, photos, start, rule, part)
        records.append(record)
        arrays.append(stored)
    return _photo_result(entry.name, photos, rule, store, records, arrays)


def _photo_result(network, photos: LabelledPhotos, rule, store: PartStore, records, arrays) -> dict:
    correct = sum(record["correct"] for record in records)
    success = np.concatenate([part["success"] for part in arrays])
    distortion = np.concatenate([part["distortion"] for part in arrays])
    row = {"model": network, "photos": len(photos.labels), "attacked": correct,
           "test_error": 1.0 - correct / len(photos.labels),
           "success": float(success.sum() / correct) if correct else None,
           "distortion": float(distortion[success].mean()) if success.any() else None,
           "reused": sum(bool(record.get("reused")) for record in records), "parts": len(records)}
    notes = [*photos.notes, *store.notes,
             f"the paper's one ImageNet figure: AlexNet, average distortion {PAPER_ALEXNET_DISTORTION} over 64 "
             "examples made \u201costrich\u201d (figure 5)"]
    return {"experiment": "photo_table1", "n": len(photos.labels), "source": photos.source,
            "target_rule": rule, "target_rule_text": PHOTO_RULES[rule], "rows": [row], "folder": str(store.folder),
            "notes": notes}
