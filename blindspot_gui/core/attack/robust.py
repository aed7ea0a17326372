"""The robust goal's copies: T fixed, seeded natural changes of an image that a robust blind spot must survive.

Copy 0 is the image itself; each other copy is a random shift of up to 2 pixels, a rotation of up
to 5°, a rescaling by 0.9 to 1.1 (one bilinear warp, the border repeated), a brightness change of up
to 5% (``NATURAL``; another ``Changes`` for other copies, such as a vote's) and a fixed draw of
Gaussian noise, all drawn once from a seed, so that the search's objective
(the loss averaged over the copies: expectation over transformation, Athalye et al., ICML 2018) is
deterministic and the box-constrained L-BFGS sees one smooth function. All of it is differentiable.
The codecs (PNG, JPEG) are not among them: they are only evaluated (core/survival.py), on other,
fixed changes than these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Changes:
    """Where the copies' changes are drawn from, uniformly: shifts up to ``max_shift`` pixels in each direction,
    rotations up to ``max_degrees``, a rescaling within ``scales`` and a brightness change up to ``max_brightness``."""

    max_shift: float = 2.0
    max_degrees: float = 5.0
    scales: tuple[float, float] = (0.9, 1.1)
    max_brightness: float = 0.05

    def __post_init__(self):
        if min(self.max_shift, self.max_degrees, self.max_brightness) < 0 or not 0 < self.scales[0] <= self.scales[1]:
            raise ValueError("invalid Changes: the largest changes cannot be negative, the scales must be positive")


NATURAL = Changes()
"""The robust goal's changes: the differentiable families of the survival panel (core/survival.py)."""


class RobustCopies:
    """``count`` changed copies of every image of a batch, in the same order each time: (count * B, C, H, W), copy-major."""

    def __init__(self, shape: tuple[int, ...], count: int, seed: int = 0, noise_rms: float = 0.0,
                 changes: Changes = NATURAL):
        if count < 1:
            raise ValueError("a robust goal needs at least one copy")
        generator = torch.Generator().manual_seed(seed)
        uniform = lambda low, high: low + (high - low) * torch.rand(count, generator=generator)  # noqa: E731
        self.count = count
        self.shape = tuple(shape)
        shift = changes.max_shift
        shifts = uniform(-shift, shift), uniform(-shift, shift)
        degrees, scales = uniform(-changes.max_degrees, changes.max_degrees), uniform(*changes.scales)
        brightness = 1 + uniform(-changes.max_brightness, changes.max_brightness)
        noise = noise_rms * torch.randn((count, *shape), generator=generator)
        for values, identity in ((shifts[0], 0.0), (shifts[1], 0.0), (degrees, 0.0), (scales, 1.0), (brightness, 1.0)):
            values[0] = identity  # copy 0: the image itself
        noise[0] = 0.0
        height, width = shape[-2:]
        self.theta = torch.stack([affine_matrix(float(a), float(s), 2 * float(dx) / width, 2 * float(dy) / height)
                                  for a, s, dx, dy in zip(degrees, scales, *shifts)])
        self.brightness, self.noise = brightness, noise

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        batch = len(images)
        repeated = images.repeat(self.count, 1, 1, 1)
        warped = warp(repeated, self.theta.repeat_interleave(batch, dim=0))
        brightness = self.brightness.to(images.device, images.dtype).repeat_interleave(batch)[:, None, None, None]
        noise = self.noise.to(images.device, images.dtype).repeat_interleave(batch, dim=0)
        return (warped * brightness + noise).clamp(0.0, 1.0)

    def share(self, answered: torch.Tensor) -> torch.Tensor:
        """(B,) the share of copies whose row of ``answered`` ((count * B,) booleans, copy-major) is True."""
        return answered.view(self.count, -1).float().mean(dim=0)


def warp(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Each image resampled by its (2, 3) matrix of ``theta`` (bilinear, the border repeated): differentiable."""
    theta = theta.to(images.device, images.dtype).expand(len(images), 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def affine_matrix(degrees: float, scale: float = 1.0, dx: float = 0.0, dy: float = 0.0) -> torch.Tensor:
    """The sampling matrix of affine_grid for a rotation, a scaling about the centre and a shift (normalised units)."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    return torch.tensor([[cos, -sin, -dx], [sin, cos, -dy]])
