"""The work of the blind-spot tab, as plain functions run on worker threads (each takes a ``monitor``).

Qt-free in what they do: loading a network, looking for the catalogue's weights, classifying,
searching with a trace of the distortion curve, transfer, saving an 8-bit adversarial image,
training. The tab starts them through the task runner and shows what they return.
"""

from __future__ import annotations

from blindspot_gui.core.attack.quantise import quantise_result
from blindspot_gui.core.attack.search import AttackResult, SearchProgress, blindspot_search
from blindspot_gui.core.attack.transfer import transfer_predictions
from blindspot_gui.core.files import atomic_write
from blindspot_gui.core.images import save_grey_png, save_rgb_png
from blindspot_gui.core.models.classifier import Classifier
from blindspot_gui.core.models.photo_catalogue import (
    PHOTO_MODELS,
    find_photo_model,
    is_photo_model_name,
    load_photo_model,
    photo_model_status,
)
from blindspot_gui.core.models.registry import ModelCache
from blindspot_gui.core.models.weights_io import WeightsError
from blindspot_gui.core.models.zoo_weights import save_model, user_models_dir
from blindspot_gui.core.monitor import Monitor, ScaledMonitor
from blindspot_gui.core.photos import sample_photos
from blindspot_gui.core.training.plain import train_model
from blindspot_gui.qt.widgets.photo_source import decoded_samples


class TracingMonitor(ScaledMonitor):
    """Passes everything to the task's monitor and keeps (iterations, best distortion) of every partial result."""

    def __init__(self, parent: Monitor):
        super().__init__(parent, 0.0, 1.0)
        self.trace: list[tuple[int, float]] = []

    def partial(self, result) -> None:
        if isinstance(result, SearchProgress):
            self.trace.append((result.total_iterations, float(result.best_distortion[0])))
        super().partial(result)


def load_network(models: ModelCache, name: str, weights_path=None, *, monitor: Monitor) -> Classifier:
    """The network called ``name`` from the cache (loaded on first use); a catalogue network from ``weights_path``."""
    monitor.check()
    if is_photo_model_name(name):
        if weights_path is not None:
            classifier = load_photo_model(name, weights_path)
            models.put(name, classifier)
            return models.get(name)
        status = photo_model_status(find_photo_model(name))
        if not status.available and name not in models.loaded():
            raise WeightsError(f"{name}: {status.reason}")
    return models.get(name)


def look_around(*, monitor: Monitor):
    """Where the catalogue's weights are (this imports torchvision), and the sample photos decoded."""
    statuses = {entry.name: photo_model_status(entry) for entry in PHOTO_MODELS}
    return statuses, decoded_samples(sample_photos(), monitor=monitor)


def probabilities_of(classifier: Classifier, pixels, *, monitor: Monitor):
    monitor.check()
    return classifier.probabilities(pixels)


def search_with_trace(classifier: Classifier, pixels, target, labels, config, *, monitor: Monitor):
    """The search for one image, and its distortion curve: (result, [(iterations, best distortion), ...])."""
    tracing = TracingMonitor(monitor)
    result = blindspot_search(classifier, pixels, target, labels, config=config, monitor=tracing)[0]
    return result, tracing.trace


def transfer_to(models: ModelCache, names: list[str], original, adversarial, *, monitor: Monitor):
    """What each named network says of the original and of the adversarial image."""
    loaded = {}
    for step, name in enumerate(names):
        monitor.check()
        loaded[name] = models.get(name)
        monitor.progress((step + 1) / len(names), f"loading {name}")
    return transfer_predictions(loaded, original, adversarial)


def save_adversarial(classifier: Classifier, result: AttackResult, path: str, *, monitor: Monitor):
    """Write the adversarial image as an 8-bit PNG that still meets the search's goal: its Quantised (distortions, answer)."""
    monitor.check()
    kept = quantise_result(classifier, result)
    if kept is None:
        raise ValueError(f"no 8-bit image within 4 times the change still fools {classifier.name}: the blind spot is "
                         "thinner than one grey level. Nothing was saved; save the search record for the exact pixels.")
    pixels = kept.pixels
    writer = save_grey_png if pixels.shape[0] == 1 else save_rgb_png
    atomic_write(path, lambda stream: writer(pixels[0] if pixels.shape[0] == 1 else pixels, stream))
    return kept


def train_and_save(spec, device: str, *, monitor: Monitor):
    """Train a zoo model from scratch and save its weights among the user's models; the file's path."""
    result = train_model(spec, monitor, device=device)
    return save_model(result.model, spec, result.metadata, user_models_dir())
