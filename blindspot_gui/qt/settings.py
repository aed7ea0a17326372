"""Reading remembered settings defensively: a value of the wrong type, out of range or unknown gives the default.

The settings file is input like any other: it may have been edited by hand, written by another
version, or damaged. Every read goes through one of these functions, so no stored value can stop
the window from opening or make it unusable.
"""

from __future__ import annotations

import math
from typing import Iterable, TypeVar

from PySide6.QtCore import QByteArray, QSettings

T = TypeVar("T")
MAX_TEXT = 1000
"""Longest remembered text accepted (a target class name, a network name)."""


def user_settings() -> QSettings:
    """The user's settings file of blindspot-gui (the window's layout, choices, and the thread count)."""
    return QSettings("blindspot_gui", "blindspot_gui")


def read_int(settings: QSettings, key: str, default: int, low: int, high: int) -> int:
    """An integer in [low, high]; anything else (text, a float, a list, out of range) gives ``default``."""
    value = settings.value(key, default)
    if isinstance(value, bool):
        return default
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return default
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        return default
    return value


def read_choice(settings: QSettings, key: str, default: T, choices: Iterable[T]) -> T:
    """One of ``choices`` (compared as text, as an INI file stores them); anything else gives ``default``."""
    value = settings.value(key, default)
    for choice in choices:
        if value == choice or str(value) == str(choice):
            return choice
    return default


def read_text(settings: QSettings, key: str, default: str) -> str:
    """A short single-line text; anything else gives ``default``."""
    value = settings.value(key, default)
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\n" in value or "\x00" in value:
        return default
    return value


def read_bytes(settings: QSettings, key: str) -> QByteArray | None:
    """A saved binary blob (window geometry or state), or None when missing or not binary."""
    value = settings.value(key)
    if isinstance(value, QByteArray) and not value.isEmpty():
        return value
    if isinstance(value, (bytes, bytearray)) and value:
        return QByteArray(bytes(value))
    return None
