"""Does a blind spot survive natural changes (core/survival.py): the changes themselves, and real blind spots."""

import numpy as np
import pytest
import torch

from blindspot_gui.core.survival import FAMILIES, codec_changes, panel, shifted, survival, warped


def test_the_changes_do_what_they_say():
    image = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    right = shifted(image, 1, 0)
    assert torch.equal(right[..., 1:], image[..., :-1]) and torch.equal(right[..., 0], image[..., 0])
    up = shifted(image, 0, -2)
    assert torch.equal(up[..., :-2, :], image[..., 2:, :]) and torch.equal(up[..., -1, :], image[..., -1, :])
    assert torch.allclose(warped(image), image, atol=1e-6)  # no rotation, no scaling
    eight = torch.round(image * 255) / 255
    png, jpeg = codec_changes()[0], codec_changes()[-1]
    assert torch.allclose(png.apply(eight), eight, atol=1e-7)  # lossless
    smooth = torch.linspace(0, 1, 16).expand(1, 3, 16, 16).contiguous()
    assert 0 < (jpeg.apply(smooth) - smooth).abs().max() < 0.2  # JPEG at quality 50 is not, but stays close
    names = [change.name for change in panel(0.01, (3, 8, 8))]
    assert len(names) == 4 + 8 + 4 + 2 + 2 + 8 and len(set(names)) == len(names)


def test_a_minimal_blind_spot_is_judged_under_every_change(fc100, blind_spot):
    found = survival(fc100, blind_spot.original, blind_spot.adversarial)
    assert found.original_answer == 7 and found.distortion == pytest.approx(blind_spot.distortion, rel=1e-4)
    shares = found.shares()
    assert set(shares) == {*FAMILIES, "all"} and all(0 <= share <= 1 for share in shares.values())
    assert np.mean(np.array(found.original_answers) == 7) > 0.9  # the changes alone do not fool it
    with torch.inference_mode():  # one entry by hand: JPEG 50 of the adversarial image
        jpeg = codec_changes()[-1].apply(torch.from_numpy(blind_spot.adversarial)[None])
        assert found.answers[found.names.index("JPEG quality 50")] == int(fc100(jpeg).argmax())


def test_the_original_itself_survives_nothing(fc100, blind_spot):
    found = survival(fc100, blind_spot.original, blind_spot.original)
    assert found.shares()["all"] == 0.0


def test_cli_survive_reads_saved_blind_spots_and_prints_the_shares(fc100, blind_spot, tmp_path, capsys):
    import json

    from blindspot_gui.cli import main

    saved, table = tmp_path / "spots.npz", tmp_path / "survival.json"
    np.savez(saved, original=blind_spot.original[None], adversarial=blind_spot.adversarial[None])
    assert main(["survive", "--model", "fc100-100-10", "--npz", str(saved), "--json", str(table)]) == 0
    written = json.loads(table.read_text())
    expected = survival(fc100, blind_spot.original, blind_spot.adversarial).shares()
    assert written["mean_shares"] == pytest.approx(expected)
    assert f"all {100 * expected['all']:.0f}%" in capsys.readouterr().out


@pytest.mark.parametrize("arrays, says", [
    ({"original": np.zeros((1, 1, 28, 28))}, "has no array 'adversarial'"),
    ({"original": np.zeros((1, 3, 8, 8)), "adversarial": np.zeros((1, 3, 8, 8))}, "this network reads images of 1x28x28"),
    ({"original": np.full((1, 1, 28, 28), np.nan), "adversarial": np.zeros((1, 1, 28, 28))}, "outside [0, 1]"),
    ({"original": np.array([object()]), "adversarial": np.zeros(1)}, "not a readable NPZ file"),
])
def test_cli_survive_refuses_a_bad_npz_with_its_name(arrays, says, tmp_path, capsys):
    from blindspot_gui.cli import main

    hostile = tmp_path / "hostile.npz"
    np.savez(hostile, **arrays)
    assert main(["survive", "--model", "fc100-100-10", "--npz", str(hostile)]) == 1
    error = capsys.readouterr().err
    assert "hostile.npz" in error and says in error


def test_the_survival_tab_follows_each_result(qtbot, window):
    from window_actions import run_and_wait

    view = window.blindspots
    view.result_views.setCurrentWidget(view.survival_view)  # computed for the view in sight only
    with qtbot.waitSignal(view.sig_survival_shown, timeout=30000):
        assert run_and_wait(qtbot, window).success
    found, table = view.survival_view.survival, view.survival_view.table
    expected = survival(view.classifier, view.result.original, view.result.adversarial)
    assert found == expected and table.rowCount() == len(FAMILIES)
    kept = found.survived()
    assert table.item(0, 1).text() == f"{int(kept[:4].sum())} of 4"  # the codecs come first
    assert f"{100 * found.shares()['all']:.0f}%" in view.survival_view.summary.text()
    view.step_image(1)
    qtbot.waitUntil(lambda: view.survival_view.survival is None, timeout=5000)
    assert table.rowCount() == 0
