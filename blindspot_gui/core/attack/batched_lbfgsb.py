"""A box-constrained L-BFGS minimiser that solves many independent problems at once with torch tensors.

Each row of the batch is its own problem ``min f_b(v)  s.t.  lower <= v <= upper`` with its own
L-BFGS history, step sizes and stopping test; a row that has converged leaves the batch, so the
remaining rows cost less. The method is projected L-BFGS (two-metric projection): variables held
at a bound by their gradient are frozen, the quasi-Newton direction is computed on the free
variables with the usual two-loop recursion, and an Armijo backtracking search runs along the
projection of that direction onto the box. The stopping tests follow scipy's L-BFGS-B: the
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
        self.steps = variables.new_zeros(count, history, size)
        self.gradient_changes = variables.new_zeros(count, history, size)
        self.inverse_curvature = variables.new_zeros(count, history)
        self.scale = variables.new_ones(count)

    def keep(self, mask: torch.Tensor) -> None:
        for name in ("ids", "variables", "lower", "upper", "objective", "gradient", "steps",
                     "gradient_changes", "inverse_curvature", "scale"):
            setattr(self, name, getattr(self, name)[mask])


def projected_gradient_norm(variables, gradient, lower, upper) -> torch.Tensor:
    """Largest entry of |P(v - g) - v| per row, the optimality measure of box-constrained problems."""
    return ((variables - gradient).clamp(lower, upper) - variables).abs().amax(dim=1)


def _free_mask(rows: _Rows) -> torch.Tensor:
    """Variables not held at a bound by their gradient."""
    at_lower = (rows.variables <= rows.lower) & (rows.gradient > 0)
    at_upper = (rows.variables >= rows.upper) & (rows.gradient < 0)
    return ~(at_lower | at_upper)


def _two_loop_direction(rows: _Rows, free: torch.Tensor, newest_first: list[int]) -> torch.Tensor:
    """-H g on the free variables, H the L-BFGS inverse-Hessian estimate of each row."""
    q = rows.gradient * free
    alphas = {}
    for slot in newest_first:
        alpha = rows.inverse_curvature[:, slot] * (rows.steps[:, slot] * q).sum(dim=1)
        q = q - alpha[:, None] * rows.gradient_changes[:, slot] * free
        alphas[slot] = alpha
    z = q * rows.scale[:, None]
    for slot in reversed(newest_first):
        beta = rows.inverse_curvature[:, slot] * (rows.gradient_changes[:, slot] * z).sum(dim=1)
        z = z + (alphas[slot] - beta)[:, None] * rows.steps[:, slot] * free
    return -z


def minimize_box_lbfgs(
    objective: Objective,
    start: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    options: SolverOptions = SolverOptions(),
    on_iteration: Callable[[int], None] | None = None,
) -> SolveResult:
    """Minimise every row of a batch of box-constrained problems.

    Parameters
    ----------
    objective : evaluates rows ``ids`` at the given variables; rows are independent.
    start, lower, upper : (B, D) tensors; ``start`` is clipped into the box.
    on_iteration : called after every iteration with its number (for progress and cancellation).
    """
    count = start.shape[0]
    ids = torch.arange(count, device=start.device)
    variables = torch.minimum(torch.maximum(start, lower), upper)
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
            rows.inverse_curvature[uphill] = 0
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
    rows.steps[:, slot] = step
    rows.gradient_changes[:, slot] = gradient_change
    rows.inverse_curvature[:, slot] = torch.where(valid, 1.0 / curvature.clamp_min(1e-30), 0.0)
    rows.scale = torch.where(valid, curvature / change_norm.clamp_min(1e-30), rows.scale)


def _projected_backtracking(objective, rows: _Rows, direction, first_step, options: SolverOptions):
    """Armijo search along the projection of ``direction`` onto the box; halves the step until it holds."""
    count = len(rows.ids)
    step = torch.ones(count, dtype=rows.variables.dtype, device=rows.variables.device)
    if first_step is not None:
        step = torch.minimum(step, first_step)
    candidate = rows.variables.clone()
    candidate_value = rows.objective.clone()
    candidate_gradient = rows.gradient.clone()
    pending = torch.arange(count, device=rows.variables.device)
    for _ in range(options.max_backtracks):
        trial = (rows.variables[pending] + step[pending, None] * direction[pending])
        trial = torch.minimum(torch.maximum(trial, rows.lower[pending]), rows.upper[pending])
        value, gradient = objective(trial, rows.ids[pending])
        predicted = (rows.gradient[pending] * (trial - rows.variables[pending])).sum(dim=1)
        accepted = value <= rows.objective[pending] + options.armijo * predicted
        taken = pending[accepted]
        candidate[taken] = trial[accepted]
        candidate_value[taken] = value[accepted]
        candidate_gradient[taken] = gradient[accepted]
        pending = pending[~accepted]
        if len(pending) == 0:
            break
        step[pending] = step[pending] * 0.5
    failed = torch.zeros(count, dtype=torch.bool, device=rows.variables.device)
    failed[pending] = True
    return candidate, candidate_value, candidate_gradient, failed
