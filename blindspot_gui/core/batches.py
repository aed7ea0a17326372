"""The blind spot on screen as tensors, and work over many images in batches of bounded size (the views that study a
blind spot share them: pathway, strength, survival, the vote)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor

BATCH_PIXELS = 8 * 3 * 224 * 224
"""The most pixels sent through a network at once: 8 photos, or thousands of digits."""


def original_and_change(classifier: Classifier, original, adversarial) -> tuple[torch.Tensor, torch.Tensor]:
    """(the original image, the change adversarial - original), each shaped as ``classifier`` takes one image."""
    x = torch.as_tensor(np.asarray(original, dtype=np.float32)).reshape(classifier.input_shape)
    change = torch.as_tensor(np.asarray(adversarial, dtype=np.float32)).reshape(classifier.input_shape) - x
    return x, change


def in_batches(run: Callable[[torch.Tensor], object], images: torch.Tensor, device, monitor: Monitor | None = None,
               pixels: int = BATCH_PIXELS, progress: str | None = None) -> list:
    """``run`` on consecutive batches of ``images`` (moved to ``device``) of at most ``pixels`` pixels, without
    gradients; the list of what it returned. ``monitor`` may cancel before each batch (and hears ``progress``)."""
    per_batch = max(1, pixels // max(1, images[0].numel() if len(images) else 1))
    results = []
    with torch.inference_mode():
        for start in range(0, len(images), per_batch):
            if monitor is not None:
                monitor.check()
                if progress is not None:
                    monitor.progress(start / len(images), progress)
            results.append(run(images[start:start + per_batch].to(device)))
    return results
