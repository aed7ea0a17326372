"""Model files as users and attackers hand them over, built by the tests: ONNX exports, hand-made graphs, hostile files.

Every hostile file of the red-team table (tests/test_hostile_files.py) is made here, from
scratch, so that the set is committed as code and rebuilt on every run.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn


def export_onnx(module: nn.Module, path, example: torch.Tensor, dynamic_batch: bool = False, **options) -> Path:
    """``module`` exported to ONNX as a user would (torch's TorchScript-based exporter, batch fixed at 1 unless
    ``dynamic_batch``)."""
    if dynamic_batch:
        options |= {"input_names": ["input"], "output_names": ["output"],
                    "dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch calls this exporter legacy; it is what most users' files come from
        torch.onnx.export(module.eval(), example, str(path), dynamo=False, **options)
    return Path(path)


def graph_file(path, nodes, initializers=(), input_shape=(None, 1, 28, 28), output="logits", opset: int = 17,
               domains=(), metadata: dict | None = None) -> Path:
    """An ONNX file written by hand: ``nodes`` (onnx NodeProtos) from the input "pixels" to ``output``, with
    ``initializers`` given as {name: numpy array}."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dims = ["batch" if size is None else size for size in input_shape]
    graph = helper.make_graph(
        list(nodes), "hand-made",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", None])],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in dict(initializers).items()])
    opsets = [helper.make_opsetid("", opset), *(helper.make_opsetid(domain, 1) for domain in domains)]
    model = helper.make_model(graph, opset_imports=opsets)
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return Path(path)


def linear_digits(path, weight: np.ndarray, bias: np.ndarray, softmax: bool = False, **options) -> Path:
    """A one-layer digit classifier: logits = flatten(pixels) @ weight.T + bias (optionally through a Softmax)."""
    from onnx import helper

    nodes = [helper.make_node("Flatten", ["pixels"], ["flat"], axis=1),
             helper.make_node("Gemm", ["flat", "weight", "bias"], ["scores" if softmax else "logits"], transB=1)]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["scores"], ["logits"], axis=1))
    return graph_file(path, nodes, {"weight": weight.astype(np.float32), "bias": bias.astype(np.float32)}, **options)


def random_linear_digits(path, seed: int = 0, **options) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weight, bias = rng.normal(0, 0.05, (10, 784)), rng.normal(0, 0.1, 10)
    return linear_digits(path, weight, bias, **options), weight.astype(np.float32), bias.astype(np.float32)


# --- hostile files -------------------------------------------------------------------------------------------------


class SavesWhenRun(nn.Module):
    """A digit classifier whose forward also writes a file of its choosing (the attack on a TorchScript loader)."""

    def __init__(self, target: str):
        super().__init__()
        self.fc = nn.Linear(784, 10)
        self.target = target

    def forward(self, x):
        torch.save(x, self.target)
        return self.fc(x.flatten(1))


def torchscript_file(module: nn.Module, path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch calls TorchScript deprecated; users still have such files
        torch.jit.script(module).save(str(path))
    return Path(path)


def torch_saved(value) -> bytes:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def zip_archive(records: dict) -> bytes:
    """A zip archive written by Python's zipfile: each value is bytes (stored) or ("deflated", size) for ``size``
    zero bytes, deflated as they are streamed in (a bomb costs no memory to make)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in records.items():
            if isinstance(content, bytes):
                archive.writestr(name, content)
                continue
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=False) as stream:
                for _ in range(content[1] >> 20):
                    stream.write(bytes(1 << 20))
    return buffer.getvalue()


def state_dict_records(state: dict) -> dict[str, bytes]:
    """The records of ``torch.save(state)`` by name, in order."""
    with zipfile.ZipFile(io.BytesIO(torch_saved(state))) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def two_directory_polyglot(hidden: dict, shown: dict) -> bytes:
    """One file holding two archives of records with the same names: Python's zipfile reads ``shown``, torch's
    reader ``hidden`` (the attack an independent review made on the app's old archive check).

    The hidden archive comes first, without its end record; then the shown one, whose end record says its central
    directory is where the hidden one's is. torch's reader takes that offset as it is; Python's zipfile sees that
    the directory ends just before the end record and reads the shown one, shifting every offset by the
    difference (it forgives data put before an archive), so the shown directory's offsets are written to land on
    the shown records after that shift.
    """
    assert list(hidden) == list(shown), "both archives need records of the same names, so their directories match"
    first, second = zip_archive(hidden), zip_archive(shown)
    first_directory, second_directory = _directory(first), _directory(second)
    start, size = first_directory
    assert second_directory[1] == size
    prefix = first[:start + size]
    shift = (len(prefix) + second_directory[0]) - start  # what Python will add to every offset of the directory
    records = second[:second_directory[0]]
    directory = bytearray(second[second_directory[0]:second_directory[0] + size])
    position = 0
    while position < len(directory):  # each entry: 46 bytes, then name, extra field and comment
        name, extra, comment = struct.unpack_from("<3H", directory, position + 28)
        offset = struct.unpack_from("<L", directory, position + 42)[0]
        struct.pack_into("<L", directory, position + 42, len(prefix) + offset - shift)
        position += 46 + name + extra + comment
    end = bytearray(second[second_directory[0] + size:])
    struct.pack_into("<L", end, 16, start)  # the end record's directory offset: the hidden directory's
    return prefix + records + bytes(directory) + bytes(end)


def _directory(data: bytes) -> tuple[int, int]:
    """(offset, size) of a Python-written archive's central directory, from its end record."""
    size, offset = struct.unpack_from("<2L", data, len(data) - 22 + 12)
    return offset, size
