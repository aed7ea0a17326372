"""Where experiments keep their finished parts, and the checks a stored part must pass before it is reused.

A part is saved as soon as it is done, so a cancelled or crashed run picks up where it stopped.
A part is reused only if it was computed with the weights in use now (``Classifier.fingerprint``)
and holds what it should; anything else is computed again, and the reason is kept in ``notes``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from blindspot_gui.core.experiments.targets import DEFAULT_TARGET_RULE
from blindspot_gui.core.files import StoredFileError, atomic_write, atomic_write_json, read_arrays
from blindspot_gui.core.resources import user_dir

STORE_VERSION = 5
"""Part of every store folder's name: results computed by an older version are not reused
(3: parts keyed by weights; 4: the search slides along the decision boundary; 5: an untargeted search stops
bisecting the labels that cannot win)."""


def device_suffix(device: str) -> str:
    """What a store's name says of the device its parts were computed on: nothing for the CPU, "-cuda" for a GPU
    (its figures agree with the CPU's up to float rounding, so its parts are kept apart)."""
    kind = torch.device(device).type
    return "" if kind == "cpu" else f"-{kind}"


def experiments_dir() -> Path:
    """$BLINDSPOT_HOME/experiments, else ~/.local/share/blindspot_gui/experiments."""
    return user_dir("experiments")


class PartError(StoredFileError):
    """A stored part that can be read but does not hold what it should; it is computed again."""


def require(condition: bool, reason: str) -> None:
    """Raise PartError with ``reason`` (what is wrong with the part, in words) unless ``condition`` holds."""
    if not condition:
        raise PartError(reason)


def is_number(value) -> bool:
    """A finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_fraction(value) -> bool:
    return is_number(value) and 0.0 <= value <= 1.0


def _why(error: Exception) -> str:
    """What is wrong with a stored file, in words."""
    if isinstance(error, StoredFileError):
        return str(error)
    if isinstance(error, json.JSONDecodeError):
        return f"it is not valid JSON ({error.msg})"
    if isinstance(error, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return f"it cannot be read ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'damaged'})"


@dataclass(frozen=True)
class PartStore:
    """Finished parts of one experiment run, as files in a folder named after the run's settings.

    Every part is checked when it is read; one that is damaged, computed with other weights or
    holding the wrong content counts as missing (it is computed again and overwritten), and the
    reason is kept in ``notes``. Parts are written atomically (core/files.py).
    """

    folder: Path
    notes: list[str] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def for_run(cls, experiment: str, n: int, rule: str = DEFAULT_TARGET_RULE, device: str = "cpu") -> "PartStore":
        return cls(experiments_dir() / f"{experiment}-n{n}-{rule}{device_suffix(device)}-v{STORE_VERSION}")

    def path(self, part: str, suffix: str) -> Path:
        return self.folder / f"{part.replace('/', '_')}{suffix}"

    def _reject(self, path: Path, error: Exception) -> None:
        self.notes.append(f"ignored the stored part {path}: {_why(error)}; computed again")

    def load_record(self, part: str, check: Callable[[dict], None] | None = None) -> dict | None:
        """The part's JSON record, or None when it is missing or fails ``check`` (which raises PartError)."""
        path = self.path(part, ".json")
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            require(isinstance(record, dict), f"it holds a JSON {type(record).__name__}, not an object")
            if check is not None:
                check(record)
        except Exception as error:  # unreadable, not JSON, nested too deep, or the wrong content: computed again
            self._reject(path, error)
            return None
        return record

    def load_arrays(self, part: str, check: Callable[[dict], None] | None = None) -> dict | None:
        """The part's arrays, or None when they are missing, damaged or fail ``check`` (which raises PartError)."""
        path = self.path(part, ".npz")
        if not path.is_file():
            return None
        try:
            arrays = read_arrays(path)
            if check is not None:
                check(arrays)
        except Exception as error:  # a damaged zip, a CRC error, a truncation, an object array: computed again
            self._reject(path, error)
            return None
        return arrays

    def save(self, part: str, record: dict, arrays: dict | None = None) -> None:
        """Write the arrays, then the record (the record's presence marks a finished part)."""
        if arrays is not None:
            atomic_write(self.path(part, ".npz"), lambda stream: np.savez_compressed(stream, **arrays))
        atomic_write_json(self.path(part, ".json"), record)
