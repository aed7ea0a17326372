"""The last steps of a search: shrink each task's best change to the decision boundary, then slide it along the
boundary towards the original image until the smallest change there is reached."""

from __future__ import annotations

import torch

from blindspot_gui.core.attack.objective import CONTENDER_REACH, Objective, contenders


def shrink_to_boundary(objective: Objective, steps: int) -> None:
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
    scale = _smallest_scale(objective, origin, perturbation, tasks.target[found], torch.ones(len(found)), steps)
    shrunk = _on_ray(origin, perturbation, scale)
    keep = objective.reaches(shrunk, tasks.target[found])
    chosen = found[keep]
    tasks.best_point[chosen] = shrunk[keep]
    tasks.best_squared_norm[chosen] = (shrunk[keep] - origin[keep]).pow(2).sum(dim=1)


def slide_along_boundary(objective: Objective, rounds: int, shrink_steps: int, competitors: int) -> None:
    """Move each task's best point along the decision boundary towards the original image, keeping it successful.

    The c search ends near a minimiser of c ||r||^2 + loss, whose change follows the gradient of the
    smooth loss, not the boundary itself, and a boundary point where several classes tie with the
    target (common: the smallest change often sits where three or four regions meet) is where the
    smooth loss is least exact. A round linearises, at the current point a, the target's margin over
    each of its strongest ``competitors`` j, z_t - z_j >= m (m: the goal's margin), and takes the point
    of that polytope nearest the original x within the box (``_nearest_in_polytope``); that point (or,
    where it gives no smaller change, the point half way to it from a) is shrunk to the boundary along
    its ray from x and replaces a if its change is smaller. A probability goal linearises its one smooth
    slack instead.
    Each round only ever shrinks the result; a task stops when a round gains under 0.01%.
    """
    tasks = objective.tasks
    active = contenders(tasks, CONTENDER_REACH)
    for _ in range(rounds):
        if len(active) == 0:
            return
        objective.monitor.check()
        origin = objective.images_flat[tasks.image_index[active]]
        target, point, norm = tasks.target[active], tasks.best_point[active], tasks.best_squared_norm[active]
        normals, bounds = _linearised_goal(objective, point, target, competitors)
        nearest = _nearest_in_polytope(origin, normals, bounds)
        best_point, best_norm = _shortest_on_ray(objective, origin, nearest, target, norm, shrink_steps)
        missed = torch.nonzero(~(best_norm < norm)).flatten()
        if len(missed):  # the linearisation overshot: try half way
            half, half_norm = _shortest_on_ray(objective, origin[missed], (point[missed] + nearest[missed]) / 2,
                                               target[missed], norm[missed], shrink_steps)
            best_point[missed], best_norm[missed] = half, half_norm
        changed = best_norm < norm
        tasks.best_point[active[changed]] = best_point[changed]
        tasks.best_squared_norm[active[changed]] = best_norm[changed]
        active = active[best_norm < norm * (1 - 1e-4)]


def _linearised_goal(objective: Objective, points: torch.Tensor, target: torch.Tensor, competitors: int):
    """Half-spaces (normals (B, K, D), bounds (B, K)) whose intersection linearises the goal around ``points``:
    normal . a >= bound for each of the K strongest competitors (one smooth slack for a probability goal)."""
    goal = objective.goal
    with torch.enable_grad():
        points = points.detach().requires_grad_(True)
        logits = objective.model(points.view(-1, *objective.image_shape))
        if goal.confidence is not None:
            slacks = goal.slack(logits, target)[:, None]
        else:
            count = min(competitors, logits.shape[1] - 1)
            rivals = logits.detach().scatter(1, target[:, None], -torch.inf).topk(count, dim=1).indices
            slacks = logits.gather(1, target[:, None]) - logits.gather(1, rivals) - goal.needed_margin()
        normals = torch.stack([torch.autograd.grad(slacks[:, k].sum(), points, retain_graph=True)[0]
                               for k in range(slacks.shape[1])], dim=1)
    bounds = (normals * points.detach()[:, None, :]).sum(dim=2) - slacks.detach()
    return normals, bounds


def _nearest_in_polytope(origin: torch.Tensor, normals: torch.Tensor, bounds: torch.Tensor,
                         iterations: int = 20) -> torch.Tensor:
    """Per row, the point of {a : normals_k . a >= bounds_k for all k, 0 <= a <= 1} nearest ``origin``, approximately.

    Its KKT conditions put it at a(mu) = clip(origin + sum_k mu_k normals_k, 0, 1) with multipliers mu >= 0
    that maximise the concave dual, whose gradient is bounds - normals . a(mu) and whose curvature is
    -N_F N_F^T over the coordinates F that the clip leaves free. Each iteration takes the Newton step of
    that dual on the half-spaces that are violated or have mu > 0 (a semismooth Newton method; K is small,
    so each step solves a K x K system per row), then clips mu at zero.
    """
    count, constraints = bounds.shape
    multipliers = origin.new_zeros(count, constraints)
    eye = torch.eye(constraints, dtype=origin.dtype, device=origin.device)
    for _ in range(iterations):
        unclipped = origin + torch.einsum("bk,bkd->bd", multipliers, normals)
        point = unclipped.clamp(0, 1)
        residual = bounds - torch.einsum("bkd,bd->bk", normals, point)
        considered = (multipliers > 0) | (residual > 0)
        if not considered.any():
            break
        free = ((unclipped > 0) & (unclipped < 1)).to(origin.dtype)
        curvature = torch.einsum("bkd,bld->bkl", normals * free[:, None, :], normals)
        pair = considered[:, :, None] & considered[:, None, :]
        scale = curvature.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-12)[:, None, None]
        system = torch.where(pair, curvature, torch.zeros_like(curvature)) + eye * scale * (1e-6 + (~considered)[:, :, None])
        step = torch.linalg.solve(system, torch.where(considered, residual, torch.zeros_like(residual)))
        multipliers = (multipliers + step).clamp_min(0)
    return (origin + torch.einsum("bk,bkd->bd", multipliers, normals)).clamp(0, 1)


def _shortest_on_ray(objective: Objective, origin, candidate, target, limit, steps: int):
    """The smallest point of the ray from ``origin`` through ``candidate`` (kept in the box) that meets the goal with
    a squared change below ``limit``, and its squared change; rows where none does get inf."""
    direction = candidate - origin
    length = direction.pow(2).sum(dim=1)
    high = (limit / length.clamp_min(1e-30)).sqrt() * (1 - 1e-4)  # beyond it the change is no smaller
    high = torch.where(length > 0, high, torch.zeros_like(high))
    possible = objective.reaches(_on_ray(origin, direction, high), target) & (high > 0)
    points = _on_ray(origin, direction, _smallest_scale(objective, origin, direction, target, high, steps))
    squared = (points - origin).pow(2).sum(dim=1)
    return points, torch.where(possible, squared, torch.full_like(squared, float("inf")))


def _on_ray(origin: torch.Tensor, direction: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """origin + scale * direction per row, kept in the box (a no-op for scales in [0, 1] from a point of it)."""
    return (origin + scale[:, None] * direction).clamp(0, 1)


def _smallest_scale(objective: Objective, origin, direction, target, high: torch.Tensor, steps: int) -> torch.Tensor:
    """Bisection on the scale t in [0, high] for the smallest t whose point on the ray meets the goal (forward
    passes only); ``high`` is taken to meet it."""
    low = torch.zeros_like(high)
    for _ in range(steps):
        objective.monitor.check()
        middle = (low + high) / 2
        success = objective.reaches(_on_ray(origin, direction, middle), target)
        high = torch.where(success, middle, high)
        low = torch.where(success, low, middle)
    return high
