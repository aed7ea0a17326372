"""8-bit exports: the lattice search keeps the goal on the real network, on the lattice, at no more RMS than scaling up."""

import numpy as np
import pytest
import torch

from blindspot_gui import api
from blindspot_gui.core.attack.quantise import fooled, quantise_result, quantised_adversarial
from blindspot_gui.core.images import to_8bit


def scaled_up(model, result):
    """The old export: the change scaled up in steps of 10% (to x4) until the rounded image fools (with the search's
    confidence, if it asked for one); its RMS or None."""
    original = np.asarray(result.original, np.float64)
    change = np.asarray(result.adversarial, np.float64) - original
    scale = 1.0
    while scale <= 4 + 1e-9:
        pixels = to_8bit(original + scale * change).astype(np.float32) / 255
        sure = result.goal != "confidence" or model.probabilities(pixels).max() >= result.goal_level
        if sure and fooled(model, pixels, result.original_prediction, result.target):
            return float(np.sqrt(np.mean((pixels - original) ** 2)))
        scale *= 1.1
    return None


def assert_on_lattice_and_meets_goal(model, result, kept):
    assert kept is not None and kept.pixels.dtype == np.float32 and kept.pixels.shape == result.original.shape
    assert np.abs(kept.pixels * 255 - np.round(kept.pixels * 255)).max() < 1e-3
    assert kept.pixels.min() >= 0 and kept.pixels.max() <= 1
    probabilities = model.probabilities(kept.pixels)
    answer = int(probabilities.argmax())
    assert answer == kept.answer
    assert answer == result.target if result.target is not None else answer != result.original_prediction
    if result.goal == "confidence":
        assert probabilities[answer] >= result.goal_level
    assert kept.float_distortion == pytest.approx(result.distortion, rel=1e-4)
    assert kept.distortion == pytest.approx(np.sqrt(np.mean((kept.pixels - result.original.astype(np.float64)) ** 2)))


@pytest.mark.parametrize("targets, confidence", [("next", None), ("none", None), ("next", 0.9)])
def test_digits_8bit_fool_fc100_at_no_more_rms_than_scaling_up(fc100, targets, confidence):
    images, _ = api.load_mnist("test")
    results = api.attack(fc100, images[:8], targets, confidence=confidence)
    for result in results:
        assert result.success
        kept = quantise_result(fc100, result)
        assert_on_lattice_and_meets_goal(fc100, result, kept)
        old = scaled_up(fc100, result)
        if old is not None:
            assert kept.distortion <= old + 1e-9


def test_a_failed_search_gives_none_and_an_unreachable_goal_too(fc100):
    images, _ = api.load_mnist("test")
    result = api.attack(fc100, images[:1], "next")[0]
    failed = type(result)(**(result.__dict__ | {"success": False}))
    assert quantise_result(fc100, failed) is None
    # the original itself as the "adversarial" image: no 8-bit step towards it, so nothing fools
    assert quantised_adversarial(fc100, result.original, result.original, result.original_prediction,
                                 result.target) is None


def test_photo_8bit_fools_lite0_at_no_more_rms_than_scaling_up():
    from blindspot_gui.core.attack.search import blindspot_search, config_for
    from blindspot_gui.core.images import read_image
    from blindspot_gui.core.models.photo_catalogue import load_photo_model
    from blindspot_gui.core.photos import prepare_photo, sample_photos

    lite0 = load_photo_model("efficientnet-lite0")
    photo = next(s for s in sample_photos() if s.path.stem == "cat")
    pixels = torch.from_numpy(prepare_photo(read_image(photo.path)))[None]
    result = blindspot_search(lite0, pixels, 9, None, config=config_for(lite0))[0]
    assert result.success
    kept = quantise_result(lite0, result)
    assert_on_lattice_and_meets_goal(lite0, result, kept)
    assert kept.distortion <= scaled_up(lite0, result) + 1e-9
