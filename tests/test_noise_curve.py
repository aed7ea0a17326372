"""How often against how much (core/experiments/noise_curve.py): noise at multiples of each image's blind spot."""

import pytest

from blindspot_gui.core.experiments import REGISTRY, NoiseCurveSettings, noise_curve
from blindspot_gui.core.experiments.noise_curve import MULTIPLES


def test_blind_spots_fool_every_image_and_noise_needs_many_times_their_size():
    result = noise_curve("FC100-100-10", n=30)
    assert result["blind_spots_fool"] == 1.0 and result["attacked"] >= 29
    shares = [row["noise_fools"] for row in result["rows"]]
    assert [row["multiple"] for row in result["rows"]] == list(MULTIPLES)
    assert shares[0] < 0.05 and shares[-1] > 0.5, shares  # the same size does nothing; 50 times does
    assert all(row["mean_noise_rms"] == pytest.approx(row["multiple"] * result["mean_distortion"], rel=1e-4)
               for row in result["rows"])
    again = noise_curve("FC100-100-10", n=30)  # the attacks are stored parts; the noise is seeded
    assert again["rows"] == result["rows"]


def test_the_spec_takes_a_zoo_network_only():
    spec = REGISTRY["noisecurve"]
    assert spec.problem(NoiseCurveSettings("FC100-100-10", 10)) is None
    assert "digit network of the zoo" in spec.problem(NoiseCurveSettings("EfficientNet-Lite0", 10))


def test_cli_reproduce_noisecurve_prints_the_curve(capsys):
    from blindspot_gui.cli import main

    assert main(["reproduce", "noisecurve", "--model", "fc100-100-10", "--n", "20"]) == 0
    printed = capsys.readouterr().out
    assert "How often against how much: FC100-100-10" in printed and "noise at 50× each blind spot" in printed


def test_the_experiments_tab_runs_the_noise_curve(qtbot, window):
    from PySide6.QtCore import Qt

    view, controls = window.experiments_view, window.experiments_view.controls
    window.tabs.setCurrentWidget(view)
    item = next(controls.list.item(row) for row in range(controls.list.count())
                if controls.list.item(row).data(Qt.ItemDataRole.UserRole) == "noisecurve")
    controls.list.setCurrentItem(item)
    controls.model.setCurrentIndex(controls.model.findData("FC100-100-10"))
    controls.images.setValue(20)
    assert controls.model.isVisible() and not controls.rule.isVisible()
    with qtbot.waitSignal(view.sig_finished, timeout=60000):
        qtbot.mouseClick(controls.run_button, Qt.MouseButton.LeftButton)
    assert view.result["experiment"] == "noisecurve" and view.result["n"] == 20
    assert "How often against how much" in view.title.text()
