"""An ONNX file as a torch module: its checked graph interpreted node by node, behind its input's layout and range.

ONNX is the exchange format PyTorch, TensorFlow/Keras (tf2onnx) and most frameworks export: a
graph of standard operators and its weights, data rather than a program. The graph is read,
checked and renamed by :mod:`blindspot_gui.core.models.onnx_graph`; onnx2pytorch turns it into
torch modules that interpret it node by node with torch's own operators, so the search gets
gradients and no Python source is ever generated from the file. Two probes (one image, then two)
learn the number of classes and whether the graph keeps a batch's images apart; one that does
not runs one image at a time.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.memory import is_out_of_memory
from blindspot_gui.core.models.onnx_graph import OnnxInput, normalise, read_checked_graph
from blindspot_gui.core.models.weights_io import WeightsError, first_line
from blindspot_gui.core.monitor import Monitor

PROBE_TOLERANCE = dict(rtol=1e-4, atol=1e-5)
"""How closely a batch of two must give each image's logits alone for the graph to run on whole batches."""


class OnnxNetwork(nn.Module):
    """The converted graph behind its input's layout and range: takes (N, C, H, W) images, returns (N, K) logits."""

    def __init__(self, graph: nn.Module, layout: str, scale: float):
        super().__init__()
        self.graph = graph
        self.layout = layout
        self.scale = scale

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        inputs = images * self.scale if self.scale != 1.0 else images
        if self.layout == "NHWC":
            inputs = inputs.permute(0, 2, 3, 1)
        elif self.layout == "flat":
            inputs = inputs.flatten(1)
        return self.graph(inputs)


class OneImageAtATime(nn.Module):
    """A network whose graph fixes the batch at one image, run once per image of a batch."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.network(images[index:index + 1]) for index in range(images.shape[0])])


@dataclass
class OnnxModel:
    """A converted ONNX file: the network, what it takes, how many classes, its metadata and what was done to it."""

    network: nn.Module
    input: OnnxInput
    classes: int
    metadata: dict[str, str]
    notes: list[str]


def is_onnx(path) -> bool:
    """Whether ``path`` is (by its name) or looks like (a protobuf starting with ONNX's IR version) an ONNX file."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    try:
        with open(path, "rb") as stream:
            head = stream.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x08 and 3 <= head[1] <= 20


def load_onnx(path, input_range: str | None = None, monitor: Monitor | None = None) -> OnnxModel:
    """The ONNX file at ``path`` as an :class:`OnnxModel`; a WeightsError naming the file for anything refused.

    ``input_range`` "0-1" or "0-255" says what pixel values the graph expects (default: its metadata's
    ``input_range``, else 0-1).
    """
    monitor = monitor or Monitor()
    path = Path(path)
    model, graph_input = read_checked_graph(path)
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    notes = normalise(model)
    monitor.check()
    scale = _scale(input_range or metadata.get("input_range", "0-1"), path.name)
    network = OnnxNetwork(_converted(model, path.name), graph_input.layout, scale)
    monitor.check()
    network, classes = _probed(network, graph_input, path.name, notes, monitor)
    return OnnxModel(network, graph_input, classes, metadata, notes)


def _scale(input_range: str, name: str) -> float:
    scales = {"0-1": 1.0, "0-255": 255.0}
    if input_range not in scales:
        raise WeightsError(f"'{name}': unknown input range {input_range[:20]!r}; give 0-1 or 0-255.")
    return scales[input_range]


def _converted(model, name: str) -> nn.Module:
    import onnx
    from onnx2pytorch import ConvertModel

    try:
        onnx.checker.check_model(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # onnx2pytorch's notes on experimental operators are not for our users
            graph = ConvertModel(model)
    except Exception as error:  # onnx's ValidationError, and whatever a malformed graph makes the converter raise
        raise WeightsError(f"Refused '{name}': its graph is not valid ONNX or cannot be converted "
                           f"({first_line(error)[:200]}).") from None
    del graph.onnx_model.graph.initializer[:]  # now buffers of the module: the parsed copy is not needed
    return graph.eval()


def _probed(network: nn.Module, graph_input: OnnxInput, name: str, notes: list[str],
            monitor: Monitor) -> tuple[nn.Module, int]:
    """Run a blank image, then a batch of two, through the network: how many classes it has, and whether it must
    take one image at a time."""
    blank = torch.zeros((1, *graph_input.image_shape))
    grey = torch.full_like(blank, 0.5)
    alone = _run(network, blank, name)
    if alone.ndim != 2 or alone.shape[0] != 1 or alone.shape[1] < 2:
        raise WeightsError(f"'{name}' returns {tuple(alone.shape)} for one image; a classifier must return one row "
                           "of scores (at least two classes).")
    monitor.check()
    try:
        both = _run(network, torch.cat([blank, grey]), name)
        batched = both.shape == (2, alone.shape[1]) and torch.allclose(
            both, torch.cat([alone, _run(network, grey, name)]), **PROBE_TOLERANCE)
    except WeightsError:
        batched = False
    if not batched:
        network = OneImageAtATime(network)
        notes.append("run one image at a time (its graph fixes the batch at one)")
    return network, int(alone.shape[1])


def _run(network: nn.Module, images: torch.Tensor, name: str) -> torch.Tensor:
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = network(images)
    except Exception as error:  # a graph may fail in any way on a real input
        if is_out_of_memory(error):
            raise WeightsError(f"'{name}' needs more memory than this computer has for one image.") from None
        raise WeightsError(f"'{name}' fails on {'a blank image' if len(images) == 1 else 'a batch'}: "
                           f"{first_line(error)[:200]}") from None
    if not isinstance(output, torch.Tensor):
        raise WeightsError(f"'{name}' returns {type(output).__name__}; a classifier returns one tensor of scores.")
    return output


def class_names_from_metadata(metadata: dict[str, str], name: str) -> list[str] | None:
    """The class names a model's metadata gives under ``class_names`` (a JSON list of strings), or None."""
    text = metadata.get("class_names")
    if text is None:
        return None
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not (isinstance(names, list) and all(isinstance(entry, str) for entry in names)):
        raise WeightsError(f"'{name}': its metadata's class_names is not a JSON list of names.")
    return names
