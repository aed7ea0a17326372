"""The paper's controls for blind spots: Gaussian noise of a given size, and perturbations rescaled to a size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blindspot_gui.core.attack.search import rms, validate_images
from blindspot_gui.core.models.classifier import Classifier, as_classifier
from blindspot_gui.core.monitor import Monitor


@dataclass(frozen=True)
class NoiseReport:
    """How often noisy copies of the images are misclassified."""

    stddev: np.ndarray
    """(N,) per-pixel standard deviation of the noise added to each image."""
    error_rate: float
    """share of all (image, draw) pairs whose prediction differs from the reference label."""
    per_image_error: np.ndarray
    """(N,) share of each image's draws that are misclassified."""
    example: np.ndarray
    """the first draw of every image (clipped to [0, 1] unless asked not to): (N, C, H, W)."""
    example_prediction: np.ndarray
    draws: int
    example_probabilities: np.ndarray | None = None
    """(N, K) class probabilities of the first draw."""


def gaussian_noise_error(
    model: Classifier | nn.Module, images, labels, stddev, draws: int = 10, seed: int = 0, batch_size: int = 4096,
    monitor: Monitor | None = None, clip: bool = True,
) -> NoiseReport:
    """Add N(0, stddev^2) noise per pixel, clip to [0, 1], and measure the error against ``labels``.

    ``clip=False`` leaves the noisy pixels outside [0, 1]. On MNIST's black background clipping
    keeps only the positive half of the noise, a brightening of mean 0.4 * stddev that costs the
    nets far more than the noise itself; the paper's noise rows of Tables 2 and 4 are matched by
    unclipped noise (see core/experiments/generalisation.py).

    ``stddev`` is one number for all images or one per image (for example the RMS of each image's
    adversarial perturbation, as in Tables 2 and 4).
    """
    images = validate_images(images)
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    if len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} images")
    if draws < 1:
        raise ValueError("draws must be at least 1")
    stddev = np.broadcast_to(np.asarray(stddev, dtype=np.float64), (len(images),)).copy()
    if not np.isfinite(stddev).all() or (stddev < 0).any():
        raise ValueError("the noise stddev must be finite and not negative")
    generator = torch.Generator().manual_seed(seed)  # on the CPU: the same draws on every device
    scale = torch.as_tensor(stddev, dtype=torch.float32).view(-1, *([1] * (images.ndim - 1)))
    wrong = torch.zeros(len(images), draws)
    example = example_prediction = example_probabilities = None
    model = as_classifier(model, tuple(images.shape[1:]))
    device = model.device
    with torch.inference_mode():
        for draw in range(draws):
            if monitor is not None:
                monitor.check()
            noisy = images + scale * torch.randn(images.shape, generator=generator)
            noisy = noisy.clamp(0.0, 1.0) if clip else noisy
            probabilities = torch.cat([model(noisy[i : i + batch_size].to(device)).softmax(1).cpu()
                                       for i in range(0, len(noisy), batch_size)])
            predicted = probabilities.argmax(1)
            wrong[:, draw] = (predicted != labels).float()
            if draw == 0:
                example, example_prediction = noisy.numpy().copy(), predicted.numpy().copy()
                example_probabilities = probabilities.numpy().copy()
    return NoiseReport(stddev, float(wrong.mean()), wrong.mean(dim=1).numpy(), example, example_prediction, draws,
                       example_probabilities)


def rescale_perturbation(originals, adversarials, stddev: float) -> np.ndarray:
    """x + r * (stddev / rms(r)), clipped to [0, 1]: the perturbation "amplified to stddev" (Table 4).

    Images whose perturbation is zero are returned unchanged.
    """
    originals = np.asarray(originals, dtype=np.float32)
    perturbation = np.asarray(adversarials, dtype=np.float32) - originals
    size = rms(perturbation)
    factor = np.divide(stddev, size, out=np.zeros_like(size), where=size > 0)
    scaled = perturbation * factor.reshape(-1, *([1] * (perturbation.ndim - 1))).astype(np.float32)
    return np.clip(originals + scaled, 0.0, 1.0)
