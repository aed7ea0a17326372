"""How a blind-spot search is tuned: the settings of both engines, and the settings the application uses per network."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from blindspot_gui.core.attack.goal import Goal, check_goal
from blindspot_gui.core.attack.robust import NATURAL, Changes
from blindspot_gui.core.models.classifier import Classifier

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
    """fast engine: c values tried at once inside the bracket in each round."""
    warm_start: bool = True
    """fast engine: start bisection solves from the task's best successful point instead of the original."""
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
    slide_rounds: int = 3
    """then, rounds of sliding along the boundary towards the original (see ``boundary.slide_along_boundary``);
    on FC100-100-10 and FC10(1e-4), target (y + 1) mod 10, it makes the mean L2 0.1-0.4% smaller."""
    slide_competitors: int = 9
    """the strongest competing classes whose boundaries a slide linearises (each one a backward pass)."""
    untargeted_candidates: int = 4
    """untargeted search: how many wrong labels to search, the nearest first by a linear model of the net (9: all
    of them). On FC100-100-10 and the ConvNet the nearest label is among the first four for 99% and 100% of the
    first 100 correctly classified test images, and four cost a third of the time of all nine."""
    seed: int = 0
    """seed of the "random" target rule."""
    partial_interval: float = 0.05
    """seconds between two partial results sent to the monitor (0: after every iteration)."""
    confidence: float | None = None
    """a confident goal: the smallest change after which the network answers the target with probability >= this
    (0 < p < 1); None: the paper's minimal search, which stops at the decision boundary."""
    margin: float | None = None
    """a confident goal as a logit margin: z_target - max_{j != target} z_j >= this (> 0); not with ``confidence``."""
    robust: float | None = None
    """a robust goal: the target answered on the image and on at least this share (0 < s <= 1) of ``robust_copies``
    changed copies of it (core/attack/robust.py); not with the other goals."""
    robust_copies: int = 16
    """changed copies a robust goal averages its loss over (the first is the image itself)."""
    robust_noise: float = 0.03
    """RMS of the fixed noise of each robust copy (pixels in [0, 1]), about a digit's blind spot."""
    robust_changes: Changes = NATURAL
    """the changes the robust copies are drawn from (core/attack/robust.py): the natural panel's, or a defence's."""

    def __post_init__(self):
        checks = (
            (0 < self.c_min < self.c_max, "c_min must be positive and below c_max"),
            (self.grid_size >= 2 and self.grid_span > 1, "grid_size must be at least 2 and grid_span above 1"),
            (self.bisection_rounds >= 0 and self.bisection_size >= 1, "bisection_size must be at least 1"),
            (self.max_iterations >= 1 and self.history >= 1, "max_iterations and history must be at least 1"),
            (self.temperature > 0, "temperature must be positive"),
            (min(self.boundary_steps, self.reference_bisection_steps, self.slide_rounds) >= 0
             and self.slide_competitors >= 1,
             "step counts cannot be negative"),
        )
        for holds, message in checks:
            if not holds:
                raise ValueError(f"invalid AttackConfig: {message}")
        check_goal(self.confidence, self.margin, self.robust)
        if self.robust_copies < 1 or not self.robust_noise >= 0:
            raise ValueError("invalid AttackConfig: robust_copies must be at least 1 and robust_noise not negative")

    @property
    def goal(self) -> Goal:
        """What counts as reaching the target (see :mod:`blindspot_gui.core.attack.goal`)."""
        return Goal(self.confidence, self.margin, self.robust)


PHOTO_ATTACK = AttackConfig(grid_size=2, bisection_rounds=2, max_iterations=25, boundary_steps=8, slide_rounds=0)
"""The search for one 224x224 photo: fewer c values and iterations than for digits, as every
evaluation is a pass through a deep network (see benchmarks/photo_attack.py for time and distortion);
no slide along the boundary, which left EfficientNet-Lite0's four sample photos (target "ostrich") unchanged."""


PHOTO_CONFIDENT_SPAN = 32.0
"""A confident search of a photo brackets c from estimate / 32 to estimate * 32: the linear estimate of c is made for
the decision boundary, and a confident change lies well past it. On EfficientNet-Lite0's four sample photos, target
"ostrich", p >= 0.9, against the span of 4: the first confident change in 0.88 s instead of 1.77 s on average, the
search done in 4.9 s instead of 5.5 s, mean RMS 0.00158 instead of 0.00160 (``python
benchmarks/confident_photo.py``)."""


PHOTO_ROBUST = {"robust_copies": 8, "robust_noise": 0.0015}
"""A photo's robust goal: 8 copies (each evaluation is then 8 passes through a deep network) and noise of about a
photo blind spot's RMS."""


def config_for(model: Classifier, confident: bool = False, robust: bool = False) -> AttackConfig:
    """The search settings the application uses for ``model``: the defaults for digits, PHOTO_ATTACK for photos (the
    Classifier says which it is), its c bracket widened for a ``confident`` or ``robust`` goal; a ``robust`` goal does
    not slide along the boundary (the slide linearises the image's own boundary, not its copies')."""
    config = AttackConfig() if model.is_digit_network else PHOTO_ATTACK
    if robust:
        config = dataclasses.replace(config, slide_rounds=0, **({} if model.is_digit_network else PHOTO_ROBUST))
    if (confident or robust) and not model.is_digit_network:
        config = dataclasses.replace(config, grid_span=PHOTO_CONFIDENT_SPAN)
    return config
