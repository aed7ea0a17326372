"""The network a command runs on: the user's own --model-file, a digit or a photo network, and their options."""

from __future__ import annotations

from pathlib import Path

from blindspot_gui.cli.common import UsageError, cancellable, device_of
from blindspot_gui.core.attack.search import TARGET_POLICIES
from blindspot_gui.core.models.class_names import class_index
from blindspot_gui.core.models.onnx_network import is_onnx
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.photo_catalogue import DEFAULT_PHOTO_MODEL, load_photo_model
from blindspot_gui.core.models.registry import canonical_name
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.photos import read_photo


PHOTO_OPTIONS = {"architecture": "--architecture", "preprocessing": "--preprocessing", "classes": "--classes",
                 "input_range": "--input-range"}


def check_architecture_file(args) -> None:
    """--architecture describes a state dict; an ONNX file carries its own, and only it has an input range."""
    if not (args.model_file and Path(args.model_file).is_file()):
        return
    graph = is_onnx(args.model_file)
    if args.architecture and graph:
        raise UsageError(f"--architecture is not used: '{args.model_file}' is ONNX, which carries its own "
                         "architecture — leave it out")
    if args.input_range and not graph:
        raise UsageError(f"--input-range is not used: '{args.model_file}' holds weights for an architecture that "
                         "reads pixels in 0-1 — leave it out")


def own_network(args, photo: bool):
    """The network of --model-file with the options that describe it, on --device; a state dict of a ``photo``
    network takes ImageNet's normalisation unless --preprocessing says otherwise (an ONNX file's metadata may)."""
    preprocessing = args.preprocessing or ("imagenet" if photo and not is_onnx(args.model_file) else None)
    model = load_own_network(args.model_file, args.architecture, preprocessing, args.classes,
                             input_range=args.input_range, monitor=cancellable(args))
    return model.to(device_of(args))


def digit_network(args):
    """The digit network of --model (the zoo) or --model-file, on --device; a ValueError for a photo network."""
    if not args.model_file:
        return load_zoo_model(canonical_name(args.model), device=device_of(args))  # an unknown name lists them all
    model = own_network(args, photo=False)
    if not model.is_digit_network:
        raise ValueError(f"'{args.model_file}' reads {'x'.join(map(str, model.input_shape))} photos, not 28x28 "
                         "digits: give the photo with --image FILE")
    return model


def photo_network_and_image(args):
    """The photo network of --model or --model-file (default EfficientNet-Lite0), and --image read as it sees photos:
    (Classifier, float32 (3, H, W) pixels in [0, 1])."""
    if args.model_file:
        model = own_network(args, photo=True)
        if model.is_digit_network:
            raise ValueError(f"'{args.model_file}' reads 28x28 digits, not photos: attack MNIST test digits with "
                             "--images test:I")
    else:
        model = load_photo_model(args.model or DEFAULT_PHOTO_MODEL).to(device_of(args))
    return model, read_photo(args.image, model.preprocessing.resize, model.preprocessing.crop)


def photo_target(text: str, model):
    """A rule name (next, random, least-likely, none) as it is; otherwise the class the text names."""
    return text if text in TARGET_POLICIES else class_index(text, model.class_names)

