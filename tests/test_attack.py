"""The blind-spot search: closed-form cases, the box, engine agreement, bad input, monitor and cancel."""

import math
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from blindspot_gui import api
from blindspot_gui.core.attack import engines
from blindspot_gui.core.attack.noise import gaussian_noise_error, rescale_perturbation
from blindspot_gui.core.attack.search import AttackConfig, SearchProgress, blindspot_search, rms
from blindspot_gui.core.monitor import Monitor


def linear_two_class_model(seed=0):
    """Logits W x + b on flattened 28x28 images, with small weights so the answer stays inside the box."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 2))
    with torch.no_grad():
        model[1].weight.normal_(0, 0.05)
        model[1].bias.zero_()
    return model


def closed_form_distance(model, images):
    """|z_0 - z_1| / ||w_0 - w_1||: the smallest L2 step onto the decision boundary of a linear model."""
    with torch.no_grad():
        logits = model(images)
        weights = model[1].weight
        return ((logits[:, 0] - logits[:, 1]).abs() / (weights[0] - weights[1]).norm()).numpy()


@pytest.fixture(scope="module")
def mid_grey_images():
    generator = torch.Generator().manual_seed(1)
    return 0.4 + 0.2 * torch.rand(6, 1, 28, 28, generator=generator)


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_linear_two_class_search_lands_on_the_closed_form(engine, mid_grey_images):
    model = linear_two_class_model()
    with torch.no_grad():
        predictions = model(mid_grey_images).argmax(1)
    results = blindspot_search(model, mid_grey_images, 1 - predictions, engine=engine)
    expected = closed_form_distance(model, mid_grey_images)
    for result, distance in zip(results, expected):
        assert result.success and result.adversarial_prediction == result.target
        assert 0.0 < result.adversarial.min() and result.adversarial.max() < 1.0  # away from the box
        # the slide along the boundary ends at the closed form's point, up to float32 rounding
        assert (1 - 1e-5) * distance <= result.l2 <= 1.001 * distance, (result.l2, distance)


@pytest.fixture(scope="module")
def test_digits():
    images, labels = api.load_mnist("test")
    return images[:6], labels[:6]


def test_box_constraint_holds_exactly_on_mnist(fc100, test_digits):
    images, labels = test_digits
    results = blindspot_search(fc100, images, "next", labels)
    for result in results:
        assert result.success and result.adversarial_prediction == result.target == (result.label + 1) % 10
        assert result.adversarial.min() >= 0.0 and result.adversarial.max() <= 1.0
        assert np.array_equal(result.perturbation, result.adversarial - result.original)
        assert result.distortion == pytest.approx(math.sqrt((result.perturbation.astype(np.float64) ** 2).mean()))
        assert result.l2 == pytest.approx(result.distortion * 28)
        assert result.linf == pytest.approx(np.abs(result.perturbation).max())
        assert result.c > 0 and result.iterations > 0 and result.function_evaluations >= result.iterations
        assert result.probabilities_after.argmax() == result.target
        assert result.probabilities_before.sum() == pytest.approx(1.0, abs=1e-5)


def test_fast_engine_is_as_good_as_the_reference_engine(fc100, test_digits):
    images, labels = test_digits
    fast = blindspot_search(fc100, images, "next", labels, engine="fast")
    reference = blindspot_search(fc100, images, "next", labels, engine="reference")
    assert sum(r.success for r in fast) >= sum(r.success for r in reference)
    fast_mean = np.mean([r.distortion for r in fast])
    reference_mean = np.mean([r.distortion for r in reference])
    assert fast_mean <= 1.02 * reference_mean, (fast_mean, reference_mean)
    for one, other in zip(fast, reference):
        assert one.distortion == pytest.approx(other.distortion, rel=0.1)


def test_untargeted_search_finds_the_nearest_wrong_class(fc100, test_digits):
    images, labels = test_digits
    untargeted = blindspot_search(fc100, images[:3], "none", labels[:3])
    for label in range(10):
        targeted = blindspot_search(fc100, images[:3], label, labels[:3])
        for loose, tight in zip(untargeted, targeted):
            assert loose.success and loose.target is None and loose.adversarial_prediction != loose.label
            if tight.target != tight.original_prediction:
                assert loose.distortion <= tight.distortion * 1.001


def test_an_untargeted_search_stops_bisecting_labels_that_cannot_win(fc100, test_digits, monkeypatch):
    images, labels = test_digits
    pruned = blindspot_search(fc100, images, "none", labels)
    monkeypatch.setattr(engines, "CONTENDER_REACH", math.inf)
    every_label = blindspot_search(fc100, images, "none", labels)
    assert sum(r.iterations for r in pruned) < sum(r.iterations for r in every_label)
    for one, other in zip(pruned, every_label):
        assert one.success and one.distortion == pytest.approx(other.distortion, rel=1e-3)


def test_target_rules(fc100, test_digits):
    images, labels = test_digits
    config = AttackConfig(max_iterations=5, grid_size=3, bisection_rounds=0)
    random = blindspot_search(fc100, images, "random", labels, config=config)
    assert all(r.target != r.label for r in random)
    assert [r.target for r in random] == [r.target for r in blindspot_search(fc100, images, "random", labels,
                                                                              config=config)]
    least = blindspot_search(fc100, images, "least-likely", labels, config=config)
    assert all(r.target == int(np.argmin(r.probabilities_before)) for r in least)


def test_target_equal_to_prediction_returns_at_once_with_zero_perturbation(fc100, test_digits):
    images, labels = test_digits
    started = time.perf_counter()
    (result,) = blindspot_search(fc100, images[:1], int(labels[0]), labels[:1])
    assert time.perf_counter() - started < 0.5
    assert result.success and result.distortion == 0.0 and not result.perturbation.any()
    assert "already predicts" in result.message and result.iterations == 0


@pytest.mark.parametrize(
    "images, targets, match",
    [
        (torch.rand(2, 1, 28, 28), 10, "target label 10 is invalid"),
        (torch.rand(2, 1, 28, 28), -3, "target label -3 is invalid"),
        (torch.rand(2, 1, 28, 28), "sideways", "unknown target rule"),
        (torch.rand(2, 1, 28, 28), [1, 2, 3], "3 targets for 2 images"),
        (torch.rand(28, 28), 1, "shape"),
        (torch.full((1, 1, 28, 28), math.nan), 1, "NaN"),
        (torch.full((1, 1, 28, 28), 255.0), 1, r"pixels must lie in \[0, 1\]"),
        (torch.empty(0, 1, 28, 28), 1, "no images"),
        (torch.rand(1, 3, 28, 28), 1, r"FC100-100-10 takes images of shape \(1, 28, 28\)"),
    ],
)
def test_bad_input_raises_a_clear_value_error(fc100, images, targets, match):
    with pytest.raises(ValueError, match=match):
        blindspot_search(fc100, images, targets)


def test_a_classifier_stays_in_eval_mode_with_frozen_parameters(fc100, test_digits):
    images, labels = test_digits
    assert not fc100.training and not fc100.network.training
    assert not any(p.requires_grad for p in fc100.parameters())
    with pytest.raises(RuntimeError, match="Classifier"):
        fc100.train()
    blindspot_search(fc100, images[:1], "next", labels[:1], config=AttackConfig(max_iterations=3))
    assert not fc100.training and not any(p.requires_grad for p in fc100.parameters())


def test_a_bare_network_given_to_the_search_is_put_in_eval_mode(test_digits):
    images, labels = test_digits
    network = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.Dropout(0.5), nn.ReLU(), nn.Linear(32, 10))
    network.train()
    blindspot_search(network, images[:1], "next", labels[:1], config=AttackConfig(max_iterations=3))
    assert not network.training and not any(module.training for module in network.modules())
    assert not any(p.requires_grad for p in network.parameters())


def test_a_network_being_trained_gets_its_mode_and_gradients_back_after_a_search(test_digits):
    from blindspot_gui.core.training.loop import searchable

    images, labels = test_digits
    network = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
    network.train()
    network[1].bias.requires_grad_(False)  # a frozen bias stays frozen
    with searchable(network, (1, 28, 28)) as classifier:
        assert not network.training and not any(p.requires_grad for p in network.parameters())
        blindspot_search(classifier, images[:1], "next", labels[:1], config=AttackConfig(max_iterations=3))
    assert network.training
    assert [p.requires_grad for p in network.parameters()] == [True, False, True, True]


def test_monitor_gets_progress_and_partial_results(fc100, test_digits):
    images, labels = test_digits
    progress, partials = [], []
    monitor = Monitor(on_progress=lambda f, _: progress.append(f), on_partial=partials.append)
    results = blindspot_search(fc100, images[:2], "next", labels[:2], monitor=monitor)
    assert progress[-1] == 1.0 and all(0 <= f <= 1 for f in progress)
    assert partials and all(isinstance(p, SearchProgress) for p in partials)
    assert partials[-1].best_adversarial.shape == (2, 1, 28, 28)
    final = partials[-1].best_distortion
    assert all(final[i] >= results[i].distortion - 1e-6 for i in range(2))


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_cancel_takes_effect_within_100_ms_and_keeps_the_best(engine, fc100):
    images, labels = api.load_mnist("test")
    images, labels = images[:40], labels[:40]
    seen_success = threading.Event()
    cancelled_at = []

    def on_partial(progress):
        if np.isfinite(progress.best_distortion).any() and not seen_success.is_set():
            seen_success.set()
            cancelled_at.append(time.perf_counter())
            monitor.cancel()

    monitor = Monitor(on_partial=on_partial)
    results = blindspot_search(fc100, images, "next", labels, engine=engine, monitor=monitor)
    returned = time.perf_counter()
    assert cancelled_at and returned - cancelled_at[0] < 0.1
    assert any(r.success for r in results) and all("cancelled" in r.message for r in results)
    for r in results:
        if r.success:
            assert r.adversarial_prediction == r.target


def test_gaussian_noise_of_zero_size_gives_the_clean_error(fc100):
    images, labels = api.load_mnist("test")
    clean = float((fc100(images[:500]).argmax(1) != labels[:500]).float().mean())
    report = gaussian_noise_error(fc100, images[:500], labels[:500], 0.0, draws=2)
    assert report.error_rate == pytest.approx(clean)
    noisy = gaussian_noise_error(fc100, images[:500], labels[:500], 0.3, draws=3, seed=1)
    assert noisy.error_rate > clean and noisy.example.shape == (500, 1, 28, 28)
    assert noisy.example.min() >= 0 and noisy.example.max() <= 1
    again = gaussian_noise_error(fc100, images[:500], labels[:500], 0.3, draws=3, seed=1)
    assert again.error_rate == noisy.error_rate


def test_rescaled_perturbation_has_the_requested_stddev_before_clipping():
    originals = np.full((3, 1, 28, 28), 0.5, dtype=np.float32)
    perturbation = np.random.default_rng(0).normal(0, 0.01, originals.shape).astype(np.float32)
    scaled = rescale_perturbation(originals, originals + perturbation, 0.1)
    assert rms(scaled - originals) == pytest.approx([0.1] * 3, rel=1e-3)
    assert np.array_equal(rescale_perturbation(originals, originals, 0.1), originals)


def test_python_api_attack_accepts_a_model_name(test_digits):
    images, labels = test_digits
    results = api.attack("FC100-100-10", images[:2], "least-likely", labels[:2])
    assert len(results) == 2 and all(r.success for r in results)
    assert all(r.target == int(np.argmin(r.probabilities_before)) for r in results)


def test_a_large_batch_reports_success_only_where_the_target_is_reached(fc100):
    images, labels = api.load_mnist("test")
    results = blindspot_search(fc100, images[:48], "next", labels[:48])
    assert all(r.success for r in results)
    assert all(r.adversarial_prediction == r.target for r in results)
    for r in results:
        assert r.distortion == pytest.approx(math.sqrt((r.perturbation.astype(np.float64) ** 2).mean()), rel=1e-5)


@pytest.mark.parametrize("settings", [dict(grid_span=1.0), dict(history=0), dict(temperature=0.0),
                                      dict(bisection_size=0), dict(c_min=0.0)])
def test_invalid_search_settings_are_refused(settings):
    with pytest.raises(ValueError, match="invalid AttackConfig"):
        AttackConfig(**settings)


def test_class_probabilities_take_grey_and_colour_images_of_any_size():
    from blindspot_gui.core.models.classifier import as_classifier

    torch.manual_seed(0)
    colour = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5)).eval()
    pixels = np.random.default_rng(0).random((3, 40, 30)).astype(np.float32)
    expected = colour(torch.from_numpy(pixels)[None]).softmax(dim=1)[0].detach().numpy()
    assert np.allclose(as_classifier(colour, (3, 40, 30)).probabilities(pixels), expected, atol=1e-6)
    grey = as_classifier(nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval(), (1, 28, 28))
    digit = np.random.default_rng(1).random((28, 28)).astype(np.float32)
    assert np.allclose(grey.probabilities(digit), grey.probabilities(digit[None]))


def test_an_unreachable_target_stops_after_the_bracketing_and_says_so_plainly():
    model = linear_two_class_model()
    with torch.no_grad():
        model[1].bias.copy_(torch.tensor([50.0, 0.0]))  # class 1 can never win inside the box
    messages = []
    monitor = Monitor(on_progress=lambda fraction, message: messages.append(message))
    result = blindspot_search(model, torch.full((1, 1, 28, 28), 0.5), 1, monitor=monitor)[0]
    assert not result.success and result.goal == "minimal" and result.c is None
    assert result.message.startswith("could not be made to look like the target within the search's limits")
    assert any("stopping" in message for message in messages) and not any("narrowing" in m for m in messages)


def test_the_first_success_is_reported_at_once_however_rarely_partials_are_sent(fc100, test_digits):
    images, labels = test_digits
    seen = []

    class Partials(Monitor):
        def partial(self, result) -> None:
            seen.append(result)

    config = AttackConfig(partial_interval=60.0)  # otherwise one partial a minute: only the first iteration's
    result = blindspot_search(fc100, images[:1], "next", labels[:1], config=config, monitor=Partials())[0]
    assert result.success
    found = [progress for progress in seen if isinstance(progress, SearchProgress)
             and np.isfinite(progress.best_distortion[0])]
    assert found, "no partial result carried the first blind spot found"
    assert found[0].best_distortion[0] >= result.distortion - 1e-9  # then refined down to the final one
