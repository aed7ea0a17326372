"""Experiment parts and activation caches that are stale, damaged or hold the wrong content are never used:
they are computed again, overwritten, and the reason is told; a run killed at any moment resumes to the
figures of an uninterrupted run."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from blindspot_gui.core import experiments
from blindspot_gui.core.training import adversarial as advtrain
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.units import ActivationCache, capture_activations
from blindspot_gui.core.models.zoo_weights import load_zoo_model, save_model, user_models_dir
from blindspot_gui.core.models.mnist_zoo import find_spec

N = 6
MODEL = "FC10(1e-4)"
FIGURES = ("images", "attacked", "success", "distortion", "train_error", "test_error", "weights")
REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished_table1(tmp_path_factory):
    """The experiments folder and result of a finished Table 1 run on N images (computed once for this module)."""
    home = tmp_path_factory.mktemp("finished_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BLINDSPOT_HOME", str(home))
        result = experiments.table1(n=N)
    return home / "experiments", result


def with_finished_parts(home: Path, finished_table1) -> experiments.PartStore:
    shutil.copytree(finished_table1[0], home / "experiments")
    return experiments.PartStore.for_run("table1", N)


def figures(row: dict) -> dict:
    return {key: row.get(key) for key in FIGURES}


def test_replaced_weights_recompute_that_models_part_and_reuse_the_others(isolated_user_folder, finished_table1):
    with_finished_parts(isolated_user_folder, finished_table1)
    before = {row["model"]: row for row in finished_table1[1]["rows"]}
    model = load_zoo_model("FC10(1)")
    torch.manual_seed(0)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.add_(0.05 * torch.randn_like(tensor))
    save_model(model, find_spec("FC10(1)"), {}, user_models_dir())  # the user's weights override the shipped ones
    after = experiments.table1(n=N)
    for row in after["rows"]:
        if row["model"] == "FC10(1)":
            assert "reused" not in row and row["weights"] != before["FC10(1)"]["weights"]
            assert (row["distortion"], row["train_error"]) != (before["FC10(1)"]["distortion"],
                                                               before["FC10(1)"]["train_error"])
        else:
            assert row["reused"] and figures(row) == figures(before[row["model"]])
    assert any("FC10(1).json" in note and "other weights" in note for note in after["notes"])
    assert all(row.get("reused") for row in experiments.table1(n=N)["rows"])  # the new part is kept


def test_table2_after_replacing_weights_equals_a_fresh_run_with_those_weights(isolated_user_folder, finished_table1,
                                                                              tmp_path, monkeypatch):
    with_finished_parts(isolated_user_folder, finished_table1)
    model = load_zoo_model("FC100-100-10")
    with torch.no_grad():
        next(model.parameters()).mul_(1.3)
    save_model(model, find_spec("FC100-100-10"), {}, user_models_dir())
    resumed = experiments.table2(n=N)  # the other five parts come from the old run
    fresh_home = tmp_path / "fresh_home"
    save_model(model, find_spec("FC100-100-10"), {}, fresh_home / "models")
    monkeypatch.setenv("BLINDSPOT_HOME", str(fresh_home))
    fresh = experiments.table2(n=N)
    assert resumed["rows"] == fresh["rows"]  # transfer rows included: each column uses the weights in use now


BAD_RECORDS = {
    "a list": ("[1, 2, 3]", "JSON list"),
    "not JSON": ("{\"model\": ", "not valid JSON"),
    "not text": (b"\xff\xfe\x00{", "UTF-8"),
    "nested too deep": ("[" * 100_000, "cannot be read"),
    "no success": (lambda record: record.pop("success"), "attack success"),
    "a success beyond any float": (lambda record: record.update(success=10**400), "attack success"),
    "NaN success": (lambda record: record.update(success=float("nan")), "attack success"),
    "NaN error": (lambda record: record.update(test_error=float("nan")), "test error"),
    "string distortion": (lambda record: record.update(distortion="0.1"), "distortion"),
    "another n": (lambda record: record.update(images=N + 1), f"{N + 1} images, not {N}"),
    "another model": (lambda record: record.update(model="FC10(1)"), "not of 'FC10(1e-4)'"),
    "other weights": (lambda record: record.update(weights="0" * 20), "other weights"),
    "no weights": (lambda record: record.pop("weights"), "other weights"),
}


@pytest.mark.parametrize("case", BAD_RECORDS)
def test_a_bad_part_record_is_recomputed_overwritten_and_reported(isolated_user_folder, finished_table1, case):
    store = with_finished_parts(isolated_user_folder, finished_table1)
    bad, reason = BAD_RECORDS[case]
    path = store.path(MODEL, ".json")
    if callable(bad):
        record = json.loads(path.read_text())
        bad(record)
        path.write_text(json.dumps(record))
    elif isinstance(bad, bytes):
        path.write_bytes(bad)
    else:
        path.write_text(bad)
    check_recomputed(store, path, reason, finished_table1)


def _arrays(store) -> dict:
    with np.load(store.path(MODEL, ".npz")) as stored:
        return {name: stored[name] for name in stored.files}


def _without(arrays: dict, key: str) -> dict:
    return {name: value for name, value in arrays.items() if name != key}


BAD_ARRAYS = {
    "narrower images": (lambda a: a | {"adversarial": a["adversarial"][..., :27]}, "shape"),
    "float64 images": (lambda a: a | {"adversarial": a["adversarial"].astype(np.float64)}, "float64"),
    "no success": (lambda a: _without(a, "success"), "lacks the array 'success'"),
    "no weights": (lambda a: _without(a, "weights"), "other weights"),
    "NaN image": (lambda a: a | {"adversarial": np.where(a["adversarial"] > 0.5, np.nan, 0).astype(np.float32)},
                  "not all numbers"),
    "another n": (lambda a: {name: value[: N - 1] if value.ndim else value for name, value in a.items()}, "shape"),
    "other weights": (lambda a: a | {"weights": np.array("f" * 20)}, "other weights"),
    "successes of another run": (lambda a: a | {"success": np.zeros(N, dtype=bool)}, "counts of successes"),
    "python objects": (lambda a: a | {"success": np.array([object()] * N)}, "cannot be read"),
}


@pytest.mark.parametrize("case", BAD_ARRAYS)
def test_bad_part_arrays_are_recomputed_overwritten_and_reported(isolated_user_folder, finished_table1, case):
    store = with_finished_parts(isolated_user_folder, finished_table1)
    bad, reason = BAD_ARRAYS[case]
    path = store.path(MODEL, ".npz")
    arrays = bad(_arrays(store))
    with open(path, "wb") as stream:
        np.savez(stream, **arrays)
    check_recomputed(store, path, reason, finished_table1)


def test_a_single_array_in_place_of_the_parts_arrays_is_recomputed(isolated_user_folder, finished_table1):
    store = with_finished_parts(isolated_user_folder, finished_table1)
    path = store.path(MODEL, ".npz")
    with open(path, "wb") as stream:
        np.save(stream, np.zeros((N, 1, 28, 28), dtype=np.float32))
    check_recomputed(store, path, "single array", finished_table1)


def check_recomputed(store, path: Path, reason: str, finished_table1) -> None:
    """The next Table 1 recomputes MODEL (to the same figures), reuses the others, says why, and keeps the new part."""
    seen = []
    result = experiments.table1(n=N, monitor=Monitor(on_progress=lambda fraction, message: seen.append(message)))
    rows = {row["model"]: row for row in result["rows"]}
    assert "reused" not in rows[MODEL]
    assert all(row.get("reused") for name, row in rows.items() if name != MODEL)
    finished = {row["model"]: row for row in finished_table1[1]["rows"]}
    assert {name: figures(row) for name, row in rows.items()} == {name: figures(row) for name, row in finished.items()}
    assert len(result["notes"]) == 1 and str(path) in result["notes"][0] and reason in result["notes"][0]
    assert any(reason in message for message in seen)  # the monitor's message says it too
    assert result["notes"][0] in experiments.comparison_table(result).notes  # the CLI and the window show it
    again = experiments.table1(n=N)
    assert again["notes"] == [] and all(row.get("reused") for row in again["rows"])  # overwritten with a good part
    assert sorted(file.name for file in store.folder.iterdir()) == sorted(
        f"{name}{suffix}" for name in experiments.TABLE1_MODELS for suffix in (".json", ".npz"))


def test_parts_are_written_under_unique_temporary_names(isolated_user_folder):
    store = experiments.PartStore.for_run("table1", N)
    for name in (f"{MODEL}.part.npz", f"{MODEL}.json.part"):  # the fixed names an older version used
        (store.folder / name).mkdir(parents=True)  # as if another run were writing them
    store.save(MODEL, {"model": MODEL}, {"success": np.ones(3, dtype=bool)})
    assert store.load_record(MODEL) == {"model": MODEL}
    assert store.load_arrays(MODEL)["success"].tolist() == [True] * 3
    assert {file.name for file in store.folder.iterdir() if file.is_file()} == {f"{MODEL}.json", f"{MODEL}.npz"}


def test_advtrain_checkpoints_are_written_under_unique_temporary_names(tmp_path):
    checkpoint = tmp_path / "run.pt"
    (tmp_path / "run.part").mkdir()  # the fixed name an older version used
    advtrain._save_checkpoint(checkpoint, {"epoch": 3, "weights": torch.ones(2)})
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 3
    assert sorted(file.name for file in tmp_path.iterdir()) == ["run.part", "run.pt"]


BAD_BOUNDS = {
    "a list": ([1, 2], "JSON list"),
    "an entry without its bound": (lambda record: record["fc2"].pop("bound"), "fields of a layer's bound"),
    "a NaN bound": (lambda record: record["fc2"].update(bound=float("nan")), "bound of 'fc2'"),
    "a string entry": (lambda record: record.update(fc2="12.5"), "not an object"),
    "another layer's name": (lambda record: record["fc2"].update(name="fc3"), "does not name its layer"),
}


@pytest.mark.parametrize("case", BAD_BOUNDS)
def test_a_bad_table5_bounds_record_is_recomputed(case):
    first = experiments.table5("FC100-100-10")
    path = Path(first["folder"]) / "bounds.json"
    bad, reason = BAD_BOUNDS[case]
    record = json.loads(path.read_text())
    if callable(bad):
        bad(record)
    else:
        record = bad
    path.write_text(json.dumps(record))
    again = experiments.table5("FC100-100-10")
    assert again["rows"] == first["rows"]
    assert len(again["notes"]) == 1 and reason in again["notes"][0] and str(path) in again["notes"][0]
    assert experiments.table5("FC100-100-10")["notes"] == []  # overwritten with a good record


def test_the_advtrain_baseline_is_keyed_by_its_weights(isolated_user_folder):
    fingerprint = load_zoo_model(experiments.ADVTRAIN_BASELINE).fingerprint
    good = {"model": experiments.ADVTRAIN_BASELINE, "test_error": 0.02, "distortion": 0.06, "weights": fingerprint}
    experiments.check_baseline(good, fingerprint)
    for bad, reason in ((good | {"weights": "0" * 20}, "other weights"), (good | {"test_error": None}, "test error"),
                        (good | {"distortion": float("inf")}, "distortion")):
        with pytest.raises(experiments.PartError, match=reason):
            experiments.check_baseline(bad, fingerprint)


@pytest.fixture(scope="module")
def digits():
    return load_mnist("test").subset(range(40))


def _cache_case(values, unit_shape):
    def write(stream):
        np.savez(stream, **({} if values is None else {"values": values}),
                 **({} if unit_shape is None else {"unit_shape": np.array(unit_shape)}))
    return write


def _rows(count, width, dtype=np.float32):
    return np.random.default_rng(0).random((count, width)).astype(dtype)


BAD_CACHES = {
    "wider than its unit shape": (lambda: _cache_case(_rows(40, 101), [100]), "does not give its width"),
    "a unit shape that does not multiply to the width": (lambda: _cache_case(_rows(40, 100), [3, 5]),
                                                          "does not give its width"),
    "another layer's width": (lambda: _cache_case(_rows(40, 10), [10]), "not the layer's"),
    "float64": (lambda: _cache_case(_rows(40, 100, np.float64), [100]), "float64"),
    "no unit shape": (lambda: _cache_case(_rows(40, 100), None), "lacks unit_shape"),
    "no values": (lambda: _cache_case(None, [100]), "lacks values"),
    "NaN values": (lambda: _cache_case(np.full((40, 100), np.nan, dtype=np.float32), [100]), "finite"),
    "another data set's size": (lambda: _cache_case(_rows(39, 100), [100]), "39 images, not 40"),
    "other values of the right shape": (lambda: _cache_case(_rows(40, 100), [100]), "not this layer's activations"),
    "a negative unit shape": (lambda: _cache_case(_rows(40, 100), [-100]), "positive sizes"),
    "python objects": (lambda: _cache_case(np.array([object()] * 40), [100]), "cannot be read"),
}


@pytest.mark.parametrize("case", BAD_CACHES)
def test_a_bad_activation_cache_is_recomputed_and_reported(tmp_path, digits, case):
    tmp_path = tmp_path / "cache"
    model = load_zoo_model("FC100-100-10")
    truth = capture_activations(model, digits, "sigmoid1")
    ActivationCache(tmp_path).get(model, digits, "sigmoid1")
    (path,) = tmp_path.glob("*.npz")
    make, reason = BAD_CACHES[case]
    with open(path, "wb") as stream:
        make()(stream)
    seen = []
    cache = ActivationCache(tmp_path)
    activations = cache.get(model, digits, "sigmoid1", monitor=Monitor(on_progress=lambda f, message: seen.append(message)))
    assert torch.equal(activations.values, truth.values) and activations.unit_shape == (100,)
    assert len(cache.notes) == 1 and reason in cache.notes[0] and str(path) in cache.notes[0]
    assert any(reason in message for message in seen)
    fresh = ActivationCache(tmp_path)
    assert torch.equal(fresh.get(model, digits, "sigmoid1").values, truth.values) and fresh.notes == []  # rewritten
    assert [file.name for file in tmp_path.iterdir()] == [path.name]


def test_table_figures_do_not_depend_on_the_thread_count(isolated_user_folder, tmp_path, monkeypatch):
    """A part computed before a crash and one after it may run with different automatic thread counts."""
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = experiments.table1(n=20)
        monkeypatch.setenv("BLINDSPOT_HOME", str(tmp_path / "second_home"))
        torch.set_num_threads(2)
        two = experiments.table1(n=20)
        assert torch.get_num_threads() == 2  # restored afterwards
    finally:
        torch.set_num_threads(before)
    assert [figures(row) for row in one["rows"]] == [figures(row) for row in two["rows"]]


def _reproduce(home: Path, output: Path) -> subprocess.Popen:
    """``python -m blindspot_gui reproduce table2 --n 20 --json output`` with its own user folder (errors in home.log)."""
    environment = os.environ | {"BLINDSPOT_HOME": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    with open(home.with_suffix(".log"), "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "blindspot_gui", "reproduce", "table2", "--n", "20",
                                 "--json", str(output)], cwd=REPOSITORY, env=environment,
                                stdout=subprocess.DEVNULL, stderr=log)


def test_table2_killed_at_a_random_moment_resumes_to_the_figures_of_an_uninterrupted_run(tmp_path):
    killed_home, whole_home = tmp_path / "killed", tmp_path / "whole"
    whole = _reproduce(whole_home, tmp_path / "whole.json")
    run = _reproduce(killed_home, tmp_path / "killed.json")
    parts = killed_home / "experiments"
    chance = random.Random(13)
    finished, deadline = chance.randint(1, len(experiments.TABLE1_MODELS) - 1), time.monotonic() + 60
    while len(list(parts.glob("*/*.json"))) < finished and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # a random number of finished parts, then a random moment within the next one
    time.sleep(chance.uniform(0.0, 0.3))
    assert run.poll() is None, f"the run ended before it was killed: {(tmp_path / 'killed.log').read_text()[-2000:]}"
    run.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    assert not (tmp_path / "killed.json").exists()
    assert _reproduce(killed_home, tmp_path / "killed.json").wait(timeout=120) == 0, (tmp_path / "killed.log").read_text()
    assert whole.wait(timeout=120) == 0, (tmp_path / "whole.log").read_text()
    resumed, uninterrupted = (json.loads((tmp_path / name).read_text()) for name in ("killed.json", "whole.json"))
    assert resumed["notes"] == [] and uninterrupted["notes"] == []
    assert (resumed["n"], resumed["columns"]) == (20, list(experiments.TABLE1_MODELS))
    assert resumed["rows"] == uninterrupted["rows"]


def test_python_dash_m_runs_the_command_line():
    completed = subprocess.run([sys.executable, "-m", "blindspot_gui", "--help"], cwd=REPOSITORY,
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0 and "reproduce" in completed.stdout
