"""The units command: the MNIST test images that most (or least) excite a unit or a random direction of a layer."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image, ImageDraw

from blindspot_gui.cli.common import UsageError, cancellable, check_device, check_outputs, device_of, write_outputs
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.files import atomic_write, atomic_write_json
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.units import (
    ActivationCache,
    capture_activations,
    random_direction,
    top_images,
    unit_direction,
    unit_title,
)


def save_image_row(images, captions, path, scale: int = 4) -> None:
    """Save (k, 28, 28) images in [0, 1] side by side, each with its caption underneath, as a PNG."""
    size, caption_height, gap = 28 * scale, 14, 4
    canvas = Image.new("L", (len(images) * (size + gap) + gap, size + caption_height + 2 * gap), 255)
    draw = ImageDraw.Draw(canvas)
    for column, (pixels, caption) in enumerate(zip(images, captions)):
        tile = Image.fromarray(np.clip(np.asarray(pixels) * 255, 0, 255).astype(np.uint8)).resize((size, size))
        left = gap + column * (size + gap)
        canvas.paste(tile, (left, gap))
        draw.text((left + 2, gap + size + 1), caption, fill=0)
    atomic_write(path, lambda stream: canvas.save(stream, format="PNG"))


def check_units(args) -> None:
    if (args.unit is None) == (args.random is None):
        raise UsageError("give either --unit I or --random SEED")
    check_device(device_of(args))
    data = load_mnist("test")
    if not 1 <= args.top <= len(data):
        raise UsageError(f"--top must be between 1 and {len(data)} (the MNIST test images)")
    check_outputs({"--json": args.json, "--png": args.png})
    args.network = load_zoo_model(args.model, device=device_of(args))
    if args.mode != "full":  # one image through the layer tells its shape, before all 10,000 are
        shape = capture_activations(args.network, data.subset(range(1)), args.layer, "full").unit_shape
        if len(shape) != 3:
            raise UsageError(f"--mode {args.mode} is for convolutional layers (one number per channel); layer "
                             f"{args.layer} outputs {shape[0] if shape else 1} numbers — leave --mode out")


def command_units(args) -> int:
    data = load_mnist("test")
    started = time.perf_counter()
    activations = ActivationCache().get(args.network, data, args.layer, args.mode, monitor=cancellable(args))
    if args.unit is not None:
        direction = unit_direction(activations.dimension, args.unit)
        title = unit_title(args.layer, args.unit, args.mode, activations.unit_shape)
    else:
        direction = random_direction(activations.dimension, args.random)
        title = f"random direction seed {args.random} of layer {args.layer}"
    result = top_images(activations, direction, args.top, bottom=args.bottom, title=title)
    seconds = time.perf_counter() - started
    which = "bottom" if args.bottom else "top"
    print(f"{title}: {which} {args.top} of {len(data)} MNIST test images ({activations.dimension} dimensions, "
          f"{args.mode}); label purity {100 * result.purity:.0f}%; {seconds:.2f} s")
    for index, score, label in zip(result.indices, result.scores, result.labels):
        print(f"  image {int(index):5d}  label {int(label)}  score {float(score):.4f}")
    record = {"model": find_spec(args.model).name, "layer": args.layer, "mode": args.mode, "title": title,
              "direction": direction.tolist(), "which": which, "indices": result.indices.tolist(),
              "scores": result.scores.tolist(), "labels": result.labels.tolist(), "purity": result.purity}
    captions = [f"{int(label)} ({float(score):.2f})" for label, score in zip(result.labels, result.scores)]
    return write_outputs("units", [
        (args.json, lambda path: atomic_write_json(path, record, indent=None), "the record"),
        (args.png, lambda path: save_image_row(data.images[result.indices, 0].numpy(), captions, path), "the images"),
    ])
