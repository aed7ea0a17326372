"""A command on one image (compare, pathway, survive): its network and image, the goal, and the blind spot it follows."""

from __future__ import annotations

from pathlib import Path

from blindspot_gui.cli.common import UsageError, parse_image_range, refuse_unused
from blindspot_gui.cli.networks import PHOTO_OPTIONS, check_architecture_file, photo_network_and_image, photo_target
from blindspot_gui.cli.search import check_goal_name, goal_number
from blindspot_gui.core.attack.goal import check_goal
from blindspot_gui.core.attack.request import SearchRequest, search_chain
from blindspot_gui.core.data import load_mnist
from blindspot_gui.core.models.photo_catalogue import is_photo_model_name
from blindspot_gui.core.models.zoo_weights import load_zoo_model



def check_one_image(args, command: str) -> None:
    """For a command on one image (compare, pathway): --model or --model-file, and an --image the network reads (an
    MNIST digit test:I for a zoo network, a photo for a photo network); sets ``args.digit``."""
    if args.model_file and args.model:
        raise UsageError("give --model or --model-file, not both")
    if not args.model_file:
        refuse_unused(args, PHOTO_OPTIONS, "without --model-file (they describe that file)")
    args.digit = _digit_reference(args.image, command)
    if args.digit is not None and (args.model_file or not args.model or is_photo_model_name(args.model)):
        raise UsageError(f"{args.image} is an MNIST digit: give a zoo network for it, e.g. --model fc100-100-10 "
                         "(photo networks take --image FILE)")
    if args.digit is None:
        if args.model and not is_photo_model_name(args.model):
            raise UsageError(f"{args.model} classifies MNIST digits, not photos — give --image test:I")
        check_architecture_file(args)


def _digit_reference(text: str, command: str) -> tuple[str, int] | None:
    """(split, index) for --image test:I or train:I; None for anything else (a photo file)."""
    if Path(text).is_file() or not text.startswith(("test:", "train:")):
        return None
    try:
        split, start, stop = parse_image_range(text)
    except ValueError:
        raise UsageError(f"--image: give one MNIST digit as test:I (e.g. test:0) or a photo file, not {text!r}") from None
    if stop - start != 1:
        raise UsageError(f"--image {text}: {command} takes one image — give test:I")
    return split, start


def one_image(args):
    """(network, pixels (C, H, W) in [0, 1], true label or None, the image in words) of a command on one image."""
    if args.digit is None:
        model, pixels = photo_network_and_image(args)
        return model, pixels, None, Path(args.image).name
    split, index = args.digit
    dataset = load_mnist(split)
    if index >= len(dataset):
        raise ValueError(f"the {split} set has {len(dataset)} images; {args.image} goes past its end")
    label = int(dataset.labels[index])
    return load_zoo_model(args.model), dataset.images[index].numpy(), label, f"MNIST {split} image {index} (a {label})"


def check_goal_choice(args) -> None:
    """--goal minimal, confident or robust, with --confidence or --share (see ``search.check_goal_name``)."""
    args.confidence = goal_number(args.confidence, "--confidence", percent=True)
    try:
        check_goal(args.confidence, None)
    except ValueError as error:
        raise UsageError(f"--confidence: {error}") from None
    check_goal_name(args)


def one_blind_spot(args, monitor):
    """(network, the search's result, the image in words) for --image, --target and --goal: the chain the window runs."""
    import torch

    model, pixels, label, what = one_image(args)
    request = SearchRequest(target=photo_target(args.target, model), confidence=args.confidence, robust=args.robust)
    labels = None if label is None else torch.tensor([label])
    result = search_chain(model, torch.from_numpy(pixels)[None], request, labels, monitor=monitor)[1][0]
    monitor.check()
    return model, result, what
