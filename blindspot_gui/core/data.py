"""Data sets in MNIST's IDX format: checksum-verified loading, class names and the P1/P2 split."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import math
import os
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from blindspot_gui.core.files import file_kind, open_regular_file, os_reason
from blindspot_gui.core.resources import resource_path


def mnist_dir() -> Path:
    """The bundled copy of MNIST (see resources/datasets/mnist/README.md)."""
    return resource_path("datasets", "mnist")


MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
    "train-labels-idx1-ubyte.gz": "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
    "t10k-images-idx3-ubyte.gz": "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
    "t10k-labels-idx1-ubyte.gz": "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
}
"""SHA-256 of the bundled gzip files, kept in code so that an altered file cannot vouch for itself."""

SPLIT_FILES = {"train": "train", "test": "t10k"}
"""IDX file prefix of each split, as LeCun named them."""

MNIST_CLASS_NAMES = tuple(str(digit) for digit in range(10))

P1_P2_SEED = 20140219
"""Seed of the permutation that halves the training set into P1 and P2 (paper, Table 3)."""

P1_P2_SPLIT_FILE = "p1_p2_split.npz"

IDX_UINT8 = 0x08
IDX_MAX_DIMENSIONS = 4
MAX_IDX_BYTES = 1 << 30
"""Most data bytes an IDX file may declare (1 GiB; EMNIST's largest split holds 0.55 GB, MNIST's 47 MB). The
declared size is checked before anything is read, and a compressed file is never inflated past it."""

MAX_CLASS_NAMES_BYTES = 2 << 20
"""Largest class-name file read (2 MB; ImageNet-21k's 21,843 names take 0.4 MB)."""
MAX_CLASS_NAME_LENGTH = 200


class DatasetError(ValueError):
    """A data file is missing, truncated, altered or not in IDX format."""


@dataclass(frozen=True)
class Dataset:
    """Images as float32 in [0, 1] with shape (N, 1, H, W) and integer labels of shape (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...] = MNIST_CLASS_NAMES
    source: str = ""
    indices: np.ndarray | None = field(default=None, compare=False)
    files: tuple[str, ...] | None = field(default=None, compare=False)
    """the file of each image, for data sets read from a folder."""

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, indices) -> "Dataset":
        """The images at ``indices`` (positions in this data set), remembering their original index."""
        indices = np.asarray(indices, dtype=np.int64)
        original = indices if self.indices is None else self.indices[indices]
        chosen = torch.as_tensor(indices)
        files = None if self.files is None else tuple(self.files[i] for i in indices)
        return Dataset(self.images[chosen], self.labels[chosen], self.class_names, self.source, original, files)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _find_idx_file(directory: Path, stem: str) -> Path:
    """The file ``stem`` or ``stem.gz`` in ``directory`` (also with '.' instead of the last '-')."""
    dotted = stem[::-1].replace("-", ".", 1)[::-1]  # train-images.idx3-ubyte, as some mirrors name it
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        candidate = directory / name
        if candidate.is_file():
            return candidate
        if candidate.exists():
            raise DatasetError(f"'{candidate}' is a {file_kind(candidate.stat().st_mode)}, not a data file; "
                               "put the MNIST-format IDX file itself there.")
    raise DatasetError(
        f"Missing data file '{stem}.gz' (or '{stem}') in {directory}. "
        "Copy the four MNIST-format IDX files into that folder."
    )


def idx_shape(header: bytes, path: Path) -> tuple[int, ...]:
    """The shape an IDX header declares (its first 4 + 4 x ndim bytes), checked to be one this loader can read."""
    if len(header) < 4 or header[0] != 0 or header[1] != 0:
        raise DatasetError(f"'{path}' is not an IDX file (bad magic number); replace it with a good copy.")
    if header[2] != IDX_UINT8:
        raise DatasetError(f"'{path}' holds IDX type 0x{header[2]:02x}; only unsigned bytes (0x08) are supported.")
    ndim = header[3]
    if not 1 <= ndim <= IDX_MAX_DIMENSIONS:
        raise DatasetError(f"'{path}' declares {ndim} dimensions; IDX images have 3 (N, height, width) and labels 1.")
    if len(header) < 4 + 4 * ndim:
        raise DatasetError(f"'{path}' has a truncated IDX header; replace it with a good copy.")
    shape = tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape)  # Python integers: no overflow
    if size > MAX_IDX_BYTES:
        raise DatasetError(f"'{path}' declares shape {shape}: too large ({size:,} bytes; at most {MAX_IDX_BYTES:,} "
                           "are read). It is damaged, or not a data set this program can hold in memory.")
    return shape


def _check_length(length: int, shape: tuple[int, ...], path: Path) -> None:
    size = math.prod(shape)
    if length < size:
        raise DatasetError(f"'{path}' declares shape {shape} ({size:,} bytes of data) but holds only {length:,}: "
                           "it is truncated or altered; replace it with a good copy.")
    if length > size:
        raise DatasetError(f"'{path}' holds more data than its shape {shape} declares: it is altered or not "
                           "an IDX file; replace it with a good copy.")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip-compressed when it ends in .gz): the header first, then exactly the data it declares,
    so that neither a huge declared size nor a compressed stream longer than declared is ever held in memory."""
    try:
        with contextlib.ExitStack() as stack:
            stream = stack.enter_context(open_regular_file(path))
            if path.suffix == ".gz":
                stream = stack.enter_context(gzip.GzipFile(fileobj=stream, mode="rb"))
            head = stream.read(4)
            shape = idx_shape(head + stream.read(4 * head[3] if len(head) == 4 else 0), path)
            size = math.prod(shape)
            body = stream.read(size)
            _check_length(len(body) + len(stream.read(1)), shape, path)
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DatasetError(
            f"Cannot read '{path}': {error}. The file is damaged or truncated; replace it with a good copy."
        ) from None
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _load_verified(path: Path, expected_sha256: str | None) -> np.ndarray:
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise DatasetError(
            f"Checksum mismatch for '{path}': the file is altered or truncated. "
            "Restore it from the original MNIST files (reinstall blindspot-gui, or copy it from the source "
            "named in resources/datasets/mnist/README.md)."
        )
    return read_idx(path)


def parse_class_names(path) -> tuple[str, ...]:
    """Class names from a UTF-8 text file, one per line (surrounding spaces and blank lines ignored: a blank line
    meant as an unnamed class shows as one name too few, which the callers' count checks refuse).

    Anything else raises a DatasetError naming the file (and line) and what to change: a file over
    MAX_CLASS_NAMES_BYTES (not read), one that is not text, not UTF-8, without names, a name over
    MAX_CLASS_NAME_LENGTH characters, or the same name twice (a class could not be chosen by its name).
    """
    raw = _read_small_text(Path(path))
    if b"\0" in raw:
        raise DatasetError(f"'{path}' is not a text file (it holds zero bytes); choose a file of class names, "
                           "one per line.")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DatasetError(f"'{path}' is not UTF-8 text (line {line}); save it as UTF-8.") from None
    named = [(number, line.strip()) for number, line in enumerate(text.split("\n"), 1) if line.strip()]
    if not named:
        raise DatasetError(f"'{path}' has no class names (one per line).")
    for number, name in named:
        _check_class_name(name, number, path)
    _check_distinct(named, path)
    return tuple(name for _, name in named)


def _read_small_text(path: Path) -> bytes:
    try:
        with open_regular_file(path) as stream:
            size = os.fstat(stream.fileno()).st_size
            if size > MAX_CLASS_NAMES_BYTES:
                raise DatasetError(f"'{path}' is {size / 2**20:,.0f} MB: not a list of class names (one per "
                                   f"line; such a file holds at most {MAX_CLASS_NAMES_BYTES >> 20} MB). "
                                   "Choose the right file.")
            return stream.read(MAX_CLASS_NAMES_BYTES + 1)[:MAX_CLASS_NAMES_BYTES]
    except OSError as error:
        raise DatasetError(f"Cannot read class names from '{path}': {os_reason(error)}.") from None


def _check_class_name(name: str, number: int, path) -> None:
    if len(name) > MAX_CLASS_NAME_LENGTH:
        raise DatasetError(f"'{path}': line {number} is {len(name):,} characters long (at most "
                           f"{MAX_CLASS_NAME_LENGTH}); is this a file of class names, one per line?")
    if any(unicodedata.category(char) == "Cc" and char != "\t" for char in name):
        raise DatasetError(f"'{path}' is not a text file (line {number} holds control characters); "
                           "choose a file of class names, one per line.")


def _check_distinct(named: list[tuple[int, str]], path) -> None:
    seen: dict[str, int] = {}
    for number, name in named:
        if name in seen:
            raise DatasetError(f"'{path}' names {name!r} twice (lines {seen[name]} and {number}); "
                               "give every class its own name.")
        seen[name] = number


def read_class_names(path: Path, num_classes: int) -> tuple[str, ...]:
    """Class names from a text file with one name per line (see :func:`parse_class_names`), at least ``num_classes``."""
    names = parse_class_names(path)
    if len(names) < num_classes:
        raise DatasetError(f"'{path}' names {len(names)} classes but the labels go up to {num_classes - 1}; "
                           "name every class, one per line.")
    return names


def load_idx_dataset(directory, split: str = "test", class_names_file=None, checksums=None) -> Dataset:
    """Load one split of a directory of MNIST-format IDX files (MNIST, Fashion-MNIST, ...).

    Parameters
    ----------
    directory : path of the folder with ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
    split : "train" or "test".
    class_names_file : optional text file, one class name per line; defaults to ``classes.txt``
        in the directory when present, else the label numbers.
    checksums : optional mapping file name -> SHA-256 that the files must match.
    """
    if split not in SPLIT_FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DatasetError(f"Data folder '{directory}' does not exist.")
    prefix = SPLIT_FILES[split]
    checksums = checksums or {}
    image_path = _find_idx_file(directory, f"{prefix}-images-idx3-ubyte")
    label_path = _find_idx_file(directory, f"{prefix}-labels-idx1-ubyte")
    images = _load_verified(image_path, checksums.get(image_path.name))
    labels = _load_verified(label_path, checksums.get(label_path.name))
    _check_image_set(images, labels, image_path, label_path)
    num_classes = int(labels.max()) + 1
    if class_names_file is None and (directory / "classes.txt").is_file():
        class_names_file = directory / "classes.txt"
    names = read_class_names(class_names_file, num_classes) if class_names_file else MNIST_CLASS_NAMES
    if len(names) < num_classes:
        names = tuple(str(label) for label in range(num_classes))
    pixels = images.astype(np.float32)
    pixels /= 255.0
    return Dataset(torch.from_numpy(pixels).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)), names,
                   f"{directory}:{split}")


def _check_image_set(images: np.ndarray, labels: np.ndarray, image_path: Path, label_path: Path) -> None:
    """Images of shape (N, H, W) with N, H, W > 0, and N labels; a DatasetError saying what is wrong otherwise."""
    expected = "expected images of shape (N, H, W) and N labels"
    if images.ndim != 3:
        raise DatasetError(f"'{image_path.name}' holds images of shape {images.shape} and '{label_path.name}' labels "
                           f"of shape {labels.shape}: they do not form an image set ({expected}).")
    if labels.ndim != 1:
        raise DatasetError(f"'{label_path.name}' holds labels of shape {labels.shape}: with '{image_path.name}' they "
                           f"do not form an image set ({expected}).")
    if images.shape[0] == 0:
        raise DatasetError(f"'{image_path.name}' holds no images (its shape is {images.shape}).")
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DatasetError(f"'{image_path.name}' holds images of {images.shape[1]}x{images.shape[2]} pixels.")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"'{image_path.name}' holds {images.shape[0]:,} images but '{label_path.name}' holds "
                           f"{labels.shape[0]:,} labels: they do not form an image set ({expected}).")


_MNIST_CACHE: dict[str, Dataset] = {}


def load_mnist(split: str = "test") -> Dataset:
    """The bundled MNIST split ("train" or "test"), checksum-verified on first use, then cached."""
    if split not in _MNIST_CACHE:
        _MNIST_CACHE[split] = load_idx_dataset(mnist_dir(), split, checksums=MNIST_SHA256)
    return _MNIST_CACHE[split]


def make_p1_p2_split(num_images: int = 60000, seed: int = P1_P2_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint halves P1 and P2 of the training set, from a seeded permutation (sorted indices)."""
    order = np.random.default_rng(seed).permutation(num_images)
    half = num_images // 2
    return np.sort(order[:half]), np.sort(order[half:])


def p1_p2_split() -> tuple[np.ndarray, np.ndarray]:
    """The stored P1/P2 split of the MNIST training set (resources/datasets/mnist/p1_p2_split.npz)."""
    path = mnist_dir() / P1_P2_SPLIT_FILE
    try:
        with np.load(path, allow_pickle=False) as stored:
            return stored["p1"], stored["p2"]
    except (OSError, KeyError, ValueError) as error:
        raise DatasetError(f"Cannot read the P1/P2 split '{path}': {error}. Reinstall blindspot-gui.") from None


def training_part(name: str) -> Dataset:
    """The training data named in the zoo: "train" (all 60,000), "P1" or "P2" (30,000 each)."""
    train = load_mnist("train")
    if name == "train":
        return train
    p1, p2 = p1_p2_split()
    parts = {"P1": p1, "P2": p2}
    if name not in parts:
        raise ValueError(f"unknown training part {name!r}; expected 'train', 'P1' or 'P2'")
    return train.subset(parts[name])
