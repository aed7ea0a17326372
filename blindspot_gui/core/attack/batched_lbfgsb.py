"""A box-constrained L-BFGS minimiser that solves many independent problems at once with torch tensors.

Each row of the batch is its own problem ``min f_b(v)  s.t.  lower <= v <= upper`` with its own
L-BFGS history, step sizes and stopping test; a row that has converged leaves the batch, so the
remaining rows cost less. The method is projected L-BFGS (two-metric projection): variables held
at a bound by their gradient are frozen, the quasi-Newton direction is computed on the free
variables with the usual two-loop recursion, and an Armijo backtracking search (quadratic interpolation,
safeguarded) runs along the projection of that direction onto the box. The stopping tests follow scipy's L-BFGS-B: the
projected gradient's largest entry below ``gradient_tolerance``, or a relative decrease of the
objective below ``relative_tolerance``, or ``max_iterations`` reached, or no step along the search
direction decreasing the objective (the row sits at a float32-resolution minimum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""(variables (B, D) of the rows ``ids`` (B,)) -> (objective (B,), gradient (B, D))."""


@dataclass(frozen=True)
class SolverOptions:
    max_iterations: int = 100
    history: int = 10
    gradient_tolerance: float = 1e-5
    relative_tolerance: float = 1e-6
    """stop when the objective falls by less than this fraction; about ten float32 machine epsilons
    (scipy's default, 2.2e-9, is below what a float32 objective can resolve)."""
    max_backtracks: int = 10
    armijo: float = 1e-4


@dataclass
class SolveResult:
    variables: torch.Tensor
    """(B, D) final iterate of every row."""
    objective: torch.Tensor
    iterations: torch.Tensor
    """(B,) iterations each row took."""


class _Rows:
    """The state of the rows still being solved; rows are dropped when they converge."""

    def __init__(self, ids, variables, lower, upper, objective, gradient, history):
        count, size = variables.shape
        self.ids = ids
        self.variables, self.lower, self.upper = variables, lower, upper
        self.objective, self.gradient = objective, gradient
        # History slot-major, (history, rows, size), so that one slot of all rows is contiguous.
        self.steps = variables.new_zeros(history, count, size)
        self.gradient_changes = variables.new_zeros(history, count, size)
        self.inverse_curvature = variables.new_zeros(history, count)
        self.scale = variables.new_ones(count)

    def keep(self, mask: torch.Tensor) -> None:
        for name in ("ids", "variables", "objective", "gradient", "scale"):
            setattr(self, name, getattr(self, name)[mask])
        for name in ("lower", "upper"):
            if isinstance(getattr(self, name), torch.Tensor):
                setattr(self, name, getattr(self, name)[mask])
        for name in ("steps", "gradient_changes", "inverse_curvature"):
            setattr(self, name, getattr(self, name)[:, mask])


def projected_gradient_norm(variables, gradient, lower, upper) -> torch.Tensor:
    """Largest entry of |P(v - g) - v| per row, the optimality measure of box-constrained problems."""
    return ((variables - gradient).clamp(lower, upper) - variables).abs().amax(dim=1)


def _free_mask(rows: _Rows) -> torch.Tensor:
    """Variables not held at a bound by their gradient."""
    at_lower = (rows.variables <= rows.lower) & (rows.gradient > 0)
    at_upper = (rows.variables >= rows.upper) & (rows.gradient < 0)
    return ~(at_lower | at_upper)


def _two_loop_direction(rows: _Rows, free: torch.Tensor, newest_first: list[int]) -> torch.Tensor:
    """-H g on the free variables, H the L-BFGS inverse-Hessian estimate of each row (two-loop recursion)."""
    q = rows.gradient * free
    alphas = {}
    for slot in newest_first:
        alpha = rows.inverse_curvature[slot] * torch.linalg.vecdot(rows.steps[slot], q)
        q.addcmul_(alpha[:, None] * free, rows.gradient_changes[slot], value=-1.0)
        alphas[slot] = alpha
    z = q.mul_(rows.scale[:, None])
    for slot in reversed(newest_first):
        beta = rows.inverse_curvature[slot] * torch.linalg.vecdot(rows.gradient_changes[slot], z)
        z.addcmul_((alphas[slot] - beta)[:, None] * free, rows.steps[slot])
    return z.neg_()


def minimize_box_lbfgs(
    objective: Objective,
    start: torch.Tensor,
    lower: torch.Tensor | float,
    upper: torch.Tensor | float,
    options: SolverOptions = SolverOptions(),
    on_iteration: Callable[[int], None] | None = None,
) -> SolveResult:
    """Minimise every row of a batch of box-constrained problems.

    Parameters
    ----------
    objective : evaluates rows ``ids`` at the given variables; rows are independent.
    start : (B, D) tensor, clipped into the box.
    lower, upper : the box, (B, D) tensors or numbers shared by every variable.
    on_iteration : called after every iteration with its number (for progress and cancellation).
    """
    count = start.shape[0]
    ids = torch.arange(count, device=start.device)
    variables = start.clamp(lower, upper)
    value, gradient = objective(variables, ids)
    final_variables = variables.clone()
    final_objective = value.clone()
    iterations = torch.zeros(count, dtype=torch.long, device=start.device)
    rows = _Rows(ids, variables, lower, upper, value, gradient, options.history)
    newest_first: list[int] = []

    done = projected_gradient_norm(variables, gradient, lower, upper) <= options.gradient_tolerance
    for iteration in range(1, options.max_iterations + 1):
        if done.any():
            rows.keep(~done)
        if len(rows.ids) == 0:
            break
        free = _free_mask(rows)
        direction = _two_loop_direction(rows, free, newest_first)
        slope = (rows.gradient * direction).sum(dim=1)
        uphill = slope >= 0
        if uphill.any():  # the curvature pairs misled this row: fall back to steepest descent
            direction[uphill] = -(rows.gradient * free)[uphill]
            rows.inverse_curvature[:, uphill] = 0
            rows.scale[uphill] = 1.0
        first_step = 1.0 / rows.gradient.norm(dim=1).clamp_min(1e-12) if not newest_first else None
        candidate, candidate_value, candidate_gradient, failed = _projected_backtracking(
            objective, rows, direction, first_step, options
        )
        slot = (iteration - 1) % options.history
        _remember_pair(rows, slot, candidate - rows.variables, candidate_gradient - rows.gradient)
        if slot in newest_first:
            newest_first.remove(slot)
        newest_first.insert(0, slot)

        decrease = rows.objective - candidate_value
        scale = torch.maximum(torch.maximum(rows.objective.abs(), candidate_value.abs()), torch.ones_like(decrease))
        rows.variables, rows.objective, rows.gradient = candidate, candidate_value, candidate_gradient
        final_variables[rows.ids] = candidate
        final_objective[rows.ids] = candidate_value
        iterations[rows.ids] = iteration
        done = (
            failed
            | (decrease <= options.relative_tolerance * scale)
            | (projected_gradient_norm(candidate, candidate_gradient, rows.lower, rows.upper)
               <= options.gradient_tolerance)
        )
        if on_iteration is not None:
            on_iteration(iteration)
    return SolveResult(final_variables, final_objective, iterations)


def _remember_pair(rows: _Rows, slot: int, step: torch.Tensor, gradient_change: torch.Tensor) -> None:
    """Store (s, y) in ``slot``; rows whose pair lacks positive curvature store nothing there."""
    curvature = (step * gradient_change).sum(dim=1)
    change_norm = (gradient_change * gradient_change).sum(dim=1)
    valid = curvature > 1e-10 * change_norm.clamp_min(1e-30)
    rows.steps[slot] = step
    rows.gradient_changes[slot] = gradient_change
    rows.inverse_curvature[slot] = torch.where(valid, 1.0 / curvature.clamp_min(1e-30), 0.0)
    rows.scale = torch.where(valid, curvature / change_norm.clamp_min(1e-30), rows.scale)


def _projected_backtracking(objective, rows: _Rows, direction, first_step, options: SolverOptions):
    """Armijo search along the projection of ``direction`` onto the box, shrinking rejected steps."""
    count = len(rows.ids)
    step = torch.ones(count, dtype=rows.variables.dtype, device=rows.variables.device)
    if first_step is not None:
        step = torch.minimum(step, first_step)
    # The first trial covers every row; later ones only the rows that rejected their step.
    candidate = (rows.variables + step[:, None] * direction).clamp_(rows.lower, rows.upper)
    candidate_value, candidate_gradient = objective(candidate, rows.ids)
    pending = torch.arange(count, device=rows.variables.device)
    trial, value, gradient = candidate, candidate_value, candidate_gradient
    for attempt in range(options.max_backtracks):
        start, start_value = rows.variables[pending], rows.objective[pending]
        predicted = torch.linalg.vecdot(rows.gradient[pending], trial - start)
        accepted = value <= start_value + options.armijo * predicted
        if attempt > 0:
            taken = pending[accepted]
            candidate[taken] = trial[accepted]
            candidate_value[taken] = value[accepted]
            candidate_gradient[taken] = gradient[accepted]
        # Shrink the rejected steps to the minimiser of the quadratic through f(0), f'(0) and f(step),
        # kept within [0.1, 0.5] of the step (safeguarded backtracking).
        shrink = (-predicted / (2 * (value - start_value - predicted)).clamp_min(1e-30)).nan_to_num(0.5)
        rejected = ~accepted
        pending, shrink = pending[rejected], shrink[rejected].clamp(0.1, 0.5)
        if len(pending) == 0 or attempt == options.max_backtracks - 1:
            break
        step[pending] = step[pending] * shrink
        bounds = (rows.lower, rows.upper) if not isinstance(rows.lower, torch.Tensor) else (
            rows.lower[pending], rows.upper[pending])
        trial = (rows.variables[pending] + step[pending, None] * direction[pending]).clamp_(*bounds)
        value, gradient = objective(trial, rows.ids[pending])
    if len(pending):  # out of attempts: these rows keep their current point
        candidate[pending] = rows.variables[pending]
        candidate_value[pending] = rows.objective[pending]
        candidate_gradient[pending] = rows.gradient[pending]
    failed = torch.zeros(count, dtype=torch.bool, device=rows.variables.device)
    failed[pending] = True
    return candidate, candidate_value, candidate_gradient, failed
