"""Adversarial images as 8-bit files: the change scaled until the rounded image still fools the network."""

from __future__ import annotations

import numpy as np

from blindspot_gui.core.images import to_8bit
from blindspot_gui.core.models.classifier import Classifier


def fooled(model: Classifier, pixels: np.ndarray, original_label: int, target: int | None) -> bool:
    """Whether ``pixels`` is classified as ``target`` (or, untargeted, as anything but ``original_label``)."""
    label = int(model.probabilities(pixels).argmax())
    return label == target if target is not None else label != original_label


def quantised_adversarial(model: Classifier, original: np.ndarray, adversarial: np.ndarray, original_label: int,
                          target: int | None, max_scale: float = 4.0) -> tuple[np.ndarray, float] | None:
    """An 8-bit version of an adversarial photo that still fools the network, and the factor its change was scaled by.

    Rounding to 8 bits can undo a change of less than half a grey level per pixel; the change is
    scaled up in steps of 10% until the rounded photo still fools the network. None if even
    ``max_scale`` times the change does not survive rounding.
    """
    original = np.asarray(original, dtype=np.float64)
    change = np.asarray(adversarial, dtype=np.float64) - original
    scale = 1.0
    while scale <= max_scale + 1e-9:
        pixels = to_8bit(original + scale * change).astype(np.float32) / 255.0
        if fooled(model, pixels, original_label, target):
            return pixels, scale
        scale *= 1.1
    return None
