"""What a user asks of a search — target, goal, seed — and the one policy that turns it into searches (CLI and window).

A :class:`SearchRequest` owns how a request becomes search settings (``config_for`` the network,
then the user's seed, candidates and goal) and the confident chain: a confident request searches
the smallest change first, then the confident one aimed at the answer that smallest change
reached, so the two can be compared for the same target. The command line's ``attack`` runs the
chain with :func:`search_chain`; the window runs the same stages one after another, showing the
first while the second searches, and skips the first when it already knows it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from blindspot_gui.core.attack.config import AttackConfig, config_for
from blindspot_gui.core.attack.search import AttackResult, blindspot_search
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor, ScaledMonitor


@dataclass(frozen=True)
class SearchRequest:
    """A search as the user asks for it; None leaves the application's default (``config_for``)."""

    target: object = "next"
    """a target rule of ``blindspot_search`` ("next", "random", "none", ...), or a class index."""
    confidence: float | None = None
    margin: float | None = None
    robust: float | None = None
    """the robust goal's share of changed copies (see core/attack/robust.py)."""
    seed: int | None = None
    """of the "random" target rule."""
    candidates: int | None = None
    """untargeted: how many wrong labels to search."""

    @property
    def confident(self) -> bool:
        """Whether it asks for more than the boundary (a confident or a robust goal): a chain from the smallest change."""
        return self.confidence is not None or self.margin is not None or self.robust is not None

    def config(self, classifier: Classifier, **display) -> AttackConfig:
        """The search settings: the network's defaults, the user's choices, and ``display`` (e.g. partial_interval)."""
        changes = {"seed": self.seed, "untargeted_candidates": self.candidates, "confidence": self.confidence,
                   "margin": self.margin, "robust": self.robust}
        base = config_for(classifier, self.confidence is not None or self.margin is not None, self.robust is not None)
        return dataclasses.replace(base, **{name: value for name, value in changes.items() if value is not None},
                                   **display)

    def minimal(self) -> SearchRequest:
        """The first stage of a confident or robust request (itself for a minimal one): the smallest change, same
        target."""
        return dataclasses.replace(self, confidence=None, margin=None, robust=None)

    def after_minimal(self, minimal: AttackResult) -> SearchRequest | None:
        """The confident stage aimed at the answer ``minimal`` reached; None for a minimal request, or when not even
        the smallest change reached the target (a confident one cannot either)."""
        if not self.confident or minimal.cancelled or not minimal.success:
            return None
        return dataclasses.replace(self, target="none" if minimal.target is None else int(minimal.target))


def search_chain(classifier: Classifier, images, request: SearchRequest, labels=None, *, engine: str = "fast",
                 monitor: Monitor | None = None) -> tuple[list[AttackResult] | None, list[AttackResult]]:
    """Run ``request`` on every image: (the smallest changes of a confident chain or None, the requested results).

    A confident request searches the smallest change of every image first and then, for each image it fooled, the
    confident change for the same answer; an image the smallest change could not fool keeps that failure.
    """
    monitor = monitor or Monitor()
    if not request.confident:
        return None, blindspot_search(classifier, images, request.target, labels, engine=engine,
                                      config=request.config(classifier), monitor=monitor)
    first = request.minimal()
    minimal = blindspot_search(classifier, images, first.target, labels, engine=engine,
                               config=first.config(classifier), monitor=ScaledMonitor(monitor, 0.0, 0.5))
    results = list(minimal)
    fooled = [index for index, result in enumerate(minimal) if request.after_minimal(result) is not None]
    if fooled and not any(result.cancelled for result in minimal):
        targets = ("none" if request.target == "none" else
                   [int(minimal[index].target) for index in fooled])
        chosen = labels[fooled] if labels is not None else None
        confident = blindspot_search(classifier, images[fooled], targets, chosen, engine=engine,
                                     config=request.config(classifier), monitor=ScaledMonitor(monitor, 0.5, 1.0))
        for index, result in zip(fooled, confident):
            result.index = minimal[index].index
            results[index] = result
    return minimal, results
