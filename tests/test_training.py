"""Training: a real short run on a real subset learns, reports progress and epochs, and cancels promptly."""

import dataclasses
import threading
import time

import pytest
import torch

from blindspot_gui.cli import main
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.monitor import Cancelled, Monitor
from blindspot_gui.core.training.loop import EpochReport, random_shift
from blindspot_gui.core.training.plain import train_model
from blindspot_gui.core.models.zoo_weights import model_status
from blindspot_gui.core.models.mnist_zoo import find_spec


def short(spec_name, epochs=1, **changes):
    spec = find_spec(spec_name)
    return dataclasses.replace(spec, recipe=dataclasses.replace(spec.recipe, epochs=epochs, **changes))


def test_short_training_on_a_subset_learns_and_reports():
    progress, reports = [], []
    monitor = Monitor(on_progress=lambda fraction, _: progress.append(fraction), on_partial=reports.append)
    subset = load_mnist("train").subset(range(5000))
    result = train_model(short("FC100-100-10", epochs=3, learning_rate=5e-3), monitor, data=subset)
    assert result.metadata["errors"]["test"] < 0.3  # chance is 0.9
    assert result.metadata["training_images"] == 5000
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert [report.epoch for report in reports] == [1, 2, 3]
    assert reports[-1].loss < reports[0].loss
    assert all(isinstance(report, EpochReport) and 0 <= report.test_error < 1 for report in reports)


def test_autoencoder_pretrains_then_classifies():
    stages = []
    subset = load_mnist("train").subset(range(1000))
    spec = short("AE400-10", epochs=1, pretrain_epochs=1)
    result = train_model(spec, Monitor(on_partial=lambda report: stages.append(report.stage)), data=subset)
    assert stages == ["autoencoder pre-training", "training"]
    assert 0 < result.metadata["reconstruction_loss"] < 0.7


def test_cancel_from_another_thread_stops_training_quickly():
    monitor = Monitor()
    subset = load_mnist("train").subset(range(20000))
    timer = threading.Timer(0.3, monitor.cancel)
    timer.start()
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        train_model(short("FC200-200-10", epochs=50), monitor, data=subset)
    assert time.perf_counter() - started < 2.0


def test_random_shift_moves_whole_pixels_and_keeps_zero_shift_exact():
    images = torch.zeros(50, 1, 28, 28)
    images[:, 0, 14, 14] = 1.0
    generator = torch.Generator().manual_seed(0)
    shifted = random_shift(images, 1, generator)
    rows, cols = torch.nonzero(shifted[:, 0] == 1.0)[:, 1], torch.nonzero(shifted[:, 0] == 1.0)[:, 2]
    assert shifted.sum() == 50 and set(rows.tolist()) <= {13, 14, 15} and set(cols.tolist()) <= {13, 14, 15}
    assert len(set(zip(rows.tolist(), cols.tolist()))) > 1
    assert torch.equal(random_shift(images, 0, generator), images)


def test_cli_train_writes_weights_and_record(isolated_user_folder, capsys):
    spec = find_spec("FC10(1)")
    assert main(["train", spec.key, "--limit", "2000"]) == 0
    out = capsys.readouterr().out
    assert "FC10(1): train" in out and "paper test 20.00%" in out
    status = model_status(spec)
    assert status.weights_path.parent == isolated_user_folder / "models"
    record = status.metadata
    assert record["training_images"] == 2000 and record["seed"] == spec.recipe.seed
    assert set(record["errors"]) == {"train", "test"} and record["paper"]["test"] == 0.20
    assert record["wall_time_s"] >= 0 and "Linear" in record["architecture"]["modules"]
