"""The stable Python interface of blindspot_gui: what scripts, notebooks and later features call."""

from __future__ import annotations

import torch
from torch import nn

from blindspot_gui.core import data as _data
from blindspot_gui.core.attack.search import AttackConfig, AttackResult, blindspot_search
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.weights import load_zoo_model
from blindspot_gui.core.zoo import zoo_names

__all__ = ["attack", "load_model", "load_mnist", "model_names", "AttackConfig", "AttackResult", "Monitor"]


def load_model(name: str, device: str = "cpu") -> nn.Module:
    """A zoo model with its trained weights, in eval mode.

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
) -> list[AttackResult]:
    """The paper's box-constrained L-BFGS blind-spot search on ``images``; one result per image.

    ``model`` is a torch module or a zoo name; ``images`` (N, 1, 28, 28) in [0, 1]; ``targets`` is
    "next", "random", "least-likely", "none" (untargeted), one label, or one label per image;
    ``labels`` are the true labels (default: the model's predictions). See
    :func:`blindspot_gui.core.attack.search.blindspot_search` for the details.
    """
    if isinstance(model, str):
        model = load_model(model)
    return blindspot_search(model, images, targets, labels, engine=engine, config=config or AttackConfig(),
                            monitor=monitor)
