"""The red-team table: hostile model files, made here, each refused in one line or handled, with nothing written.

Every file is built by tests/model_files.py. Each must end in a WeightsError of one line naming
the file (or load and run harmlessly, where the attack was on names), write no file, and finish
quickly; a subprocess loads them all and its peak memory stays under 1.5 GB.
"""

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch
from torch import nn

from model_files import (
    SavesWhenRun,
    graph_file,
    random_linear_digits,
    state_dict_records,
    torchscript_file,
    two_directory_polyglot,
    zip_archive,
)
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.weights_io import WeightsError, read_state_dict

PROOF = "PROOF_OF_EXECUTION"
"""The file an attack tries to write beside the model; it must never exist."""
PEAK_MEMORY = 1.5 * (1 << 30)


class LoopsWhenLoaded(nn.Module):
    """A digit classifier whose __setstate__, which torch.jit.load runs, never returns."""

    def __init__(self):
        super().__init__()
        self.weight = torch.zeros(10, 784)

    def forward(self, x):
        return x.flatten(1) @ self.weight.t()

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool]) -> None:
        self.weight = state[0]
        self.training = state[1]
        while bool(self.weight.sum() > -1.0):
            self.weight = self.weight + 0.0


class SparseOutOfBounds(nn.Module):
    """A digit classifier whose forward builds an unchecked sparse tensor and writes through its bad indices."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        bad = torch.sparse_coo_tensor(torch.tensor([[1 << 40]]), torch.ones(1), (10,))
        return self.fc(x.flatten(1)) + bad.to_dense()


def _onnx(nodes, initializers=None, **options):
    """A hand-made graph around ``nodes``, written to a file named by the caller."""
    return lambda path: graph_file(path, nodes, initializers or {}, **options)


def _node(op_type, inputs, outputs, **attributes):
    from onnx import helper

    return helper.make_node(op_type, inputs, outputs, **attributes)


def _injected_names(path: Path) -> Path:
    """A working digit classifier whose node and value names are Python code that writes the proof file."""
    import onnx

    random_linear_digits(path)
    model = onnx.load(str(path))
    code = f'training"), getattr(__import__("os"),"system")("touch {path.parent / PROOF}"), getattr(self, "training'
    for index, node in enumerate(model.graph.node):
        node.name = code
        renamed = {name: f"{code}{index}{name}" for name in (*node.input, *node.output) if name == "flat"}
        for name, new in renamed.items():
            for other in model.graph.node:
                other.input[:] = [new if value == name else value for value in other.input]
                other.output[:] = [new if value == name else value for value in other.output]
    onnx.save(model, str(path))
    return path


def _external(location: str):
    """A digit classifier whose weight lies in an external file at ``location``."""
    def build(path: Path) -> Path:
        from onnx import TensorProto

        weight = TensorProto(name="weight", data_type=TensorProto.FLOAT, dims=[10, 784])
        weight.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", str(10 * 784 * 4))):
            weight.external_data.add(key=key, value=value)
        graph_file(path, [_node("Flatten", ["pixels"], ["flat"], axis=1),
                          _node("Gemm", ["flat", "weight", "bias"], ["logits"], transB=1)],
                   {"bias": np.zeros(10, np.float32)})
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        model.graph.initializer.append(weight)
        onnx.save(model, str(path))
        return path
    return build


def _symlinked_outside(path: Path) -> Path:
    outside = path.parent.parent / "secret.bin"
    outside.write_bytes(bytes(10 * 784 * 4))
    (path.parent / "weights.bin").symlink_to(outside)
    return _external("weights.bin")(path)


def _absurd_initializer(path: Path) -> Path:
    import onnx
    from onnx import TensorProto

    graph_file(path, [_node("Flatten", ["pixels"], ["flat"], axis=1),
                      _node("Gemm", ["flat", "weight", "bias"], ["logits"], transB=1)], {"bias": np.zeros(10, np.float32)})
    model = onnx.load(str(path))
    model.graph.initializer.append(TensorProto(name="weight", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20],
                                               raw_data=bytes(64)))
    onnx.save(model, str(path))
    return path


def _bytes(content):
    return lambda path: path.write_bytes(content() if callable(content) else content) and path


def _polyglot_bomb():
    shown = state_dict_records({"fc1.weight": torch.zeros(4)})
    return two_directory_polyglot({**shown, next(name for name in shown if name.endswith("data/0")):
                                   ("deflated", 1 << 30)}, shown)


def _polyglot_writer(path: Path) -> Path:
    """Two archives in one file: torch's reader would see a TorchScript program that writes the proof file."""
    program = torchscript_file(SavesWhenRun(str(path.parent / PROOF)), path.with_suffix(".program"))
    with zipfile.ZipFile(program) as archive:
        hidden = {info.filename: archive.read(info) for info in archive.infolist()}
    program.unlink()
    shown = {name: bytes(len(content)) for name, content in hidden.items()}
    path.write_bytes(two_directory_polyglot(hidden, shown))
    return path


def _plain_bomb():
    records = state_dict_records({"fc1.weight": torch.zeros(4)})
    return zip_archive({**records, next(name for name in records if name.endswith("data/0")): ("deflated", 1 << 30)})


def _sparse_state():
    bad = torch.sparse_coo_tensor(torch.tensor([[1 << 40]]), torch.ones(1), (10,), check_invariants=False)
    buffer = io.BytesIO()
    torch.save({"fc1.weight": bad}, buffer)
    return buffer.getvalue()


def _truncated_onnx(path: Path) -> Path:
    random_linear_digits(path)
    path.write_bytes(path.read_bytes()[:-100])
    return path


HOSTILE = {
    "polyglot-bomb.pt": (_bytes(_polyglot_bomb), "data before its first record"),
    "polyglot-writer.pt": (_polyglot_writer, "is TorchScript"),
    "plain-bomb.pt": (_bytes(_plain_bomb), "decompression bomb"),
    "sparse-state.pt": (_bytes(_sparse_state), "sparse-state.pt"),
    "writes-files.pt": (lambda path: torchscript_file(SavesWhenRun(str(path.parent / PROOF)), path), "is TorchScript"),
    "sparse-forward.pt": (lambda path: torchscript_file(SparseOutOfBounds(), path), "is TorchScript"),
    "looping-setstate.pt": (lambda path: torchscript_file(LoopsWhenLoaded(), path), "is TorchScript"),
    "injected-names.onnx": (_injected_names, None),
    "external-parent.onnx": (_external("../secret.bin"), "outside its own folder"),
    "external-absolute.onnx": (_external("/etc/passwd"), "outside its own folder"),
    "external-symlink.onnx": (_symlinked_outside, "outside its own folder"),
    "custom-domain.onnx": (_onnx([_node("Flatten", ["pixels"], ["logits"], axis=1, domain="ai.onnx.ml")],
                                 domains=["ai.onnx.ml"]), "outside ONNX's standard operators"),
    "loop-subgraph.onnx": (_onnx([_node("Loop", ["", ""], ["logits"])]), "'Loop' is not one this application"),
    "absurd-initializer.onnx": (_absurd_initializer, "an absurd shape"),
    "absurd-input.onnx": (_onnx([_node("Flatten", ["pixels"], ["logits"], axis=1)], input_shape=(1, 3, 100000, 100000)),
                          "input shape"),
    "absurd-padding.onnx": (_onnx([_node("Pad", ["pixels", "pads"], ["padded"]),
                                   _node("Flatten", ["padded"], ["logits"], axis=1)],
                                  {"pads": np.array([0, 0, 1 << 30, 1 << 30, 0, 0, 1 << 30, 1 << 30])}),
                            "absurd shape"),
    "hungry.onnx": (_onnx([_node("Flatten", ["pixels"], ["flat"], axis=1),
                           _node("Unsqueeze", ["flat", "axis"], ["column"]),
                           _node("MatMul", ["column", "row"], ["outer"]),  # 784 x 2^16 floats per image
                           _node("Unsqueeze", ["outer", "axis"], ["deeper"]),
                           _node("MatMul", ["deeper", "row"], ["huge"]),  # 784 x 2^32 floats: 13 TB
                           _node("ReduceMean", ["huge"], ["logits"], axes=[1, 3], keepdims=0)],
                          {"axis": np.array([-1]), "row": np.ones((1, 1 << 16), np.float32)}, opset=13),
                    "needs more memory than this computer has"),
    "malformed.onnx": (_bytes(b"\x08\x07" + os.urandom(4000)), "not a readable ONNX file"),
    "truncated.onnx": (_truncated_onnx, "truncated.onnx"),
}
"""Each hostile file: how it is made (from its path), and what its one-line refusal says (None: it must load and
run harmlessly)."""


def build_hostile(folder: Path, name: str) -> Path:
    path = folder / name
    result = HOSTILE[name][0](path)
    return result if isinstance(result, Path) else path


@pytest.mark.parametrize("name", list(HOSTILE))
def test_each_hostile_file_is_refused_in_one_line_or_handled_and_writes_nothing(tmp_path, name):
    folder = tmp_path / "inbox"
    folder.mkdir()
    path = build_hostile(folder, name)
    expected = HOSTILE[name][1]
    started = time.monotonic()
    if expected is None:
        model = load_own_network(path)
        model(torch.rand(3, *model.input_shape))
    else:
        with pytest.raises(WeightsError) as refused:
            load_own_network(path)
        message = str(refused.value)
        assert expected in message and path.name in message and "\n" not in message.strip(), message
    assert time.monotonic() - started < 10
    assert not (folder / PROOF).exists() and not (tmp_path / PROOF).exists()


def test_the_two_directory_polyglot_really_shows_torch_another_archive(tmp_path):
    """The test file is the real attack: Python's zipfile sees a 16-byte tensor record, torch's reader 1 GiB."""
    data = _polyglot_bomb()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        shown = {info.filename.split("/", 1)[1]: info.file_size for info in archive.infolist()}
    reader = torch._C.PyTorchFileReader(io.BytesIO(data))
    hidden = {name: reader.get_record_size(name) for name in reader.get_all_records()}
    assert shown["data/0"] == 16 and hidden["data/0"] == 1 << 30 and len(data) < 2 << 20
    (tmp_path / "weights.pt").write_bytes(data)
    with pytest.raises(WeightsError, match="'weights.pt': it holds data before its first record"):
        read_state_dict(tmp_path / "weights.pt")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak from Linux's /proc")
def test_every_hostile_file_together_stays_under_one_and_a_half_gigabytes(tmp_path):
    """Loaded one after another in a fresh process, as the window would (peak resident memory, from the OS).

    The peak is the process's own high-water mark (VmHWM): getrusage's ru_maxrss survives exec on Linux, so a
    child started from a large pytest process would report the parent's peak, not its own.
    """
    folder = tmp_path / "inbox"
    folder.mkdir()
    paths = [str(build_hostile(folder, name)) for name in HOSTILE]
    script = (
        "import json, sys\n"
        "from blindspot_gui.core.models.own_network import load_own_network\n"
        "from blindspot_gui.core.models.weights_io import WeightsError\n"
        "outcomes = {}\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_own_network(path)\n"
        "        outcomes[path] = 'loaded'\n"
        "    except WeightsError:\n"
        "        outcomes[path] = 'refused'\n"
        "status = open('/proc/self/status').read()\n"
        "peak = int(status.split('VmHWM:')[1].split()[0]) * 1024\n"
        "print(json.dumps({'peak': peak, 'outcomes': outcomes}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert list(report["outcomes"].values()).count("loaded") == 1, report["outcomes"]
    assert report["peak"] < PEAK_MEMORY, f"peak {report['peak'] / (1 << 20):.0f} MiB"
    assert not (folder / PROOF).exists()
