"""The seed's floating window as a defence: a network's answer is the majority vote of K jittered copies of the image.

A retelling of the paper objects that a real system sees a floating window of frames, so that its
neighbours outvote one bad frame. ``FloatingWindow`` stands in for those frames: the image itself and
K - 1 copies shifted by up to ``max_shift`` pixels (bilinear, the border repeated) with Gaussian
noise of RMS ``noise_rms``, drawn once from a seed (core/attack/robust.py's copies with shifts only).
``vote`` answers with the label most copies give, a tie going to the image's own answer.

The honest part is the attack aimed at the vote itself (``adaptive_config``): the robust goal's
search, its loss averaged over copies drawn from the same jitter as the vote's but with another
seed (the attacker knows how the defence jitters, not its draws): expectation over transformation,
Athalye et al., ICML 2018.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from blindspot_gui.core.attack.config import PHOTO_ROBUST, AttackConfig, config_for
from blindspot_gui.core.attack.robust import Changes, RobustCopies
from blindspot_gui.core.batches import BATCH_PIXELS, in_batches
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor

ADAPTIVE_COPIES = 16
"""The copies the attack aimed at the vote averages its loss over (a photo: PHOTO_ROBUST's 8, each a pass through a
deep network)."""
ADAPTIVE_SHARE = 0.9
"""The share of its copies an attack aimed at the vote must fool: a margin over the vote's majority."""


@dataclass(frozen=True)
class FloatingWindow:
    """The vote: ``copies`` K (the image and K - 1 jittered copies), shifts up to ``max_shift`` pixels, noise RMS."""

    copies: int = 9
    max_shift: float = 1.0
    noise_rms: float = 0.03
    seed: int = 0

    def __post_init__(self):
        if self.copies < 1 or self.max_shift < 0 or not self.noise_rms >= 0:
            raise ValueError("a floating window needs at least one copy, and shifts and noise that are not negative")

    @property
    def changes(self) -> Changes:
        """The jitter as the robust copies' changes: shifts only, besides the noise."""
        return Changes(max_shift=self.max_shift, max_degrees=0.0, scales=(1.0, 1.0), max_brightness=0.0)

    def describe(self) -> str:
        return (f"the majority of {self.copies} copies: the image and {self.copies - 1} shifted by up to "
                f"{self.max_shift:g} px with noise of RMS {self.noise_rms:g}")


def window_for(classifier: Classifier) -> FloatingWindow:
    """The vote for ``classifier``: noise about a blind spot's size (0.03 for digits, a photo's robust noise)."""
    if classifier.is_digit_network:
        return FloatingWindow()
    return FloatingWindow(max_shift=2.0, noise_rms=PHOTO_ROBUST["robust_noise"])


@dataclass(frozen=True)
class Vote:
    """The vote's answer for each image, how many of the K copies gave it, and each copy's answer (K, B)."""

    answers: np.ndarray
    votes: np.ndarray
    ballots: np.ndarray

    @property
    def copies(self) -> int:
        return self.ballots.shape[0]


def vote(classifier: Classifier, images, window: FloatingWindow, monitor: Monitor | None = None) -> Vote:
    """The floating window's answer for each image of ``images`` (N, C, H, W) in [0, 1]."""
    images = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    copies = RobustCopies(tuple(images.shape[1:]), window.copies, window.seed, window.noise_rms, window.changes)
    ballots = in_batches(lambda batch: classifier(copies(batch)).argmax(dim=1).view(window.copies, -1).cpu(), images,
                         classifier.device, monitor, BATCH_PIXELS // window.copies)
    ballots = torch.cat(ballots, dim=1) if ballots else torch.empty(window.copies, 0, dtype=torch.long)
    counts = F.one_hot(ballots, classifier.num_classes).sum(dim=0).float()
    if len(images):
        counts += 0.5 * F.one_hot(ballots[0], classifier.num_classes)  # a tie goes to the image's own answer
    answers = counts.argmax(dim=1)
    votes = (ballots == answers).sum(dim=0)
    return Vote(answers.numpy(), votes.numpy(), ballots.numpy())


def adaptive_config(classifier: Classifier, window: FloatingWindow, share: float = ADAPTIVE_SHARE,
                    copies: int | None = None) -> AttackConfig:
    """The search aimed at the vote: the robust goal over ``copies`` draws of the vote's own jitter (default
    ADAPTIVE_COPIES, a photo's robust count for photos), other draws than the vote's (another seed)."""
    if copies is None:
        copies = ADAPTIVE_COPIES if classifier.is_digit_network else PHOTO_ROBUST["robust_copies"]
    return dataclasses.replace(config_for(classifier, robust=True), robust=share, robust_copies=copies,
                               robust_noise=window.noise_rms, robust_changes=window.changes, seed=window.seed + 1)
