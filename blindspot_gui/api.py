"""The stable Python interface of blindspot_gui: what scripts, notebooks and later features call."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from blindspot_gui.core import data as _data
from blindspot_gui.core.attack.search import AttackConfig, AttackResult, blindspot_search, config_for, validate_images
from blindspot_gui.core.models.classifier import Classifier, as_classifier
from blindspot_gui.core.models.mnist_zoo import zoo_names
from blindspot_gui.core.models.registry import load_classifier as _load_classifier
from blindspot_gui.core.models.zoo_weights import load_zoo_model
from blindspot_gui.core.monitor import Monitor

__all__ = ["attack", "load_classifier", "load_model", "load_mnist", "model_names", "AttackConfig", "AttackResult",
           "Classifier", "Monitor"]


def load_classifier(name, device: str = "cpu", **file_options) -> Classifier:
    """Any network as a :class:`Classifier`: a zoo name, a photo network's name (e.g. "EfficientNet-Lite0"), or the
    path of a weights file of your own.

    A Classifier maps float images (N, C, H, W) with pixels in [0, 1] in its ``input_shape`` to
    logits, normalising them itself, and knows its ``class_names``. For a file, ``file_options``
    are ``architecture`` (a zoo or torchvision name), ``preprocessing`` ("imagenet",
    "efficientnet-lite" or "none"), ``class_names_file`` and ``input_range`` (ONNX only).
    """
    return _load_classifier(name, device=device, **file_options)


def load_model(name: str, device: str = "cpu") -> Classifier:
    """A zoo model with its trained weights, as a Classifier (in eval mode).

    It maps float images of shape (N, 1, 28, 28) with pixels in [0, 1] to logits of shape (N, 10).
    ``name`` is a zoo name such as "FC100-100-10" or its file key such as "fc100-100-10";
    see :func:`model_names`.
    """
    return load_zoo_model(name, device=device)


def load_mnist(split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled, checksum-verified MNIST ``split`` ("train" or "test").

    Returns images as float32 in [0, 1] of shape (N, 1, 28, 28) and labels as int64 of shape (N,).
    """
    dataset = _data.load_mnist(split)
    return dataset.images, dataset.labels


def model_names() -> list[str]:
    """The names of the models in the zoo."""
    return zoo_names()


def attack(
    model,
    images,
    targets="next",
    labels=None,
    *,
    engine: str = "fast",
    config: AttackConfig | None = None,
    monitor: Monitor | None = None,
    confidence: float | None = None,
    margin: float | None = None,
) -> list[AttackResult]:
    """The paper's box-constrained L-BFGS blind-spot search on ``images``; one result per image.

    ``model`` is a Classifier, a network's name or file (see :func:`load_classifier`) or any torch module mapping
    ``images`` to logits (put in eval mode); ``images`` (N, C, H, W) in [0, 1] in the network's input shape; ``targets`` is
    "next", "random", "least-likely", "none" (untargeted), one label, or one label per image;
    ``labels`` are the true labels (default: the model's predictions); ``config`` defaults to the settings the
    application uses for that network (fewer, cheaper solves for photos). ``confidence`` p (0 < p < 1) asks instead
    for the smallest change after which the network answers the target with probability >= p, ``margin`` kappa for
    a logit margin >= kappa (each result's ``goal`` and ``target_probability`` say what was reached). See
    :func:`blindspot_gui.core.attack.search.blindspot_search` for the details.
    """
    images = validate_images(images)
    classifier = load_classifier(model) if isinstance(model, (str, Path)) else as_classifier(model, images.shape[1:])
    config = config or config_for(classifier)
    if confidence is not None or margin is not None:
        config = dataclasses.replace(config, confidence=confidence, margin=margin)
    return blindspot_search(classifier, images, targets, labels, engine=engine, config=config, monitor=monitor)
