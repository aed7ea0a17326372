"""Photos as a photo network sees them: decoded no larger than needed, upright, resized and centre-cropped; the sample photos."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from blindspot_gui.core.images import photo_colours, read_image, reduced, upright
from blindspot_gui.core.resources import resource_path

PHOTO_RESIZE = 256
"""The shorter side a photo is resized to before its centre is cropped (torchvision's ImageNet recipe)."""
PHOTO_CROP = 224
"""Side of the square centre crop every photo network sees."""

WHOLE_RESIZE_PIXELS = 4_000_000
WHOLE_RESIZE_SIDE = 8_000
"""Photos whose resized copy stays this small (and whose side is at most this long) are resized whole, then
cropped, as torchvision's transforms do; larger or extreme ones only over their centre crop (see prepare_photo)."""


def prepare_photo(image: Image.Image, resize: int = PHOTO_RESIZE, crop: int = PHOTO_CROP) -> np.ndarray:
    """The photo as the network sees it, (3, crop, crop) float32 in [0, 1]: shorter side resized, centre cropped.

    Upright (EXIF orientation), transparent areas white, 16-bit grey levels scaled; memory and time are those of
    the crop, whatever the photo's size and aspect ratio.
    """
    image = upright(image)  # phone photos stand upright
    width, height = image.size
    scale = resize / min(width, height)
    size = (max(crop, round(width * scale)), max(crop, round(height * scale)))
    left, top = (size[0] - crop) // 2, (size[1] - crop) // 2
    if size[0] * size[1] <= WHOLE_RESIZE_PIXELS and max(width, height) <= WHOLE_RESIZE_SIDE:
        image = photo_colours(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
        image = image.crop((left, top, left + crop, top + crop))
        return (np.asarray(image, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()
    # Otherwise only the centre crop is resampled, from its box in the photo: the same pixels as resizing the whole
    # photo and then cropping (up to a grey level), without making a 1x60000 strip into a 256x15,360,000 image
    # (12 GB) on the way.
    box = (left * width / size[0], top * height / size[1],
           (left + crop) * width / size[0], (top + crop) * height / size[1])
    # A large photo is first box-reduced by a whole factor that leaves it at least 3 times the size it is resized to
    # (as Pillow's reducing_gap=3, indistinguishable from resampling it whole), so that colour conversions stay small.
    factor = max(1, min(width, height) // (3 * resize))
    image = photo_colours(reduced(image, factor))
    box = tuple(edge / factor for edge in box)
    image = image.resize((crop, crop), Image.Resampling.BILINEAR, box=box, reducing_gap=None)
    return (np.asarray(image, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()


def read_photo(path, resize: int = PHOTO_RESIZE, crop: int = PHOTO_CROP) -> np.ndarray:
    """The photo file at ``path`` as the network sees it (see :func:`prepare_photo`), decoded no larger than needed."""
    return prepare_photo(read_image(path, shorter_side=resize), resize, crop)


@dataclass(frozen=True)
class SamplePhoto:
    path: Path
    title: str
    label: str
    """a one-word name for a thumbnail."""
    expected_class: str | None = None
    """the ImageNet class the photo shows, by its name as photo networks know it (None: none of them)."""


def sample_photos() -> list[SamplePhoto]:
    """The photos shipped in resources/samples (their licences are in ATTRIBUTION.md there)."""
    folder = resource_path("samples")
    try:
        listing = json.loads((folder / "samples.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    samples = [_sample_photo(folder, item) for item in listing] if isinstance(listing, list) else []
    return [sample for sample in samples if sample is not None]


def _sample_photo(folder: Path, item) -> SamplePhoto | None:
    """One entry of samples.json, or None when it is malformed, names a file outside ``folder`` or a missing one."""
    if not isinstance(item, dict) or not isinstance(item.get("file"), str) or not isinstance(item.get("title"), str):
        return None
    name = item["file"]
    if Path(name).name != name or not (folder / name).is_file():
        return None
    label, expected = item.get("label"), item.get("expected_imagenet_class")
    return SamplePhoto(folder / name, item["title"], label if isinstance(label, str) else item["title"],
                       expected if isinstance(expected, str) else None)




SAMPLE_PREFIX = "samples:"


def image_argument(text: str) -> str:
    """Where an image given on a command line is: a file as given; ``samples:NAME`` for a shipped sample photo by its
    file name, stem or label (``samples:cat``), from any folder; a bare NAME means that sample too when no file of
    that name exists. ``test:I`` and ``train:I`` (MNIST digits) pass unchanged. ValueError for an unknown sample."""
    if text.lower().startswith(SAMPLE_PREFIX):
        return str(_sample_named(text[len(SAMPLE_PREFIX):], text))
    if Path(text).exists() or text.split(":", 1)[0] in ("test", "train"):
        return text
    try:
        return str(_sample_named(text, text))
    except ValueError:
        return text  # no such file and no such sample: reading it says "no such file", naming it


def _sample_named(name: str, given: str) -> Path:
    wanted = name.strip().lower()
    for sample in sample_photos():
        if wanted in (sample.path.name.lower(), sample.path.stem.lower(), sample.label.lower()):
            return sample.path
    names = ", ".join(sample.path.stem for sample in sample_photos())
    raise ValueError(f"no sample photo called {given!r}; the samples are {names} (as samples:{names.split(',')[0]})")


def image_option(text: str) -> str:
    """:func:`image_argument` as an argparse ``type``: the command line's and the window's own image option."""
    import argparse

    try:
        return image_argument(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
