"""Transfer: how an adversarial image made for one network fares on others (the paper's cross-model tables)."""

from __future__ import annotations

from dataclasses import dataclass

from blindspot_gui.core.models.classifier import Classifier


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


def _answer(model: Classifier, image) -> tuple[int, float]:
    probabilities = model.probabilities(image)
    label = int(probabilities.argmax())
    return label, float(probabilities[label])


def transfer_predictions(models: dict[str, Classifier], original, adversarial) -> list[TransferRow]:
    """Each model's prediction and confidence on ``original`` and ``adversarial`` (each one image, as above)."""
    rows = []
    for name, model in models.items():
        before, before_confidence = _answer(model, original)
        after, after_confidence = _answer(model, adversarial)
        rows.append(TransferRow(name, before, before_confidence, after, after_confidence))
    return rows
