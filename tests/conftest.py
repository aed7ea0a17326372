"""Shared fixtures: headless Qt, an isolated user folder and settings, and small real data sets."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402
import gzip  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_user_folder(tmp_path, monkeypatch):
    """Keep models trained by a test, settings and torch's hub cache out of the real user folders."""
    monkeypatch.setenv("BLINDSPOT_HOME", str(tmp_path / "blindspot_home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "blindspot_home"


@pytest.fixture(autouse=True)
def collect_garbage_after_each_test():
    """Closed windows are collected here, on the GUI thread (the window turns automatic collection off, see
    blindspot_gui.qt.task_runner.collect_garbage_on_the_gui_thread), so memory stays bounded over the suite."""
    yield
    gc.collect()


def write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    """Write ``array`` (uint8) as an IDX file, gzip-compressed when ``compress``."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path, "wb") as stream:
            stream.write(raw)
    else:
        path.write_bytes(raw)


@pytest.fixture
def tiny_idx_dir(tmp_path):
    """A folder of MNIST-format IDX files with 12 training and 6 test images of 3 classes."""
    folder = tmp_path / "tiny_idx"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 12), ("t10k", 6)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 3)
    return folder
