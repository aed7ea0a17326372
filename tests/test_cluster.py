"""Tables on a Ray cluster: a local cluster on this machine (2 CPUs, started as `--cluster local` starts one: token
authentication, no dashboard) computes Table 2's parts, one of its workers is killed mid-part, and the figures are those
of a run in this process; the option's mistakes, an old Ray and token authentication turned off refused.
tests/test_cluster_sockets.py looks at what such a cluster listens on."""

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import ray
import torch

from blindspot_gui.cli import main
from blindspot_gui.core import experiments
from blindspot_gui.core.experiments.backends import INSTALL_HINT, UPGRADE_HINT

N = 50


def figures(result) -> list:
    return [(row["examples"], row["errors"], row["distortion"]) for row in result["rows"]]


def part_workers() -> list[int]:
    """Processes of this machine running a part for Ray (Ray titles them after the function they run)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::_run_job"):
                found.append(int(entry.name))
    return found


class WorkerKiller(threading.Thread):
    """Kills the first worker seen computing a part, once, after it has worked a moment."""

    def __init__(self):
        super().__init__(daemon=True)
        self.killed: int | None = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and self.killed is None:
            workers = part_workers()
            if workers:
                time.sleep(1.0)  # mid-part: it has loaded its network and is attacking
                try:
                    os.kill(workers[0], signal.SIGKILL)
                    self.killed = workers[0]
                except ProcessLookupError:
                    continue
            time.sleep(0.05)


@pytest.fixture
def local_cluster():
    from blindspot_gui.core.experiments.backends import local_cluster

    with local_cluster(num_cpus=2):
        yield


def test_table2_on_a_local_cluster_survives_a_killed_worker_with_the_figures_of_a_local_run(
        isolated_user_folder, tmp_path, monkeypatch, local_cluster):
    here = experiments.table2(n=N)
    monkeypatch.setenv("BLINDSPOT_HOME", str(tmp_path / "elsewhere"))  # no part of the first run is reused
    killer = WorkerKiller()
    killer.start()
    output = tmp_path / "cluster.json"
    try:
        assert main(["reproduce", "table2", "--n", str(N), "--cluster", "auto", "--json", str(output)]) == 0
    finally:
        killer.stop.set()
    assert killer.killed is not None, "no worker was seen computing a part"
    on_cluster = json.loads(output.read_text())
    assert json.loads(json.dumps(figures(on_cluster))) == json.loads(json.dumps(figures(here)))
    assert "elsewhere" in on_cluster["folder"] and len(list(Path(on_cluster["folder"]).glob("*.json"))) == 6


def test_the_cluster_option_says_how_to_install_ray_and_where_it_is_not_used(monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` fails as if it were not installed
    assert main(["reproduce", "table1", "--n", "5", "--cluster", "auto"]) == 2
    assert INSTALL_HINT in capsys.readouterr().err


def test_a_local_cluster_is_refused_where_the_environment_turns_token_authentication_off(monkeypatch, capsys):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert main(["reproduce", "table1", "--n", "5", "--cluster", "local"]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("blindspot")]  # not the bar
    assert len(lines) == 1 and not ray.is_initialized()
    assert "RAY_AUTH_MODE=disabled turns Ray's token authentication off" in lines[0] and "unset RAY_AUTH_MODE" in lines[0]


def test_a_ray_older_than_2_59_is_refused_with_the_command_that_upgrades_it(monkeypatch, capsys):
    monkeypatch.setattr(ray, "__version__", "2.51.0")
    assert main(["reproduce", "table1", "--n", "5", "--cluster", "local"]) == 1
    error = capsys.readouterr().err.strip()
    assert f"found Ray 2.51.0: {UPGRADE_HINT}" in error and len(error.splitlines()) == 1 and not ray.is_initialized()


def test_cancel_on_the_cluster_stops_its_tasks_and_keeps_the_parts_that_came_back(
        isolated_user_folder, local_cluster):
    from blindspot_gui.core.experiments.backends import use_cluster
    from blindspot_gui.core.monitor import Cancelled, Monitor

    monitor = Monitor(on_progress=lambda fraction, message: "(1 of" in message and monitor.cancel())
    started = time.perf_counter()
    with use_cluster("auto"), pytest.raises(Cancelled):
        experiments.table1(n=N, monitor=monitor)
    assert time.perf_counter() - started < 60
    store = experiments.PartStore.for_run("table1", N)
    finished = [path.stem for path in store.folder.glob("*.json")]
    assert len(finished) >= 1
    again = experiments.table1(n=N)  # here, resuming: the part from the cluster is reused
    assert {row["model"] for row in again["rows"] if row.get("reused")} >= set(finished)


def test_the_window_runs_a_table_on_the_cluster_chosen_in_the_experiments_tab(qtbot, tmp_path, local_cluster):
    from window_actions import choose, click, open_experiments

    window, view = open_experiments(qtbot, tmp_path)
    choose(view, "table1")
    controls = view.controls
    assert controls.where.isVisible() and not controls.cluster_address.isEnabled()
    controls.where.setCurrentIndex(controls.where.findData("cluster"))
    controls.cluster_address.setText("auto")
    controls.images.setValue(10)
    with qtbot.waitSignal(view.sig_finished, timeout=120000):
        click(qtbot, controls.run_button)
    assert view.table.rowCount() == 6
    store = experiments.PartStore.for_run("table1", 10)
    assert len(list(store.folder.glob("*.json"))) == 6
    choose(view, "advtrain")
    assert controls.where.isVisible() and controls.cluster() == "auto"  # its epochs are parts too
    window.close()


def test_without_ray_the_window_says_how_to_install_it_and_runs_nothing(qtbot, tmp_path, monkeypatch):
    from window_actions import choose, click, open_experiments

    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    window, view = open_experiments(qtbot, tmp_path)
    choose(view, "table2")
    view.controls.where.setCurrentIndex(view.controls.where.findData("cluster"))
    click(qtbot, view.controls.run_button)
    assert INSTALL_HINT in view.controls.status.text() and not view.is_running("experiment")
    window.close()


def test_a_photo_table2_on_a_local_cluster_gives_the_figures_of_a_local_run(
        isolated_user_folder, tmp_path, monkeypatch, local_cluster):
    from experiment_helpers import make_folder, put_random_weights_in_the_hub_cache

    put_random_weights_in_the_hub_cache("mobilenet_v3_small")  # the workers read the same torch hub cache
    folder = make_folder(tmp_path / "photos", {"espresso": ["coffee.png"], "missile": ["rocket.jpg"]})
    networks = ("efficientnet-lite0", "mobilenet_v3_small")
    here = experiments.photo_table2(networks, folder, rule="next")
    monkeypatch.setenv("BLINDSPOT_HOME", str(tmp_path / "elsewhere"))  # no part of the first run is reused
    on_cluster = experiments.run_experiment("photo_table2", experiments.PhotoTableSettings(networks, str(folder),
                                            rule="next"), cluster="auto")
    assert figures(on_cluster) == figures(here) and on_cluster["rows"][0]["errors"][0] == 1.0
    assert "elsewhere" in on_cluster["folder"] and len(list(Path(on_cluster["folder"]).glob("*.json"))) == 2


def test_parts_on_a_gpu_are_refused_by_a_cluster_without_one(local_cluster):
    from blindspot_gui.core.experiments.backends import PartJob, run_parts, use_cluster
    from blindspot_gui.core.monitor import Monitor

    job = PartJob("fc10-1", experiments.attacked.compute_model_part, (), "cuda")
    assert job.gpus == 1 and PartJob("fc10-1", print, ()).gpus == 0
    with use_cluster("auto"), pytest.raises(ValueError, match="the Ray cluster has no GPU"):
        run_parts([job], Monitor(), lambda key, part: None)
    with use_cluster("auto"), pytest.raises(ValueError, match="say cuda rather than cuda:N"):
        run_parts([PartJob("fc10-1", print, (), "cuda:1")], Monitor(), lambda key, part: None)


def test_a_gpu_run_on_a_cluster_needs_no_gpu_where_it_starts_but_one_on_the_cluster(isolated_user_folder,
                                                                                    local_cluster, capsys):
    assert main(["reproduce", "table1", "--n", "5", "--device", "cuda:1", "--cluster", "auto"]) == 2
    assert "say cuda" in capsys.readouterr().err
    assert main(["reproduce", "table1", "--n", "5", "--device", "cuda", "--cluster", "auto"]) != 0
    assert "the Ray cluster has no GPU" in capsys.readouterr().err


def test_table5_bounds_its_layers_on_a_local_cluster_as_it_does_here(isolated_user_folder, tmp_path, monkeypatch,
                                                                   local_cluster):
    here = experiments.table5("conv")
    monkeypatch.setenv("BLINDSPOT_HOME", str(tmp_path / "elsewhere"))
    on_cluster = experiments.run_experiment("table5", experiments.BoundsSettings("conv"), cluster="auto")
    assert [(row["layer"], row["bound"]) for row in on_cluster["rows"]] == [(row["layer"], row["bound"])
                                                                             for row in here["rows"]]
    assert len(on_cluster["rows"]) == 4 and on_cluster["network_bound"] == here["network_bound"]


def test_adversarial_training_epochs_on_a_local_cluster_train_the_net_a_local_run_trains(local_cluster):
    from blindspot_gui.core.data import load_mnist
    from blindspot_gui.core.experiments.backends import PartJob, run_one, use_cluster
    from blindspot_gui.core.training.adversarial import train_adversarially
    from experiment_helpers import small_spec

    spec, data = small_spec(epochs=3), load_mnist("train").subset(range(600))
    here, here_curve = train_adversarially(spec, data=data, distortion_images=10)
    with use_cluster("auto"):
        there, there_curve = train_adversarially(
            spec, data=data, distortion_images=10,
            run_part=lambda key, function, args, monitor: run_one(PartJob(key, function, args), monitor))
    untimed = lambda curve: [repr(dataclasses.replace(point, seconds=0)) for point in curve]  # noqa: E731 (nan)
    assert untimed(there_curve) == untimed(here_curve) and len(there_curve) == 3 and there_curve[-1].distortion
    assert all(torch.equal(a, b) for a, b in zip(there.state_dict().values(), here.state_dict().values()))


def test_adversarial_vs_noise_and_the_vote_on_a_local_cluster_give_the_figures_of_a_local_run(
        isolated_user_folder, tmp_path, monkeypatch, local_cluster):
    quick = experiments.AdvNoiseSettings(n=10, epochs=1)
    voting = experiments.VoteSettings(n=10)
    here = [experiments.run_experiment("advnoise", quick), experiments.run_experiment("vote", voting)]
    monkeypatch.setenv("BLINDSPOT_HOME", str(tmp_path / "elsewhere"))  # nothing stored: every part on the cluster
    there = [experiments.run_experiment("advnoise", quick, cluster="auto"),
             experiments.run_experiment("vote", voting, cluster="auto")]
    untimed = lambda rows: [{key: value for key, value in row.items() if key != "training_seconds"}  # noqa: E731
                            for row in rows]
    assert untimed(there[0]["rows"]) == untimed(here[0]["rows"]) and len(there[0]["rows"]) == 5
    assert there[1]["rows"] == here[1]["rows"]
