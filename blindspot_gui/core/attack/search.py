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
  decision boundary (``shrink_to_boundary``), which only removes overshoot.

Two engines share the objective, the target rules and the result records: ``reference`` solves
one image and one c at a time with scipy's L-BFGS-B, bracketing c by factors of 10 and then
halving the bracket; ``fast`` brackets c on a small grid around a per-image estimate
(``estimate_threshold_c``) and bisects, solving every image and every c candidate of a step at
once with a batched torch L-BFGS-B (``batched_lbfgsb``).
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from blindspot_gui.core.attack.batched_lbfgsb import SolverOptions, minimize_box_lbfgs
from blindspot_gui.core.models.classifier import Classifier, as_classifier
from blindspot_gui.core.monitor import Cancelled, Monitor

TARGET_POLICIES = ("next", "random", "least-likely", "none")
"""Named target rules: (y + 1) mod K, a seeded random wrong label, the least likely label, untargeted."""


@dataclass(frozen=True)
class AttackConfig:
    """Everything tunable about the search; the defaults are what the application uses."""

    c_min: float = 1e-3
    c_max: float = 1e4
    """reference engine: the range its bracketing may search."""
    grid_size: int = 3
    grid_span: float = 4.0
    """fast engine: c values tried at once to bracket c, log-spaced from estimate / span to estimate * span."""
    bisection_rounds: int = 3
    bisection_size: int = 1
    warm_start: bool = True
    """fast engine: start bisection solves from the task's best successful point instead of the original."""
    """fast engine: c values tried at once inside the bracket in each round."""
    reference_start_c: float = 1.0
    reference_bisection_steps: int = 8
    """reference engine: bracketing by factors of 10 from ``reference_start_c``, then this many halvings."""
    max_iterations: int = 40
    """L-BFGS iterations per solve at most; more changed the mean distortion by under 0.1% (FC100-100-10)."""
    history: int = 5
    gradient_tolerance: float = 1e-5
    temperature: float = 0.15
    """of the loss (see ``target_loss``): 1 is the plain softmax cross-entropy."""
    boundary_steps: int = 12
    """after the c search, halvings of the scale t of x + t * r towards the decision boundary (0: none)."""
    untargeted_candidates: int = 9
    """untargeted search: how many wrong labels to search, the most promising first (9: all of them)."""
    seed: int = 0
    """seed of the "random" target rule."""
    partial_interval: float = 0.05
    """seconds between two partial results sent to the monitor (0: after every iteration)."""

    def __post_init__(self):
        checks = (
            (0 < self.c_min < self.c_max, "c_min must be positive and below c_max"),
            (self.grid_size >= 2 and self.grid_span > 1, "grid_size must be at least 2 and grid_span above 1"),
            (self.bisection_rounds >= 0 and self.bisection_size >= 1, "bisection_size must be at least 1"),
            (self.max_iterations >= 1 and self.history >= 1, "max_iterations and history must be at least 1"),
            (self.temperature > 0, "temperature must be positive"),
            (self.boundary_steps >= 0 and self.reference_bisection_steps >= 0, "step counts cannot be negative"),
        )
        for holds, message in checks:
            if not holds:
                raise ValueError(f"invalid AttackConfig: {message}")


PHOTO_ATTACK = AttackConfig(grid_size=2, bisection_rounds=2, max_iterations=25, boundary_steps=8)
"""The search for one 224x224 photo: fewer c values and iterations than for digits, as every
evaluation is a pass through a deep network (see benchmarks/photo_attack.py for time and distortion)."""
LARGE_INPUT = 10_000
"""Networks whose input has more values than this (photos, not 28x28 digits) get :data:`PHOTO_ATTACK`."""


def config_for(model: Classifier) -> AttackConfig:
    """The search settings the application uses for ``model``: the defaults for digits, PHOTO_ATTACK for photos."""
    return PHOTO_ATTACK if math.prod(model.input_shape) > LARGE_INPUT else AttackConfig()


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

    def to_record(self) -> dict:
        """The scalar fields, for JSON."""
        return {
            name: value
            for name, value in self.__dict__.items()
            if not isinstance(value, np.ndarray)
        } | {"probabilities_before": self.probabilities_before.round(6).tolist(),
             "probabilities_after": self.probabilities_after.round(6).tolist()}


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


@dataclass
class _Tasks:
    """The (image, target) pairs being searched, with the best successful point of each."""

    image_index: torch.Tensor
    target: torch.Tensor
    best_squared_norm: torch.Tensor
    best_point: torch.Tensor
    best_c: torch.Tensor
    evaluations: torch.Tensor
    iterations: torch.Tensor


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


def target_loss(logits: torch.Tensor, target: torch.Tensor, temperature: float) -> torch.Tensor:
    """loss_f(a, l) = softplus(T * logsumexp_{j != l}(z_j / T) - z_l) per row.

    With T = 1 this is exactly the softmax cross-entropy -log p_l; as T falls towards 0 the
    competing classes are pooled by an ever harder maximum, so that the loss, like the boundary
    the search is after, depends on the strongest competitor only.
    """
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    competitors = logits.scatter(1, target[:, None], -math.inf)
    return F.softplus(temperature * torch.logsumexp(competitors / temperature, dim=1) - target_logit)


class _Objective:
    """c * ||a - x||^2 + cross-entropy(f(a), target) on rows (task, c); records the best successful a of each task."""

    def __init__(self, model, images_flat, image_shape, tasks: _Tasks, monitor: Monitor, temperature: float):
        self.temperature = temperature
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
            logits = self.model(points.view(-1, *self.image_shape))
            squared_norm = (points - origin).pow(2).sum(dim=1)
            value = c * squared_norm + target_loss(logits, target, self.temperature)
            (gradient,) = torch.autograd.grad(value.sum(), points)
        self._record(points.detach(), squared_norm.detach(), logits.detach(), task, c)
        return value.detach(), gradient

    def _record(self, points, squared_norm, logits, task, c) -> None:
        tasks = self.tasks
        tasks.evaluations.index_add_(0, task, torch.ones_like(task))
        success = logits.argmax(dim=1) == tasks.target[task]
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

    def predictions(self, points: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(points.view(-1, *self.image_shape)).argmax(dim=1)


class _ProgressReporter:
    """Maps c steps and iterations onto the monitor, and sends throttled partial results."""

    def __init__(self, monitor: Monitor, tasks: _Tasks, images_flat, image_shape, count: int, steps: int,
                 partial_interval: float = 0.05):
        self.partial_interval = partial_interval
        self.monitor, self.tasks, self.images_flat = monitor, tasks, images_flat
        self.image_shape, self.count, self.steps = image_shape, count, steps
        self.started = time.perf_counter()
        self._last_partial = -math.inf
        self.step, self.stage = 0, ""
        self.total_iterations = 0

    def begin_step(self, step: int, stage: str) -> None:
        self.step, self.stage = step, stage
        self.monitor.progress(step / self.steps, f"{stage} (c step {step + 1}/{self.steps})")

    def iteration(self, iteration: int, max_iterations: int) -> None:
        self.monitor.check()
        self.total_iterations += 1
        fraction = (self.step + min(iteration / max_iterations, 1.0)) / self.steps
        self.monitor.progress(fraction, f"{self.stage}: iteration {iteration}")
        now = time.perf_counter()
        if now - self._last_partial >= self.partial_interval:
            self._last_partial = now
            self.send_partial(iteration)

    def send_partial(self, iteration: int) -> None:
        best_norm, best_point = _best_per_image(self.tasks, self.images_flat, self.count)
        distortion = (best_norm.sqrt() / math.sqrt(self.images_flat.shape[1])).cpu().numpy()
        self.monitor.partial(SearchProgress(
            self.stage, self.step, self.steps, iteration, distortion,
            best_point.view(-1, *self.image_shape).cpu().numpy(), time.perf_counter() - self.started,
            self.total_iterations,
        ))


def _best_per_image(tasks: _Tasks, images_flat: torch.Tensor, count: int):
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


def _solver_options(config: AttackConfig) -> SolverOptions:
    return SolverOptions(max_iterations=config.max_iterations, history=config.history,
                         gradient_tolerance=config.gradient_tolerance)


def estimate_threshold_c(model, images_flat, image_shape, tasks: _Tasks) -> torch.Tensor:
    """A first guess of the largest c that still reaches each task's target, from a linear model of the net.

    Linearised, the boundary between the predicted class k and the target l lies at distance
    gap / ||g|| (gap = z_k - z_l, g its gradient), and at the threshold the minimiser of
    c ||r||^2 + cross-entropy sits where 2 c r balances half the gradient of the gap, so
    c* ~ ||g||^2 / (4 gap). On the zoo's models the true c* lies within a factor of 5 of it.
    """
    origin = images_flat[tasks.image_index]
    with torch.enable_grad():
        points = origin.clone().requires_grad_(True)
        logits = model(points.view(-1, *image_shape))
        predicted = logits.detach().argmax(dim=1)
        rows = torch.arange(len(points))
        gap = logits[rows, predicted] - logits[rows, tasks.target]
        (gradient,) = torch.autograd.grad(gap.sum(), points)
    estimate = gradient.pow(2).sum(dim=1) / (4 * gap.detach().clamp_min(1e-6))
    return estimate.clamp(1e-6, 1e6)


def _fast_search(objective: _Objective, reporter: _ProgressReporter, config: AttackConfig) -> None:
    """Bracket c on a log grid around each task's estimate, then bisect; all tasks and c values at once."""
    tasks = objective.tasks
    count = len(tasks.target)
    estimate = estimate_threshold_c(objective.model, objective.images_flat, objective.image_shape, tasks)
    half_span = math.log(config.grid_span)
    offsets = torch.linspace(-half_span, half_span, config.grid_size)
    reporter.begin_step(0, "bracketing c")
    grid = (estimate.log()[:, None] + offsets[None, :]).exp()
    successes = _solve_rows(objective, reporter, config, torch.arange(count).repeat_interleave(config.grid_size),
                            grid.flatten()).view(count, config.grid_size)
    low, high = _bracket(grid, successes)
    outside = (low == 0) | torch.isinf(high)
    if outside.any():  # c* beyond the grid: one more grid further out, on that side only
        reporter.begin_step(1, "widening the c bracket")
        chosen = torch.nonzero(outside).flatten()
        direction = torch.where(low[chosen] == 0, -1.0, 1.0)
        steps_out = half_span * (1 + 2 * torch.linspace(0.25, 1, config.grid_size))  # up to span^3 away
        far = (estimate[chosen].log()[:, None] + direction[:, None] * steps_out[None, :]).exp().sort(dim=1).values
        far_success = _solve_rows(objective, reporter, config, chosen.repeat_interleave(config.grid_size),
                                  far.flatten()).view(len(chosen), config.grid_size)
        merged = torch.cat([grid[chosen], far], dim=1)
        order = merged.argsort(dim=1)
        merged_success = torch.cat([successes[chosen], far_success], dim=1).gather(1, order)
        low[chosen], high[chosen] = _bracket(merged.gather(1, order), merged_success)
    for round_number in range(1, config.bisection_rounds + 1):
        active = torch.nonzero((low > 0) & torch.isfinite(high)).flatten()
        if len(active) == 0:
            break
        reporter.begin_step(1 + round_number, "bisecting c")
        fractions = torch.arange(1, config.bisection_size + 1) / (config.bisection_size + 1)
        log_low, log_high = low[active].log(), high[active].log()
        candidates = (log_low[:, None] + fractions[None, :] * (log_high - log_low)[:, None]).exp()
        success = _solve_rows(objective, reporter, config, active.repeat_interleave(config.bisection_size),
                              candidates.flatten(), warm=config.warm_start).view(len(active), config.bisection_size)
        inner_low, inner_high = _bracket(candidates, success)
        low[active] = torch.where(inner_low > 0, inner_low, low[active])
        high[active] = torch.where(torch.isfinite(inner_high), inner_high, high[active])


def _bracket(c_values: torch.Tensor, successes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of ascending c values: the largest successful c (0 if none) and the next c above it (inf if none)."""
    size = c_values.shape[1]
    positions = torch.arange(size).expand_as(c_values)
    top = torch.where(successes, positions, torch.full_like(positions, -1)).amax(dim=1)
    low = torch.where(top >= 0, c_values.gather(1, top.clamp_min(0)[:, None]).squeeze(1), torch.zeros(len(top)))
    above = (top + 1).clamp_max(size - 1)
    high = torch.where(top + 1 < size, c_values.gather(1, above[:, None]).squeeze(1), torch.full((len(top),), math.inf))
    return low, high


def shrink_to_boundary(objective: _Objective, steps: int) -> None:
    """Scale each task's best perturbation down towards the decision boundary, keeping it successful.

    The minimiser for a c just below the threshold lies slightly past the boundary. Bisection on
    t in [0, 1] finds the smallest t for which x + t * r is still classified as the target (forward
    passes only); x + t * r stays in the box, being between two points of it.
    """
    tasks = objective.tasks
    found = torch.nonzero(torch.isfinite(tasks.best_squared_norm)).flatten()
    if len(found) == 0:
        return
    origin = objective.images_flat[tasks.image_index[found]]
    perturbation = tasks.best_point[found] - origin
    low, high = torch.zeros(len(found)), torch.ones(len(found))
    for _ in range(steps):
        objective.monitor.check()
        middle = (low + high) / 2
        success = objective.predictions(origin + middle[:, None] * perturbation) == tasks.target[found]
        high = torch.where(success, middle, high)
        low = torch.where(success, low, middle)
    shrunk = origin + high[:, None] * perturbation
    keep = objective.predictions(shrunk) == tasks.target[found]
    chosen = found[keep]
    tasks.best_point[chosen] = shrunk[keep]
    tasks.best_squared_norm[chosen] = (shrunk[keep] - origin[keep]).pow(2).sum(dim=1)


def _solve_rows(objective: _Objective, reporter: _ProgressReporter, config, row_task, row_c,
                warm: bool = False) -> torch.Tensor:
    """Solve rows (task, c) from the original images (``warm``: from each task's best successful point).

    Returns True where the minimiser reaches its target.
    """
    tasks = objective.tasks
    objective.set_rows(row_task, row_c)
    start = objective.images_flat[tasks.image_index[row_task]]
    if warm:
        found = torch.isfinite(tasks.best_squared_norm[row_task])
        start = torch.where(found[:, None], tasks.best_point[row_task], start)
    options = _solver_options(config)
    done = [0]

    def on_iteration(iteration: int) -> None:
        done[0] = iteration
        reporter.iteration(iteration, options.max_iterations)

    try:
        result = minimize_box_lbfgs(objective, start, 0.0, 1.0, options, on_iteration=on_iteration)
    except Cancelled:  # the iterations run so far still count (at most one too many for rows already converged)
        tasks.iterations.index_add_(0, row_task, torch.full_like(row_task, done[0]))
        raise
    tasks.iterations.index_add_(0, row_task, result.iterations)
    return objective.predictions(result.variables) == tasks.target[row_task]


def _reference_search(objective: _Objective, reporter: _ProgressReporter, config: AttackConfig) -> None:
    """One task and one c at a time with scipy's L-BFGS-B: bracket by factors of 10, then bisect."""
    from blindspot_gui.core.attack.reference import solve_one  # imports scipy.optimize (0.35 s): only when chosen

    tasks = objective.tasks
    count = len(tasks.target)
    for task in range(count):
        reporter.begin_step(task, f"image {int(tasks.image_index[task]) + 1}, target {int(tasks.target[task])}")
        task_id = torch.tensor([task])

        def succeeds(c: float, task=task, task_id=task_id) -> bool:
            def on_iteration(iteration: int) -> None:
                tasks.iterations[task] += 1  # counted as they happen, so a cancelled solve's iterations count too
                reporter.iteration(iteration, config.max_iterations)

            point, _ = solve_one(objective, task_id, c, config, on_iteration)
            return bool(objective.predictions(point)[0] == tasks.target[task])

        c = config.reference_start_c
        if succeeds(c):
            low, high = c, math.inf
            while high == math.inf and low * 10 <= config.c_max:
                if succeeds(low * 10):
                    low *= 10
                else:
                    high = low * 10
        else:
            low, high = 0.0, c
            while low == 0.0 and high / 10 >= config.c_min:
                if succeeds(high / 10):
                    low = high / 10
                else:
                    high /= 10
        if low == 0.0 or high == math.inf:
            continue
        for _ in range(config.reference_bisection_steps):
            middle = math.sqrt(low * high)
            if succeeds(middle):
                low = middle
            else:
                high = middle


def _untargeted_candidates(model, images_flat, image_shape, labels, classes, keep: int) -> torch.Tensor:
    """For each image, the ``keep`` wrong labels with the smallest linearised distance to their boundary.

    The estimate |z_y - z_k| / ||grad(z_y - z_k)|| (the first step of DeepFool) orders the labels;
    with keep = number of classes - 1 every wrong label is searched.
    """
    count = len(labels)
    wrong = torch.stack([torch.cat([torch.arange(label), torch.arange(label + 1, classes)]) for label in labels.tolist()])
    if keep >= classes - 1:
        return wrong
    with torch.enable_grad():
        points = images_flat.clone().requires_grad_(True)
        logits = model(points.view(-1, *image_shape))
        gradients = torch.stack([
            torch.autograd.grad(logits[:, k].sum(), points, retain_graph=True)[0] for k in range(classes)
        ], dim=1)
    logits = logits.detach()
    own = torch.arange(count)
    gaps = (logits[own, labels][:, None] - logits.gather(1, wrong)).abs()
    normals = (gradients[own, labels][:, None, :] - gradients[own[:, None], wrong]).norm(dim=2)
    order = (gaps / normals.clamp_min(1e-12)).argsort(dim=1)[:, :keep]
    return wrong.gather(1, order)


def blindspot_search(
    model: Classifier | nn.Module,
    images,
    targets="next",
    labels=None,
    *,
    engine: str = "fast",
    config: AttackConfig = AttackConfig(),
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
    tasks = _make_tasks(model, images_flat, image_shape, wanted, predictions, classes, config)
    objective = _Objective(model, images_flat, image_shape, tasks, monitor, config.temperature)
    steps = (2 + config.bisection_rounds) if engine == "fast" else max(len(tasks.target), 1)
    reporter = _ProgressReporter(monitor, tasks, images_flat, image_shape, count, steps, config.partial_interval)
    cancelled = False
    try:
        if len(tasks.target):
            (_fast_search if engine == "fast" else _reference_search)(objective, reporter, config)
            if config.boundary_steps:
                shrink_to_boundary(objective, config.boundary_steps)
    except Cancelled:
        cancelled = True
    monitor.progress(1.0, "cancelled" if cancelled else "done")
    return _collect_results(model, images, image_shape, tasks, wanted, predictions, reference_labels,
                            probabilities_before, cancelled, reporter.total_iterations)


def _validate_labels(labels, count: int, classes: int) -> torch.Tensor:
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long).reshape(-1)
    if len(labels) != count:
        raise ValueError(f"{len(labels)} labels for {count} images")
    if ((labels < 0) | (labels >= classes)).any():
        raise ValueError(f"labels must run from 0 to {classes - 1}")
    return labels


def _make_tasks(model, images_flat, image_shape, wanted, predictions, classes, config) -> _Tasks:
    """One task per targeted image whose target differs from its prediction; several per untargeted image."""
    image_index, target = [], []
    untargeted = torch.nonzero(wanted < 0).flatten()
    for image in torch.nonzero((wanted >= 0) & (wanted != predictions)).flatten().tolist():
        image_index.append(image)
        target.append(int(wanted[image]))
    if len(untargeted):
        keep = min(config.untargeted_candidates, classes - 1)
        candidates = _untargeted_candidates(model, images_flat[untargeted], image_shape,
                                            predictions[untargeted], classes, keep)
        for image, labels in zip(untargeted.tolist(), candidates.tolist()):
            image_index.extend([image] * len(labels))
            target.extend(labels)
    count = len(target)
    return _Tasks(
        image_index=torch.tensor(image_index, dtype=torch.long),
        target=torch.tensor(target, dtype=torch.long),
        best_squared_norm=torch.full((count,), math.inf),
        best_point=torch.zeros(count, images_flat.shape[1]),
        best_c=torch.full((count,), math.nan),
        evaluations=torch.zeros(count, dtype=torch.long),
        iterations=torch.zeros(count, dtype=torch.long),
    )


def _collect_results(model, images, image_shape, tasks, wanted, predictions, labels, probabilities_before,
                     cancelled, steps) -> list[AttackResult]:
    count = len(images)
    images_flat = images.reshape(count, -1)
    best_norm, best_point = _best_per_image(tasks, images_flat, count)
    with torch.inference_mode():
        probabilities_after = model(best_point.view(-1, *image_shape)).softmax(dim=1)
    results = []
    predicted_after = probabilities_after.argmax(dim=1)
    for image in range(count):
        mine = tasks.image_index == image
        if wanted[image] >= 0:
            reached = predicted_after[image] == wanted[image]
        else:  # untargeted: any class but the one the model gave the original
            reached = predicted_after[image] != predictions[image]
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
        message = _result_message(target, int(predictions[image]), success, cancelled)
        if target is not None and target == int(predictions[image]):
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
        ))
    return results


def _result_message(target, prediction, success, cancelled) -> str:
    if target is not None and target == prediction:
        return f"the model already predicts {target}: nothing to search, the perturbation is zero"
    if cancelled:
        return "cancelled: best result found before cancelling" if success else "cancelled before any success"
    return "" if success else "no c in the search range reached the target"
