"""Adversarial training (section 4.2): a pool of blind-spot examples, partly renewed every epoch, mixed into training.

Szegedy et al. (section 4.2) trained a 100-100-10 net on its training set together with a pool of
adversarial examples whose contents were replaced, a random part at a time, by new ones made for
the net as it trained; they report that the gains came from making such examples for the output
of every layer and training the layers above. Both are here: ``AdversarialRecipe.layers`` names
where examples are made, "input" for the image, or a hidden layer (a sigmoid's output lies in
[0, 1], so the same box-constrained search applies to it) whose examples train only the layers
above it.

Our choices where the paper is silent (stated in ``AdversarialRecipe``): after a first epoch of
plain training, each epoch ``refresh`` random training images (with ``shifted_sources``, moved by
a random pixel as the clean minibatches are) that the current net classifies
correctly are pushed over the boundary of the nearest wrong class by a shortened L-BFGS search
(``POOL_SEARCHES``); the examples within ``max_distortion`` RMS join the pool (which fills up, then
each newcomer replaces a random older entry), and every minibatch of clean images gets ``mix``
times as many pool examples, with their true labels. Without the distortion cap, or with random
target labels, the net's blind spots move ever further out as it trains and the pool fills with
large changes: test error stalled near 2.3% (against 1.37% without adversarial examples). A run
keeps a checkpoint after every epoch, so a cancelled or crashed run resumes from its last epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from blindspot_gui.core.attack.search import AttackConfig, blindspot_search, random_wrong_labels
from blindspot_gui.core.data import Dataset, load_mnist, training_part
from blindspot_gui.core.files import atomic_write
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.threads import torch_threads
from blindspot_gui.core.training.loop import error_rate, random_shift, searchable, seeded, train_epoch
from blindspot_gui.core.models.mnist_zoo import IMAGE_SHAPE, AdversarialRecipe, ModelSpec, weight_decay_penalty
from blindspot_gui.core.models.weights_io import load_torch_file

POOL_SEARCHES = {
    "quick": AttackConfig(grid_size=2, bisection_rounds=0, max_iterations=10, boundary_steps=4, untargeted_candidates=1,
                          slide_rounds=0),
    "short": AttackConfig(bisection_rounds=1, max_iterations=20, boundary_steps=6, untargeted_candidates=1,
                          slide_rounds=0),
}
"""Shortened searches for the pool: examples near the boundary serve training; they need not be minimal (so no
slide along the boundary). "quick" costs about a quarter of "short" and keeps 90% as many examples under the
distortion cap."""
DISTORTION_ATTACK = AttackConfig(slide_rounds=0)
"""The full c search, for the net's average minimum distortion; without the slide along the boundary (about 0.1%
smaller on FC100-100-10), as the adversarial-training runs in the README were measured, until they are run again."""
PROBE_IMAGES = 200
"""The first this many test images measure the average minimum distortion during training."""


@dataclass(frozen=True)
class AdvTrainReport:
    """One point of the live curve: test error after an epoch, and the average minimum distortion when measured."""

    epoch: int
    epochs: int
    loss: float
    test_error: float
    distortion: float | None
    pool: dict
    seconds: float


def split_at(model: nn.Sequential, layer: str) -> tuple[nn.Module, nn.Module]:
    """(the layers up to and including ``layer``, the layers above it) of a sequential net; "input" splits before all."""
    names = [name for name, _ in model.named_children()]
    if layer == "input":
        return nn.Identity(), model
    if layer not in names:
        raise ValueError(f"no layer {layer!r} in the net; it has {', '.join(names)}")
    cut = names.index(layer) + 1
    return model[:cut], model[cut:]


class _Features(nn.Module):
    """The layers above a hidden layer, taking its activations shaped as (N, 1, 1, D) images."""

    def __init__(self, upper: nn.Module):
        super().__init__()
        self.upper = upper

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.upper(features.flatten(1))


def make_examples(model: nn.Sequential, layer: str, images, labels, generator: torch.Generator,
                  recipe: AdversarialRecipe, monitor: Monitor | None = None):
    """Adversarial examples at ``layer`` for the images the net gets right, each with its true label.

    The search aims at the recipe's target ("nearest": the wrong class a linear model of the net
    puts nearest; "random": a random wrong label) and keeps the examples whose RMS distortion is at
    most the recipe's ``max_distortion`` for ``layer``. Returns (examples, labels, mean RMS distortion); examples are
    images (N, 1, 28, 28) for "input" and activations (N, 1, 1, D) of ``layer`` otherwise.
    """
    lower, upper = split_at(model, layer)
    inputs = images
    if layer != "input":
        with torch.inference_mode():
            inputs = lower(images.to(next(model.parameters()).device)).cpu()
        inputs = inputs.flatten(1).clamp(0, 1)[:, None, None, :]
        upper = _Features(upper)
    targets = random_wrong_labels(labels, generator) if recipe.target == "random" else "none"
    with searchable(upper, tuple(inputs.shape[1:])) as classifier:
        results = blindspot_search(classifier, inputs.clone(), targets, labels, config=POOL_SEARCHES[recipe.search],
                                   monitor=monitor)
    cap = recipe.max_distortion[recipe.layers.index(layer)] if layer in recipe.layers else max(recipe.max_distortion)
    kept = [result for result in results if result.success and result.original_prediction == result.label
            and result.distortion <= cap]
    if not kept:
        return inputs[:0], labels[:0], float("nan")
    examples = torch.stack([torch.from_numpy(result.adversarial) for result in kept])
    kept_labels = torch.tensor([result.label for result in kept])
    return examples, kept_labels, sum(result.distortion for result in kept) / len(kept)


def average_min_distortion(model: nn.Module, images, labels, seed: int = 0, monitor: Monitor | None = None) -> float:
    """Mean RMS of the smallest perturbation to a seeded random wrong label, over the images the net gets right."""
    generator = torch.Generator().manual_seed(seed)
    targets = random_wrong_labels(labels, generator)
    with searchable(model, tuple(images.shape[1:])) as classifier:
        results = blindspot_search(classifier, images, targets, labels, config=DISTORTION_ATTACK, monitor=monitor)
    values = [result.distortion for result in results if result.success and result.original_prediction == result.label]
    return sum(values) / len(values) if values else float("nan")


class Pool:
    """Adversarial examples of one layer with their labels; fills up, then fresh ones replace random entries."""

    def __init__(self, layer: str, capacity: int):
        self.layer = layer
        self.capacity = capacity
        self.examples: torch.Tensor | None = None
        self.labels = torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def add(self, examples: torch.Tensor, labels: torch.Tensor, generator: torch.Generator) -> None:
        """Append while there is room; then each further example replaces a different random older entry."""
        if len(labels) == 0:
            return
        if self.examples is None:
            self.examples = examples[:0]
        older = len(self)
        room = max(self.capacity - older, 0)
        self.examples = torch.cat([self.examples, examples[:room]])
        self.labels = torch.cat([self.labels, labels[:room]])
        slots = torch.randperm(older, generator=generator)[: max(len(labels) - room, 0)]
        self.examples[slots] = examples[room : room + len(slots)]
        self.labels[slots] = labels[room : room + len(slots)]

    def sample(self, count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        chosen = torch.randint(0, len(self), (count,), generator=generator)
        return self.examples[chosen], self.labels[chosen]

    def state(self) -> dict:
        return {"examples": self.examples, "labels": self.labels}

    def restore(self, state: dict) -> None:
        self.examples, self.labels = state["examples"], state["labels"]


def _minibatch_loss(model, spec, pools, images, labels, mix: float, generator) -> torch.Tensor:
    """Cross-entropy over the clean minibatch and a sample of each pool (pool examples train the layers above them)."""
    device = images.device
    total = F.cross_entropy(model(images), labels, reduction="sum")
    count = len(labels)
    for pool in pools:
        if len(pool) == 0:
            continue
        examples, pool_labels = pool.sample(max(1, round(mix * len(labels))), generator)
        examples, pool_labels = examples.to(device), pool_labels.to(device)
        _, upper = split_at(model, pool.layer)
        logits = upper(examples) if pool.layer == "input" else upper(examples.flatten(1))
        total = total + F.cross_entropy(logits, pool_labels, reduction="sum")
        count += len(pool_labels)
    return total / count + weight_decay_penalty(model, spec.weight_decay)


def _refresh_pools(model, pools, data: Dataset, spec: ModelSpec, generator, monitor: Monitor) -> dict:
    """Make ``refresh`` fresh examples per layer from random training images; returns their mean distortion.

    With the recipe's ``shifted_sources`` the images are shifted as the clean minibatches are.
    """
    recipe = spec.adversarial
    model.eval()
    chosen = torch.randperm(len(data), generator=generator)[: recipe.refresh]
    images = data.images[chosen]
    if recipe.shifted_sources:
        images = random_shift(images, spec.recipe.augment_shift, generator)
    distortions = {}
    for position, pool in enumerate(pools):
        sub = monitor.scaled(position / len(pools), (position + 1) / len(pools))
        examples, labels, distortion = make_examples(model, pool.layer, images, data.labels[chosen],
                                                     generator, recipe, sub)
        monitor.check()
        pool.add(examples, labels, generator)
        distortions[pool.layer] = distortion
    return distortions


def _checkpoint_state(model, optimizer, schedule, pools, generator, epoch, history) -> dict:
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
            "pools": {pool.layer: pool.state() for pool in pools}, "generator": generator.get_state(),
            "epoch": epoch, "history": history}


def _save_checkpoint(path: Path, state: dict) -> None:
    """Write the checkpoint in one step (unique temporary name, fsync, rename): a crash keeps the previous one."""
    atomic_write(path, lambda stream: torch.save(state, stream))


def _load_checkpoint(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        return load_torch_file(path)  # torch reads only the records Python checked
    except Exception:  # a damaged checkpoint: start again rather than fail
        return None


def _resume(state, model, optimizer, schedule, pools, generator, fresh: nn.Module) -> tuple[list[dict], int]:
    """Restore a checkpoint into the run's objects; (history, first epoch to run). Raises on a checkpoint that
    does not fit (missing keys, wrong shapes, pools of another size) before the caller has used anything of it."""
    fresh.load_state_dict(state["model"])  # shapes and names checked on a spare copy first
    pool_states = {pool.layer: state["pools"][pool.layer] for pool in pools}
    for layer, pool_state in pool_states.items():
        examples, labels = pool_state["examples"], pool_state["labels"]
        if examples is None and isinstance(labels, torch.Tensor) and len(labels) == 0:
            continue  # still empty: the warm-up epochs make no examples
        if not (isinstance(examples, torch.Tensor) and isinstance(labels, torch.Tensor) and len(examples) == len(labels)
                and labels.dtype == torch.long and examples.dtype == torch.float32):
            raise ValueError(f"the pool of layer {layer} is malformed")
    history = [dict(point) for point in state["history"]]
    for point in history:
        AdvTrainReport(**point)
    first_epoch = int(state["epoch"]) + 1
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    for pool in pools:
        pool.restore(pool_states[pool.layer])
    generator.set_state(state["generator"])
    return history, first_epoch


@dataclass
class _Run:
    """Everything one adversarial training run holds between epochs."""

    spec: ModelSpec
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    pools: list[Pool]
    generator: torch.Generator
    data: Dataset
    test: Dataset
    probe: tuple[torch.Tensor, torch.Tensor]
    history: list[dict]

    def state(self, epoch: int) -> dict:
        """The checkpoint after ``epoch``, on the CPU (it travels between processes and machines)."""
        return _on_cpu(_checkpoint_state(self.model, self.optimizer, self.schedule, self.pools, self.generator, epoch,
                                         self.history))


def _on_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value


def _new_run(spec: ModelSpec, device: str, data: Dataset | None, distortion_images: int) -> _Run:
    """A run at its start (inside ``seeded(recipe.seed)``): the net initialised from the seed, empty pools, fresh
    optimiser and schedule."""
    recipe = spec.recipe
    model = spec.build().to(device)  # in the caller's seeded(recipe.seed)
    data = data if data is not None else training_part(spec.training_data)
    test = load_mnist("test")
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.learning_rate)
    steps_per_epoch = math.ceil(len(data) / recipe.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, recipe.epochs * steps_per_epoch)
    return _Run(spec, model, optimizer, schedule, [Pool(layer, spec.adversarial.pool_size) for layer in
                                                   spec.adversarial.layers],
                torch.Generator().manual_seed(recipe.seed), data, test,
                (test.images[:distortion_images], test.labels[:distortion_images]), [])


def _run_one_epoch(run: _Run, epoch: int, monitor: Monitor) -> AdvTrainReport:
    """Renew the pools (after the warm-up), train one epoch on clean and pool examples, measure the net."""
    spec, adversarial = run.spec, run.spec.adversarial
    started = time.perf_counter()
    span = monitor.scaled(0.0, 1.0)
    span.progress(0.0, f"epoch {epoch}/{spec.recipe.epochs}: making adversarial examples")
    pool_distortion = {pool.layer: None for pool in run.pools}
    if epoch > adversarial.warmup_epochs:
        pool_distortion = _refresh_pools(run.model, run.pools, run.data, spec, run.generator, span.quiet(0.0, 0.4))
    loss = _train_epoch(run.model, spec, run.pools, run.data, adversarial.mix, run.optimizer, run.schedule,
                        run.generator, span.scaled(0.4, 0.9), epoch)
    test_error = error_rate(run.model, run.test, monitor)
    distortion = None
    if epoch % adversarial.distortion_every == 0 or epoch == spec.recipe.epochs:
        span.progress(0.9, f"epoch {epoch}: measuring the average minimum distortion")
        distortion = average_min_distortion(run.model, *run.probe, monitor=span.quiet(0.9, 1.0))
        monitor.check()
    return AdvTrainReport(epoch, spec.recipe.epochs, loss, test_error, distortion,
                          {layer: {"size": len(pool), "distortion": pool_distortion[layer]}
                           for layer, pool in zip(adversarial.layers, run.pools)},
                          round(time.perf_counter() - started, 2))


def adversarial_epoch(spec: ModelSpec, state: dict | None, epoch: int, device: str = "cpu",
                      data: Dataset | None = None, distortion_images: int = PROBE_IMAGES, threads: int | None = None,
                      monitor: Monitor | None = None) -> dict:
    """One epoch of adversarial training as a part, computed from its arguments alone (here or on a cluster's
    worker): from the checkpoint after the epoch before (None: the start of the run) to the one after ``epoch``,
    with ``threads`` intra-op threads (None: as many as now), since sums round differently with another count."""
    with torch_threads(threads), seeded(spec.recipe.seed):
        run = _new_run(spec, device, data, distortion_images)
        if state is not None:
            run.history, _ = _resume(state, run.model, run.optimizer, run.schedule, run.pools, run.generator,
                                     spec.build())
        run.history.append(asdict(_run_one_epoch(run, epoch, monitor or Monitor())))
        return run.state(epoch)


def _fitting_checkpoint(spec: ModelSpec, checkpoint: Path | None, monitor: Monitor) -> dict | None:
    """The checkpoint saved at ``checkpoint`` if it fits this run; one that does not is said, deleted and ignored."""
    state = _load_checkpoint(checkpoint)
    if state is None:
        return None
    with seeded(spec.recipe.seed):
        run = _new_run(spec, "cpu", Dataset(torch.zeros(1, *IMAGE_SHAPE), torch.zeros(1, dtype=torch.long)), 0)
    try:
        _resume(state, run.model, run.optimizer, run.schedule, run.pools, run.generator, spec.build())
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        monitor.progress(0.0, f"checkpoint {checkpoint.name} does not fit this run ({error!r:.80}): starting again")
        checkpoint.unlink(missing_ok=True)
        return None
    return state


def run_here(key: str, function, args: tuple, monitor: Monitor):
    """Compute a part in this process (the default of ``train_adversarially``'s ``run_part``)."""
    return function(*args, monitor=monitor)


def train_adversarially(spec: ModelSpec, monitor: Monitor | None = None, device: str = "cpu",
                        data: Dataset | None = None, checkpoint: Path | None = None,
                        distortion_images: int = PROBE_IMAGES,
                        run_part=run_here) -> tuple[nn.Module, list[AdvTrainReport]]:
    """Train ``spec`` from scratch with its adversarial recipe; returns the net and the curve.

    Each epoch is a part (``adversarial_epoch``) that ``run_part(key, function, args, monitor)`` computes, here by
    default (an experiment may send it to a cluster), and sends an :class:`AdvTrainReport` partial result; the
    net's average minimum distortion on the first ``distortion_images`` test images is measured every
    ``recipe.distortion_every`` epochs and after the last. With ``checkpoint`` the run resumes
    from the last finished epoch saved there and saves after every epoch.
    """
    monitor = monitor or Monitor()
    epochs = spec.recipe.epochs
    state = _fitting_checkpoint(spec, checkpoint, monitor)
    for point in [] if state is None else state["history"]:
        monitor.partial(AdvTrainReport(**point))
    for epoch in range(1 if state is None else int(state["epoch"]) + 1, epochs + 1):
        monitor.check()
        span = monitor.scaled((epoch - 1) / epochs, epoch / epochs)
        state = run_part(f"epoch {epoch}", adversarial_epoch,
                         (spec, state, epoch, device, data, distortion_images, torch.get_num_threads()), span)
        if checkpoint is not None:
            _save_checkpoint(checkpoint, state)
        report = AdvTrainReport(**state["history"][-1])
        monitor.partial(report)
        monitor.progress(epoch / epochs, f"epoch {epoch}/{epochs}: test error {report.test_error:.2%}")
    model = spec.build()
    model.load_state_dict(state["model"])
    model.eval()
    return model, [AdvTrainReport(**point) for point in state["history"]]


def _train_epoch(model, spec, pools, data, mix, optimizer, schedule, generator, monitor: Monitor, epoch) -> float:
    def loss_fn(images, labels):
        return _minibatch_loss(model, spec, pools, images, labels, mix, generator)

    return train_epoch(model, optimizer, schedule, data, spec.recipe, generator, loss_fn, monitor,
                       f"epoch {epoch}: training")
