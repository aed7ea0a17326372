"""The change as a picture — the one owner of how a perturbation is drawn, on screen, in figure sheets and comparisons.

A grey change is drawn signed: blue where the pixel got darker, white where it stayed, red where
it got brighter. A colour change is drawn either as its size per pixel (the length of its red,
green and blue change; dark: unchanged, bright: changed most) or signed on grey (grey: unchanged).
Either is magnified by a factor: a fixed one, or the one that stretches the largest change to the
full range.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

DIVERGING = pg.ColorMap(
    pos=np.array([0.0, 0.5, 1.0]),
    color=np.array([[33, 102, 172, 255], [247, 247, 247, 255], [178, 24, 43, 255]], dtype=np.ubyte),
)
"""Blue (darker), white (unchanged), red (brighter): the sign of the perturbation at a glance."""
HEAT = pg.colormap.get("inferno")
LEVELS = 256
"""Colours of a map's lookup table: one per 8-bit level, as a screen shows them."""
_HEAT_TABLE, _DIVERGING_TABLE = (colours.getLookupTable(0.0, 1.0, LEVELS, mode="float")[:, :3].astype(np.float32)
                                 for colours in (HEAT, DIVERGING))
"""(LEVELS, 3) colours in [0, 1], looked up for every redraw (mapping each pixel through the map costs 15× as much)."""
SIZE_PER_PIXEL, SIGNED_ON_GREY = 0, 1
"""The two ways of drawing a colour change."""


def picture_of(pixels: np.ndarray) -> np.ndarray:
    """An image as shown: (H, W) for grey (given as (H, W) or (1, H, W)), (3, H, W) for colour."""
    pixels = np.asarray(pixels, dtype=np.float32)
    return pixels[0] if pixels.ndim == 3 and pixels.shape[0] == 1 else pixels


def change_size(change: np.ndarray) -> np.ndarray:
    """How much each pixel changed: |r| for grey, the length of its (red, green, blue) change for colour; (H, W)."""
    change = picture_of(change)
    return np.sqrt((change.astype(np.float32) ** 2).sum(axis=0)) if change.ndim == 3 else np.abs(change)


def magnification_for(change: np.ndarray, factor: float | None, mode: int = SIGNED_ON_GREY) -> float:
    """The display factor: ``factor``, or (automatic) the one that stretches the largest change to the full range."""
    if factor is not None:
        return float(factor)
    if change.size == 0:
        return 1.0
    sized = picture_of(change).ndim == 3 and mode == SIZE_PER_PIXEL
    peak = float(change_size(change).max()) if sized else float(np.abs(change).max())
    return 1.0 / peak if peak > 0 else 1.0


def change_rgb(change: np.ndarray, factor: float, mode: int = SIGNED_ON_GREY) -> np.ndarray:
    """The change ×``factor`` as drawn: an (H, W, 3) picture in [0, 1] (see the module docstring)."""
    change = picture_of(change)
    if change.ndim == 3 and mode == SIGNED_ON_GREY:
        return np.clip(0.5 + 0.5 * factor * change.transpose(1, 2, 0), 0.0, 1.0).astype(np.float32)
    if change.ndim == 3:
        values, colours = np.clip(change_size(change) * factor, 0.0, 1.0), _HEAT_TABLE
    else:
        values, colours = (np.clip(change * factor, -1.0, 1.0) + 1.0) / 2.0, _DIVERGING_TABLE
    return colours[np.rint(values * (LEVELS - 1)).astype(np.intp)]
