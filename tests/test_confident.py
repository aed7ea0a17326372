"""Confident blind spots: the smallest change after which the network answers the target with probability >= p (or a
logit margin), its plain-language failures, and the window's Confident mode driven through keys and clicks."""

import math

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from torch import nn

from blindspot_gui import api
from blindspot_gui.cli import main
from blindspot_gui.core.attack.goal import logit_margin
from blindspot_gui.core.attack.search import AttackConfig, blindspot_search, config_for
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.photos import read_photo, sample_photos
from blindspot_gui.session.goals import failure_advice
from conftest import open_window
from window_actions import choose_target, click_model, run_and_wait
from blindspot_gui.core.attack.goal import Goal

P = 0.9


@pytest.fixture(scope="module")
def eight_digits():
    images, labels = api.load_mnist("test")
    return images[:8], labels[:8]


@pytest.mark.parametrize("targets", ["next", "none"])
def test_the_confident_search_reaches_p_on_every_digit_with_more_change_than_the_minimal_one(
        fc100, eight_digits, targets):
    images, labels = eight_digits
    minimal = blindspot_search(fc100, images, targets, labels)
    confident = blindspot_search(fc100, images, targets, labels, config=AttackConfig(confidence=P))
    for small, sure in zip(minimal, confident):
        assert sure.success and sure.goal == "confidence" and sure.goal_level == P
        probabilities = fc100.probabilities(torch.from_numpy(sure.adversarial)[None])[0]
        answer = int(probabilities.argmax())
        assert probabilities[answer] >= P and sure.target_probability == pytest.approx(probabilities[answer], abs=1e-6)
        if targets == "next":
            assert answer == sure.target == (sure.label + 1) % 10
        else:
            assert answer != sure.original_prediction and sure.target is None
        assert 0.0 <= sure.adversarial.min() and sure.adversarial.max() <= 1.0
        assert small.success and small.goal == "minimal" and sure.distortion >= small.distortion


def test_margin_mode_reaches_the_logit_margin(fc100, eight_digits):
    images, labels = eight_digits
    results = api.attack(fc100, images[:4], "next", labels[:4], margin=3.0)
    for result in results:
        assert result.success and result.goal == "margin" and result.goal_level == 3.0
        with torch.inference_mode():
            logits = fc100(torch.from_numpy(result.adversarial)[None])
        assert float(logit_margin(logits, torch.tensor([result.target]))[0]) >= 3.0


def test_the_reference_engine_reaches_p_too(fc100, eight_digits):
    images, labels = eight_digits
    result = blindspot_search(fc100, images[:1], "next", labels[:1], engine="reference",
                              config=AttackConfig(confidence=P))[0]
    assert result.success and result.target_probability >= P


def test_a_target_already_answered_without_confidence_is_still_searched(fc100, eight_digits):
    images, labels = eight_digits
    probabilities = fc100.probabilities(images)
    unsure = int(np.argmin(probabilities.max(axis=1)))  # the digit the network is least sure of
    answer = int(probabilities[unsure].argmax())
    goal = min(0.999, (1 + float(probabilities[unsure, answer])) / 2)
    result = blindspot_search(fc100, images[unsure:unsure + 1], answer, config=AttackConfig(confidence=goal))[0]
    assert result.success and result.distortion > 0 and result.target_probability >= goal
    already = blindspot_search(fc100, images[unsure:unsure + 1], answer, config=AttackConfig(confidence=0.51))[0]
    assert already.success and already.distortion == 0 and "already predicts" in already.message


@pytest.mark.parametrize("settings, message", [
    ({"confidence": 1.0}, "between 0 and 1"), ({"confidence": 0.0}, "between 0 and 1"),
    ({"confidence": -0.5}, "between 0 and 1"), ({"confidence": math.nan}, "between 0 and 1"),
    ({"confidence": True}, "between 0 and 1"), ({"margin": 0.0}, "positive"), ({"margin": -2.0}, "positive"),
    ({"margin": math.inf}, "positive"), ({"confidence": 0.9, "margin": 2.0}, "not both"),
])
def test_nonsense_goals_are_refused_with_one_clear_line(fc100, eight_digits, settings, message):
    with pytest.raises(ValueError, match=message):
        AttackConfig(**settings)
    with pytest.raises(ValueError, match=message):
        api.attack(fc100, eight_digits[0][:1], **settings)


@pytest.mark.parametrize("arguments, message", [
    (["--confidence", "1.5"], "--confidence: the confidence is a probability between 0 and 1"),
    (["--confidence", "high"], "--confidence takes a number, e.g. 0.9 or 90%"),
    (["--margin", "-1"], "--margin: the margin is a positive number"),
    (["--confidence", "0.9", "--margin", "2"], "give --confidence or --margin, not both"),
])
def test_the_command_refuses_nonsense_goals_in_one_line(capsys, arguments, message):
    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0", *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_command_searches_a_confident_blind_spot(capsys):
    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0:3", "--confidence", "90%"]) == 0
    out = capsys.readouterr().out
    assert "goal probability ≥ 0.9" in out and "success rate      100.0%" in out
    assert float(out.split("target probability median")[1].split("%")[0]) >= 90.0


def weak_linear_model():
    """Logits W x on 28x28 images with weights so small that no image in the box gets a logit margin above 1."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    with torch.no_grad():
        model[1].weight.uniform_(-1, 1).mul_(0.5 / 784)
        model[1].bias.zero_()
    return model


def test_an_unreachable_goal_fails_in_plain_words_right_after_the_bracketing():
    model, image = weak_linear_model(), torch.full((1, 1, 28, 28), 0.5)
    target = 1 - int(model(image).argmax())
    assert blindspot_search(model, image, target)[0].success  # the boundary itself is within reach
    messages = []
    monitor = Monitor(on_progress=lambda fraction, message: messages.append(message))
    result = blindspot_search(model, image, target, config=AttackConfig(confidence=P), monitor=monitor)[0]
    assert not result.success and result.goal == "confidence"
    assert "within the search's limits" in result.message
    assert any("stopping" in message for message in messages)
    assert not any("narrowing" in message for message in messages)
    advice = failure_advice(result, lambda label: f"class {label}", "digit")
    assert advice == (f"This digit could not be made to look like “class {target}” with 90% confidence within the "
                      "search's limits. Try a lower p, another target, or the Confident mode off.")


def test_a_photo_becomes_a_confident_ostrich_for_efficientnet_lite0():
    classifier = api.load_classifier("EfficientNet-Lite0")
    cat = next(photo.path for photo in sample_photos() if photo.path.stem == "cat")
    pixels = torch.from_numpy(read_photo(cat, classifier.preprocessing.resize, classifier.preprocessing.crop))
    ostrich = classifier.class_names.index("ostrich")
    result = api.attack(classifier, pixels[None], ostrich, confidence=P)[0]
    assert config_for(classifier).max_iterations == 25  # the photo settings, as in the window
    assert result.success and result.adversarial_prediction == ostrich and result.target_probability >= P


def test_confident_mode_shows_both_results_and_is_remembered(qtbot, window, settings_file):
    view = window.blindspots
    panel = view.search_panel
    choose_target(window, 3)
    panel.goal.setFocus()
    qtbot.keyClick(panel.goal, Qt.Key.Key_Down)  # "Confident (p ≥ 90%)"
    assert panel.goal_choice() == Goal(confidence=P) and panel.confidence.isEnabled()
    started = []
    window.runner.sig_task_started.connect(lambda slot: started.append(slot) if slot == "search" else None)
    with qtbot.waitSignal(view.sig_transfer_shown, timeout=30000):
        result = run_and_wait(qtbot, window, timeout=30000)
    assert started == ["search", "search"]  # the smallest change first, then the confident one
    assert result.goal == "confidence" and result.success and result.target_probability >= P
    readout = view.viewer.readout.text()
    assert readout.startswith("minimal: ") and " · confident: " in readout
    minimal_part, confident_part = readout.splitlines()[0].split(" · ")
    assert "says 3 (" in minimal_part and confident_part.startswith("confident: ") and "says 3 (9" in confident_part
    assert view.result is result  # transfer and noise use the confident result
    assert window.settings.value("search/goal") == "confident"

    panel.confidence.setFocus()
    qtbot.keyClick(panel.confidence, Qt.Key.Key_Up)  # 91%: the minimal one is kept, only the confident one runs
    started.clear()
    result = run_and_wait(qtbot, window, timeout=30000)
    qtbot.waitUntil(lambda: not view.is_running("transfer"), timeout=30000)
    assert started == ["search"] and result.target_probability >= 0.91
    assert int(window.settings.value("search/confidence")) == 91
    window.settings.sync()
    again = open_window(qtbot, settings_file)
    assert again.blindspots.search_panel.goal_choice() == Goal(confidence=0.91)
    again.close()


def test_a_confidence_the_network_cannot_reach_is_said_in_plain_words_and_the_smallest_change_stays(qtbot, window):
    view = window.blindspots
    click_model(qtbot, window, "FC10(1)")  # weight decay 1: its answers stay unsure, 90% is out of the box's reach
    qtbot.waitUntil(lambda: view.network_name == "FC10(1)" and view.original_probabilities is not None, timeout=10000)
    choose_target(window, 3)
    view.search_panel.choose_goal(Goal(confidence=P))
    with qtbot.waitSignal(view.sig_transfer_shown, timeout=30000):
        result = run_and_wait(qtbot, window, timeout=30000)
    assert not result.success and result.goal == "confidence"
    first, second = view.viewer.readout.text().splitlines()
    assert first == ("This digit could not be made to look like “3” with 90% confidence within the search's limits. "
                     "Try a lower p, another target, or the Confident mode off.")
    assert second.startswith("minimal: ") and second.endswith(" · confident: not reached")
    assert view.result.goal == "minimal" and view.result.success  # shown, and used by transfer, noise and Save
    assert view.viewer.adversarial_panel.answer.text().startswith("says 3")
    assert view.search_panel.save_button.isEnabled()
