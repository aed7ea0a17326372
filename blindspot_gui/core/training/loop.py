"""The training loop shared by plain and adversarial training: minibatch epochs, shifts, predictions and error rates."""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn
from torch.nn import functional as F

from blindspot_gui.core.data import Dataset, load_mnist, p1_p2_split
from blindspot_gui.core.models.classifier import Classifier, as_classifier
from blindspot_gui.core.models.mnist_zoo import ModelSpec
from blindspot_gui.core.monitor import Monitor


EVAL_BATCH = 2000


@dataclass(frozen=True)
class EpochReport:
    """One point of the live training curve."""

    stage: str
    epoch: int
    epochs: int
    loss: float
    test_error: float


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's global generator seeded with ``seed`` inside the block and put back as it was after it: a training
    run's random numbers are its own, and the caller's next draws are the ones it would have had."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


@contextmanager
def searchable(network: nn.Module, input_shape: tuple[int, ...]) -> Iterator[Classifier]:
    """A network being trained, as a Classifier for a blind-spot search: in eval mode with frozen parameters until
    the block ends, then as it was (the trainer owns its network; a loaded Classifier never leaves eval mode)."""
    if isinstance(network, Classifier):
        yield network
        return
    was_training = network.training
    flags = [parameter.requires_grad for parameter in network.parameters()]
    try:
        yield as_classifier(network, input_shape)
    finally:
        for parameter, flag in zip(network.parameters(), flags):
            parameter.requires_grad_(flag)
        network.train(was_training)


def warm_up(_monitor=None) -> None:
    """Load what torch imports on the first optimiser it builds (about a second, much of it holding the GIL).

    A window calls this in the background at start-up, so that the first training run does not
    stall the interface while torch imports.
    """
    parameter = torch.nn.Parameter(torch.zeros(1))
    torch.optim.Adam([parameter])


def predict_labels(model: nn.Module, images: torch.Tensor, batch_size: int = EVAL_BATCH,
                   monitor: Monitor | None = None) -> torch.Tensor:
    """Predicted labels of ``images`` (N, 1, 28, 28), computed in batches without gradients."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    batches = []
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                if monitor is not None:
                    monitor.check()
                batches.append(model(images[start : start + batch_size].to(device)).argmax(dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(batches) if batches else torch.empty(0, dtype=torch.long)


def error_rate(model: nn.Module, data: Dataset, monitor: Monitor | None = None) -> float:
    """Fraction of ``data`` that ``model`` misclassifies."""
    return float((predict_labels(model, data.images, monitor=monitor) != data.labels).float().mean())


def error_names(spec: ModelSpec) -> tuple[str, ...]:
    """The error rates ``measure_errors`` gives for ``spec``: P1 and P2 too for the cross-training-set models."""
    return ("train", "test", "P1", "P2") if spec.training_data in ("P1", "P2") else ("train", "test")


def measure_errors(model: nn.Module, spec: ModelSpec) -> dict[str, float]:
    """Error on the full training set, the test set and, for the cross-training-set models, P1 and P2."""
    train = load_mnist("train")
    wrong = (predict_labels(model, train.images) != train.labels).float()
    errors = {"train": float(wrong.mean()), "test": error_rate(model, load_mnist("test"))}
    if "P1" in error_names(spec):
        p1, p2 = p1_p2_split()
        errors["P1"] = float(wrong[torch.as_tensor(p1)].mean())
        errors["P2"] = float(wrong[torch.as_tensor(p2)].mean())
    return errors


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by a random whole number of pixels in [-max_shift, max_shift], zero-filled."""
    if max_shift == 0:
        return images
    padded = F.pad(images, (max_shift,) * 4)
    size = images.shape[-1]
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), generator=generator)
    rows = offsets[:, 0, None] + torch.arange(size)
    cols = offsets[:, 1, None] + torch.arange(size)
    batch = torch.arange(len(images))[:, None, None]
    return padded[batch, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def train_epoch(model, optimizer, schedule, data, recipe, generator: torch.Generator, loss_fn,
                monitor: Monitor, message: str) -> float:
    """One pass of shuffled, randomly shifted minibatches through ``loss_fn(images, labels)``; the mean loss.

    ``monitor`` hears the fraction of the epoch done and may cancel before any minibatch.
    """
    model.train()
    device = next(model.parameters()).device
    order = torch.randperm(len(data), generator=generator)
    steps = math.ceil(len(data) / recipe.batch_size)
    total_loss = 0.0
    for step, start in enumerate(range(0, len(data), recipe.batch_size)):
        monitor.check()
        batch = order[start : start + recipe.batch_size]
        images = random_shift(data.images[batch], recipe.augment_shift, generator).to(device)
        loss = loss_fn(images, data.labels[batch].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        total_loss += float(loss.detach()) * len(batch)
        monitor.progress((step + 1) / steps, message)
    return total_loss / len(data)
