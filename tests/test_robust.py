"""The robust goal (core/attack/robust.py): the smallest change whose wrong answer holds on changed copies too."""

import json

import numpy as np
import pytest
import torch

from blindspot_gui.core.attack.objective import goal_reached
from blindspot_gui.core.attack.request import SearchRequest, search_chain
from blindspot_gui.core.attack.robust import RobustCopies
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.survival import survival


def test_the_copies_are_fixed_differentiable_and_start_with_the_image():
    images = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0), requires_grad=True)
    copies = RobustCopies((1, 28, 28), 16, seed=4, noise_rms=0.03)
    changed = copies(images)
    assert changed.shape == (48, 1, 28, 28) and changed.min() >= 0 and changed.max() <= 1
    assert torch.allclose(changed[:3], images, atol=1e-5)  # copy 0 is the image itself
    assert torch.equal(changed, RobustCopies((1, 28, 28), 16, seed=4, noise_rms=0.03)(images))
    assert not torch.equal(changed, RobustCopies((1, 28, 28), 16, seed=5, noise_rms=0.03)(images))
    changed.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    assert copies.share(torch.tensor([True] * 3 + [False] * 45)).tolist() == [1 / 16] * 3


@pytest.fixture(scope="module")
def robust_and_minimal(fc100):
    digits = load_mnist("test")
    minimal, robust = search_chain(fc100, digits.images[:6], SearchRequest("none", robust=0.9), digits.labels[:6])
    return minimal, robust


def test_a_robust_blind_spot_holds_on_its_copies_and_survives_the_panel(fc100, robust_and_minimal):
    minimal, robust = robust_and_minimal
    assert all(result.success and result.goal == "robust" and result.goal_level == 0.9 for result in robust)
    config = SearchRequest("none", robust=0.9).config(fc100)
    copies = RobustCopies((1, 28, 28), config.robust_copies, config.seed, config.robust_noise)
    points = torch.from_numpy(np.stack([result.adversarial for result in robust])).reshape(len(robust), -1)
    targets = torch.tensor([result.adversarial_prediction for result in robust])
    assert goal_reached(fc100, points, (1, 28, 28), targets, config.goal, copies).all()
    shares = [survival(fc100, result.original, result.adversarial).shares()["all"] for result in robust]
    ratio = np.median([r.distortion for r in robust]) / np.median([m.distortion for m in minimal])
    assert np.mean(shares) >= 0.8 and 1 < ratio <= 4, (shares, ratio)


def test_cli_attack_goal_robust(tmp_path, capsys):
    from blindspot_gui.cli import main

    record = tmp_path / "robust.json"
    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0:2", "--target", "none", "--goal", "robust",
                 "--share", "80%", "--json", str(record)]) == 0
    assert "of changed copies (robust)" in capsys.readouterr().out
    written = json.loads(record.read_text())
    assert all(entry["goal"] == "robust" and entry["goal_level"] == 0.8 and entry["success"] for entry in written)


@pytest.mark.parametrize("arguments, says", [
    (["--goal", "robust", "--confidence", "0.9"], "takes no --confidence"),
    (["--share", "0.9"], "add --goal robust"),
    (["--goal", "robust", "--share", "1.5"], "at most 1"),
])
def test_cli_refuses_a_robust_goal_that_does_not_go_together(arguments, says, capsys):
    from blindspot_gui.cli import main

    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0:1", *arguments]) == 2
    assert says in capsys.readouterr().err
