"""The strength of a blind spot's change: the network's answer along x + t * r for t from 0 to 2, beside noise of its size.

At t = 1 the image is the blind spot found; between 0 and 1 it lies on the segment from the
original (inside the pixel box); past 1 the pixels are clipped to [0, 1], as a saved image would be.
The same sweep along a fixed draw of Gaussian noise n with ||n|| = ||r|| shows the contrast a
speaker wants: the blind spot's answer flips at a sharp edge, noise's does not move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from blindspot_gui.core.batches import in_batches, original_and_change
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor

LARGEST = 2.0
"""The sweep and the slider go from 0 to this many times the change."""
SWEEP_POINTS = 41
"""Strengths of the sweep (every 0.05 of the change)."""
EDGE_HALVINGS = 12
"""Halvings that place the flip between two strengths of the sweep (to 1/4096 of a step)."""


@dataclass(frozen=True)
class StrengthSweep:
    """The answers along the change and along noise of the same L2 size."""

    strengths: np.ndarray
    """(S,) from 0 to LARGEST."""
    change_probabilities: np.ndarray
    """(S, K) the network's probabilities at x + t r."""
    noise_probabilities: np.ndarray
    """(S, K) at x + t n."""
    original_answer: int
    flip: float | None
    """the smallest strength at which the answer is no longer the original one (None: it never leaves it)."""
    noise_flip: float | None

    @property
    def adversarial_answer(self) -> int:
        """The answer at the change found (t = 1)."""
        return int(self.change_probabilities[np.argmin(np.abs(self.strengths - 1.0))].argmax())


def scaled_image(original: torch.Tensor, change: torch.Tensor, strength: float) -> torch.Tensor:
    """x + t * change, clipped to the pixel box [0, 1]."""
    return (original + strength * change).clamp(0.0, 1.0)


def answer_at(classifier: Classifier, original, adversarial, strength: float, monitor: Monitor | None = None):
    """(image (C, H, W) at ``strength`` times the change, its probabilities (K,)): one forward pass, for the slider."""
    if monitor is not None:
        monitor.check()
    x, change = original_and_change(classifier, original, adversarial)
    image = scaled_image(x, change, strength)
    return image.numpy(), _probabilities(classifier, image[None])[0]


def strength_sweep(classifier: Classifier, original, adversarial, points: int = SWEEP_POINTS, seed: int = 0,
                   monitor: Monitor | None = None) -> StrengthSweep:
    """The answers at ``points`` strengths from 0 to LARGEST along the change and along a seeded noise draw of its L2
    size, with each flip placed by halving between the two strengths around it."""
    monitor = monitor or Monitor()
    x, change = original_and_change(classifier, original, adversarial)
    noise = torch.randn(change.shape, generator=torch.Generator().manual_seed(seed))
    noise *= change.norm() / noise.norm()
    strengths = np.linspace(0.0, LARGEST, points)
    sweeps = []
    for position, direction in enumerate((change, noise)):
        monitor.progress(0.45 * position, "sweeping the strength of the change" if position == 0 else
                         "sweeping noise of the same size")
        images = torch.stack([scaled_image(x, direction, float(t)) for t in strengths])
        sweeps.append(_probabilities(classifier, images, monitor))
    answer = int(sweeps[0][0].argmax())
    monitor.progress(0.9, "placing the edge")
    flips = [_flip(classifier, x, direction, strengths, sweep, answer, monitor)
             for direction, sweep in zip((change, noise), sweeps)]
    monitor.progress(1.0, "strength done")
    return StrengthSweep(strengths, sweeps[0], sweeps[1], answer, *flips)


def _flip(classifier, x, direction, strengths, probabilities, answer: int, monitor: Monitor) -> float | None:
    """The smallest strength whose answer is not ``answer``, to 1/2^EDGE_HALVINGS of a step of the sweep."""
    away = np.flatnonzero(probabilities.argmax(axis=1) != answer)
    if len(away) == 0:
        return None
    low, high = float(strengths[away[0] - 1]), float(strengths[away[0]])
    for _ in range(EDGE_HALVINGS):
        monitor.check()
        middle = (low + high) / 2
        if int(_probabilities(classifier, scaled_image(x, direction, middle)[None])[0].argmax()) == answer:
            low = middle
        else:
            high = middle
    return high


def _probabilities(classifier: Classifier, images: torch.Tensor, monitor: Monitor | None = None) -> np.ndarray:
    return np.concatenate(in_batches(lambda batch: classifier(batch).softmax(dim=1).float().cpu().numpy(), images,
                                     classifier.device, monitor))
