"""Reading image files and turning any picture into an MNIST-style digit, the way MNIST itself was made.

LeCun et al. built MNIST by size-normalising each digit to fit a 20x20 box (keeping its aspect
ratio, with anti-aliasing, hence grey levels) and centring it by its centre of mass in a 28x28
field; digits are white on black. ``to_mnist_style`` does the same to a user's image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, UnidentifiedImageError

if TYPE_CHECKING:
    from blindspot_gui.core.data import Dataset

MNIST_SIZE = 28
DIGIT_BOX = 20
INK_THRESHOLD = 0.1
"""Pixels brighter than this share of the maximum count as ink when cropping."""

IMAGE_FILE_PATTERNS = ("*.png", "*.jpg", "*.jpeg", "*.bmp", "*.gif", "*.tif", "*.tiff", "*.webp")


class ImageFileError(ValueError):
    """An image file is missing, unreadable, or not an image."""


@dataclass(frozen=True)
class ConvertedImage:
    """A (28, 28) float32 image in [0, 1], white on black, and the steps that made it."""

    pixels: np.ndarray
    steps: tuple[str, ...] = field(default_factory=tuple)

    @property
    def description(self) -> str:
        return ", ".join(self.steps) if self.steps else "used as it is (already a 28x28 MNIST-style image)"


def read_image(path) -> Image.Image:
    """Open an image file with Pillow, turning every failure into one clear ImageFileError."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"'{path}' does not exist or is not a file.")
    try:
        with Image.open(path) as image:
            image.load()
            return image.copy()
    except Image.DecompressionBombError:
        raise ImageFileError(f"'{path.name}' is too large to open safely.") from None
    except UnidentifiedImageError:
        raise ImageFileError(f"'{path.name}' is not an image Pillow can read (PNG, JPEG, BMP, ...).") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise ImageFileError(f"'{path.name}' is damaged or truncated ({error}).") from None


def grey_levels(image: Image.Image) -> np.ndarray:
    """The image as float32 grey levels in [0, 1]; transparent areas count as background (white)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16/32-bit grey: scale, do not clip
        values = np.asarray(image, dtype=np.float32)
        top = {"F": 1.0}.get(image.mode, 65535.0 if image.mode.startswith("I;16") else float(values.max() or 1.0))
        return np.clip(values / top, 0.0, 1.0)
    if image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGBA")
        backdrop = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(backdrop, image)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    total = pixels.sum()
    if total <= 0:
        return (pixels.shape[0] - 1) / 2, (pixels.shape[1] - 1) / 2
    rows, cols = np.indices(pixels.shape)
    return float((rows * pixels).sum() / total), float((cols * pixels).sum() / total)


def to_mnist_style(image: Image.Image) -> ConvertedImage:
    """Grey, white on black, the ink fitted into 20x20 keeping its aspect ratio, centred by mass in 28x28."""
    steps: list[str] = []
    if image.mode not in ("L", "1", "I", "F", "I;16"):
        steps.append("colour to grey")
    pixels = grey_levels(image)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if border.mean() > 0.5:
        pixels = 1.0 - pixels
        steps.append("inverted to white on black")
    if pixels.shape == (MNIST_SIZE, MNIST_SIZE) and not steps:
        return ConvertedImage(pixels.astype(np.float32), ())
    ink = pixels > INK_THRESHOLD * max(float(pixels.max()), 1e-6)
    if not ink.any():
        steps.append("blank image")
        return ConvertedImage(np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32), tuple(steps))
    rows, cols = np.nonzero(ink)
    cropped = pixels[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = cropped.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    fitted = np.asarray(Image.fromarray(cropped, mode="F").resize(size, Image.Resampling.LANCZOS), dtype=np.float32)
    fitted = np.clip(fitted, 0.0, 1.0)
    steps.append(f"fitted from {pixels.shape[1]}x{pixels.shape[0]} into 20x20")
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    mass_row, mass_col = centre_of_mass(fitted)
    top = int(round(MNIST_SIZE / 2 - 0.5 - mass_row))
    left = int(round(MNIST_SIZE / 2 - 0.5 - mass_col))
    top = min(max(top, 0), MNIST_SIZE - fitted.shape[0])
    left = min(max(left, 0), MNIST_SIZE - fitted.shape[1])
    canvas[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    steps.append("centred by mass in 28x28")
    return ConvertedImage(canvas, tuple(steps))


def load_digit_image(path) -> ConvertedImage:
    """Read an image file and convert it to an MNIST-style digit."""
    image = read_image(path)
    try:
        return to_mnist_style(image)
    except (ValueError, OSError) as error:
        raise ImageFileError(f"'{Path(path).name}' cannot be converted to grey levels ({error}).") from None


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """[0, 1] pixels rounded to the nearest of 256 levels, as uint8 (what a PNG file holds)."""
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def save_grey_png(pixels: np.ndarray, path) -> np.ndarray:
    """Save a [0, 1] grey image as a lossless 8-bit PNG; returns the 8-bit values as floats in [0, 1]."""
    quantised = to_8bit(pixels)
    Image.fromarray(quantised, mode="L").save(path, format="PNG")
    return quantised.astype(np.float32) / 255.0


def save_rgb_png(pixels: np.ndarray, path) -> np.ndarray:
    """Save a (3, H, W) [0, 1] colour image as a lossless 8-bit PNG; returns the 8-bit values as floats in [0, 1]."""
    quantised = to_8bit(pixels)
    Image.fromarray(quantised.transpose(1, 2, 0), mode="RGB").save(path, format="PNG")
    return quantised.astype(np.float32) / 255.0


PHOTO_FOLDER_LIMIT = 1000
"""Photos kept from one folder at most (each 224x224 colour photo takes 0.6 MB as float32)."""


def load_image_folder(folder, photos: bool = False) -> tuple["Dataset", list[str]]:
    """Every image file in ``folder`` (and its subfolders) as a data set: digits made MNIST-style, or photos.

    Digits are (N, 1, 28, 28); with ``photos`` each file is resized and centre-cropped as photo
    networks see it, (N, 3, 224, 224), and only the first PHOTO_FOLDER_LIMIT files are read.
    A file's class is the name of the top subfolder it sits in ("images/cats/x/a.png" is a "cats");
    files directly in the folder get the class "(none)". Returns the data set and the names of the files
    that could not be read (or were beyond the limit), which are left out.
    """
    import torch

    from blindspot_gui.core.data import Dataset

    folder = Path(folder)
    if not folder.is_dir():
        raise ImageFileError(f"'{folder}' is not a folder.")
    suffixes = {pattern.lstrip("*") for pattern in IMAGE_FILE_PATTERNS}
    paths = sorted(path for path in folder.rglob("*") if path.is_file() and path.suffix.lower() in suffixes)
    pixels, classes, files, skipped = [], [], [], []
    if photos and len(paths) > PHOTO_FOLDER_LIMIT:
        skipped = [path.name for path in paths[PHOTO_FOLDER_LIMIT:]]
        paths = paths[:PHOTO_FOLDER_LIMIT]
    for path in paths:
        try:
            pixels.append(_read_photo(path) if photos else load_digit_image(path).pixels[None])
        except ImageFileError:
            skipped.append(path.name)
            continue
        parts = path.relative_to(folder).parts
        classes.append(parts[0] if len(parts) > 1 else "(none)")
        files.append(str(path))
    if not pixels:
        raise ImageFileError(f"'{folder}' holds no readable image (PNG, JPEG, BMP, ...).")
    names = tuple(sorted(set(classes)))
    labels = torch.tensor([names.index(name) for name in classes], dtype=torch.long)
    images = torch.from_numpy(np.stack(pixels))
    return Dataset(images, labels, names, f"folder {folder}", files=tuple(files)), skipped


def _read_photo(path) -> np.ndarray:
    from blindspot_gui.core.imagenet import prepare_photo

    return prepare_photo(read_image(path))
