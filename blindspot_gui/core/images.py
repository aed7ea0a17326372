"""Reading image files and turning any picture into an MNIST-style digit, the way MNIST itself was made.

LeCun et al. built MNIST by size-normalising each digit to fit a 20x20 box (keeping its aspect
ratio, with anti-aliasing, hence grey levels) and centring it by its centre of mass in a 28x28
field; digits are white on black. ``to_mnist_style`` does the same to a user's image.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from blindspot_gui.core.files import open_regular_file, os_reason

MNIST_SIZE = 28
DIGIT_BOX = 20
INK_THRESHOLD = 0.1
"""Pixels brighter than this share of the maximum count as ink when cropping."""

IMAGE_FILE_PATTERNS = ("*.png", "*.jpg", "*.jpeg", "*.bmp", "*.gif", "*.tif", "*.tiff", "*.webp")

MAX_IMAGE_SIDE = 65_535
"""Longest side an image may have (JPEG's limit): a strip of a few bytes declaring a side of millions of pixels
would otherwise cost hundreds of MB while staying under MAX_IMAGE_PIXELS."""
MAX_IMAGE_PIXELS = 40_000_000
"""Most pixels an image may have when decoded: 40 megapixels (a 7300x5475 photo, 160 MB at 4 bytes a pixel).
Checked on the file's header, before anything is decoded, so a tiny file declaring a huge image costs nothing.
A JPEG read as a photo counts at the scale it is decoded at (see ``read_image``)."""

DIGIT_WORK_SIDE = 2048
"""Longer side an image is box-reduced to before it becomes a digit: the digit ends up 20 pixels tall, so only
a digit smaller than 1/100 of such an image would lose detail, and memory and time stay small (4 megapixels)."""

HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
"""Pillow's modes for 16-bit, 32-bit and floating-point grey levels, which 8-bit conversions would clip."""


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


def read_image(path, shorter_side: int | None = None) -> Image.Image:
    """Open an image file with Pillow, upright (EXIF orientation applied), turning every failure into one clear
    ImageFileError.

    The size is checked against MAX_IMAGE_PIXELS before anything is decoded. ``shorter_side``: the image will be
    resized so that its shorter side is this long (a photo), so a JPEG is decoded at the smallest scale (1/2, 1/4,
    1/8) that keeps its shorter side at least this long, which makes large photos quick and small in memory. The
    function holds no global state, so it can run on any thread.
    """
    path = Path(path)
    try:
        with _open_image_file(path) as stream, Image.open(stream) as image:
            if shorter_side:
                image.draft(None, (shorter_side, shorter_side))
            _check_pixels(image, path)
            image.load()  # the pixels are in memory from here on: the file may close
            return upright(image)
    except ImageFileError:
        raise
    except Image.DecompressionBombError:
        raise ImageFileError(f"'{path.name}' is too large to open safely (over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                             "megapixels); scale it down and open it again.") from None
    except UnidentifiedImageError:
        raise ImageFileError(f"'{path.name}' is not an image Pillow can read (PNG, JPEG, BMP, ...).") from None
    except MemoryError:
        raise ImageFileError(f"'{path.name}' needs more memory than is free to decode; scale it down.") from None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as error:
        raise ImageFileError(f"'{path.name}' is damaged or truncated ({error}).") from None


def _open_image_file(path: Path) -> BinaryIO:
    try:
        return open_regular_file(path)
    except FileNotFoundError:
        raise ImageFileError(f"'{path.name}' does not exist ({path}).") from None
    except OSError as error:
        raise ImageFileError(f"Cannot open '{path.name}': {os_reason(error)}.") from None


def _check_pixels(image: Image.Image, path: Path) -> None:
    """Refuse an image whose decoded size is over MAX_IMAGE_PIXELS or whose side is over MAX_IMAGE_SIDE, from its
    header alone."""
    width, height = image.size
    if max(width, height) > MAX_IMAGE_SIDE:
        raise ImageFileError(
            f"'{path.name}' is {width:,}x{height:,} pixels; no side may be longer than {MAX_IMAGE_SIDE:,} pixels "
            "(JPEG's own limit). Crop or scale it down and open it again.")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageFileError(
            f"'{path.name}' is {width:,}x{height:,} pixels ({width * height / 1e6:.0f} megapixels); images of at most "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels can be opened. Scale it down (for example to 4000x3000 "
            "pixels) and open it again.")


def upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation tag says (phone photos stand upright), the tag then removed.

    Without such a tag it is the image itself; a damaged EXIF block counts as no tag.
    """
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    except (OSError, ValueError, SyntaxError, EOFError, KeyError, TypeError, IndexError, struct.error):
        orientation = 1
    if orientation in range(2, 9):
        return ImageOps.exif_transpose(image)
    return image


def on_white(image: Image.Image) -> Image.Image:
    """A transparent or translucent image laid on white, in RGB (or L for a grey one); others unchanged."""
    if not image.has_transparency_data:
        return image
    grey = image.mode in ("LA", "La", "L", "1")
    image = image.convert("LA" if grey else "RGBA")
    backdrop = Image.new("L" if grey else "RGB", image.size, "white")
    backdrop.paste(image, mask=image.getchannel("A"))
    return backdrop


def photo_colours(image: Image.Image) -> Image.Image:
    """The image in 8-bit RGB, as a photo network sees it: transparent areas white, and 16-bit or floating-point
    grey levels scaled (a plain conversion would clip them to white)."""
    if image.mode in HIGH_BIT_MODES:
        return Image.fromarray(to_8bit(grey_levels(image)), mode="L").convert("RGB")
    image = on_white(image)
    try:
        return image if image.mode == "RGB" else image.convert("RGB")
    except ValueError as error:
        raise ImageFileError(f"An image in Pillow's mode {image.mode} cannot be turned into colours "
                             f"({error}).") from None


def grey_levels(image: Image.Image) -> np.ndarray:
    """The image as float32 grey levels in [0, 1]; transparent areas count as background (white)."""
    if image.mode in HIGH_BIT_MODES:  # 16/32-bit grey: scale, do not clip
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        top = {"F": 1.0}.get(image.mode, 65535.0 if image.mode.startswith("I;16") else float(values.max() or 1.0))
        return np.clip(values / top, 0.0, 1.0)
    image = on_white(image)
    pixels = np.asarray(image if image.mode == "L" else image.convert("L"), dtype=np.float32)
    pixels /= 255.0
    return pixels


def reduced(image: Image.Image, factor: int) -> Image.Image:
    """The image box-reduced by a whole ``factor`` (each pixel the mean of factor x factor, weighted by opacity);
    the image itself for a factor below 2. Large images are reduced before any conversion that copies them."""
    if factor < 2:
        return image
    if image.mode in HIGH_BIT_MODES:  # scaled to [0, 1] first, as the scale depends on every pixel
        image = Image.fromarray(grey_levels(image))
    elif image.mode not in ("L", "LA", "RGB", "RGBA"):  # reduce() would average palette indices or bits
        image = on_white(image)
        if image.mode not in ("L", "RGB"):
            image = image.convert("L" if image.mode == "1" else "RGB")
    return image.reduce(factor)


def centre_of_mass(pixels: np.ndarray) -> tuple[float, float]:
    total = pixels.sum()
    if total <= 0:
        return (pixels.shape[0] - 1) / 2, (pixels.shape[1] - 1) / 2
    rows, cols = np.indices(pixels.shape)
    return float((rows * pixels).sum() / total), float((cols * pixels).sum() / total)


def to_mnist_style(image: Image.Image) -> ConvertedImage:
    """Grey, white on black, the ink fitted into 20x20 keeping its aspect ratio, centred by mass in 28x28."""
    steps: list[str] = []
    if image.mode not in ("L", "1") + HIGH_BIT_MODES:
        steps.append("colour to grey")
    original = image.size
    pixels = grey_levels(reduced(image, math.ceil(max(original) / DIGIT_WORK_SIDE)))
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
    steps.append(f"fitted from {original[0]}x{original[1]} into 20x20")
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
