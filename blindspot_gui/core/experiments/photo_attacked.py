"""Tables 1 and 2 for photo networks: each network's error on labelled photos, the attack of those it classifies
correctly, how often those adversarial photos fool the other networks and how often Gaussian noise does, stored in
parts of PHOTO_CHUNK photos per network, so that a stopped run resumes where it stopped and parts run anywhere.
A part keeps each photo's change (as float16: half the room, within 0.05% of each pixel's change), so Table 1 and
Table 2 share their attacks, and a network added to Table 2 costs only its own.

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
from blindspot_gui.core.experiments.backends import PartJob, cluster_address, require_same_weights, run_parts
from blindspot_gui.core.experiments.store import (
    STORE_VERSION,
    PartStore,
    device_suffix,
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
PHOTO_NOISE_STDDEVS = (0.01, 0.05)
"""Gaussian noise of the photo tables' noise rows: about ten and fifty times the average minimum distortion of
EfficientNet-Lite0 (0.001), clipped to [0, 1] as a photo's pixels are (the paper's rows are for digits)."""
NOISE_SEED = 7
PHOTO_PART_VERSION = 3
"""The layout of a photo part (3: each photo's change and the answers under noise); in the store's name."""


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
    return LabelledPhotos(data.images, labels, f"{len(labels)} photo{'' if len(labels) == 1 else 's'} of folder {folder}", notes)


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
    return LabelledPhotos(torch.stack(images)[:count], torch.tensor(labels)[:count],
                          f"{count} sample photo{'' if count == 1 else 's'}", notes)


def _load_checked(key: str, fingerprint: str, device: str) -> Classifier:
    """Catalogue network ``key`` as this machine has it, refused unless its weights are the driver's."""
    model = load_photo_model(key).to(device)
    require_same_weights(model.name, model.fingerprint, fingerprint)
    return model


def _noisy(images: torch.Tensor, stddev: float, start: int) -> torch.Tensor:
    """The photos with Gaussian noise of ``stddev`` clipped to [0, 1], each photo's draw seeded by its position, so
    that a part draws the same noise however the run is split (noise.gaussian_noise_error draws from one seed for
    all its images, which would tie the noise to the parts' boundaries)."""
    noise = torch.stack([torch.randn(images.shape[1:], generator=torch.Generator().manual_seed(
        NOISE_SEED + 1_000_003 * round(stddev * 1e6) + start + offset)) for offset in range(len(images))])
    return (images + stddev * noise).clamp(0.0, 1.0)


@with_fixed_threads
def compute_photo_part(key: str, images, labels, rule: str, start: int, fingerprint: str, device: str = "cpu",
                       monitor: Monitor | None = None) -> tuple[dict, dict]:
    """One part of the photo tables, computed from its arguments alone (here or on a cluster's worker): catalogue
    network ``key``'s answers on a chunk of photos (the one at ``start``), the attack of those it gets right (each
    change kept, as float16, for Table 2) and its answers on the photos under Gaussian noise."""
    monitor = monitor or Monitor()
    started = time.perf_counter()
    model = _load_checked(key, fingerprint, device)
    monitor.progress(0.0, f"{model.name}: photos {start + 1}-{start + len(images)}")
    predictions = predict_labels(model, images)
    correct = torch.nonzero(predictions == labels).flatten()
    success = np.zeros(len(images), dtype=bool)
    distortion = np.full(len(images), np.nan, dtype=np.float32)
    change = np.zeros(tuple(images.shape), dtype=np.float16)
    targets = experiment_targets(labels, rule, len(model.class_names), start)
    for position, index in enumerate(correct.tolist()):
        sub = monitor.quiet(position / len(correct), (position + 1) / len(correct))
        result = blindspot_search(model, images[index : index + 1], int(targets[index]), labels[index : index + 1],
                                  config=config_for(model), monitor=sub)[0]
        monitor.check()  # a cancelled search returns its best so far: not a finished part
        success[index], distortion[index] = result.success, result.distortion
        if result.success:
            change[index] = (result.adversarial - images[index].numpy()).astype(np.float16)
    noise = np.stack([predict_labels(model, _noisy(images, stddev, start)).numpy().astype(np.int64)
                      for stddev in PHOTO_NOISE_STDDEVS])
    record = {"network": key, "start": start, "photos": len(images), "correct": len(correct),
              "succeeded": int(success.sum()), "weights": fingerprint,
              "seconds": round(time.perf_counter() - started, 2)}
    return record, {"prediction": predictions.numpy().astype(np.int64), "success": success,
                    "distortion": distortion, "change": change, "noise": noise}


def _check_part(record: dict, arrays: dict | None, key: str, start: int, images: torch.Tensor,
                fingerprint: str) -> None:
    """Raise PartError unless ``record`` (and ``arrays``) are ``key``'s finished part of ``images`` at ``start``,
    computed with the weights of ``fingerprint``."""
    count = len(images)
    require(record.get("network") == key and record.get("start") == start and record.get("photos") == count,
            "it is another part")
    require(record.get("weights") == fingerprint, "it was computed with other weights of this network")
    require(is_count(record.get("correct")) and is_count(record.get("succeeded"))
            and record["succeeded"] <= record["correct"] <= count, "its counts are wrong")
    if arrays is None:
        return
    for name, kind, shape in (("prediction", "i", (count,)), ("success", "b", (count,)), ("distortion", "f", (count,)),
                              ("noise", "i", (len(PHOTO_NOISE_STDDEVS), count)),
                              ("change", "f", tuple(images.shape))):
        require(name in arrays and arrays[name].shape == shape and arrays[name].dtype.kind == kind,
                f"its {name} array is missing or malformed")
    success = arrays["success"]
    require(int(success.sum()) == record["succeeded"], "its arrays do not belong to its record")
    require(all(is_number(float(value)) and value >= 0 for value in arrays["distortion"][success]),
            "its distortions are not all numbers")
    require(bool(np.isfinite(arrays["change"]).all()) and float(np.abs(arrays["change"]).max(initial=0)) <= 1,
            "its changes are not all numbers within [-1, 1]")


@dataclass(frozen=True)
class _PhotoRun:
    """What the parts of a photo table share: its networks (loaded here, on the CPU), the photos and the store,
    which holds every network's parts on these photos with this rule, for Table 1 and Table 2 alike."""

    models: dict[str, Classifier]
    fingerprints: dict[str, str]
    """each network's weights, hashed once (hashing VGG-16's 550 MB takes a second)."""
    photos: LabelledPhotos
    store: PartStore
    rule: str
    device: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.models)

    def part_name(self, key: str, start: int) -> str:
        return f"{key}-photos-{start:06d}"

    def chunk(self, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.photos.images[start : start + PHOTO_CHUNK], self.photos.labels[start : start + PHOTO_CHUNK]

    def stored(self, key: str, start: int) -> tuple[dict, dict] | None:
        """The part of ``key`` at ``start`` when it is stored and valid."""
        images, name, fingerprint = self.chunk(start)[0], self.part_name(key, start), self.fingerprints[key]
        record = self.store.load_record(name, lambda stored: _check_part(stored, None, key, start, images,
                                                                          fingerprint))
        arrays = None if record is None else self.store.load_arrays(
            name, lambda stored: _check_part(record, stored, key, start, images, fingerprint))
        return None if record is None or arrays is None else (record | {"reused": True}, arrays)

    def job(self, key: str, start: int, chunks: dict) -> PartJob:
        images, labels = chunks[start]
        return PartJob(self.part_name(key, start), compute_photo_part,
                       (key, images, labels, self.rule, start, self.fingerprints[key], self.device),
                       self.device, f"{self.models[key].name}: photos {start + 1}-{start + len(labels)}")


def _run_photo_parts(run: _PhotoRun, monitor: Monitor) -> dict[str, list[tuple[dict, dict]]]:
    """Every part of every network, stored ones reused and the others computed (here or on a cluster) and stored
    as each one is done; each network's parts in the order of its photos."""
    starts = range(0, len(run.photos.labels), PHOTO_CHUNK)
    parts = {}
    for key in run.keys:
        for start in starts:
            stored = run.stored(key, start)
            if stored is not None:
                parts[run.part_name(key, start)] = stored
    for note in run.store.notes:
        monitor.progress(0.0, note)

    def keep(name: str, part: tuple[dict, dict]) -> None:  # stored as soon as it is done: a stopped run resumes
        run.store.save(name, *part)
        parts[name] = part

    chunks = {start: run.chunk(start) for start in starts}  # one tensor per chunk: on a cluster, sent once
    missing = [run.job(key, start, chunks) for key in run.keys for start in starts
               if run.part_name(key, start) not in parts]
    run_parts(missing, monitor, keep)
    return {key: [parts[run.part_name(key, start)] for start in starts] for key in run.keys}


def _prepare(networks, folder, n: int | None, rule: str, device: str, monitor: Monitor) -> _PhotoRun:
    """The networks (catalogue entries), photos and part store of a photo table; refusals before any work."""
    check_target_rule(rule)
    if rule not in PHOTO_RULES:
        raise ValueError(f"a photo table takes the target rule {' or '.join(PHOTO_RULES)}, not {rule!r}")
    entries = list(dict.fromkeys(find_photo_model(network) for network in networks))
    models = {entry.key: load_photo_model(entry.key) for entry in entries}
    first = models[entries[0].key]
    monitor.progress(0.0, "reading the photos")
    photos = (sample_labelled_photos(first.class_names, n) if folder is None else
              folder_photos(folder, first.class_names, n, monitor.scaled(0.0, 0.05)))
    store = PartStore(experiments_dir() / f"photo-parts-{photos.digest}-{rule}{device_suffix(device)}"
                                          f"-p{PHOTO_PART_VERSION}-v{STORE_VERSION}")
    return _PhotoRun(models, {key: model.fingerprint for key, model in models.items()}, photos, store, rule, device)


def _reuse_note(parts: dict[str, list[tuple[dict, dict]]]) -> str:
    every = [record for network in parts.values() for record, _ in network]
    return f"{sum(bool(record.get('reused')) for record in every)} of {len(every)} parts reused from earlier runs"


@with_fixed_threads
def photo_table1(network: str, folder: str | Path | None = None, n: int | None = 1000, monitor: Monitor | None = None,
                 rule: str = DEFAULT_TARGET_RULE, device: str = "cpu") -> dict:
    """A photo network's error on the photos of ``folder`` (None: the sample photos) and the success and average
    minimum distortion of the attack of those it classifies correctly (the first ``n`` photos; None: all)."""
    monitor = monitor or Monitor()
    run = _prepare([network], folder, n, rule, device, monitor)
    parts = _run_photo_parts(run, monitor.scaled(0.05, 1.0))
    key = run.keys[0]
    row = _attack_summary(run.models[key].name, parts[key])
    notes = [*run.photos.notes, *run.store.notes, _reuse_note(parts),
             f"the paper's one ImageNet figure: AlexNet, average distortion {PAPER_ALEXNET_DISTORTION} over 64 "
             "examples made \u201costrich\u201d (figure 5)"]
    return {"experiment": "photo_table1", "n": len(run.photos.labels), "source": run.photos.source,
            "target_rule": rule, "target_rule_text": PHOTO_RULES[rule], "rows": [row], "folder": str(run.store.folder),
            "notes": notes}


def _joined(parts: list[tuple[dict, dict]], name: str) -> np.ndarray:
    return np.concatenate([arrays[name] for _, arrays in parts], axis=-1)


def _attack_summary(name: str, parts: list[tuple[dict, dict]]) -> dict:
    """A network's row of Table 1 from its parts: error on the photos, attack success and average distortion."""
    photos = sum(record["photos"] for record, _ in parts)
    correct = sum(record["correct"] for record, _ in parts)
    success, distortion = _joined(parts, "success"), _joined(parts, "distortion")
    return {"model": name, "photos": photos, "attacked": correct, "test_error": 1.0 - correct / photos,
            "success": float(success.sum() / correct) if correct else None,
            "distortion": float(distortion[success].mean()) if success.any() else None,
            "reused": sum(bool(record.get("reused")) for record, _ in parts), "parts": len(parts)}


def _transfer_errors(run: _PhotoRun, key: str, parts: list[tuple[dict, dict]], monitor: Monitor) -> list:
    """How often each network gets wrong the photos made for ``key`` (its successful attacks): 100% for ``key``
    itself, by construction; the others judge each photo plus its stored change, here, part by part."""
    judges = {judge: model.to(run.device if cluster_address() is None else "cpu")
              for judge, model in run.models.items() if judge != key}
    wrong, made = dict.fromkeys(judges, 0), 0
    for position, (record, arrays) in enumerate(parts):
        monitor.progress(position / len(parts), f"the photos made for {run.models[key].name}, shown to the others")
        monitor.check()
        chosen = torch.from_numpy(arrays["success"])
        if not chosen.any():
            continue
        images, labels = run.chunk(record["start"])
        adversarial = (images[chosen] + torch.from_numpy(arrays["change"][arrays["success"]]).float()).clamp(0, 1)
        made += int(chosen.sum())
        for judge, model in judges.items():
            wrong[judge] += int((predict_labels(model, adversarial) != labels[chosen]).sum())
    return [None if not made else 1.0 if judge == key else wrong[judge] / made for judge in run.keys]


@with_fixed_threads
def photo_table2(networks, folder: str | Path | None = None, n: int | None = 1000, monitor: Monitor | None = None,
                 rule: str = DEFAULT_TARGET_RULE, device: str = "cpu") -> dict:
    """Table 2 for photo networks: how often the adversarial photos made for each network (the first ``n`` photos of
    ``folder``; None: the sample photos) fool every network, and how often Gaussian noise does. The attacks are
    Table 1's parts, reused wherever they are stored."""
    monitor = monitor or Monitor()
    if len(set(find_photo_model(network).key for network in networks)) < 2:
        raise ValueError("a photo Table 2 needs at least two different photo networks")
    run = _prepare(networks, folder, n, rule, device, monitor)
    parts = _run_photo_parts(run, monitor.scaled(0.05, 0.9))
    labels = run.photos.labels.numpy()
    names = [run.models[key].name for key in run.keys]
    rows, notes = [], [*run.photos.notes, *run.store.notes, _reuse_note(parts),
                       "a network's row: how many of the photos made for it (its successful attacks) each network "
                       "gets wrong; a noise row: how many of all the photos each network gets wrong under that "
                       "noise, its errors on the clean photos included"]
    for position, (key, name) in enumerate(zip(run.keys, names)):
        summary = _attack_summary(name, parts[key])
        span = monitor.scaled(0.9 + 0.1 * position / len(names), 0.9 + 0.1 * (position + 1) / len(names))
        rows.append({"examples": name, "errors": _transfer_errors(run, key, parts[key], span),
                     "distortion": summary["distortion"], "paper": None, "paper_distortion": None})
        notes.append(f"{name}: wrong on {1 - summary['attacked'] / summary['photos']:.1%} of the photos; "
                     f"{int(_joined(parts[key], 'success').sum())} of {summary['attacked']} attacks succeeded")
    for row, stddev in enumerate(PHOTO_NOISE_STDDEVS):
        errors = [float((_joined(parts[key], "noise")[row] != labels).mean()) for key in run.keys]
        rows.append({"examples": f"Gaussian noise, stddev {stddev}", "errors": errors, "distortion": stddev,
                     "paper": None, "paper_distortion": None})
    return {"experiment": "photo_table2", "n": len(labels), "source": run.photos.source, "columns": names,
            "rows": rows, "target_rule": rule, "target_rule_text": PHOTO_RULES[rule], "folder": str(run.store.folder),
            "notes": notes}
