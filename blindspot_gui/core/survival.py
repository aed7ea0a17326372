"""Does a blind spot survive the real world? The network's answer on the adversarial image after natural changes.

The panel of changes, by family: the codecs a saved file goes through (8-bit PNG; JPEG at
qualities 95, 75 and 50, encoded and decoded by Pillow at the network's input size, as a user's
file would be), shifts of 1 and 2 pixels in each direction (the edge repeated), rotations of ±2°
and ±5° and rescaling by 0.9 and 1.1 about the centre (bilinear, the border repeated), brightness
±5%, and Gaussian noise whose RMS is the change's own (8 seeded draws). The geometric, brightness
and noise changes are differentiable torch functions (``DIFFERENTIABLE``), which the robust goal
averages over. Each change is applied to the original too: a change that already fools the network
on the original says nothing about the blind spot, and the report says how often that happens.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from blindspot_gui.core.attack.robust import affine_matrix, warp
from blindspot_gui.core.batches import original_and_change
from blindspot_gui.core.images import to_8bit
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor

NOISE_DRAWS = 8
JPEG_QUALITIES = (95, 75, 50)
FAMILIES = ("codec", "shift", "rotation", "rescale", "brightness", "noise")


@dataclass(frozen=True)
class Change:
    """One natural change: its family, its name in words, and what it does to a batch (N, C, H, W) in [0, 1]."""

    family: str
    name: str
    apply: Callable[[torch.Tensor], torch.Tensor]


def shifted(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Moved ``dx`` pixels right and ``dy`` down, the edge pixels repeated into the gap."""
    padded = F.pad(images, (abs(dx), abs(dx), abs(dy), abs(dy)), mode="replicate")
    height, width = images.shape[-2:]
    top, left = abs(dy) - dy, abs(dx) - dx
    return padded[..., top:top + height, left:left + width]


def warped(images: torch.Tensor, degrees: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """Rotated by ``degrees`` and scaled by ``scale`` about the centre (bilinear; the border repeated)."""
    return warp(images, affine_matrix(degrees, scale))


def brightened(images: torch.Tensor, factor: float) -> torch.Tensor:
    return (images * factor).clamp(0.0, 1.0)


def noise_changes(size: float, shape: tuple[int, ...], draws: int = NOISE_DRAWS, seed: int = 0) -> list[Change]:
    """Gaussian noise of RMS ``size`` (per pixel), ``draws`` fixed seeded draws, clipped to the box."""
    generator = torch.Generator().manual_seed(seed)
    fixed = [size * torch.randn(shape, generator=generator) for _ in range(draws)]
    return [Change("noise", f"noise {index + 1} (RMS {size:.4f})",
                   lambda images, n=n: (images + n.to(images.device)).clamp(0.0, 1.0)) for index, n in enumerate(fixed)]


def geometric_changes() -> list[Change]:
    """The shifts, rotations, rescalings and brightness changes of the panel (differentiable)."""
    changes = [Change("shift", f"shift {abs(d)} px {word}", lambda images, dx=dx, dy=dy: shifted(images, dx, dy))
               for d in (1, 2) for dx, dy, word in ((d, 0, "right"), (-d, 0, "left"), (0, d, "down"), (0, -d, "up"))]
    changes += [Change("rotation", f"rotate {degrees:+g}°", lambda images, a=degrees: warped(images, degrees=a))
                for degrees in (-5, -2, 2, 5)]
    changes += [Change("rescale", f"rescale ×{scale:g}", lambda images, s=scale: warped(images, scale=s))
                for scale in (0.9, 1.1)]
    changes += [Change("brightness", f"brightness {percent:+d}%",
                       lambda images, f=1 + percent / 100: brightened(images, f)) for percent in (-5, 5)]
    return changes


def codec_changes() -> list[Change]:
    """8-bit PNG and JPEG at JPEG_QUALITIES, through Pillow's encoders and decoders."""
    return [Change("codec", "8-bit PNG", lambda images: _through_codec(images, "PNG", None))] + [
        Change("codec", f"JPEG quality {quality}", lambda images, q=quality: _through_codec(images, "JPEG", q))
        for quality in JPEG_QUALITIES]


def _through_codec(images: torch.Tensor, codec: str, quality: int | None) -> torch.Tensor:
    decoded = []
    for image in images.detach().cpu().numpy():
        eight = to_8bit(image)
        picture = Image.fromarray(eight[0], mode="L") if eight.shape[0] == 1 else Image.fromarray(
            eight.transpose(1, 2, 0), mode="RGB")
        stream = io.BytesIO()
        picture.save(stream, format=codec, **({"quality": quality} if quality else {}))
        stream.seek(0)
        back = np.asarray(Image.open(stream), dtype=np.float32) / 255.0
        decoded.append(back[None] if back.ndim == 2 else back.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(decoded)).to(images.device)


def panel(change_rms: float, shape: tuple[int, ...]) -> list[Change]:
    """Every change the survival table tries, for a blind spot of RMS ``change_rms`` on images of ``shape``."""
    return codec_changes() + geometric_changes() + noise_changes(change_rms, shape)


@dataclass(frozen=True)
class Survival:
    """How one blind spot fares under each change of the panel."""

    distortion: float
    """RMS of the change (pixels in [0, 1])."""
    original_answer: int
    names: tuple[str, ...]
    families: tuple[str, ...]
    answers: tuple[int, ...]
    """the network's answer on the adversarial image after each change."""
    original_answers: tuple[int, ...]
    """its answer on the original after the same change."""

    def survived(self) -> np.ndarray:
        """Per change: the adversarial image still gets a wrong answer while the original is still answered right."""
        answers, originals = np.array(self.answers), np.array(self.original_answers)
        return (answers != self.original_answer) & (originals == self.original_answer)

    def shares(self) -> dict[str, float]:
        """Per family (and "all"): the share of its changes the blind spot survives."""
        survived, families = self.survived(), np.array(self.families)
        shares = {family: float(survived[families == family].mean()) for family in FAMILIES if family in families}
        return shares | {"all": float(survived.mean())}

    def to_record(self) -> dict:
        return asdict(self) | {"shares": self.shares(), "survived": self.survived().tolist()}


def survival(classifier: Classifier, original, adversarial, monitor: Monitor | None = None) -> Survival:
    """Apply every change of the panel to the adversarial image and to the original, and ask the network."""
    monitor = monitor or Monitor()
    x, change = original_and_change(classifier, original, adversarial)
    x, x_adv = x[None], (x + change)[None]
    rms = float(change.pow(2).mean().sqrt())
    changes = panel(rms, tuple(classifier.input_shape))
    answers, original_answers = [], []
    with torch.inference_mode():
        first = int(classifier(x.to(classifier.device)).argmax(1)[0])
        for position, change in enumerate(changes):
            monitor.check()
            monitor.progress(position / len(changes), f"trying {change.name}")
            both = torch.cat([change.apply(x_adv), change.apply(x)]).to(classifier.device)
            predicted = classifier(both).argmax(1).tolist()
            answers.append(int(predicted[0]))
            original_answers.append(int(predicted[1]))
    monitor.progress(1.0, "survival done")
    return Survival(rms, first, tuple(change.name for change in changes), tuple(change.family for change in changes),
                    tuple(answers), tuple(original_answers))
