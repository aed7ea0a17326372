"""The paper's experiments on a few images: ours beside the paper's, parts kept on disk and reused."""

import json

import pytest

from blindspot_gui.cli import main
from blindspot_gui.core import experiments
from blindspot_gui.core.monitor import Cancelled, Monitor


def test_table1_on_a_few_images_reports_errors_distortions_and_the_papers(isolated_user_folder):
    result = experiments.table1(n=12)
    assert [row["model"] for row in result["rows"]] == list(experiments.TABLE1_MODELS)
    for row in result["rows"]:
        assert row["images"] == 12 and row["success"] == 1.0 and row["attacked"] <= 12
        assert 0 < row["distortion"] < 0.2 and row["paper_distortion"] > 0
        assert 0 <= row["test_error"] < 0.25
    by_name = {row["model"]: row for row in result["rows"]}
    assert by_name["FC10(1e-4)"]["distortion"] < by_name["FC10(1)"]["distortion"]  # the paper's ordering


def test_finished_parts_are_reused_and_a_cancelled_run_resumes(isolated_user_folder):
    seen = []

    def cancel_after_first_model(fraction, message):
        seen.append(message)
        if "FC10(1e-2)" in message:
            monitor.cancel()

    monitor = Monitor(on_progress=cancel_after_first_model)
    with pytest.raises(Cancelled):
        experiments.table1(n=8, monitor=monitor)
    store = experiments.PartStore.for_run("table1", 8)
    assert store.load_record("FC10(1e-4)") is not None and store.load_record("FC10(1e-2)") is None
    first_record = store.load_record("FC10(1e-4)")
    result = experiments.table1(n=8)
    assert result["rows"][0]["seconds"] == first_record["seconds"]  # reused, not recomputed


def test_table2_matrix_diagonal_and_noise_rows(isolated_user_folder):
    result = experiments.table2(n=10)
    assert result["columns"] == list(experiments.TABLE1_MODELS)
    assert len(result["rows"]) == len(experiments.TABLE1_MODELS) + 4
    for row in result["rows"]:
        assert len(row["errors"]) == 6 and all(0 <= error <= 1 for error in row["errors"])
    for index, row in enumerate(result["rows"][:6]):
        assert row["errors"][index] == 1.0  # only correctly classified images are attacked: 100% by construction
        assert len(row["paper"]) == 6
    assert [row["examples"] for row in result["rows"][-2:]] == ["Gaussian noise, stddev 0.3",
                                                                "Gaussian noise, stddev 0.3 (clipped)"]
    assert result["rows"][-1]["paper"] is None


def test_target_rules_give_their_targets_and_unknown_rules_are_refused():
    import torch

    labels = torch.arange(10).repeat(5)
    random = experiments.experiment_targets(labels, "random")
    assert (random != labels).all() and torch.equal(random, experiments.experiment_targets(labels, "random"))
    assert torch.equal(experiments.experiment_targets(labels, "next"), (labels + 1) % 10)
    assert (experiments.experiment_targets(labels, "nearest") == -1).all()
    with pytest.raises(ValueError, match="unknown target rule"):
        experiments.table1(n=4, rule="furthest")


def test_the_nearest_class_rule_finds_smaller_distortions_than_random_targets(isolated_user_folder):
    nearest = experiments.table3(n=10, rule="nearest")
    random = experiments.table3(n=10, rule="random")
    for near, far in zip(nearest["rows"], random["rows"]):
        assert near["distortion"] < far["distortion"]
    assert nearest["folder"] != random["folder"]


def test_comparison_table_gives_ours_the_papers_and_the_difference(isolated_user_folder):
    table = experiments.comparison_table(experiments.table1(n=6))
    label, cells = table.rows[3]
    assert label == "FC100-100-10" and cells[1].paper == 0.0164
    assert cells[1].difference == pytest.approx(cells[1].ours - 0.0164)
    header, rows = experiments.table_as_csv(table)
    assert header[:4] == ["model", "train error", "train error (paper)", "train error (difference)"]
    assert rows[3][5] == 0.0164


def test_cli_reproduce_prints_and_exports(isolated_user_folder, tmp_path, capsys):
    table, record = tmp_path / "t1.csv", tmp_path / "t1.json"
    assert main(["reproduce", "table1", "--n", "6", "--csv", str(table), "--json", str(record)]) == 0
    out = capsys.readouterr().out
    assert "av. min. distortion" in out and "FC200-200-10" in out and "target rule" in out
    assert table.read_text().splitlines()[0].startswith("model,train error,train error (paper)")
    assert json.loads(record.read_text())["n"] == 6
    assert main(["reproduce", "table1", "--n", "0"]) == 2  # a usage error, refused before any work


def test_tables_3_and_4_on_a_few_test_images(isolated_user_folder, capsys):
    third = experiments.table3(n=8)
    assert [row["model"] for row in third["rows"]] == list(experiments.TABLE3_MODELS)
    assert all({"P1_error", "P2_error", "test_error"} <= set(row) for row in third["rows"])
    fourth = experiments.table4(n=8)
    assert [row["examples"][:13] for row in fourth["rows"]].count("distorted for") == 6
    assert len(fourth["rows"]) == 10 and all(len(row["errors"]) == 3 for row in fourth["rows"])
    amplified = [row for row in fourth["rows"] if "amplified" in row["examples"]]
    assert all(row["errors"][index] >= 0.5 for index, row in enumerate(amplified))  # still fools its own model
    assert main(["reproduce", "table4", "--n", "8"]) == 0
    assert "amplified to stddev 0.1" in capsys.readouterr().out


def test_both_front_ends_run_experiments_through_one_registry(isolated_user_folder):
    assert list(experiments.REGISTRY) == ["table1", "photo_table1", "table2", "photo_table2", "table3", "table4", "table5",
                                        "advtrain", "noisecurve", "vote", "advnoise"]
    through_registry = experiments.run_experiment("table3", experiments.AttackedTableSettings(n=6, rule="next"))
    direct = experiments.table3(6, None, "next")
    figures = lambda result: [(row["model"], row["distortion"], row["success"]) for row in result["rows"]]  # noqa: E731
    assert figures(through_registry) == figures(direct) and through_registry["target_rule"] == "next"
    with pytest.raises(TypeError, match="AttackedTableSettings"):
        experiments.run_experiment("table1", experiments.BoundsSettings())
    with pytest.raises(ValueError, match="unknown experiment"):
        experiments.run_experiment("table9", experiments.AttackedTableSettings())
    text = experiments.table_as_csv_text(experiments.comparison_table(direct))
    assert text.splitlines()[0] == ",".join(experiments.table_as_csv(experiments.comparison_table(direct))[0])


def test_advtrain_sends_its_baseline_as_a_typed_partial_and_keeps_it_for_the_next_run(isolated_user_folder):
    partials, messages = [], []

    def stop_at_the_baseline(report):
        partials.append(report)
        monitor.cancel()  # the training that follows stops at its first check

    for run in range(2):
        messages.append([])
        monitor = Monitor(on_progress=lambda fraction, message: messages[-1].append(message),
                          on_partial=stop_at_the_baseline)
        with pytest.raises(Cancelled):
            experiments.run_experiment("advtrain", experiments.AdvTrainSettings(epochs=1), monitor)
    first, second = partials
    assert isinstance(first, experiments.AdvTrainBaseline) and first.model == experiments.ADVTRAIN_BASELINE
    assert 0 < first.test_error < 0.05 and 0 < first.distortion < 0.2
    (stored,) = experiments.experiments_dir().glob("advtrain-*/baseline.json")
    assert json.loads(stored.read_text())["distortion"] == first.distortion
    assert any("weight decay only" in message for message in messages[0])
    assert second == first and not any("weight decay only" in message for message in messages[1])  # read, not measured
