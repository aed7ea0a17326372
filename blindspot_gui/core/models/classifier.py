"""The Classifier: every network the application attacks, whatever its origin, with what is needed to use it.

A :class:`Classifier` takes images in pixel space, float (N, C, H, W) in [0, 1] of its
``input_shape``, and returns logits (N, K). It owns the network's preprocessing (none for the MNIST
zoo, each photo network's own normalisation), so that searches, noise, Lipschitz bounds and
distortions are always measured on the pixels a person sees; it knows its class names, its
device and a content fingerprint of its weights, and it is put in eval mode with frozen
parameters once, when it is made. Attacks, units, transfer and experiments take a Classifier and
never ask where it came from (the MNIST zoo, the photo catalogue or a user's file).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blindspot_gui.core.photos import PHOTO_CROP, PHOTO_RESIZE

PIXEL_BOUNDS = (0.0, 1.0)
"""The box every image lives in: pixels in [0, 1]."""


@dataclass(frozen=True)
class Preprocessing:
    """How a photo becomes a network input: resize the shorter side, crop the centre, then (x - mean) / std."""

    name: str
    description: str
    resize: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def is_identity(self) -> bool:
        return all(value == 0.0 for value in self.mean) and all(value == 1.0 for value in self.std)


PREPROCESSINGS = {
    "imagenet": Preprocessing("imagenet", "torchvision's ImageNet normalisation (mean and std per channel)",
                              PHOTO_RESIZE, PHOTO_CROP, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "efficientnet-lite": Preprocessing("efficientnet-lite", "(x·255 − 127) / 128, as EfficientNet-Lite was trained",
                                       PHOTO_RESIZE, PHOTO_CROP, (127 / 255,) * 3, (128 / 255,) * 3),
    "none": Preprocessing("none", "pixels in [0, 1] as they are", PHOTO_RESIZE, PHOTO_CROP, (0.0,) * 3, (1.0,) * 3),
}


class Classifier(nn.Module):
    """A network behind its own preprocessing: forward takes pixels in [0, 1] of ``input_shape``, returns logits."""

    def __init__(self, network: nn.Module, *, name: str, input_shape: tuple[int, ...], class_names,
                 preprocessing: Preprocessing | None = None, origin: str = "", description: str = ""):
        super().__init__()
        self.network = network
        self.name = name
        self.input_shape = tuple(int(size) for size in input_shape)
        self.class_names = list(class_names)
        self.preprocessing = preprocessing
        self.origin = origin
        """"zoo", "catalogue" or "file": where the network came from (shown to people, never used by computations)."""
        self.description = description
        self._normalised = preprocessing is not None and not preprocessing.is_identity
        if self._normalised:
            shape = (1, len(preprocessing.mean), 1, 1)
            self.register_buffer("mean", torch.tensor(preprocessing.mean).view(shape), persistent=False)
            self.register_buffer("std", torch.tensor(preprocessing.std).view(shape), persistent=False)
        network.eval()  # once, here: a Classifier is only ever used for inference
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        super().train(False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        if self._normalised:
            pixels = (pixels - self.mean) / self.std
        return self.network(pixels)

    def train(self, mode: bool = True) -> "Classifier":
        if mode:
            raise RuntimeError(f"{self.name} is a Classifier, made for inference; train its network instead")
        return super().train(False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_digit_network(self) -> bool:
        """Whether it reads MNIST-style digits (28x28 grey), so that the MNIST browser and digit conversion apply."""
        return self.input_shape == (1, 28, 28)

    @property
    def device(self) -> torch.device:
        return module_device(self)

    @property
    def fingerprint(self) -> str:
        """A content fingerprint of the network's weights (see :func:`weights_fingerprint`)."""
        return weights_fingerprint(self.network)

    def layers(self) -> dict[str, nn.Module]:
        """The network's modules by name (as the network names them), for hooks on a layer's outputs."""
        return {name: module for name, module in self.network.named_modules() if name}

    def probabilities(self, images) -> np.ndarray:
        """Class probabilities of one image (C, H, W) or grey (H, W), as (K,), or of a batch (N, C, H, W), as (N, K)."""
        pixels = torch.as_tensor(np.asarray(images, dtype=np.float32))
        single = pixels.ndim < 4
        batch = pixels.reshape(1, *self.input_shape) if single else pixels
        with torch.inference_mode():
            probabilities = self(batch.to(self.device)).softmax(dim=1).cpu().numpy()
        return probabilities[0] if single else probabilities

    def class_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's parameters or buffers (the CPU for a module without any)."""
    tensor = next(iter(module.parameters()), None)
    if tensor is None:
        tensor = next(iter(module.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def as_classifier(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> Classifier:
    """``model`` itself when it is a Classifier; otherwise a Classifier around a bare network of pixels to logits.

    The bare network is put in eval mode and its parameters stop requiring gradients (as for any
    network made into a Classifier). Its input shape is ``input_shape`` (default: MNIST's
    (1, 28, 28)), its classes are numbered, found with one forward pass on a blank image.
    """
    if isinstance(model, Classifier):
        return model
    input_shape = tuple(input_shape or (1, 28, 28))
    model.eval()
    with torch.inference_mode():
        classes = model(torch.zeros((1, *input_shape), device=module_device(model))).shape[-1]
    return Classifier(model, name=type(model).__name__, input_shape=input_shape,
                      class_names=[str(label) for label in range(classes)], origin="module")


_FINGERPRINTS: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]]" = weakref.WeakKeyDictionary()
_FINGERPRINTS_LOCK = threading.Lock()


def weights_fingerprint(model: nn.Module) -> str:
    """A SHA-256 of the model's parameters and buffers, so a cache never outlives the weights it came from.

    Remembered per model until one of its tensors is replaced or changed in place (torch's version
    counters tell), so asking again for the same weights costs nothing (AlexNet takes 0.3 s to hash).
    """
    state = model.state_dict()
    stamp = _tensor_stamp(state)
    with _FINGERPRINTS_LOCK:
        known = _FINGERPRINTS.get(model)
    if stamp is not None and known is not None and known[0] == stamp:
        return known[1]
    digest = hashlib.sha256()
    for name, tensor in state.items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    fingerprint = digest.hexdigest()[:20]
    if stamp is not None:
        with _FINGERPRINTS_LOCK:
            _FINGERPRINTS[model] = (stamp, fingerprint)
    return fingerprint


def _tensor_stamp(state: dict[str, torch.Tensor]) -> tuple | None:
    """Which tensors a state dict holds and how often each was changed in place; None where torch cannot tell."""
    try:
        return tuple((name, tensor.data_ptr(), tensor._version) for name, tensor in state.items())
    except RuntimeError:  # tensors made in inference mode keep no version counter
        return None
