"""Training the zoo's models from scratch, with progress, live curves and cancellation through a Monitor."""

from __future__ import annotations

import math
import platform
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from blindspot_gui.core.data import Dataset, load_mnist, training_part
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.models.mnist_zoo import ModelSpec, build_decoder, weight_decay_penalty
from blindspot_gui.core.training.adversarial import run_here, train_adversarially
from blindspot_gui.core.training.loop import EpochReport, error_rate, measure_errors, seeded, train_epoch


@dataclass
class TrainingResult:
    model: nn.Module
    metadata: dict


def _train_softmax_lbfgs(model, spec, data, test, monitor: Monitor) -> None:
    """Softmax regression is convex: solve it to convergence with full-batch L-BFGS."""
    max_evaluations = spec.recipe.epochs
    optimizer = torch.optim.LBFGS(
        model.parameters(), lr=1, max_iter=max_evaluations, max_eval=max_evaluations, history_size=20,
        tolerance_grad=1e-6, tolerance_change=1e-10, line_search_fn="strong_wolfe",
    )
    evaluations = 0

    device = next(model.parameters()).device
    images, labels = data.images.to(device), data.labels.to(device)

    def objective():
        nonlocal evaluations
        monitor.check()
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels) + weight_decay_penalty(model, spec.weight_decay)
        loss.backward()
        evaluations += 1
        value = float(loss.detach())
        monitor.progress(evaluations / max_evaluations, f"L-BFGS evaluation {evaluations}, loss {value:.4f}")
        if evaluations % 25 == 0:
            monitor.partial(EpochReport("softmax", evaluations, max_evaluations, value, error_rate(model, test, monitor)))
        return loss

    optimizer.step(objective)
    monitor.progress(1.0, f"L-BFGS converged after {evaluations} evaluations")


def _minibatch_epochs(model, parameters, loss_fn, data, spec, stage, epochs, monitor: Monitor, test=None) -> None:
    """Adam with a cosine learning-rate schedule over ``epochs`` passes of shuffled minibatches."""
    recipe = spec.recipe
    optimizer = torch.optim.Adam(parameters, lr=recipe.learning_rate)
    steps_per_epoch = math.ceil(len(data) / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(recipe.seed)
    for epoch in range(1, epochs + 1):
        mean_loss = train_epoch(model, optimizer, schedule, data, recipe, generator, loss_fn,
                                monitor.scaled((epoch - 1) / epochs, epoch / epochs), stage)
        test_error = error_rate(model, test, monitor) if test is not None else float("nan")
        monitor.partial(EpochReport(stage, epoch, epochs, mean_loss, test_error))
        monitor.progress(epoch / epochs, f"{stage}: epoch {epoch}/{epochs}, loss {mean_loss:.4f}")


def _train_classifier(model, spec, data, test, monitor: Monitor, epochs: int, input_noise: float = 0.0) -> None:
    """Minibatch training; with ``input_noise`` > 0 every training image gets fresh Gaussian noise of that standard
    deviation, unclipped (the standard trick the paper's adversarial training is measured against), drawn from a
    generator of its own seeded by the recipe, so a run is reproducible."""
    noise = torch.Generator().manual_seed(spec.recipe.seed + 1)

    def loss_fn(images, labels):
        if input_noise > 0:
            images = images + input_noise * torch.randn(images.shape, generator=noise).to(images.device)
        return F.cross_entropy(model(images), labels) + weight_decay_penalty(model, spec.weight_decay)

    _minibatch_epochs(model, model.parameters(), loss_fn, data, spec, "training", epochs, monitor, test)


def _pretrain_autoencoder(model, spec, data, monitor: Monitor) -> float:
    """Train encoder + decoder to reconstruct the images (cross-entropy per pixel); returns the final loss."""
    decoder = build_decoder(spec).to(next(model.parameters()).device)
    encode = nn.Sequential(model.flatten, model.encoder, model.code)
    encoder_decay, _ = spec.weight_decay

    def loss_fn(images, _labels):
        reconstruction = decoder(encode(images))
        penalty = encoder_decay * (model.encoder.weight.pow(2).sum() + decoder[0].weight.pow(2).sum())
        return F.binary_cross_entropy(reconstruction, images) + penalty

    parameters = list(model.encoder.parameters()) + list(decoder.parameters())
    _minibatch_epochs(model, parameters, loss_fn, data, spec, "autoencoder pre-training",
                      spec.recipe.pretrain_epochs, monitor)
    with torch.inference_mode():
        sample = data.images[:5000]
        return float(F.binary_cross_entropy(decoder(encode(sample)), sample))


def train_model(
    spec: ModelSpec, monitor: Monitor | None = None, device: str = "cpu", data: Dataset | None = None,
    checkpoint=None, run_part=run_here, input_noise: float = 0.0,
) -> TrainingResult:
    """Train ``spec`` from scratch on its training data (or on ``data``) and measure its errors.

    Progress goes to ``monitor`` (fraction of all epochs), each finished epoch is sent as an
    :class:`EpochReport` partial result, and ``monitor.check`` is called every minibatch.
    A spec with an adversarial recipe is trained by core/training/adversarial.py instead (its partial results
    are ``AdvTrainReport``s), resuming from and saving to ``checkpoint`` when one is given. ``input_noise`` > 0
    trains a minibatch classifier on images with Gaussian noise of that standard deviation added (see
    ``_train_classifier``).
    """
    monitor = monitor or Monitor()
    if spec.adversarial is not None:
        if input_noise > 0:
            raise ValueError(f"{spec.name} is trained adversarially; noise augmentation is another way of training")
        return _train_adversarially(spec, monitor, device, data, checkpoint, run_part)
    with seeded(spec.recipe.seed):
        model = spec.build().to(device)
        data = data if data is not None else training_part(spec.training_data)
        started = time.perf_counter()
        extra = _train_plainly(model, spec, data, monitor, input_noise)
    wall_time = time.perf_counter() - started
    model.eval()
    model.cpu()
    metadata = training_metadata(spec, model, len(data), wall_time, measure_errors(model, spec), extra)
    return TrainingResult(model, metadata)


def _train_plainly(model: nn.Module, spec: ModelSpec, data: Dataset, monitor: Monitor, input_noise: float) -> dict:
    """Train ``model`` by its recipe (L-BFGS for softmax, minibatches otherwise, after an autoencoder's
    pre-training); what the record adds about it."""
    test = load_mnist("test")
    extra: dict = {"input_noise": input_noise} if input_noise > 0 else {}
    if input_noise > 0 and spec.kind in ("softmax", "autoencoder"):
        raise ValueError(f"noise augmentation is for minibatch classifiers, not for {spec.name}")
    if spec.kind == "softmax":
        _train_softmax_lbfgs(model, spec, data, test, monitor)
    else:
        epochs = spec.recipe.epochs
        if spec.kind == "autoencoder":
            share = spec.recipe.pretrain_epochs / (spec.recipe.pretrain_epochs + epochs)
            extra["reconstruction_loss"] = _pretrain_autoencoder(model, spec, data, monitor.scaled(0, share))
            monitor = monitor.scaled(share, 1)
        _train_classifier(model, spec, data, test, monitor, epochs, input_noise)
    return extra


def _train_adversarially(spec: ModelSpec, monitor: Monitor, device: str, data: Dataset | None,
                         checkpoint, run_part) -> TrainingResult:
    """Adversarial training (core/training/adversarial.py), its curve kept in the record; each epoch is a part that
    ``run_part`` computes (see ``train_adversarially``)."""
    model, curve = train_adversarially(spec, monitor, device, data, checkpoint, run_part=run_part)
    data = data if data is not None else training_part(spec.training_data)
    extra = {"adversarial": asdict(spec.adversarial), "average_min_distortion": curve[-1].distortion,
             "curve": [asdict(point) for point in curve]}
    seconds = sum(point.seconds for point in curve)  # a resumed run: the time of every epoch, not of this call
    metadata = training_metadata(spec, model, len(data), seconds, measure_errors(model, spec), extra)
    return TrainingResult(model, metadata)


def training_metadata(
    spec: ModelSpec, model: nn.Module, training_images: int, wall_time: float, errors: dict, extra: dict
) -> dict:
    """The record written next to the weights: what was trained, how, on what, and how well."""
    paper = spec.paper
    return {
        "name": spec.name,
        "key": spec.key,
        "description": spec.description,
        "architecture": {"kind": spec.kind, "hidden": list(spec.hidden), "modules": str(model)},
        "weight_decay": list(spec.weight_decay),
        "weight_decay_reading": "mean cross-entropy + sum_l lambda_l * ||W_l||_F^2, biases not decayed",
        "training_data": spec.training_data,
        "training_images": training_images,
        "seed": spec.recipe.seed,
        "epochs": spec.recipe.epochs,
        "recipe": asdict(spec.recipe),
        "wall_time_s": round(wall_time, 1),
        "errors": errors,
        "paper": {
            "train": paper.train_error, "test": paper.test_error, "P1": paper.p1_error, "P2": paper.p2_error,
            "distortion": paper.distortion,
        },
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
