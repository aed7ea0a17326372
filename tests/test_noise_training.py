"""Adversarial training vs noise (core/experiments/noise_training.py): nets trained with noise, each measured."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.experiments import REGISTRY, AdvNoiseSettings, comparison_table
from blindspot_gui.core.experiments.noise_training import adversarial_vs_noise, mean_adversarial_change
from blindspot_gui.core.experiments.noise_training import training_spec
from blindspot_gui.core.models.classifier import weights_fingerprint
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.zoo_weights import bundled_models_dir, model_status
from blindspot_gui.core.training.plain import train_model


@pytest.fixture(scope="module")
def quick_look(tmp_path_factory):
    """The experiment with one epoch of training on 20 test images, run once for the module in a folder of its own
    (each test gets an empty user folder; those that run it again point BLINDSPOT_HOME back here)."""
    folder = tmp_path_factory.mktemp("advnoise")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BLINDSPOT_HOME", str(folder))
        result = adversarial_vs_noise(n=20, epochs=1)
    return str(folder), result


def test_noise_augmentation_changes_training_and_is_reproducible():
    spec = training_spec(epochs=1)
    data = load_mnist("train")
    subset = type(data)(data.images[:1000], data.labels[:1000])
    plain = train_model(spec, data=subset)
    noisy = train_model(spec, data=subset, input_noise=0.3)
    again = train_model(spec, data=subset, input_noise=0.3)
    assert weights_fingerprint(noisy.model) == weights_fingerprint(again.model)
    assert weights_fingerprint(noisy.model) != weights_fingerprint(plain.model)
    assert noisy.metadata["input_noise"] == 0.3 and "input_noise" not in plain.metadata
    with pytest.raises(ValueError, match="trained adversarially"):
        train_model(find_spec("FC100-100-10 (adversarial)"), input_noise=0.1)


def test_sigma_is_the_mean_change_the_adversarial_net_trained_on():
    record = json.loads((bundled_models_dir() / find_spec("FC100-100-10 (adversarial)").metadata_file).read_text())
    sizes = [point["pool"]["input"]["distortion"] for point in record["curve"]
             if point["pool"]["input"]["distortion"] is not None]
    sigma, source = mean_adversarial_change()
    assert sigma == pytest.approx(np.mean(sizes)) and 0.005 < sigma < 0.03
    assert f"over {len(sizes)} epochs" in source


def test_every_way_is_trained_alike_and_measured(quick_look):
    folder, result = quick_look
    sigma, _ = mean_adversarial_change()
    rows = {row["net"]: row for row in result["rows"]}
    assert len(rows) == 5 and result["epochs"] == 1 and result["n"] == 20
    noise = [row["input_noise"] for row in result["rows"][:3]]
    assert noise == pytest.approx([0.0, sigma, 2 * sigma])
    adversarial = rows["FC100-100-10 (adversarial)"]
    assert adversarial["test_error"] == pytest.approx(model_status(find_spec("FC100-100-10 (adversarial)"))
                                                      .metadata["errors"]["test"], abs=1e-6)  # its training record
    for row in result["rows"]:
        assert row["attack_success"] == 1.0 and row["distortion"] > 0
        assert set(row["noise_error"]) == {"0.1", "0.3"} and 0 <= row["transfer_error"] <= 1
    assert any("not a fair comparison" in note for note in result["notes"])
    table = comparison_table(result)
    assert [label for label, _ in table.rows] == list(rows) and len(table.columns) == 5


def test_a_second_run_reuses_every_part_and_a_damaged_one_is_trained_again(quick_look, monkeypatch):
    folder, result = quick_look
    monkeypatch.setenv("BLINDSPOT_HOME", folder)
    assert adversarial_vs_noise(n=20, epochs=1)["rows"] == result["rows"]
    weights = sorted(Path(result["folder"]).glob("train-noise-*.npz"))[0]
    weights.write_bytes(b"not a zip")
    again = adversarial_vs_noise(n=20, epochs=1)
    figures = [{key: value for key, value in row.items() if key != "training_seconds"} for row in result["rows"]]
    assert [{key: value for key, value in row.items() if key != "training_seconds"} for row in again["rows"]] == figures
    # trained again with the same seed: the same net, the same figures
    assert any(str(weights) in note and "computed again" in note for note in again["notes"])


def test_the_spec_and_the_command_line(capsys, quick_look, monkeypatch):
    from blindspot_gui.cli import main

    folder, _ = quick_look
    monkeypatch.setenv("BLINDSPOT_HOME", folder)
    assert REGISTRY["advnoise"].problem(AdvNoiseSettings(20, "random", 0)) == "the number of epochs must be at least 1"
    assert main(["reproduce", "advnoise", "--n", "20", "--epochs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Adversarial training vs noise (FC100-100-10)" in printed and "Gaussian noise 2σ" in printed
    assert main(["reproduce", "advnoise", "--model", "FC100-100-10"]) == 2
    assert "--model" in capsys.readouterr().err


def test_the_experiments_tab_runs_it(qtbot, window, quick_look, monkeypatch):
    from PySide6.QtCore import Qt

    monkeypatch.setenv("BLINDSPOT_HOME", quick_look[0])  # the module's nets: the window measures them, trains none
    view, controls = window.experiments_view, window.experiments_view.controls
    window.tabs.setCurrentWidget(view)
    item = next(controls.list.item(row) for row in range(controls.list.count())
                if controls.list.item(row).data(Qt.ItemDataRole.UserRole) == "advnoise")
    controls.list.setCurrentItem(item)
    controls.images.setValue(20)
    controls.epochs.setValue(1)
    assert controls.epochs.isVisible() and controls.rule.isVisible() and not controls.per_layer.isVisible()
    with qtbot.waitSignal(view.sig_finished, timeout=60000):
        qtbot.mouseClick(controls.run_button, Qt.MouseButton.LeftButton)
    assert view.result["experiment"] == "advnoise" and view.result["epochs"] == 1
    assert [row["net"] for row in view.result["rows"]] == [row["net"] for row in quick_look[1]["rows"]]
    assert "Adversarial training vs noise" in view.title.text()


def test_a_missing_adversarial_net_is_trained_first_and_a_present_one_is_not(monkeypatch):
    from blindspot_gui.core.experiments import noise_training
    from blindspot_gui.core.monitor import Monitor

    missing = "FC100-100-10 (adversarial, per layer)"
    real_status = noise_training.model_status
    monkeypatch.setattr(noise_training, "model_status", lambda spec: dataclasses.replace(
        real_status(spec), weights_path=None) if spec.name == missing else real_status(spec))
    trained, said = [], []
    monkeypatch.setattr(noise_training, "advtrain", lambda per_layer, monitor: trained.append(per_layer))

    class Listening(Monitor):
        def progress(self, fraction, message=""):
            said.append(message)

    noise_training._adversarial_nets_present(Listening())
    assert trained == [True]  # only the per-layer net, with the per-layer recipe
    assert said == [f"{missing} is missing: training it first (blindspot reproduce advtrain)"]
