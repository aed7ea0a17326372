"""How figures are written for people (percentages, distortions, other numbers): one form for the command line,
the window and the exported tables."""

from __future__ import annotations

import math

MISSING = "—"


def format_value(value: float | None, unit: str, signed: bool = False) -> str:
    """``value`` as ``unit`` ("percent": 1.37%, or +0.12 pt when ``signed``; "distortion": 0.0540; else 4 digits)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    sign = "+" if signed else ""
    if unit == "percent":
        return f"{100 * value:{sign}.2f}%" if not signed else f"{100 * value:+.2f} pt"
    if unit == "distortion":
        return f"{value:{sign}.4f}"
    return f"{value:{sign}.4g}"


def percent(fraction: float | None) -> str:
    """A fraction as a percentage with two decimals (an error rate: 1.37%), or a dash when there is none."""
    return format_value(fraction, "percent")
