"""What the search minimises and records: c * ||a - x||^2 + a target loss over batched (task, c) rows, with the
best successful point of each task, and the progress and partial results it reports."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from blindspot_gui.core.attack.goal import MINIMAL, Goal
from blindspot_gui.core.monitor import Monitor

@dataclass(frozen=True)
class SearchProgress:
    """Partial result sent to the monitor while a search runs."""

    stage: str
    step: int
    steps: int
    iteration: int
    best_distortion: np.ndarray
    """(N,) smallest successful distortion so far per image; inf where none yet."""
    best_adversarial: np.ndarray
    """(N, *image shape) the corresponding images (the original where none yet)."""
    elapsed: float
    total_iterations: int = 0
    """L-BFGS iterations run so far over all steps (batched iterations for the fast engine)."""
    urgent: bool = False
    """the first success: a front end that thins out partial results shows this one at once."""


@dataclass
class Tasks:
    """The (image, target) pairs being searched, with the best successful point of each."""

    image_index: torch.Tensor
    target: torch.Tensor
    best_squared_norm: torch.Tensor
    best_point: torch.Tensor
    best_c: torch.Tensor
    evaluations: torch.Tensor
    iterations: torch.Tensor



def target_loss(logits: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """loss_f(a, l) = softplus(T * logsumexp_{j != l}(z_j / T) - z_l) per row.

    With T = 1 this is exactly the softmax cross-entropy -log p_l; as T falls towards 0 the
    competing classes are pooled by an ever harder maximum, so that the loss, like the boundary
    the search is after, depends on the strongest competitor only.
    """
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    competitors = logits.scatter(1, target[:, None], -math.inf)
    return F.softplus(temperature * torch.logsumexp(competitors / temperature, dim=1) - target_logit)


def goal_reached(model, points_flat, image_shape, target, goal: Goal, copies=None) -> torch.Tensor:
    """(B,) True where ``points`` meet ``goal`` for ``target``; a robust goal on its ``copies`` (RobustCopies)."""
    with torch.inference_mode():
        images = points_flat.view(-1, *image_shape)
        if copies is None:
            return goal.met(model(images), target)
        return robust_success(goal, copies, model(copies(images)), target)


def robust_success(goal: Goal, copies, logits, target) -> torch.Tensor:
    """(B,) the target answered on the image itself (copy 0) and on at least the goal's share of its copies."""
    answered = goal.met(logits, target.repeat(copies.count))
    return answered.view(copies.count, -1)[0] & (copies.share(answered) >= goal.robust - 1e-9)


class Objective:
    """c * ||a - x||^2 + cross-entropy(f(a), target) on rows (task, c); records the best successful a of each task.

    A point is successful where it meets ``goal`` (default: the network answers the target). A robust goal's loss
    is the mean over ``copies`` (RobustCopies) of each copy's loss, and its success is ``robust_success``.
    """

    def __init__(self, model, images_flat, image_shape, tasks: Tasks, monitor: Monitor, temperature: float,
                 goal: Goal = MINIMAL, copies=None):
        self.goal = goal
        self.copies = copies
        self.temperature = goal.temperature(temperature)
        self.model = model
        self.images_flat = images_flat
        self.image_shape = image_shape
        self.tasks = tasks
        self.monitor = monitor
        self.row_task = torch.empty(0, dtype=torch.long)
        self.row_c = torch.empty(0)

    def set_rows(self, row_task: torch.Tensor, row_c: torch.Tensor) -> None:
        self.row_task, self.row_c = row_task, row_c

    def evaluate(self, points: torch.Tensor, task: torch.Tensor, c: torch.Tensor):
        """Objective (B,) and gradient (B, D) at ``points`` for the given tasks and c values."""
        self.monitor.check()
        tasks = self.tasks
        origin = self.images_flat[tasks.image_index[task]]
        target = tasks.target[task]
        with torch.enable_grad():
            points = points.detach().requires_grad_(True)
            images = points.view(-1, *self.image_shape)
            if self.copies is None:
                logits = self.model(images)
                loss = target_loss(logits, target, self.temperature)
            else:
                logits = self.model(self.copies(images))
                loss = target_loss(logits, target.repeat(self.copies.count), self.temperature).view(
                    self.copies.count, -1).mean(dim=0)
            squared_norm = (points - origin).pow(2).sum(dim=1)
            value = c * squared_norm + loss
            (gradient,) = torch.autograd.grad(value.sum(), points)
        self._record(points.detach(), squared_norm.detach(), logits.detach(), task, c)
        return value.detach(), gradient

    def _record(self, points, squared_norm, logits, task, c) -> None:
        tasks = self.tasks
        tasks.evaluations.index_add_(0, task, torch.ones_like(task))
        target = tasks.target[task]
        success = (self.goal.met(logits, target) if self.copies is None else
                   robust_success(self.goal, self.copies, logits, target))
        if not success.any():
            return
        candidates = torch.where(success, squared_norm, torch.full_like(squared_norm, math.inf))
        # Several rows may share a task (one per c) and writes through repeated indices may
        # interleave, so only each task's smallest row is written (exact ties aside, which would
        # need two different points with bit-identical norms).
        smallest = torch.full_like(tasks.best_squared_norm, math.inf).scatter_reduce_(0, task, candidates, "amin")
        better = torch.nonzero((candidates == smallest[task]) & (candidates < tasks.best_squared_norm[task])).flatten()
        if len(better) == 0:
            return
        owners = task[better]
        tasks.best_squared_norm[owners] = candidates[better]
        tasks.best_point[owners] = points[better]
        tasks.best_c[owners] = c[better]

    def __call__(self, points: torch.Tensor, rows: torch.Tensor):
        return self.evaluate(points, self.row_task[rows], self.row_c[rows])

    def reaches(self, points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """(B,) True where ``points`` meet the goal for ``target``."""
        return goal_reached(self.model, points, self.image_shape, target, self.goal, self.copies)


class ProgressReporter:
    """Maps c steps and iterations onto the monitor, and sends throttled partial results (the first success at once)."""

    def __init__(self, monitor: Monitor, tasks: Tasks, images_flat, image_shape, count: int, steps: int,
                 partial_interval: float = 0.05):
        self.partial_interval = partial_interval
        self.monitor, self.tasks, self.images_flat = monitor, tasks, images_flat
        self.image_shape, self.count, self.steps = image_shape, count, steps
        self.started = time.perf_counter()
        self._last_partial = -math.inf
        self.step, self.stage = 0, ""
        self.total_iterations = 0
        self._succeeded = False

    def begin_step(self, step: int, stage: str) -> None:
        self.step, self.stage = step, stage
        self.monitor.progress(step / self.steps, self._words())

    def iteration(self, iteration: int, max_iterations: int) -> None:
        self.monitor.check()
        self.total_iterations += 1
        fraction = (self.step + min(iteration / max_iterations, 1.0)) / self.steps
        self.monitor.progress(fraction, self._words())
        now = time.perf_counter()
        first = self._first_success()
        if now - self._last_partial >= self.partial_interval or first:
            self._last_partial = now
            self.send_partial(iteration, urgent=first)

    def _words(self) -> str:
        """What the search is doing, for anyone: "trying stronger and weaker pushes (2 of 5)"."""
        return f"{self.stage} ({self.step + 1} of {self.steps})"

    def _first_success(self) -> bool:
        """Whether a task has just succeeded for the first time: that blind spot is shown at once, then refined."""
        if not self._succeeded and bool(torch.isfinite(self.tasks.best_squared_norm).any()):
            self._succeeded = True
            return True
        return False

    def send_partial(self, iteration: int, urgent: bool = False) -> None:
        best_norm, best_point = best_per_image(self.tasks, self.images_flat, self.count)
        distortion = (best_norm.sqrt() / math.sqrt(self.images_flat.shape[1])).cpu().numpy()
        self.monitor.partial(SearchProgress(
            self.stage, self.step, self.steps, iteration, distortion,
            best_point.view(-1, *self.image_shape).cpu().numpy(), time.perf_counter() - self.started,
            self.total_iterations, urgent,
        ))


CONTENDER_REACH = 1.15
"""An untargeted search's label is dropped once its change is more than this many times its image's smallest: c's
bisection and the slide along the boundary shrink a change by a few percent (on the first 100 correctly classified
test images, FC100-100-10 and the ConvNet, dropping them at 1.05 already changed no result by 0.5%)."""


def contenders(tasks: Tasks, reach: float) -> torch.Tensor:
    """The tasks with a successful point whose change is within ``reach`` times their image's smallest."""
    norm = tasks.best_squared_norm
    if len(norm) == 0:
        return torch.zeros(0, dtype=torch.long)
    images = int(tasks.image_index.max()) + 1
    smallest = torch.full((images,), torch.inf).scatter_reduce_(0, tasks.image_index, norm, "amin")
    return torch.nonzero(torch.isfinite(norm) & (norm <= reach**2 * smallest[tasks.image_index])).flatten()


def best_per_image(tasks: Tasks, images_flat: torch.Tensor, count: int):
    """The smallest successful squared norm per image over its tasks, and that point (the original if none).

    Vectorised, as it runs at every partial result: each image's winning task is the first one
    whose norm equals the image's minimum (one write per image).
    """
    best_norm = torch.full((count,), math.inf).scatter_reduce_(0, tasks.image_index, tasks.best_squared_norm, "amin")
    best_point = images_flat.clone()
    winners = torch.nonzero(torch.isfinite(tasks.best_squared_norm)
                            & (tasks.best_squared_norm == best_norm[tasks.image_index])).flatten()
    if len(winners):
        owners = tasks.image_index[winners]
        order = torch.argsort(owners, stable=True)
        winners, owners = winners[order], owners[order]
        first = torch.ones_like(owners, dtype=torch.bool)
        first[1:] = owners[1:] != owners[:-1]
        best_point[owners[first]] = tasks.best_point[winners[first]]
    return best_norm, best_point
