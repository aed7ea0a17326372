"""What counts as reaching the target: the paper's boundary (the network's answer), a probability p, or a logit margin.

The paper's search looks for the smallest change that makes the network *answer* the target, so
its examples sit on the decision boundary (the target at about 50% for two close classes). A
confident goal asks for more: the smallest change after which the network answers the target with
probability >= p, or with a logit margin z_l - max_{j != l} z_j >= kappa. The c search, the
record of the best point and the final shrink are the same; only the test of success, the loss's
temperature (1 for a probability: the plain cross-entropy -log p_l, whose level sets are exactly
those of p_l) and the first guess of c change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Goal:
    """The success test of a search: ``confidence`` p, ``margin`` kappa, or neither (the paper's boundary)."""

    confidence: float | None = None
    margin: float | None = None

    @property
    def minimal(self) -> bool:
        return self.confidence is None and self.margin is None

    @property
    def name(self) -> str:
        """"minimal", "confidence" or "margin" (the AttackResult's ``goal``)."""
        return "minimal" if self.minimal else "confidence" if self.confidence is not None else "margin"

    def describe(self) -> str:
        """A short phrase: "the network's answer", "p >= 0.9", "margin >= 2"."""
        if self.confidence is not None:
            return f"p ≥ {self.confidence:g}"
        if self.margin is not None:
            return f"logit margin ≥ {self.margin:g}"
        return "the network's answer"

    def met(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(N,) True where the network answers ``target`` and, if asked, with the probability or margin asked for."""
        answered = logits.argmax(dim=1) == target
        if self.minimal:
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
        """The loss's temperature: 1 for a probability goal (the plain cross-entropy), else the configured one."""
        return 1.0 if self.confidence is not None else configured

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


def check_goal(confidence, margin) -> Goal:
    """The goal of these settings; a one-line ValueError for nonsense values."""
    if confidence is not None and margin is not None:
        raise ValueError("give a confidence or a margin, not both")
    if confidence is not None and not (_number(confidence) and 0 < confidence < 1):
        raise ValueError(f"the confidence is a probability between 0 and 1 (e.g. 0.9), not {confidence!r}")
    if margin is not None and not (_number(margin) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"the margin is a positive number of logits (e.g. 2), not {margin!r}")
    return Goal(None if confidence is None else float(confidence), None if margin is None else float(margin))


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
