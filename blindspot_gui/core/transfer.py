"""Transfer: how an adversarial image made for one network fares on others (the paper's cross-model tables)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blindspot_gui.core.attack.search import frozen_eval_mode, model_device


@dataclass(frozen=True)
class TransferRow:
    """One model's answers on the original and on the adversarial image."""

    model: str
    original_prediction: int
    original_confidence: float
    adversarial_prediction: int
    adversarial_confidence: float

    @property
    def fooled(self) -> bool:
        """The adversarial image changes this model's answer."""
        return self.adversarial_prediction != self.original_prediction


def class_probabilities(model: nn.Module, image) -> np.ndarray:
    """The model's class probabilities (K,) for one image in [0, 1], (C, H, W) or grey (H, W): one forward pass."""
    pixels = torch.as_tensor(np.asarray(image, dtype=np.float32))
    batch = (pixels[None] if pixels.ndim == 2 else pixels)[None].to(model_device(model))
    with frozen_eval_mode(model), torch.inference_mode():
        return model(batch).softmax(dim=1)[0].cpu().numpy()


def _answer(model: nn.Module, image) -> tuple[int, float]:
    probabilities = class_probabilities(model, image)
    label = int(probabilities.argmax())
    return label, float(probabilities[label])


def transfer_predictions(models: dict[str, nn.Module], original, adversarial) -> list[TransferRow]:
    """Each model's prediction and confidence on ``original`` and ``adversarial`` (each one image, as above)."""
    rows = []
    for name, model in models.items():
        before, before_confidence = _answer(model, original)
        after, after_confidence = _answer(model, adversarial)
        rows.append(TransferRow(name, before, before_confidence, after, after_confidence))
    return rows
