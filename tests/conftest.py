"""Shared fixtures: headless Qt, an isolated user folder and settings, and small real data sets."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402
import gzip  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torchvision.ops  # noqa: E402, F401  torch._dynamo, which it imports, sets TORCHINDUCTOR_CACHE_DIR for the
# process as it loads: once here, before any test's state is taken, rather than inside whichever test imports it first


def _umask() -> int:
    """The process's umask, read from Linux's status file where it can be: reading it with os.umask means setting it,
    and a file another thread creates meanwhile gets the wrong permissions."""
    try:
        return int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                        if line.startswith("Umask:")).split()[1], 8)
    except (OSError, StopIteration, IndexError, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _set_sigint(handler) -> None:
    if handler is not None:  # None: a handler not installed from Python, which Python cannot put back
        signal.signal(signal.SIGINT, handler)


def _application_name():
    """The Qt application's name, None when Qt is not loaded or there is no application (its name is then moot)."""
    core = sys.modules.get("PySide6.QtCore")
    return core.QCoreApplication.applicationName() if core and core.QCoreApplication.instance() else None


def _set_application_name(name) -> None:
    if name is not None:
        sys.modules["PySide6.QtCore"].QCoreApplication.setApplicationName(name)


PROCESS_STATE = {  # what it is called: (read it, put it back or None)
    "torch.get_num_threads()": (torch.get_num_threads, torch.set_num_threads),
    "torch.get_num_interop_threads()": (torch.get_num_interop_threads, None),  # settable once per process only
    "torch.get_default_dtype()": (torch.get_default_dtype, torch.set_default_dtype),
    "torch.is_grad_enabled()": (torch.is_grad_enabled, torch.set_grad_enabled),
    "torch.are_deterministic_algorithms_enabled()": (torch.are_deterministic_algorithms_enabled,
                                                     torch.use_deterministic_algorithms),
    "os.getcwd()": (os.getcwd, os.chdir),
    "the umask": (_umask, os.umask),
    "the SIGINT handler": (lambda: signal.getsignal(signal.SIGINT), _set_sigint),
    "sys.path": (lambda: list(sys.path), lambda path: sys.path.__setitem__(slice(None), path)),
    "QCoreApplication.applicationName()": (_application_name, _set_application_name),
}
"""Process-wide state a test must leave as it found it. Deliberately not here: automatic garbage collection
(gc.isenabled), which the window turns off for good (task_runner.collect_garbage_on_the_gui_thread), and the
application's font (QApplication.font), which the window's text size sets (tests that change it put it back)."""
ENVIRONMENT_EXCEPTIONS = {
    "PYTEST_CURRENT_TEST": "pytest writes the phase it is in (setup, call, teardown) there",
}
"""Variables that may change during a test, and why."""


def _environment_changes(before: dict, after: dict) -> list[str]:
    keys = (before.keys() | after.keys()) - ENVIRONMENT_EXCEPTIONS.keys()
    return [f"os.environ[{key!r}]: {before.get(key, '(unset)')!r} -> {after.get(key, '(unset)')!r}"
            for key in sorted(keys) if before.get(key) != after.get(key)]


@pytest.fixture(autouse=True)
def process_state_left_as_found():
    """Fail a test that leaves process-wide state changed (PROCESS_STATE, os.environ), naming it with its values before
    and after, and put the state back for the tests after it. The other autouse fixtures ask for it (pytest orders
    autouse fixtures by name), so it starts first and ends last, after monkeypatch has undone its changes."""
    before, environment = _process_state(), dict(os.environ)
    yield
    after = _process_state()
    changes = [f"{name}: {before[name]!r} -> {after[name]!r}" for name in PROCESS_STATE if after[name] != before[name]]
    changes += _environment_changes(environment, dict(os.environ))
    if changes:
        _put_back(before, after, environment)
        pytest.fail("the test changed process-wide state and left it so:\n  " + "\n  ".join(changes), pytrace=False)


def _process_state() -> dict:
    return {name: read() for name, (read, _) in PROCESS_STATE.items()}


def _put_back(before: dict, after: dict, environment: dict) -> None:
    for name, (_, restore) in PROCESS_STATE.items():
        if after[name] != before[name] and restore is not None:
            restore(before[name])
    os.environ.clear()
    os.environ.update(environment)


@pytest.fixture(autouse=True)
def isolated_user_folder(process_state_left_as_found, tmp_path, monkeypatch):
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
def collect_garbage_after_each_test(process_state_left_as_found):
    """Closed windows are collected here, on the GUI thread (the window turns automatic collection off, see
    blindspot_gui.qt.task_runner.collect_garbage_on_the_gui_thread), so memory stays bounded over the suite."""
    yield
    gc.collect()


@pytest.fixture(scope="module")
def fc100():
    """The shipped FC100-100-10, the paper's network of most examples, loaded once per test module."""
    from blindspot_gui import api

    return api.load_model("FC100-100-10")


@pytest.fixture(scope="module")
def blind_spot(fc100):
    """FC100-100-10's smallest change of MNIST test image 0 (a 7) towards the next label, found once per module."""
    from blindspot_gui.core.attack.search import blindspot_search
    from blindspot_gui.core.data import load_mnist

    digits = load_mnist("test")
    result = blindspot_search(fc100, digits.images[:1], "next", digits.labels[:1])[0]
    assert result.success
    return result


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


@pytest.fixture
def photo_window(qtbot, settings_file):
    """The main window with EfficientNet-Lite0 chosen in the network list and the first sample photo shown."""
    from window_actions import click_model  # only the window's tests pay for importing Qt

    main = open_window(qtbot, settings_file)
    qtbot.waitUntil(lambda: not main.runner.is_running("catalogue"), timeout=30000)  # the photo networks' weights
    click_model(qtbot, main, "EfficientNet-Lite0")
    view = main.blindspots
    qtbot.waitUntil(lambda: view.network_name == "EfficientNet-Lite0" and view.original_probabilities is not None
                    and view.choice.path is not None, timeout=60000)
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
