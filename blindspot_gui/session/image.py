"""The image the user explains: its pixels, its true label if known, and where it came from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageChoice:
    """The image to explain: (28, 28) float32 pixels in [0, 1], its true label if known, and where it came from."""

    pixels: np.ndarray
    label: int | None
    source: str
    index: int | None = None
    description: str = ""
    path: str | None = None
    """the file it was read from (a photo), to read it again for a network that sees another size."""

    def fits(self, input_shape) -> bool:
        """Whether these pixels are an input of that shape (C, H, W): same size, grey or colour alike."""
        return int(np.prod(self.pixels.shape)) == int(np.prod(input_shape)) and (
            self.pixels.ndim == 2) == (input_shape[0] == 1)
