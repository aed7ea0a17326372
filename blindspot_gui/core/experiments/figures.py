"""The data of the paper's figure layouts for slides: Figure 5 (originals, changes, adversarial examples pushed to one
target) and Figure 7 (adversarial examples beside Gaussian noise that leaves the images readable).

One blind-spot search on a batch of N images (the current network's: test digits, or the sample photos)
gives both; the noise is drawn once per image with a fixed seed. Drawing the sheets is the window's job
(qt/figures.py); this module computes what they show, with progress and cancellation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from blindspot_gui.core.attack.config import config_for
from blindspot_gui.core.attack.search import blindspot_search
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.photos import read_photo

DIGIT_EXAMPLES = 8
PHOTO_EXAMPLES = 4
DIGIT_NOISE = 0.1
"""Noise stddev of the digit sheet: Table 2's first noise row, about twice the RMS of a minimal adversarial change,
which leaves the digits readable. The noise is clipped to [0, 1], so the sheet shows exactly what the network
reads; clipping brightens MNIST's black background, which costs the sigmoid networks more than the noise itself
(FC100-100-10 misreads 10% of test digits at 0.1, 52% at 0.3, 83% at 1). The paper's Figure 7 used stddev 1,
at which its digits were "hardly readable" and half were still read correctly."""
PHOTO_NOISE = 0.05
NOISE_SEED = 7


@dataclass(frozen=True)
class SheetExample:
    """One image of a sheet: the original, its blind spot, and a noisy copy, with what the network says of each."""

    original: np.ndarray
    adversarial: np.ndarray
    perturbation: np.ndarray
    noisy: np.ndarray
    label: int | None
    """the true label when known."""
    original_prediction: int
    adversarial_prediction: int
    noisy_prediction: int
    target: int | None
    distortion: float
    success: bool


@dataclass(frozen=True)
class FigureData:
    """What both sheets show: the network, the examples, the target and the noise, and when it was made."""

    network: str
    class_names: tuple[str, ...]
    examples: tuple[SheetExample, ...]
    target: str
    """how the target was chosen, in words ("ostrich", "(y + 1) mod 10")."""
    noise_stddev: float
    made: str
    """the date, YYYY-MM-DD."""

    @property
    def mean_distortion(self) -> float:
        fooled = [example.distortion for example in self.examples if example.success]
        return float(np.mean(fooled)) if fooled else float("nan")

    @property
    def fooled(self) -> int:
        return sum(example.success and example.adversarial_prediction != example.original_prediction
                   for example in self.examples)

    @property
    def noise_kept(self) -> int:
        """How many noisy copies the network still reads as it read the original."""
        return sum(example.noisy_prediction == example.original_prediction for example in self.examples)

    def name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def caption(self, figure: int) -> str:
        """The sheet's caption: the network, the mean distortion (RMS) and the date."""
        count = len(self.examples)
        if figure == 5:
            return (f"{self.network}: {count} image{'s' if count != 1 else ''}, each pushed to {self.target}; {self.fooled} of {count} fooled, "
                    f"mean distortion {self.mean_distortion:.4f} RMS (pixels in [0, 1]). Made {self.made} with "
                    "blindspot_gui (Szegedy et al. 2014, Figure 5 layout).")
        ratio = self.noise_stddev / self.mean_distortion if self.mean_distortion > 0 else float("nan")
        return (f"{self.network}: adversarial examples (mean distortion {self.mean_distortion:.4f} RMS) fool it on "
                f"{self.fooled} of {count} images; Gaussian noise of stddev {self.noise_stddev:g} ({ratio:.1f} times "
                f"as large) leaves {self.noise_kept} of {count} read as before. Made {self.made} with blindspot_gui "
                "(Szegedy et al. 2014, Figure 7 layout).")


def target_words(targets, class_names) -> str:
    """A target rule or class as the caption names it."""
    if targets == "next":
        return f"(y + 1) mod {len(class_names)}"
    if isinstance(targets, str) and targets in ("none", "random", "least-likely"):
        return {"none": "the nearest wrong class", "random": "a random wrong class",
                "least-likely": "the least likely class"}[targets]
    return f"“{class_names[int(targets)]}”"


def figure_data(model: Classifier, images, labels=None, targets="next", noise_stddev: float | None = None,
                *, monitor: Monitor | None = None) -> FigureData:
    """Search the blind spots of ``images`` (N, C, H, W) for ``targets`` (see blindspot_search) in one batch, and
    draw Gaussian noise of ``noise_stddev`` (clipped to [0, 1]) for each."""
    monitor = monitor or Monitor()
    images = torch.as_tensor(np.asarray(images, dtype=np.float32))
    noise_stddev = (DIGIT_NOISE if model.is_digit_network else PHOTO_NOISE) if noise_stddev is None else noise_stddev
    results = blindspot_search(model, images, targets, labels, config=config_for(model), monitor=monitor.scaled(0, 0.95))
    monitor.check()
    generator = torch.Generator().manual_seed(NOISE_SEED)
    noisy = (images + noise_stddev * torch.randn(images.shape, generator=generator)).clamp(0.0, 1.0)
    noisy_predictions = model.probabilities(noisy).argmax(axis=1)
    monitor.progress(1.0, "done")
    examples = tuple(SheetExample(result.original, result.adversarial, result.perturbation, noisy[index].numpy(),
                                  None if labels is None else int(labels[index]), result.original_prediction,
                                  result.adversarial_prediction, int(noisy_predictions[index]), result.target,
                                  result.distortion, result.success and not result.cancelled)
                     for index, result in enumerate(results))
    return FigureData(model.name, tuple(model.class_names), examples, target_words(targets, model.class_names),
                      float(noise_stddev), time.strftime("%Y-%m-%d"))


def digit_figure_data(model: Classifier, dataset, first: int = 0, count: int = DIGIT_EXAMPLES, targets="next",
                      noise_stddev: float | None = None, *, monitor: Monitor | None = None) -> FigureData:
    """``figure_data`` for ``count`` test digits from ``first`` on (wrapping around the data set)."""
    indices = [(first + offset) % len(dataset) for offset in range(count)]
    chosen = dataset.subset(indices)
    return figure_data(model, chosen.images, chosen.labels.numpy(), targets, noise_stddev, monitor=monitor)


def photo_figure_data(model: Classifier, paths, resize: int, crop: int, targets="ostrich",
                      noise_stddev: float | None = None, *, monitor: Monitor | None = None) -> FigureData:
    """``figure_data`` for photo files, read as the network reads them (shorter side ``resize``, centre ``crop``)."""
    monitor = monitor or Monitor()
    photos = []
    for path in paths:
        monitor.check()
        photos.append(read_photo(path, resize, crop))
    if not photos:
        raise ValueError("there are no photos to put on the sheet: the sample photos are missing")
    if isinstance(targets, str) and targets not in ("next", "none", "random", "least-likely"):
        targets = _class_number(targets, model.class_names)
    return figure_data(model, np.stack(photos), None, targets, noise_stddev, monitor=monitor)


def _class_number(name: str, class_names) -> int:
    names = [str(entry).lower() for entry in class_names]
    if name.lower() in names:
        return names.index(name.lower())
    raise ValueError(f"the network has no class called {name!r}")


__all__ = ["FigureData", "SheetExample", "digit_figure_data", "figure_data", "photo_figure_data",
           "target_words"]
