"""Shared fixtures: headless Qt, an isolated user folder and settings, and small real data sets."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402
import gzip  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_user_folder(tmp_path, monkeypatch):
    """Keep models trained by a test, settings and torch's hub cache out of the real user folders."""
    monkeypatch.setenv("BLINDSPOT_HOME", str(tmp_path / "blindspot_home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "blindspot_home"


def pytest_collection_finish(session):
    """Freeze what the imports made out of the collections after each test (a quarter of a second each otherwise),
    as the window does at its start."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def collect_garbage_after_each_test():
    """Closed windows are collected here, on the GUI thread (the window turns automatic collection off, see
    blindspot_gui.qt.task_runner.collect_garbage_on_the_gui_thread), so memory stays bounded over the suite."""
    yield
    gc.collect()


@pytest.fixture(scope="module")
def fc100():
    """The shipped FC100-100-10, the paper's network of most examples, loaded once per test module."""
    from blindspot_gui import api

    return api.load_model("FC100-100-10")


def script(module: torch.nn.Module, path) -> None:
    """Save ``module`` as a TorchScript file (as a user's own network would come)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch calls TorchScript deprecated; users still have such files
        torch.jit.script(module).save(str(path))


def jit_load(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path))


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


@pytest.fixture
def settings_file(tmp_path):
    """A settings file of the test's own."""
    return str(tmp_path / "settings.ini")


@pytest.fixture
def window(qtbot, settings_file):
    """The main window on its own settings file; it must leave no task running behind."""
    main = open_window(qtbot, settings_file)
    yield main
    main.close()
    assert main.runner.running_count == 0, "a test left a task running"


def open_window(qtbot, settings_file):
    """The main window, shown, once its start-up work is done."""
    from PySide6.QtCore import QSettings

    from blindspot_gui.qt.main_window import MainWindow  # only the window's tests pay for importing Qt

    main = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat), show_dialogs=False)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitExposed(main)
    qtbot.waitUntil(lambda: not main.runner.is_running("warm-up"), timeout=10000)
    return main
