"""Writing files so that a crash, a full disk or a second run never leaves a half-written or mixed-up file.

Every file the application writes for later reuse (weights, training records, experiment parts,
activation caches) goes through :func:`atomic_write`: the bytes go to a temporary file with a
unique name in the same folder, are flushed to disk, and the temporary file is renamed over the
destination in one step. Readers therefore see the old file or the new one, never a mixture,
and two concurrent runs never share a temporary name.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once, while the module is imported (os.umask can only be read by setting it)


class StoredFileError(ValueError):
    """A file kept for later (an experiment part, a cache) that can be read but does not hold what it should."""


def read_arrays(path) -> dict:
    """Every array of an .npz file kept for later, never unpickling anything; StoredFileError for a lone array."""
    with open(path, "rb") as stream:
        stored = np.load(stream, allow_pickle=False)
        if not isinstance(stored, np.lib.npyio.NpzFile):
            raise StoredFileError("it is a single array, not a set of arrays")
        with stored:
            return {name: stored[name] for name in stored.files}


def os_reason(error: OSError) -> str:
    """The reason an operating-system error gives ("No such file or directory"), without Python's errno prefix."""
    return str(error.strerror or error)


class OutputError(OSError):
    """An output file or folder cannot be written."""


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, as on Windows)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _mode_for(path: Path) -> int:
    """The permissions a new file gets (as open() would give it), or those of the file it replaces."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_file(path, suffix: str = ".part") -> Iterator[BinaryIO]:
    """A binary stream whose contents replace ``path`` only if the ``with`` block ends without an error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
            if hasattr(os, "fchmod"):  # not on Windows before Python 3.13, where files have no such modes
                os.fchmod(stream.fileno(), _mode_for(path))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def atomic_write(path, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(stream)`` and put what it wrote at ``path`` in one step; returns ``path``."""
    with atomic_file(path) as stream:
        write(stream)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` in one step."""
    return atomic_write(path, lambda stream: stream.write(text.encode("utf-8")))


def atomic_write_json(path, record, indent: int | None = 1) -> Path:
    """Write ``record`` as JSON to ``path`` in one step."""
    return atomic_write_text(path, json.dumps(record, indent=indent) + "\n")


def check_writable(path, what: str = "output") -> Path:
    """Fail now, before any work, if ``path`` could not be written later; nothing is left behind.

    Checks that the folder exists (or can be made) and accepts a new file, and that an existing
    ``path`` is a file that may be replaced. Raises :class:`OutputError` naming the path.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{what} '{path}' is a folder; give a file name.")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {what} '{path}': the folder '{folder}' does not exist.")
    try:
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".check")
    except OSError as error:
        raise OutputError(f"cannot write {what} '{path}': {os_reason(error)}.") from None
    os.close(handle)
    os.unlink(name)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"cannot write {what} '{path}': the file exists and is read-only.")
    return path


def check_writable_folder(folder, what: str = "output folder") -> Path:
    """Fail now if files cannot be made in ``folder`` (created if missing); nothing is left behind."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} '{folder}' is a file, not a folder.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {what} '{folder}': {os_reason(error)}.") from None
    check_writable(folder / ".blindspot-write-check", what)
    return folder


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, in words ("regular file", "folder", "device", "named pipe", ...)."""
    kinds = ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "named pipe (FIFO)"),
             (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device"), (stat.S_ISSOCK, "socket"))
    return next((name for test, name in kinds if test(mode)), "special file")


def open_regular_file(path) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (after symbolic links), else raise OSError saying what
    it is. Opening never blocks: a named pipe or a device is refused, not waited on or read without end."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = file_kind(os.fstat(descriptor).st_mode)
        if kind != "regular file":
            raise OSError(f"'{path}' is a {kind}, not a regular file")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
