"""The blind-spot tab's readout of a search result: the panels' answers and the sentence under the pictures.

A mixin of :class:`blindspot_gui.qt.tabs.blindspots.BlindspotsTab` (its ``viewer`` and ``session``).
"""

from __future__ import annotations

from blindspot_gui.core.attack.search import AttackResult
from blindspot_gui.session.goals import comparison, failure_advice, goal_kind
from blindspot_gui.qt.widgets.probabilities import BAD


class ResultReadout:
    """Shows a search result in the viewer and the readout."""

    def _show_result(self, result: AttackResult, seconds: float, pending: bool = False, note: str = "") -> None:
        """The result in the panels and the readout, beside the other goal's result for this image if there is one
        (``pending``: the search of the session's goal follows; ``note``: a first line, why its result is not
        shown)."""
        name = self.classifier.class_name
        adversarial, perturbation = result.adversarial, result.perturbation
        after, before = int(result.adversarial_prediction), int(result.original_prediction)
        self.viewer.original_panel.classes.show_probabilities(result.probabilities_before, result.target)
        kind = goal_kind(self.session.goal)
        other = self.session.known(kind) if kind != "minimal" else None
        both = comparison(self.session.known("minimal"), other, name, kind if pending and kind != "minimal" else None)
        if not result.success:
            self.viewer.show_adversarial(adversarial, perturbation, "not fooled", result.probabilities_after,
                                         result.target, BAD)
            what = "digit" if self.classifier.is_digit_network else "photo"
            plain = "The search was cancelled before it fooled the network." if result.cancelled else (
                failure_advice(result, name, what))
            self.viewer.show_readout(plain + (f"\n{both}" if both else ""))
            return
        text = ("cancelled: " if result.cancelled else "") + (
            f"says {name(after)}  ({100 * result.probabilities_after[after]:.0f}%)")
        self.viewer.show_adversarial(adversarial, perturbation, text, result.probabilities_after, result.target, BAD)
        if result.distortion == 0:
            self.viewer.show_readout(result.message.capitalize() + ".")
            return
        details = "" if note else result_readout(result, name(before), name(after), seconds,
                                                 not self.classifier.is_digit_network)
        self.viewer.show_readout("\n".join(line for line in (note, both, details) if line))


def result_readout(result: AttackResult, before: str, after: str, seconds: float, photo: bool) -> str:
    """The readout under the images: what changed into what, how large the change is, what the search cost."""
    opening = (f"Cancelled after {seconds:.2f} s: “{before}” → “{after}” with the best change so far, not the "
               f"smallest (Run finishes the search); " if result.cancelled else f"“{before}” became “{after}” with ")
    c = "" if result.c is None else f", c = {result.c:.3g}"
    return (f"{opening}distortion (RMS) {result.distortion:.4f}, L2 {result.l2:.3f}, L∞ {result.linf:.3f} "
            f"({255 * result.linf:.1f}/255){c}; {result.steps} L-BFGS steps ({result.iterations} iterations in all), "
            f"{result.function_evaluations} evaluations" + ("" if result.cancelled else f", {seconds:.2f} s")
            + (". The paper's AlexNet examples averaged 0.0065." if photo and not result.cancelled else ""))
