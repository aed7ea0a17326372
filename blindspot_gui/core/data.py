"""Data sets in MNIST's IDX format: checksum-verified loading, class names and the P1/P2 split."""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

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
    raise DatasetError(
        f"Missing data file '{stem}.gz' (or '{stem}') in {directory}. "
        "Copy the four MNIST-format IDX files into that folder."
    )


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DatasetError(
            f"Cannot read '{path}': {error}. The file is damaged or truncated; replace it with a good copy."
        ) from None


def parse_idx(raw: bytes, path: Path) -> np.ndarray:
    """Decode an IDX byte string of unsigned bytes into an array of its declared shape."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"'{path}' is not an IDX file (bad magic number); replace it with a good copy.")
    if raw[2] != IDX_UINT8:
        raise DatasetError(f"'{path}' holds IDX type 0x{raw[2]:02x}; only unsigned bytes (0x08) are supported.")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_size:
        raise DatasetError(f"'{path}' has a truncated IDX header; replace it with a good copy.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header_size + int(np.prod(shape))
    if len(raw) != expected:
        raise DatasetError(
            f"'{path}' declares shape {shape} ({expected} bytes) but holds {len(raw)} bytes: "
            "it is truncated or altered; replace it with a good copy."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _load_verified(path: Path, expected_sha256: str | None) -> np.ndarray:
    if expected_sha256 is not None and sha256_of(path) != expected_sha256:
        raise DatasetError(
            f"Checksum mismatch for '{path}': the file is altered or truncated. "
            "Restore it from the original MNIST files (reinstall blindspot-gui, or copy it from the source "
            "named in resources/datasets/mnist/README.md)."
        )
    return parse_idx(_read_bytes(path), path)


def read_class_names(path: Path, num_classes: int) -> tuple[str, ...]:
    """Class names from a text file with one name per line."""
    try:
        names = tuple(line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip())
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"Cannot read class names from '{path}': {error}") from None
    if len(names) < num_classes:
        raise DatasetError(f"'{path}' names {len(names)} classes but the labels go up to {num_classes - 1}.")
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
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"'{image_path.name}' {images.shape} and '{label_path.name}' {labels.shape} do not form an image set "
            "(expected images of shape (N, H, W) and N labels)."
        )
    num_classes = int(labels.max()) + 1
    if class_names_file is None and (directory / "classes.txt").is_file():
        class_names_file = directory / "classes.txt"
    names = read_class_names(class_names_file, num_classes) if class_names_file else MNIST_CLASS_NAMES
    if len(names) < num_classes:
        names = tuple(str(label) for label in range(num_classes))
    pixels = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return Dataset(pixels, torch.from_numpy(labels.astype(np.int64)), names, f"{directory}:{split}")


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
