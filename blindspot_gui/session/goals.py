"""The last result of each search goal (smallest change, confident, robust) for an image, and the words that compare
them."""

from __future__ import annotations

from dataclasses import dataclass

from blindspot_gui.core.attack.goal import Goal
from blindspot_gui.core.attack.search import AttackResult, failure_sentence


@dataclass
class Made:
    """A finished search: for which network, image (the very ImageChoice shown) and requested target."""

    network: str | None
    choice: object
    target: object
    result: AttackResult

    def matches(self, network, choice, target) -> bool:
        return self.network == network and self.choice is choice and self.target == target


class GoalResults:
    """The last finished search of each kind of goal; a result is only used for the image it was made for."""

    def __init__(self):
        self.made: dict[str, Made] = {}

    def remember(self, network, choice, target, result: AttackResult) -> None:
        """Keep a finished (not cancelled) search under its goal."""
        if not result.cancelled:
            self.made[goal_of(result)] = Made(network, choice, target, result)

    def get(self, goal: str, network, choice, target) -> AttackResult | None:
        """The last ``goal`` ("minimal", "confident" or "robust") result for this network, image and target, if any."""
        made = self.made.get(goal)
        return made.result if made is not None and made.matches(network, choice, target) else None


def kind_of(name: str) -> str:
    """A goal's kind as the window names it: "minimal", "robust", or "confident" (a probability or a margin)."""
    return name if name in ("minimal", "robust") else "confident"


def goal_of(result: AttackResult) -> str:
    """The kind of goal ``result`` was searched for."""
    return kind_of(result.goal)


def goal_kind(goal: Goal) -> str:
    """The kind of ``goal``."""
    return kind_of(goal.name)


def goal_summary(result: AttackResult, class_name) -> str:
    """ "minimal: 0.027 RMS, says 3 (50%)" (or "confident: not reached")."""
    label = goal_of(result)
    if not result.success:
        return f"{label}: not reached"
    after = int(result.adversarial_prediction)
    return (f"{label}: {result.distortion:.2g} RMS, says {class_name(after)} "
            f"({100 * result.probabilities_after[after]:.0f}%)")


def comparison(minimal: AttackResult | None, other: AttackResult | None, class_name, pending: str | None = None) -> str:
    """The smallest change beside another goal's result, "minimal: … · robust: …"; empty unless both exist (or the
    other, of kind ``pending``, is being searched)."""
    if minimal is None or (other is None and pending is None):
        return ""
    second = f"{pending}: searching…" if other is None else goal_summary(other, class_name)
    return f"{goal_summary(minimal, class_name)} · {second}"


def failure_advice(result: AttackResult, class_name, what: str) -> str:
    """What happened and what to try, in plain words, for a search that found nothing."""
    tries = {"confident": "Try a lower p, another target, or the Confident mode off.",
             "robust": "Try a lower share of copies, another target, or the Smallest change goal."}.get(
        goal_of(result), "Try another target or another image.")
    return f"{failure_sentence(result, class_name, what)} {tries}"
