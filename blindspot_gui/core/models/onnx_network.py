"""An ONNX file as a torch module: parsed from the bytes read once, checked, renamed, and interpreted node by node.

ONNX is the exchange format PyTorch, TensorFlow/Keras (tf2onnx) and most frameworks export: a
graph of standard operators and its weights, data rather than a program. The graph is checked
(standard domain and opsets only, no functions or subgraphs, operators from
:data:`ONNX_OPERATORS`, every tensor's bytes where its shape says, external data only in files
beside the model), every node and value is renamed to a generated name, and onnx2pytorch turns
it into torch modules that interpret the graph node by node with torch's own operators, so the
search gets gradients and no Python source is ever generated from the file. Default exports fix
the batch at 1: the batch axis is made free (the input's first dimension, and Reshape shapes that
start with it), and where a probe shows that the graph still mixes up a batch, it runs one image
at a time.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.files import open_regular_file
from blindspot_gui.core.memory import is_out_of_memory
from blindspot_gui.core.models.weights_io import WeightsError, first_line
from blindspot_gui.core.monitor import Monitor

ONNX_OPERATORS = frozenset({
    "Abs", "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv", "Div",
    "Dropout", "Elu", "Erf", "Exp", "Flatten", "Gather", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "HardSigmoid", "HardSwish", "Identity", "InstanceNormalization", "LayerNormalization", "LeakyRelu", "Log",
    "LogSoftmax", "LRN", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg", "Pad", "Pow", "PRelu",
    "Reciprocal", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape", "Selu", "Shape", "Sigmoid", "Slice",
    "Softmax", "Softplus", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh", "Transpose", "Unsqueeze",
})
"""The standard operators of image classifiers that are converted. Others (custom domains, control flow with
subgraphs, random generators, operators that make tensors of a size read from data) are refused by name."""
FIRST_OPSET = 7
"""The oldest opset of the standard domain accepted (ONNX 1.2, 2018); the newest is the installed onnx's."""
STANDARD_DOMAINS = ("", "ai.onnx")
MAX_SIDE = 4096
"""An input image larger than this many pixels a side is refused (an absurd shape, not a photo)."""
MAX_PADDING = 1024
"""Padding, strides, dilations and kernel sizes above this are refused (they would only make huge tensors)."""
SIZE_ATTRIBUTES = ("pads", "strides", "dilations", "kernel_shape")
TENSOR_TYPES = {1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8}
"""The bytes per value of the tensor types read (ONNX's numbers: float32, uint8, int8, int32, int64, bool, float16,
float64); bfloat16, float8, 4-bit and string tensors are refused with a message."""
PROBE_TOLERANCE = dict(rtol=1e-4, atol=1e-5)
"""How closely a batch of two must give each image's logits alone for the graph to run on whole batches."""


@dataclass(frozen=True)
class OnnxInput:
    """What the graph takes: its layout ("NCHW", "NHWC" or "flat", MNIST's 784 pixels in a row) and the image
    shape (C, H, W) the Classifier gives it."""

    layout: str
    image_shape: tuple[int, int, int]

    @property
    def is_digit(self) -> bool:
        return self.image_shape == (1, 28, 28)


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
    model = _parsed(path)
    monitor.check()
    _check_structure(model, path.name)
    _read_external_data(model, path)
    _check_tensors(model, path.name)
    _check_paddings(model, path.name)
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    graph_input = _graph_input(model, path.name)
    notes = _normalise(model, graph_input)
    monitor.check()
    scale = _scale(input_range or metadata.get("input_range", "0-1"), path.name)
    network = OnnxNetwork(_converted(model, path.name), graph_input.layout, scale)
    monitor.check()
    network, classes = _probed(network, graph_input, path.name, notes, monitor)
    return OnnxModel(network, graph_input, classes, metadata, notes)


def _parsed(path: Path):
    import onnx  # here: its protobuf runtime loads only when an ONNX file is opened

    try:
        with open_regular_file(path) as stream:
            data = stream.read()  # read once: what is checked below is what is converted
    except OSError as error:
        raise WeightsError(f"Cannot read model file '{path.name}': {error.strerror or error}.") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError, and others on malformed input
        raise WeightsError(f"'{path.name}' is not a readable ONNX file ({first_line(error)}).") from None
    if not model.HasField("graph") or not model.graph.node:
        raise WeightsError(f"'{path.name}' is not a readable ONNX file (it holds no graph).")
    return model


def _check_structure(model, name: str) -> None:
    """Refuse custom domains, opsets outside those accepted, functions, subgraphs, sparse weights and operators
    that are not converted."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    for opset in model.opset_import:
        if opset.domain not in STANDARD_DOMAINS:
            raise WeightsError(f"Refused '{name}': it uses the operator set '{opset.domain}', outside ONNX's standard "
                               "operators; export the network with standard operators only.")
        if not FIRST_OPSET <= opset.version <= newest:
            raise WeightsError(f"Refused '{name}': opset {opset.version} is outside the {FIRST_OPSET}–{newest} this "
                               "application reads; export it again with an opset in that range.")
    if model.functions or model.graph.sparse_initializer:
        what = "functions of its own" if model.functions else "sparse weights"
        raise WeightsError(f"Refused '{name}': it defines {what}; export the network with standard operators only.")
    for node in model.graph.node:
        _check_node(node, name)


def _check_node(node, name: str) -> None:
    import onnx

    if node.domain not in STANDARD_DOMAINS or node.op_type not in ONNX_OPERATORS:
        where = f"'{node.domain}' " if node.domain not in STANDARD_DOMAINS else ""
        raise WeightsError(f"Refused '{name}': its operator {where}{node.op_type[:40]!r} is not one this application "
                           "converts (standard image-classifier operators only).")
    for attribute in node.attribute:
        if attribute.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
            raise WeightsError(f"Refused '{name}': its {node.op_type} holds a subgraph, which is not converted.")
        if attribute.name in SIZE_ATTRIBUTES and any(abs(value) > MAX_PADDING for value in attribute.ints):
            raise WeightsError(f"Refused '{name}': its {node.op_type} has {attribute.name} over {MAX_PADDING} "
                               "(an absurd shape).")


def _check_paddings(model, name: str) -> None:
    """Each Pad's amounts (an input since opset 11) must be constant and within :data:`MAX_PADDING`."""
    from onnx import numpy_helper

    weights = {tensor.name: tensor for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "Pad" or len(node.input) < 2:
            continue
        if node.input[1] not in weights:
            raise WeightsError(f"Refused '{name}': a Pad whose amounts are computed while it runs, which is not "
                               "converted.")
        if any(abs(int(value)) > MAX_PADDING for value in numpy_helper.to_array(weights[node.input[1]]).flat):
            raise WeightsError(f"Refused '{name}': its Pad adds over {MAX_PADDING} pixels (an absurd shape).")


def _read_external_data(model, path: Path) -> None:
    """Put the weights a model keeps in other files into it: only files in the model's own folder, read once each
    tensor, exactly the bytes its shape needs."""
    import onnx

    folder = path.resolve().parent
    for tensor in _all_tensors(model):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        source = (folder / location).resolve()
        if not location or Path(location).name != location or location in (".", "..") or source.parent != folder:
            raise WeightsError(f"Refused '{path.name}': its weights point to '{location[:80]}', outside its own "
                               "folder; external data must be a file beside the model.")
        expected = _tensor_bytes(tensor, path.name)
        try:
            offset, length = int(entries.get("offset", 0)), int(entries.get("length", expected))
        except ValueError:
            raise WeightsError(f"Refused '{path.name}': a malformed offset or length for '{location}'.") from None
        if length != expected or offset < 0:
            raise WeightsError(f"Refused '{path.name}': '{location}' is said to hold {length:,} bytes where its "
                               f"tensor needs {expected:,}.")
        tensor.raw_data = _read_span(source, offset, length, path.name)
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT


def _read_span(source: Path, offset: int, length: int, name: str) -> bytes:
    try:
        with open_regular_file(source) as stream:
            stream.seek(offset)
            data = stream.read(length)
    except OSError as error:
        raise WeightsError(f"Cannot read the weights of '{name}' from '{source.name}': "
                           f"{error.strerror or error}.") from None
    if len(data) != length:
        raise WeightsError(f"'{source.name}', the weights of '{name}', is shorter than the model says (damaged).")
    return data


def _all_tensors(model):
    """Every tensor of the model's graph: its initializers and the constants in its nodes' attributes."""
    yield from model.graph.initializer
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors


def _tensor_bytes(tensor, name: str) -> int:
    """How many bytes a tensor's shape and type need; a WeightsError for an absurd shape or a type not read."""
    if tensor.data_type not in TENSOR_TYPES:
        raise WeightsError(f"Refused '{name}': it stores a tensor in a type this application does not read (ONNX "
                           f"type {tensor.data_type}: bfloat16, float8, 4-bit or text); export it as float32.")
    if any(size < 0 for size in tensor.dims) or math.prod(tensor.dims) > 1 << 31:
        raise WeightsError(f"Refused '{name}': a tensor of shape {tuple(tensor.dims)[:6]} (an absurd shape).")
    return math.prod(tensor.dims) * TENSOR_TYPES[tensor.data_type]


def _check_tensors(model, name: str) -> None:
    """Every tensor holds exactly the values its shape declares (nothing allocated from a declared size alone)."""
    for tensor in _all_tensors(model):
        expected = _tensor_bytes(tensor, name)
        count = math.prod(tensor.dims)
        held = len(tensor.raw_data) if tensor.raw_data else _typed_values(tensor)
        if held != (expected if tensor.raw_data else count):
            raise WeightsError(f"Refused '{name}': a tensor of shape {tuple(tensor.dims)[:6]} holds "
                               f"{'bytes' if tensor.raw_data else 'values'} for another shape (damaged).")


def _typed_values(tensor) -> int:
    return max(len(tensor.float_data), len(tensor.int32_data), len(tensor.int64_data), len(tensor.double_data),
               len(tensor.uint64_data))


def _graph_input(model, name: str) -> OnnxInput:
    """The one image input of the graph, its layout and shape; a WeightsError naming what is accepted otherwise."""
    weights = {tensor.name for tensor in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in weights]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise WeightsError(f"Refused '{name}': it takes {len(inputs)} inputs and gives {len(model.graph.output)} "
                           "outputs; a classifier takes one image and gives one row of scores.")
    dims = [dim.dim_value if dim.HasField("dim_value") else None
            for dim in inputs[0].type.tensor_type.shape.dim]
    if inputs[0].type.tensor_type.elem_type != 1:
        raise WeightsError(f"Refused '{name}': its input is not float32 pixels.")
    shape = _image_shape(dims)
    if shape is None:
        raise WeightsError(
            f"Refused '{name}': its input shape {tuple('?' if dim is None else dim for dim in dims)} is not one this "
            f"application reads: (N, C, H, W) or (N, H, W, C) with 1 or 3 channels — a 28x28 grey digit, or a square "
            f"colour photo up to {MAX_SIDE} pixels a side — or (N, 784) digits.")
    return shape


def _image_shape(dims: list) -> OnnxInput | None:
    if len(dims) == 2 and dims[1] == 784:
        return OnnxInput("flat", (1, 28, 28))
    if len(dims) != 4 or None in dims[1:]:
        return None
    if dims[1] in (1, 3):
        layout, (channels, height, width) = "NCHW", dims[1:]
    elif dims[3] in (1, 3):
        layout, (height, width, channels) = "NHWC", dims[1:]
    else:
        return None
    digit = channels == 1 and height == width == 28
    photo = channels == 3 and height == width and 8 <= height <= MAX_SIDE
    return OnnxInput(layout, (channels, height, width)) if digit or photo else None


def _normalise(model, graph_input: OnnxInput) -> list[str]:
    """Rename everything, fold Identity nodes, drop a final Softmax and free the batch axis; what was done, in words."""
    _rename(model)
    _fold_identities(model)
    for node in model.graph.node:  # exporters write training_mode=0, which onnx2pytorch does not read
        kept = [attribute for attribute in node.attribute
                if not (node.op_type == "BatchNormalization" and attribute.name == "training_mode" and attribute.i == 0)]
        del node.attribute[:]
        node.attribute.extend(kept)
    notes = []
    if _drop_final_softmax(model):
        notes.append("its final Softmax left out (the search works on the scores before it)")
    if _free_batch(model):
        notes.append("its batch axis freed")
    return notes


def _rename(model) -> None:
    """Every value, node and the graph get generated names (v0, v1, ..., n0, ...): nothing from the file becomes a
    name in the converted module."""
    names: dict[str, str] = {"": ""}

    def renamed(old: str) -> str:
        return names.setdefault(old, f"v{len(names) - 1}")

    graph = model.graph
    for value in (*graph.input, *graph.output):
        value.name = renamed(value.name)
    for tensor in graph.initializer:
        tensor.name = renamed(tensor.name)
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"
        node.doc_string = ""
        inputs, outputs = [renamed(name) for name in node.input], [renamed(name) for name in node.output]
        del node.input[:], node.output[:]
        node.input.extend(inputs)
        node.output.extend(outputs)
    del graph.value_info[:]
    graph.name = "graph"


def _fold_identities(model) -> None:
    """Identity nodes that do not give the graph's output are removed: their readers read the original value
    (exporters put one before shared weights, which onnx2pytorch would feed to a layer as a second input)."""
    graph = model.graph
    outputs = {value.name for value in graph.output}
    alias: dict[str, str] = {}
    kept = []
    for node in graph.node:
        renamed = [alias.get(name, name) for name in node.input]
        del node.input[:]
        node.input.extend(renamed)
        if node.op_type == "Identity" and node.output[0] not in outputs:
            alias[node.output[0]] = node.input[0]
        else:
            kept.append(node)
    del graph.node[:]
    graph.node.extend(kept)


def _drop_final_softmax(model) -> bool:
    graph = model.graph
    last = next((node for node in graph.node if graph.output[0].name in node.output), None)
    if last is None or last.op_type not in ("Softmax", "LogSoftmax"):
        return False
    graph.output[0].name = last.input[0]
    graph.node.remove(last)
    return True


def _free_batch(model) -> bool:
    """A graph input fixed at a batch of 1 gets a free first axis, and each Reshape to a constant shape that starts
    with that 1 copies the first axis instead (ONNX's 0); True when anything changed."""
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    if not (dim.HasField("dim_value") and dim.dim_value == 1):
        return False
    dim.dim_param = "batch"
    weights = {tensor.name: tensor for tensor in model.graph.initializer}
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    for node in model.graph.node:
        shape = weights.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) > 1 else None
        if shape is not None and readers[shape.name] == 1:
            _first_value_copied(shape)
    return True


def _first_value_copied(shape) -> None:
    """A Reshape's int64 shape [1, ...] becomes [0, ...]: ONNX's "copy this axis from the input"."""
    from onnx import numpy_helper

    values = numpy_helper.to_array(shape).copy()
    if values.ndim == 1 and values.size and values[0] == 1:
        values[0] = 0
        shape.CopyFrom(numpy_helper.from_array(values, shape.name))


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
