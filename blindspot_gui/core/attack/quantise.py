"""Adversarial images as 8-bit files: the fewest, cheapest grey-level steps towards the float blind spot that keep its goal.

A PNG holds 256 grey levels per channel, and rounding can undo a change of under half a level per
pixel, so the rounded image may no longer fool the network. The search here walks the 8-bit lattice
around the float solution: every one-level step towards it is ranked by the pixel's float change
(its share of the margin) over the squared distortion the step adds; the shortest prefix of that
list that meets the search's goal is found with the real network (growing tries, then bisection;
plain rounding and the old "scale the change up" are points of the same list, so it is never worse).
Ranking steps by the gradient of the margin instead, at the float solution or at the 8-bit image,
was tried and was worse on EfficientNet-Lite0: one grey level is beyond where the gradient predicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from blindspot_gui.core.attack.goal import MINIMAL, Goal
from blindspot_gui.core.models.classifier import Classifier

LEVELS = 255.0
MAX_SCALE = 4.0
"""the largest multiple of the float change (per pixel) that a grey-level step may reach."""
GROWTH = 1.1
"""the float change's weight grows by this factor between tries (as the old scaling did), then bisection refines."""
BISECTIONS = 6
"""forward passes that shorten the first list prefix that meets the goal."""


@dataclass(frozen=True)
class Quantised:
    """An 8-bit adversarial image that meets the search's goal, with its float and 8-bit distortion (RMS)."""

    pixels: np.ndarray
    """float32 in [0, 1], each a multiple of 1/255 (what a PNG file holds), the shape of the original."""
    float_distortion: float
    """the RMS distortion of the float solution (the search's ``distortion``)."""
    distortion: float
    """the RMS distortion of the 8-bit image, from the original."""
    answer: int
    """the network's answer on the 8-bit image."""
    evaluations: int
    """forward passes of the network spent."""

    @property
    def ratio(self) -> float:
        """8-bit over float distortion (1 where both are 0)."""
        if self.float_distortion == 0:
            return 1.0 if self.distortion == 0 else math.inf
        return self.distortion / self.float_distortion


def fooled(model: Classifier, pixels: np.ndarray, original_label: int, target: int | None) -> bool:
    """Whether ``pixels`` is classified as ``target`` (or, untargeted, as anything but ``original_label``)."""
    label = int(model.probabilities(pixels).argmax())
    return label == target if target is not None else label != original_label


def result_goal(result) -> Goal:
    """The goal an AttackResult was searched for (the paper's boundary if it names none)."""
    kind, level = getattr(result, "goal", "minimal"), getattr(result, "goal_level", None)
    if kind == "confidence" and level is not None:
        return Goal(confidence=float(level))
    if kind == "margin" and level is not None:
        return Goal(margin=float(level))
    return MINIMAL


def quantise_result(model: Classifier, result) -> Quantised | None:
    """The 8-bit version of a search's result that still meets its goal; None if the search did not succeed."""
    if not result.success:
        return None
    return quantised_adversarial(model, result.original, result.adversarial, result.original_prediction,
                                 result.target, goal=result_goal(result))


def quantised_adversarial(model: Classifier, original: np.ndarray, adversarial: np.ndarray, original_label: int,
                          target: int | None, goal: Goal = MINIMAL) -> Quantised | None:
    """The 8-bit image nearest the float ``adversarial`` (in RMS from ``original``) found that still meets ``goal``.

    Targeted: the network answers ``target`` (with the goal's probability or margin); untargeted: it
    answers anything but ``original_label`` (with that). None if no 8-bit image within 4 times the
    float change does.
    """
    lattice = _Lattice(model, original, original_label, target, goal)
    found = lattice.smallest_prefix(lattice.as_tensor(adversarial) * LEVELS)
    if found is None:
        return None
    pixels = (found / LEVELS).reshape(np.shape(original)).cpu().numpy().astype(np.float32)
    return Quantised(pixels=pixels, float_distortion=_rms(np.asarray(adversarial, np.float64) - lattice.original),
                     distortion=_rms(pixels.astype(np.float64) - lattice.original),
                     answer=int(model.probabilities(pixels).argmax()),
                     evaluations=lattice.evaluations)


class _Lattice:
    """The 8-bit images around one original, scored by one network against one goal."""

    def __init__(self, model, original, original_label, target, goal: Goal):
        self.model, self.original_label, self.target, self.goal = model, original_label, target, goal
        self.original = np.asarray(original, dtype=np.float64)
        self.origin = self.as_tensor(self.original) * LEVELS
        self.evaluations = 0

    def as_tensor(self, pixels) -> torch.Tensor:
        return torch.as_tensor(np.asarray(pixels, dtype=np.float32).ravel(), device=self.model.device)

    def _label(self, logits: torch.Tensor) -> int:
        """The class the image should be answered as: the target, or (untargeted) the strongest other class."""
        if self.target is not None:
            return int(self.target)
        others = logits[0].clone()
        others[self.original_label] = -math.inf
        return int(others.argmax())

    def met(self, levels: torch.Tensor) -> bool:
        """Whether the network, on this 8-bit image, meets the goal (one forward pass)."""
        self.evaluations += 1
        with torch.inference_mode():
            logits = self.model((levels / LEVELS).view(1, *self.model.input_shape))
            label = self._label(logits)
            wanted = torch.tensor([label], device=logits.device)
            return (bool(self.goal.met(logits, wanted)[0]) and int(logits.argmax(dim=1)) == label
                    and float(self.goal.slack(logits, wanted)[0]) > 0)

    def steps(self, wanted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every one-level step towards the float solution, best first: (pixel, step, priority).

        The float change of a pixel stands in for its share of the margin (the search's path found it),
        so a step's priority is that change over the squared distortion it adds; a pixel's later steps cost more, so any prefix of the list is a valid 8-bit image.
        Plain rounding is the prefix of priority >= 1/2, scaling the change by s that of >= 1/(2s).
        """
        change = wanted - self.origin
        base = torch.clamp(torch.round(self.origin), 0, LEVELS)
        direction = torch.sign(change)
        room = torch.where(direction > 0, LEVELS - base, base)
        most = torch.minimum(torch.ceil(MAX_SCALE * change.abs() + 0.5), room) * (direction != 0)
        pixel = torch.repeat_interleave(torch.arange(len(change), device=change.device), most.long())
        first = torch.cumsum(most.long(), 0) - most.long()
        k = torch.arange(len(pixel), device=change.device) - first[pixel] + 1
        offset = base[pixel] - self.origin[pixel]
        cost = ((offset + k * direction[pixel]) ** 2 - (offset + (k - 1) * direction[pixel]) ** 2).clamp(min=1e-6)
        priority = change.abs()[pixel] / cost
        order = torch.argsort(priority, descending=True)
        return pixel[order], direction[pixel[order]], priority[order]

    def image(self, pixel, direction, count: int) -> torch.Tensor:
        """The 8-bit levels after the first ``count`` steps."""
        levels = torch.clamp(torch.round(self.origin), 0, LEVELS)
        return levels.index_add(0, pixel[:count], direction[:count])

    def smallest_prefix(self, wanted: torch.Tensor) -> torch.Tensor | None:
        """The shortest prefix of the steps found that meets the goal: growing tries, then bisection."""
        pixel, direction, priority = self.steps(wanted)
        failed, tried, scale = 0, -1, 1.0
        while scale <= MAX_SCALE + 1e-9:
            count = int((priority >= 0.5 / scale).sum())
            if count != tried and self.met(self.image(pixel, direction, count)):
                break
            failed, tried, scale = count, count, scale * GROWTH
        else:
            return None
        for _ in range(BISECTIONS):
            if count - failed <= 1:
                break
            middle = (failed + count) // 2
            if self.met(self.image(pixel, direction, middle)):
                count = middle
            else:
                failed = middle
        return self.image(pixel, direction, count)


def _rms(change: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(change)))) if change.size else 0.0
