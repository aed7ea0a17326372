"""What counts as reaching the target: the paper's boundary (the network's answer), a probability p, or a logit margin.

The paper's search looks for the smallest change that makes the network *answer* the target, so
its examples sit on the decision boundary (the target at about 50% for two close classes). A
confident goal asks for more: the smallest change after which the network answers the target with
probability >= p, or with a logit margin z_l - max_{j != l} z_j >= kappa. The c search, the
record of the best point and the final shrink are the same; only the test of success, the loss's
temperature (1 for a probability: the plain cross-entropy -log p_l, whose level sets are exactly
those of p_l) and the first guess of c change.

A robust goal asks that the answer hold on a share of fixed, changed copies of the image (shifts,
rotations, rescaling, brightness, noise: core/attack/robust.py), the expectation over
transformation of Athalye et al. (ICML 2018): the loss is averaged over the copies, and success is
the target answered on the image itself and on at least ``robust`` of its copies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Goal:
    """The success test of a search: ``confidence`` p, ``margin`` kappa, a ``robust`` share of changed copies, or none
    of them (the paper's boundary)."""

    confidence: float | None = None
    margin: float | None = None
    robust: float | None = None

    @property
    def minimal(self) -> bool:
        return self.confidence is None and self.margin is None and self.robust is None

    @property
    def name(self) -> str:
        """"minimal", "confidence", "margin" or "robust" (the AttackResult's ``goal``)."""
        if self.robust is not None:
            return "robust"
        return "minimal" if self.minimal else "confidence" if self.confidence is not None else "margin"

    @property
    def level(self) -> float | None:
        """The goal's number: p, kappa or the robust share (None for the boundary)."""
        return next((value for value in (self.confidence, self.margin, self.robust) if value is not None), None)

    def describe(self) -> str:
        """A short phrase: "the network's answer", "p >= 0.9", "margin >= 2", "on 90% of changed copies"."""
        if self.robust is not None:
            return f"the answer on ≥ {100 * self.robust:g}% of changed copies"
        if self.confidence is not None:
            return f"p ≥ {self.confidence:g}"
        if self.margin is not None:
            return f"logit margin ≥ {self.margin:g}"
        return "the network's answer"

    def met(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(N,) True where the network answers ``target`` and, if asked, with the probability or margin asked for."""
        answered = logits.argmax(dim=1) == target
        if self.minimal or self.robust is not None:  # a robust goal asks for the answer, on its copies
            return answered
        if self.confidence is not None:
            probability = logits.softmax(dim=1).gather(1, target[:, None]).squeeze(1)
            return answered & (probability >= self.confidence)
        return answered & (logit_margin(logits, target) >= self.margin)

    def slack(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(N,) a measure that is >= 0 where the goal is met (given the network answers the target): the logit margin
        over the strongest competitor less the margin asked for; for a probability p, log p_l - log(1 - p_l) - logit(p)."""
        if self.confidence is None:
            return logit_margin(logits, target) - self.needed_margin()
        target_logit = logits.gather(1, target[:, None]).squeeze(1)
        others = torch.logsumexp(logits.scatter(1, target[:, None], -math.inf), dim=1)
        return target_logit - others - self.needed_margin()

    def temperature(self, configured: float) -> float:
        """The loss's temperature: 1 for a probability or robust goal (the plain cross-entropy, averaged over the copies
        for the latter as in expectation over transformation), else the configured one."""
        return 1.0 if self.confidence is not None or self.robust is not None else configured

    def needed_margin(self) -> float:
        """The logit margin over the strongest competitor that the goal asks for at least (0 for the boundary)."""
        if self.confidence is not None:
            return math.log(self.confidence / (1 - self.confidence))
        return self.margin or 0.0


MINIMAL = Goal()
"""The paper's goal: the network answers the target."""


def logit_margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """z_l - max_{j != l} z_j per row: positive where the network answers l."""
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    return target_logit - logits.scatter(1, target[:, None], -math.inf).amax(dim=1)


def check_goal(confidence, margin, robust=None) -> Goal:
    """The goal of these settings; a one-line ValueError for nonsense values."""
    if confidence is not None and margin is not None:
        raise ValueError("give a confidence or a margin, not both")
    if robust is not None and (confidence is not None or margin is not None):
        raise ValueError("a robust goal takes no confidence or margin: give one goal")
    if robust is not None and not (_number(robust) and 0 < robust <= 1):
        raise ValueError(f"the robust share is a fraction of the changed copies, above 0 and at most 1 (e.g. 0.9), "
                         f"not {robust!r}")
    if confidence is not None and not (_number(confidence) and 0 < confidence < 1):
        raise ValueError(f"the confidence is a probability between 0 and 1 (e.g. 0.9), not {confidence!r}")
    if margin is not None and not (_number(margin) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"the margin is a positive number of logits (e.g. 2), not {margin!r}")
    return Goal(None if confidence is None else float(confidence), None if margin is None else float(margin),
                None if robust is None else float(robust))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
