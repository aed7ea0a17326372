"""The reference engine's solver: one image and one c at a time with scipy's L-BFGS-B and torch gradients."""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize


def solve_one(objective, task: torch.Tensor, c: float, config, on_iteration=None) -> tuple[torch.Tensor, int]:
    """Minimise c * ||a - x||^2 + loss(a, target) over a in [0, 1]^D from a = x, as the paper does.

    ``objective`` is the search's shared objective (it also records the best successful point);
    ``on_iteration(k)`` is called after iteration k. Returns the minimiser, shape (1, D), and the
    number of L-BFGS-B iterations.
    """
    iteration = 0

    def after_iteration(_intermediate):
        nonlocal iteration
        iteration += 1
        if on_iteration is not None:
            on_iteration(iteration)

    start = objective.images_flat[objective.tasks.image_index[task]].double().cpu().numpy().reshape(-1)
    device = objective.images_flat.device
    c_tensor = torch.tensor([c], dtype=torch.float32, device=device)

    def value_and_gradient(flat: np.ndarray):
        point = torch.from_numpy(flat.astype(np.float32)).view(1, -1).to(device)
        value, gradient = objective.evaluate(point, task, c_tensor)
        return float(value[0]), gradient.view(-1).double().cpu().numpy()

    solution = minimize(
        value_and_gradient, start, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * start.size,
        callback=after_iteration,
        options={"maxiter": config.max_iterations, "maxcor": config.history, "gtol": config.gradient_tolerance},
    )
    return torch.from_numpy(solution.x.astype(np.float32)).view(1, -1).to(device), int(solution.nit)
