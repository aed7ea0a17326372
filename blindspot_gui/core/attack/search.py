"""The paper's blind-spot search (section 4.1): box-constrained L-BFGS with a line search over c.

For an image x with pixels in [0, 1] and a target label l, Szegedy et al. approximate the smallest
perturbation r with f(x + r) = l and x + r in [0, 1]^m by minimising

    c * |r| + loss_f(x + r, l)     subject to  x + r in [0, 1]^m

for a c found by a line search: a larger c weighs the perturbation more and so gives a smaller r,
and the search looks for the largest c whose minimiser is still classified as l. Our choices
where the paper leaves room:

- |r| = ||r||_2^2: smooth at r = 0, where every solve starts; the distortion reported is the RMS.
- loss_f is a cross-entropy of the target against the other classes pooled by a soft maximum of
  temperature T (``target_loss``): T = 1 is the usual softmax cross-entropy, the default T = 0.15
  concentrates the loss on the strongest competitor. On the shipped FC100-100-10 this finds about
  1% smaller perturbations than T = 1 (mean RMS 0.0555 against 0.0562 on the first 100 correctly
  classified test images, target (y + 1) mod 10) for about 1.2 times the work.
- The optimisation variable is the adversarial image a = x + r itself, so the box is exactly
  0 <= a <= 1.
- c is searched by bracketing, then bisection, and the smallest successful perturbation seen at
  any evaluation of any solve is kept. Finally that perturbation is scaled down towards the
  decision boundary (``shrink_to_boundary``), which only removes overshoot, and slid along the
  boundary towards x (``slide_along_boundary``: the nearest point of the boundary linearised over
  the strongest competing classes), which only keeps a smaller change.
- Untargeted, the four wrong labels a linear model of the net puts nearest are searched
  (``AttackConfig.untargeted_candidates``; 9 searches all), and a label drops out of the bisection
  once its change is more than 1.15 times its image's smallest (``objective.CONTENDER_REACH``).
- Beside the paper's goal (the network answers the target), a confident one: the network answers
  the target with probability >= p (``AttackConfig.confidence``) or a logit margin >= kappa
  (``margin``); "success" then means that everywhere, see :mod:`blindspot_gui.core.attack.goal`.

Two engines share the objective, the target rules and the result records: ``reference`` solves
one image and one c at a time with scipy's L-BFGS-B, bracketing c by factors of 10 and then
halving the bracket; ``fast`` brackets c on a small grid around a per-image estimate
(``estimate_threshold_c``) and bisects, solving every image and every c candidate of a step at
once with a batched torch L-BFGS-B (``batched_lbfgsb``).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blindspot_gui.core.attack.config import PHOTO_ATTACK, TARGET_POLICIES, AttackConfig, config_for
from blindspot_gui.core.attack.boundary import shrink_to_boundary, slide_along_boundary
from blindspot_gui.core.attack.engines import fast_search, reference_search, untargeted_candidates
from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.core.attack.objective import (Objective, ProgressReporter, SearchProgress, Tasks, best_per_image,
                                                 goal_reached)
from blindspot_gui.core.attack.robust import RobustCopies
from blindspot_gui.core.models.classifier import Classifier, as_classifier
from blindspot_gui.core.monitor import Cancelled, Monitor

__all__ = ["AttackConfig", "AttackResult", "PHOTO_ATTACK", "SearchProgress", "TARGET_POLICIES", "blindspot_search",
           "config_for", "distortion_measures", "failure_sentence", "random_wrong_labels", "rms", "validate_images"]

@dataclass
class AttackResult:
    """The outcome of the search for one image; arrays are detached CPU numpy, images shaped like the input."""

    index: int
    original: np.ndarray
    adversarial: np.ndarray
    perturbation: np.ndarray
    label: int
    """true label if given, else the model's prediction on the original."""
    original_prediction: int
    target: int | None
    """the requested target label; None for an untargeted search."""
    adversarial_prediction: int
    success: bool
    probabilities_before: np.ndarray
    probabilities_after: np.ndarray
    c: float | None
    iterations: int
    function_evaluations: int
    distortion: float
    """the paper's measure: sqrt(sum r_i^2 / n), pixels in [0, 1]."""
    l2: float
    linf: float
    message: str = ""
    steps: int = 0
    """L-BFGS steps of the whole search, each advancing every (target, c) pair at once (the x-axis of its
    distortion curve); ``iterations`` counts each pair's iterations separately."""
    cancelled: bool = False
    """the search was stopped before it finished: a success is the best found so far, not the smallest."""
    goal: str = "minimal"
    """what the search was after: "minimal" (the paper: the network answers the target), "confidence" (with
    probability >= ``goal_level``), "margin" (a logit margin >= ``goal_level``) or "robust" (on ``goal_level`` of
    changed copies too); ``success`` means it was met."""
    goal_level: float | None = None
    target_probability: float = 0.0
    """the network's probability, on the adversarial image, of the target (untargeted: of its answer there)."""

    def to_record(self) -> dict:
        """The scalar fields, for JSON."""
        return {
            name: value
            for name, value in self.__dict__.items()
            if not isinstance(value, np.ndarray)
        } | {"probabilities_before": self.probabilities_before.round(6).tolist(),
             "probabilities_after": self.probabilities_after.round(6).tolist()}



def rms(perturbation) -> np.ndarray:
    """Per-image root-mean-square of perturbations (N, ...): the paper's distortion measure, sqrt(sum r^2 / n)."""
    flat = np.asarray(perturbation, dtype=np.float64).reshape(len(perturbation), -1)
    return np.sqrt((flat**2).sum(axis=1)) / math.sqrt(flat.shape[1])


def distortion_measures(perturbation: np.ndarray) -> tuple[float, float, float]:
    """(the paper's RMS distortion, L2 norm, L-infinity norm) of one perturbation."""
    flat = np.asarray(perturbation, dtype=np.float64).reshape(1, -1)
    return float(rms(flat)[0]), float(np.sqrt((flat**2).sum())), float(np.abs(flat).max(initial=0.0))


def validate_images(images: torch.Tensor) -> torch.Tensor:
    """Images as float (N, C, H, W) in [0, 1]; a clear ValueError otherwise."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    if images.ndim == 3:
        images = images.unsqueeze(0)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W) or (C, H, W), not {tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("no images to attack")
    images = images.detach().float()
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or infinite pixels")
    if images.min() < 0 or images.max() > 1:
        raise ValueError(
            f"pixels must lie in [0, 1] (found {float(images.min()):.3g} to {float(images.max()):.3g}); "
            "divide 8-bit images by 255"
        )
    return images


def random_wrong_labels(labels: torch.Tensor, generator: torch.Generator, classes: int = 10) -> torch.Tensor:
    """A uniformly random label other than each of ``labels``, drawn on the CPU from ``generator``."""
    offsets = torch.randint(1, classes, labels.shape, generator=generator, device="cpu")
    return (labels + offsets.to(labels.device)) % classes


def resolve_targets(targets, labels: torch.Tensor, probabilities: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Target label per image from a rule name, one label, or a sequence; -1 means untargeted.

    ``labels`` are the reference labels (true or predicted), ``probabilities`` the model's (N, K).
    """
    count, classes = probabilities.shape
    if targets is None or (isinstance(targets, str) and targets == "none"):
        return torch.full((count,), -1, dtype=torch.long)
    if isinstance(targets, str):
        if targets == "next":
            return (labels + 1) % classes
        if targets == "random":
            return random_wrong_labels(labels, torch.Generator(device="cpu").manual_seed(seed), classes)
        if targets == "least-likely":
            return probabilities.argmin(dim=1)
        if targets.strip().lstrip("-").isdigit():
            targets = int(targets)
        else:
            raise ValueError(f"unknown target rule {targets!r}; use one of {', '.join(TARGET_POLICIES)} or a label")
    if isinstance(targets, (int, np.integer)):
        targets = [int(targets)] * count
    resolved = torch.as_tensor(np.asarray(targets), dtype=torch.long).reshape(-1)
    if len(resolved) != count:
        raise ValueError(f"{len(resolved)} targets for {count} images")
    invalid = (resolved < 0) | (resolved >= classes)
    if invalid.any():
        raise ValueError(f"target label {int(resolved[invalid][0])} is invalid: labels run from 0 to {classes - 1}")
    return resolved



def blindspot_search(
    model: Classifier | nn.Module,
    images,
    targets="next",
    labels=None,
    *,
    engine: str = "fast",
    config: AttackConfig | None = None,
    monitor: Monitor | None = None,
) -> list[AttackResult]:
    """Find, for each image, the smallest perturbation that makes ``model`` output the target label.

    Parameters
    ----------
    model : a Classifier, or a bare network mapping float images (N, C, H, W) in [0, 1] to logits (N, K),
        which is then put in eval mode and its parameters stop requiring gradients (see ``as_classifier``).
    images : (N, C, H, W) or (C, H, W), pixels in [0, 1].
    targets : "next" ((y + 1) mod K), "random" (seeded wrong label), "least-likely", "none" or None
        (untargeted: the nearest wrong class), one label, or one label per image.
    labels : true labels (N,), used by "next" and "random" and reported; default: the model's predictions.
    engine : "fast" (batched torch L-BFGS-B) or "reference" (scipy's L-BFGS-B, one image and c at a time).
    monitor : receives progress, :class:`SearchProgress` partial results, and cancellation.
        On cancellation the best results found so far are returned, each with message "cancelled".
    """
    if engine not in ("fast", "reference"):
        raise ValueError(f"engine must be 'fast' or 'reference', not {engine!r}")
    config = config or AttackConfig()
    if config.untargeted_candidates < 1:
        raise ValueError("untargeted_candidates must be at least 1")
    monitor = monitor or Monitor()
    images = validate_images(images)
    model = as_classifier(model, tuple(images.shape[1:]))
    if tuple(images.shape[1:]) != model.input_shape:
        raise ValueError(f"{model.name} takes images of shape {model.input_shape} (channels, height, width), "
                         f"not {tuple(images.shape[1:])}")
    device = model.device
    images = images.to(device)
    # Tensors the search creates land on the model's device (a thread-local default). The CPU is
    # the default already, and the device mode costs time on every tensor operation, so skip it there.
    on_device = torch.device(device) if device.type != "cpu" else nullcontext()
    with on_device:
        return _search(model, images, targets, labels, engine, config, monitor)


def _search(model, images, targets, labels, engine, config, monitor) -> list[AttackResult]:
    count, image_shape = len(images), tuple(images.shape[1:])
    images_flat = images.reshape(count, -1).contiguous()
    with torch.inference_mode():
        logits = model(images)
    if logits.ndim != 2 or len(logits) != count:
        raise ValueError(f"the model must return logits of shape (N, K); it returned {tuple(logits.shape)}")
    probabilities_before = logits.softmax(dim=1)
    predictions = logits.argmax(dim=1)
    classes = logits.shape[1]
    reference_labels = predictions if labels is None else _validate_labels(labels, count, classes)
    wanted = resolve_targets(targets, reference_labels, probabilities_before, config.seed)
    goal = config.goal
    copies = None if goal.robust is None else RobustCopies(image_shape, config.robust_copies, config.seed,
                                                           config.robust_noise, config.robust_changes)
    already = (wanted >= 0) & goal_reached(model, images_flat, image_shape, wanted.clamp_min(0), goal, copies)
    tasks = _make_tasks(model, images_flat, image_shape, wanted, already, predictions, classes, config)
    objective = Objective(model, images_flat, image_shape, tasks, monitor, config.temperature, goal, copies)
    steps = (2 + config.bisection_rounds) if engine == "fast" else max(len(tasks.target), 1)
    reporter = ProgressReporter(monitor, tasks, images_flat, image_shape, count, steps, config.partial_interval)
    cancelled = False
    try:
        if len(tasks.target):
            (fast_search if engine == "fast" else reference_search)(objective, reporter, config)
            if config.boundary_steps:
                shrink_to_boundary(objective, config.boundary_steps)
                slide_along_boundary(objective, config.slide_rounds, config.boundary_steps, config.slide_competitors)
    except Cancelled:
        cancelled = True
    monitor.progress(1.0, "cancelled" if cancelled else "done")
    return _collect_results(objective, images, wanted, predictions, reference_labels, probabilities_before, cancelled,
                            reporter.total_iterations, already)


def _validate_labels(labels, count: int, classes: int) -> torch.Tensor:
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    if len(labels) != count:
        raise ValueError(f"{len(labels)} labels for {count} images")
    if ((labels < 0) | (labels >= classes)).any():
        raise ValueError(f"labels must run from 0 to {classes - 1}")
    return labels


def _make_tasks(model, images_flat, image_shape, wanted, already, predictions, classes, config) -> Tasks:
    """One task per targeted image whose target is not ``already`` reached; several per untargeted image."""
    image_index, target = [], []
    untargeted = torch.nonzero(wanted < 0).flatten()
    for image in torch.nonzero((wanted >= 0) & ~already).flatten().tolist():
        image_index.append(image)
        target.append(int(wanted[image]))
    if len(untargeted):
        keep = min(config.untargeted_candidates, classes - 1)
        candidates = untargeted_candidates(model, images_flat[untargeted], image_shape,
                                            predictions[untargeted], classes, keep)
        for image, labels in zip(untargeted.tolist(), candidates.tolist()):
            image_index.extend([image] * len(labels))
            target.extend(labels)
    count = len(target)
    return Tasks(
        image_index=torch.tensor(image_index, dtype=torch.long),
        target=torch.tensor(target, dtype=torch.long),
        best_squared_norm=torch.full((count,), math.inf),
        best_point=torch.zeros(count, images_flat.shape[1]),
        best_c=torch.full((count,), math.nan),
        evaluations=torch.zeros(count, dtype=torch.long),
        iterations=torch.zeros(count, dtype=torch.long),
    )


def _collect_results(objective: Objective, images, wanted, predictions, labels, probabilities_before, cancelled, steps,
                     already) -> list[AttackResult]:
    model, image_shape, tasks, goal = objective.model, objective.image_shape, objective.tasks, objective.goal
    count = len(images)
    images_flat = images.reshape(count, -1)
    best_norm, best_point = best_per_image(tasks, images_flat, count)
    with torch.inference_mode():
        logits_after = model(best_point.view(-1, *image_shape))
    probabilities_after = logits_after.softmax(dim=1)
    results = []
    predicted_after = probabilities_after.argmax(dim=1)
    # targeted: the goal for the target; untargeted: for the answer on the adversarial image, if not the original's
    reached_all = objective.reaches(best_point, torch.where(wanted >= 0, wanted, predicted_after))
    for image in range(count):
        mine = tasks.image_index == image
        reached = reached_all[image] & ((wanted[image] >= 0) | (predicted_after[image] != predictions[image]))
        success = bool(torch.isfinite(best_norm[image])) and bool(reached)
        chosen_c = None
        if success:
            candidates = torch.nonzero(mine).flatten()
            winner = candidates[tasks.best_squared_norm[candidates].argmin()]
            chosen_c = float(tasks.best_c[winner])
        target = int(wanted[image]) if wanted[image] >= 0 else None
        adversarial = best_point[image].view(image_shape).cpu().numpy()
        original = images[image].cpu().numpy()
        perturbation = adversarial - original
        distortion, l2, linf = distortion_measures(perturbation)
        message = _result_message(target, int(predictions[image]), success, cancelled, goal, bool(already[image]))
        if already[image]:
            success = True
        results.append(AttackResult(
            index=image, original=original, adversarial=adversarial, perturbation=perturbation,
            label=int(labels[image]), original_prediction=int(predictions[image]), target=target,
            adversarial_prediction=int(probabilities_after[image].argmax()), success=success,
            probabilities_before=probabilities_before[image].cpu().numpy(),
            probabilities_after=probabilities_after[image].cpu().numpy(),
            c=chosen_c, iterations=int(tasks.iterations[mine].sum()),
            function_evaluations=int(tasks.evaluations[mine].sum()),
            distortion=distortion, l2=l2, linf=linf, message=message, steps=steps, cancelled=cancelled,
            goal=goal.name, goal_level=goal.level,
            target_probability=float(probabilities_after[image, target if target is not None
                                                          else int(predicted_after[image])]),
        ))
    return results


def _result_message(target, prediction, success, cancelled, goal: Goal, already: bool) -> str:
    if already:
        reached = "" if goal.minimal else f" with {goal.describe()}"
        return f"the model already predicts {target}{reached}: nothing to search, the perturbation is zero"
    if cancelled:
        return "cancelled: best result found before cancelling" if success else "cancelled before any success"
    if success:
        return ""
    wanted = "the target" if target is not None else "another class"
    return (f"could not be made to look like {wanted}{'' if goal.minimal else ' with ' + goal.describe()} within "
            "the search's limits (no c in the search range reached it)")


def failure_sentence(result: AttackResult, class_name, what: str = "image") -> str:
    """In plain words, what a search that found nothing could not do, e.g. "This photo could not be made to look
    like “ostrich” within the search's limits." (``class_name`` maps a label to its name, ``what`` names the image)."""
    wanted = "any other class" if result.target is None else f"“{class_name(result.target)}”"
    sure = f" with {100 * result.goal_level:g}% confidence" if result.goal == "confidence" else (
        f" with a margin of {result.goal_level:g}" if result.goal == "margin" else "")
    return f"This {what} could not be made to look like {wanted}{sure} within the search's limits."
