"""An ONNX file's graph, read once and checked, then normalised for conversion: what is accepted, and how.

The graph must use ONNX's standard domain and opsets only, no functions or subgraphs, operators
from :data:`ONNX_OPERATORS`, every tensor holding exactly the bytes its shape says, external data
only in files beside the model, and one image input of a shape this application reads. It is then
normalised: every node and value renamed to a generated name (nothing from the file becomes a name
in the converted module), Identity nodes folded, a final Softmax left out, and a batch fixed at 1
freed. :mod:`blindspot_gui.core.models.onnx_network` converts what this module hands it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from blindspot_gui.core.files import open_regular_file
from blindspot_gui.core.models.weights_io import WeightsError, first_line

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
@dataclass(frozen=True)
class OnnxInput:
    """What the graph takes: its layout ("NCHW", "NHWC" or "flat", MNIST's 784 pixels in a row) and the image
    shape (C, H, W) the Classifier gives it."""

    layout: str
    image_shape: tuple[int, int, int]

    @property
    def is_digit(self) -> bool:
        return self.image_shape == (1, 28, 28)


def read_checked_graph(path: Path):
    """The ONNX model in the file at ``path`` (read once), checked, with its external data inside it, and its input:
    (ModelProto, OnnxInput); a WeightsError naming the file for anything refused."""
    model = _parsed(path)
    _check_structure(model, path.name)
    _read_external_data(model, path)
    _check_tensors(model, path.name)
    _check_paddings(model, path.name)
    return model, _graph_input(model, path.name)


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


def normalise(model) -> list[str]:
    """Rename everything, fold Identity nodes, drop a final Softmax and free the batch axis; what was done, in words."""
    _rename(model)
    _fold_identities(model)
    for node in model.graph.node:  # exporters write training_mode=0, which onnx2pytorch does not read
        kept = [attribute for attribute in node.attribute
                if not (node.op_type == "BatchNormalization" and attribute.name == "training_mode" and attribute.i == 0)]
        del node.attribute[:]
        node.attribute.extend(kept)
    for value in model.graph.output:  # a shape the checker asks for, where an older tool wrote none
        if not value.type.tensor_type.HasField("shape"):
            value.type.tensor_type.shape.dim.add().dim_param = "batch"
            value.type.tensor_type.shape.dim.add().dim_param = "classes"
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
