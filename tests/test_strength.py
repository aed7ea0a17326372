"""The strength slider's core (core/strength.py): the answer along x + t r flips at a sharp edge, noise's does not."""

import numpy as np
import torch

from blindspot_gui.core.strength import LARGEST, answer_at, strength_sweep


def test_the_answer_flips_at_the_blind_spot_and_noise_of_its_size_leaves_it(fc100, blind_spot):
    sweep = strength_sweep(fc100, blind_spot.original, blind_spot.adversarial)
    assert sweep.strengths[0] == 0 and sweep.strengths[-1] == LARGEST
    assert sweep.original_answer == blind_spot.original_prediction == 7
    assert sweep.adversarial_answer == blind_spot.adversarial_prediction
    assert 0.9 < sweep.flip <= 1.0  # the smallest change stops just past the decision boundary
    assert sweep.noise_flip is None and sweep.noise_probabilities[:, 7].min() > 0.5
    before, after = (answer_at(fc100, blind_spot.original, blind_spot.adversarial, t)[1] for t in
                     (sweep.flip - 1e-3, sweep.flip))
    assert before.argmax() == 7 and after.argmax() != 7  # the edge is where the sweep says


def test_the_image_at_a_strength_is_the_scaled_change_clipped_to_the_box(fc100, blind_spot):
    image, probabilities = answer_at(fc100, blind_spot.original, blind_spot.adversarial, 1.0)
    assert np.allclose(image, blind_spot.adversarial, atol=1e-6)
    assert np.allclose(probabilities, blind_spot.probabilities_after, atol=1e-5)
    doubled, _ = answer_at(fc100, blind_spot.original, blind_spot.adversarial, 2.0)
    expected = np.clip(2 * blind_spot.adversarial - blind_spot.original, 0, 1)
    assert np.allclose(doubled, expected, atol=1e-6) and doubled.min() >= 0 and doubled.max() <= 1
    with torch.inference_mode():
        assert np.allclose(fc100(torch.from_numpy(doubled)[None]).softmax(1)[0].numpy(),
                           answer_at(fc100, blind_spot.original, blind_spot.adversarial, 2.0)[1], atol=1e-6)


def test_the_slider_and_up_down_show_the_image_at_each_strength(qtbot, window):
    from PySide6.QtCore import Qt

    from window_actions import run_and_wait

    view = window.blindspots
    strength = view.strength_view
    assert not strength.slider.isEnabled()  # nothing to scale before a search
    view.result_views.setCurrentWidget(strength)
    assert run_and_wait(qtbot, window).success
    qtbot.waitUntil(lambda: strength.sweep is not None, timeout=20000)
    result = view.result
    assert strength.slider.isEnabled() and strength.strength == 1.0 and 0.9 < strength.sweep.flip <= 1.0
    with qtbot.waitSignal(view.sig_strength_shown, timeout=5000) as shown:
        qtbot.keyClick(window, Qt.Key.Key_Up)
    assert shown.args == [1.05] and view.result_views.currentWidget() is strength
    panel = view.viewer.adversarial_panel
    assert panel.answer.text().endswith("at 1.05×") and "1.05×" in strength.reading.text()
    target = view.search_panel.policy
    target.setFocus()
    qtbot.keyClick(target, Qt.Key.Key_Down)  # a focused choice keeps its own Down
    assert target.currentIndex() == 1 and strength.strength == 1.05
    target.setCurrentIndex(0)
    with qtbot.waitSignal(view.sig_strength_shown, timeout=5000):
        strength.slider.setValue(0)  # as a drag to the left end sends
    assert np.allclose(view.viewer.adversarial_pixels, result.original)
    assert panel.answer.text().startswith(f"says {result.original_prediction}")
    view.step_image(1)  # another image: nothing left to scale
    qtbot.waitUntil(lambda: not strength.slider.isEnabled(), timeout=5000)
    assert strength.sweep is None
