"""The two engines that search c: ``fast`` (a bracket around a linear estimate, then bisection, all tasks at once with
the batched L-BFGS-B) and ``reference`` (scipy's L-BFGS-B, one image and c at a time); the nearest wrong labels of an
untargeted search."""

from __future__ import annotations

import math

import torch

from blindspot_gui.core.attack.batched_lbfgsb import SolverOptions, minimize_box_lbfgs
from blindspot_gui.core.attack.config import AttackConfig
from blindspot_gui.core.attack.goal import MINIMAL, Goal, logit_margin
from blindspot_gui.core.attack.objective import CONTENDER_REACH, Objective, ProgressReporter, Tasks, contenders
from blindspot_gui.core.monitor import Cancelled

def _solver_options(config: AttackConfig) -> SolverOptions:
    return SolverOptions(max_iterations=config.max_iterations, history=config.history,
                         gradient_tolerance=config.gradient_tolerance)


def estimate_threshold_c(model, images_flat, image_shape, tasks: Tasks, goal: Goal = MINIMAL) -> torch.Tensor:
    """A first guess of the largest c that still reaches each task's target, from a linear model of the net.

    Linearised, the boundary between the predicted class k and the target l lies at distance
    gap / ||g|| (gap = z_k - z_l, g its gradient), and at the threshold the minimiser of
    c ||r||^2 + cross-entropy sits where 2 c r balances half the gradient of the gap, so
    c* ~ ||g||^2 / (4 gap). On the zoo's models the true c* lies within a factor of 5 of it.
    A confident goal: see :func:`_confident_estimate`.
    """
    if not goal.minimal:
        return _confident_estimate(model, images_flat, image_shape, tasks, goal)
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


def _confident_estimate(model, images_flat, image_shape, tasks: Tasks, goal: Goal) -> torch.Tensor:
    """The first guess of c for a goal asking for a logit margin m over the strongest competitor k.

    Linearised, that margin lies (gap + m) / ||g|| away (gap = z_k - z_l), where the loss's slope
    is sigmoid(-m) (1 - p for a probability p) instead of 1/2 at the boundary, so
    c* ~ sigmoid(-m) ||g||^2 / (2 (gap + m)); m = 0 gives the boundary's estimate.
    """
    origin = images_flat[tasks.image_index]
    needed = goal.needed_margin()
    with torch.enable_grad():
        points = origin.clone().requires_grad_(True)
        gap = -logit_margin(model(points.view(-1, *image_shape)), tasks.target)
        (gradient,) = torch.autograd.grad(gap.sum(), points)
    slope = 1 / (1 + math.exp(needed))
    estimate = slope * gradient.pow(2).sum(dim=1) / (2 * (gap.detach() + needed).clamp_min(1e-6))
    return estimate.clamp(1e-6, 1e6)


def fast_search(objective: Objective, reporter: ProgressReporter, config: AttackConfig) -> None:
    """Bracket c on a log grid around each task's estimate, then bisect; all tasks and c values at once.

    Only contenders are bisected: an untargeted search's labels whose change is more than
    ``CONTENDER_REACH`` times their image's smallest are dropped."""
    tasks = objective.tasks
    count = len(tasks.target)
    estimate = estimate_threshold_c(objective.model, objective.images_flat, objective.image_shape, tasks,
                                    objective.goal)
    half_span = math.log(config.grid_span)
    offsets = torch.linspace(-half_span, half_span, config.grid_size)
    reporter.begin_step(0, "trying pushes of several strengths")
    grid = (estimate.log()[:, None] + offsets[None, :]).exp()
    successes = _solve_rows(objective, reporter, config, torch.arange(count).repeat_interleave(config.grid_size),
                            grid.flatten()).view(count, config.grid_size)
    low, high = _bracket(grid, successes)
    outside = (low == 0) | torch.isinf(high)
    if outside.any():  # c* beyond the grid: one more grid further out, on that side only
        reporter.begin_step(1, "trying stronger and weaker pushes")
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
    if not (low > 0).any():  # known now: no c reached any target, and bisection would not change that
        reporter.monitor.progress(1.0, "no strength of push reached the goal: stopping")
        return
    for round_number in range(1, config.bisection_rounds + 1):
        contending = torch.zeros(count, dtype=torch.bool)
        contending[contenders(tasks, CONTENDER_REACH)] = True
        active = torch.nonzero(contending & (low > 0) & torch.isfinite(high)).flatten()
        if len(active) == 0:
            break
        reporter.begin_step(1 + round_number, "narrowing down the smallest push")
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


def _solve_rows(objective: Objective, reporter: ProgressReporter, config, row_task, row_c,
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
    return objective.reaches(result.variables, tasks.target[row_task])


def reference_search(objective: Objective, reporter: ProgressReporter, config: AttackConfig) -> None:
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
            return bool(objective.reaches(point, tasks.target[task_id])[0])

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


def untargeted_candidates(model, images_flat, image_shape, labels, classes, keep: int) -> torch.Tensor:
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
