"""Hostile and broken weight files: TorchScript refused, safetensors, fuzzed files, bombs, NaN, saving, downloads."""

import http.server
import io
import json
import random
import socket
import threading
import time
import warnings
import zipfile
from typing import Tuple

import numpy as np
import pytest
import torch
from torch import nn

from blindspot_gui import api
from model_files import SavesWhenRun, linear_digits, random_linear_digits, torchscript_file
from blindspot_gui.core.models import download, own_network, photo_catalogue, zoo_weights
from blindspot_gui.core.models.download import download_weights
from blindspot_gui.core.models.mnist_zoo import find_spec
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.photo_catalogue import build_architecture, find_photo_model
from blindspot_gui.core.models.weights_io import (
    WeightsError,
    load_torch_file,
    read_state_dict,
    write_safetensors,
)
from blindspot_gui.core.models.zoo_weights import bundled_models_dir, load_zoo_model, model_status, save_model
from blindspot_gui.core.monitor import Cancelled, Monitor


# --- TorchScript: a program, never run -------------------------------------------------------------------------


class SavesWhenLoaded(nn.Module):
    """A digit classifier whose __setstate__, which torch.jit.load runs, writes a file."""

    def __init__(self, target: str):
        super().__init__()
        self.weight = torch.zeros(10, 784)
        self.target = target

    def forward(self, x):
        return x.flatten(1) @ self.weight.t()

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, str, bool]:
        return (self.weight, self.target, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, str, bool]) -> None:
        self.weight = state[0]
        self.target = state[1]
        self.training = state[2]
        torch.save(torch.ones(3), self.target)


@pytest.mark.parametrize("attack", [SavesWhenRun, SavesWhenLoaded], ids=lambda value: value.__name__)
def test_torchscript_is_refused_with_the_line_that_converts_it_and_nothing_of_it_runs(tmp_path, attack):
    proof = tmp_path / "proof"  # the attack is real: loading and running it with torch writes this file
    torchscript_file(attack(str(proof)), tmp_path / "proof.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(tmp_path / "proof.pt"))(torch.zeros(1, 1, 28, 28))
    assert proof.exists()
    target = tmp_path / "victim"
    path = torchscript_file(attack(str(target)), tmp_path / "model.pt")
    renamed = tmp_path / "renamed.pt"  # code records in another letter case: torch would still compile them
    _rewrite_names(path, renamed, lambda name: name[:-3] + ".PY" if name.endswith(".py") else name)
    for file, options in ((path, {}), (path, {"preprocessing": "imagenet"}), (renamed, {})):
        with pytest.raises(WeightsError) as refused:
            load_own_network(file, **options)
        message = str(refused.value)
        assert message.startswith(f"'{file.name}' is TorchScript, a program, which this application never runs")
        assert "torch.onnx.export(torch.jit.load(" in message and "\n" not in message
    with pytest.raises(WeightsError, match="is TorchScript"):
        read_state_dict(path)
    assert not target.exists()


def _rewrite_names(path, target, rename) -> None:
    """Copy the zip archive ``path`` to ``target`` with each record renamed by ``rename(name)``."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for info in source.infolist():
            copy.writestr(zipfile.ZipInfo(rename(info.filename)), source.read(info))


def test_an_archive_naming_a_record_twice_is_refused(tmp_path):
    torch.save(find_spec("FC10(1e-4)").build().state_dict(), tmp_path / "benign.pt")
    with zipfile.ZipFile(tmp_path / "benign.pt") as source, zipfile.ZipFile(tmp_path / "twice.pt", "w") as copy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": exactly what this test makes
            for info in source.infolist():
                copy.writestr(info, source.read(info))
            pickled = next(name for name in source.namelist() if name.endswith("data.pkl"))
            copy.writestr(pickled.replace("data.pkl", "DATA.pkl"), source.read(pickled))
    with pytest.raises(WeightsError, match="'twice.pt': it holds two records of the same name"):
        load_own_network(tmp_path / "twice.pt")


# --- safetensors ----------------------------------------------------------------------------------------


def test_a_zoo_model_saved_as_safetensors_is_recognised_and_predicts_the_same(tmp_path):
    zoo = load_zoo_model("ConvNet")
    path = write_safetensors(zoo.network.state_dict(), tmp_path / "conv.safetensors")
    model = load_own_network(path)
    assert model.description == "ConvNet architecture"
    images, _ = api.load_mnist("test")
    assert torch.equal(model(images[:100]), zoo(images[:100]))
    assert torch.equal(load_zoo_model("ConvNet", weights_path=path)(images[:10]), zoo(images[:10]))
    renamed = tmp_path / "conv.weights"  # found by its content, whatever its name
    renamed.write_bytes(path.read_bytes())
    assert torch.equal(read_state_dict(renamed)["conv1.weight"], zoo.network.conv1.weight)


def test_a_photo_network_saved_as_safetensors_loads_with_its_architecture(tmp_path):
    torch.manual_seed(0)
    network = build_architecture("mobilenet_v3_small", classes=5).eval()
    path = write_safetensors(network.state_dict(), tmp_path / "mobile.safetensors")
    (tmp_path / "names.txt").write_text("a\nb\nc\nd\ne\n")
    model = load_own_network(path, "mobilenet_v3_small", preprocessing="none", class_names_file=tmp_path / "names.txt")
    assert model.class_names == ["a", "b", "c", "d", "e"]
    pixels = torch.rand(2, 3, 224, 224)
    assert torch.equal(model(pixels), network(pixels))


def test_a_classifier_head_is_found_whatever_the_order_of_the_keys():
    with torch.device("meta"):  # shapes only: a ConvNeXt's blocks hold linear layers whose names sort after its head
        state = build_architecture("convnext_tiny", classes=12).state_dict()
    assert [name for name in sorted(state) if state[name].ndim == 2][-1].startswith("features.")
    assert own_network._classes_in_state(dict(sorted(state.items())), "convnext_tiny") == 12
    assert own_network._classes_in_state(state, "convnext_tiny") == 12


# --- malformed files: a fuzz test -------------------------------------------------------------------------


def _mutants(data: bytes, count: int, seed: int):
    """``count`` damaged copies of ``data``: bytes flipped, cut off, inserted or overwritten, mostly in its structure
    (the first and last kilobytes: headers, pickle, zip directory) rather than inside tensor data."""
    rng = random.Random(seed)
    for index in range(count):
        mutant = bytearray(data)
        region = rng.random()
        position = (rng.randrange(min(1024, len(data))) if region < 0.5 else
                    len(data) - 1 - rng.randrange(min(1536, len(data))) if region < 0.75 else rng.randrange(len(data)))
        kind = index % 4
        if kind == 0:
            for _ in range(rng.randint(1, 4)):
                mutant[min(position + rng.randrange(16), len(mutant) - 1)] ^= rng.randint(1, 255)
        elif kind == 1:
            del mutant[position:]
        elif kind == 2:
            mutant[position:position] = rng.randbytes(rng.randint(1, 16))
        else:
            mutant[position:position + 8] = rng.randbytes(8)
        yield bytes(mutant)


def _specials(folder, rng):
    """Files that are not weights at all, or not state dicts."""
    yield "empty.pt", b""
    yield "random.pt", rng.randbytes(4096)
    yield "random.safetensors", rng.randbytes(300)
    junk = io.BytesIO()
    with zipfile.ZipFile(junk, "w") as archive:
        archive.writestr("archive/data.pkl", rng.randbytes(200))
        archive.writestr("archive/data/0", rng.randbytes(64))
    yield "junk-zip.pt", junk.getvalue()
    for name, value in (("text.pt", {"fc1.weight": "a string"}), ("number.pt", {"fc1.weight": 3.5}),
                        ("list.pt", [torch.zeros(2)]), ("nested.pt", {"fc1": {"weight": torch.zeros(2)}})):
        buffer = io.BytesIO()
        torch.save(value, buffer)
        yield name, buffer.getvalue()
    yield "huge-header.safetensors", (1 << 62).to_bytes(8, "little") + b"{}"
    header = json.dumps({"fc1.weight": {"dtype": "F32", "shape": [10, 784], "data_offsets": [0, 1 << 40]}}).encode()
    yield "past-the-end.safetensors", len(header).to_bytes(8, "little") + header + bytes(64)
    (folder / "folder.pt").mkdir()


def test_hundreds_of_damaged_weight_files_each_give_a_clear_message(tmp_path):
    started = time.monotonic()
    original = (bundled_models_dir() / "fc10-1e-4.pt").read_bytes()
    write_safetensors(read_state_dict(bundled_models_dir() / "fc10-1e-4.pt"), tmp_path / "fc10.safetensors")
    rng = random.Random(13)
    files = [(f"mutant-{i:03d}.pt", data) for i, data in enumerate(_mutants(original, 220, seed=1))]
    files += [(f"mutant-{i:03d}.safetensors", data)
              for i, data in enumerate(_mutants((tmp_path / "fc10.safetensors").read_bytes(), 120, seed=2))]
    files += list(_specials(tmp_path, rng))
    outcomes, escaped = {"loaded": 0, "refused": 0}, []
    for name, data in files:
        (tmp_path / name).write_bytes(data)
    for name in [name for name, _ in files] + ["folder.pt"]:
        try:
            model = load_own_network(tmp_path / name)
            model(torch.zeros(1, 1, 28, 28))
            outcomes["loaded"] += 1
        except WeightsError as error:
            outcomes["refused"] += 1
            if name not in str(error) or "\n" in str(error).strip():
                escaped.append(f"{name}: unclear message {error}")
        except Exception as error:  # noqa: BLE001 - exactly what must not happen
            escaped.append(f"{name}: {type(error).__name__}: {error}")
    assert escaped == [], "\n".join(escaped[:10])
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 10, outcomes  # both kinds of mutant were made
    assert time.monotonic() - started < 20


# --- decompression bombs and NaN ----------------------------------------------------------------------------


def _deflated_copy(source, target) -> None:
    with zipfile.ZipFile(source) as archive, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for info in archive.infolist():
            copy.writestr(info.filename, archive.read(info), compress_type=zipfile.ZIP_DEFLATED)


def test_a_record_that_inflates_a_thousandfold_is_refused_before_loading(tmp_path):
    torch.save({"fc1.weight": torch.zeros(1 << 22)}, tmp_path / "zeros.pt")
    _deflated_copy(tmp_path / "zeros.pt", tmp_path / "bomb.pt")
    size = (tmp_path / "bomb.pt").stat().st_size
    with zipfile.ZipFile(tmp_path / "bomb.pt") as archive:
        assert sum(info.file_size for info in archive.infolist()) > 900 * size
    with pytest.raises(WeightsError, match=r"Refused 'bomb.pt': its compressed records would expand .*decompression bomb"):
        read_state_dict(tmp_path / "bomb.pt")
    with pytest.raises(WeightsError, match="decompression bomb"):
        load_own_network(tmp_path / "bomb.pt")
    _deflated_copy(bundled_models_dir() / "fc10-1e-4.pt", tmp_path / "deflated.pt")  # ordinary compression is fine
    assert load_own_network(tmp_path / "deflated.pt").description == "FC10(1e-4) architecture"


@pytest.mark.parametrize("bad, word", [(float("nan"), "NaN"), (float("inf"), "infinite"), (-float("inf"), "infinite")])
def test_nan_or_infinite_weights_are_refused_naming_the_tensor(tmp_path, bad, word):
    state = read_state_dict(bundled_models_dir() / "fc10-1e-4.pt")
    state["fc1.bias"][3] = bad
    torch.save(state, tmp_path / "bad.pt")
    write_safetensors(state, tmp_path / "bad.safetensors")
    for path in (tmp_path / "bad.pt", tmp_path / "bad.safetensors"):
        with pytest.raises(WeightsError, match=f"'{path.name}' holds {word} values in 'fc1.bias'"):
            load_own_network(path)
        with pytest.raises(WeightsError, match=f"holds {word} values in 'fc1.bias'"):
            load_zoo_model("FC10(1e-4)", weights_path=path)
    weight = np.zeros((10, 784), np.float32)
    weight[3, 5] = bad
    linear_digits(tmp_path / "bad.onnx", weight, np.zeros(10))
    with pytest.raises(WeightsError, match=f"'bad.onnx' holds {word} values in"):
        load_own_network(tmp_path / "bad.onnx")


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2"])
def test_float8_weights_load_and_types_that_cannot_be_computed_get_one_line(tmp_path, dtype):
    state = read_state_dict(bundled_models_dir() / "fc10-1e-4.pt")
    write_safetensors({name: tensor.to(getattr(torch, dtype)) for name, tensor in state.items()}, tmp_path / "f8.st")
    model = load_own_network(tmp_path / "f8.st")
    assert model.description == "FC10(1e-4) architecture"
    expected = state["fc1.weight"].to(getattr(torch, dtype)).float()
    assert torch.equal(model.network.fc1.weight, expected)
    packed = torch.zeros(10, 392, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)  # two 4-bit values a byte
    write_safetensors({"fc1.weight": packed, "fc1.bias": state["fc1.bias"]}, tmp_path / "f4.safetensors")
    with pytest.raises(WeightsError, match=r"^'f4.safetensors' stores 'fc1.weight' as torch.float4_e2m1fn_x2, a type "
                                           r"this application cannot compute with; save the weights as float32.$"):
        load_own_network(tmp_path / "f4.safetensors")


def test_nan_weights_of_a_photo_network_are_refused(tmp_path):
    network = build_architecture("mobilenet_v3_small", classes=4)
    state = network.state_dict()
    state["classifier.3.weight"][1, 2] = float("nan")
    write_safetensors(state, tmp_path / "mobile.safetensors")
    with pytest.raises(WeightsError, match="'mobile.safetensors' holds NaN values in 'classifier.3.weight'"):
        load_own_network(tmp_path / "mobile.safetensors", "mobilenet_v3_small")


# --- saving: one step per file, the record never beside other weights ------------------------------------------


def _saved_pair(folder, spec):
    return (folder / spec.weights_file).read_bytes(), json.loads((folder / spec.metadata_file).read_text())


def test_save_model_leaves_no_temporary_files_and_a_failed_write_keeps_the_old_pair(tmp_path, monkeypatch):
    spec = find_spec("FC10(1e-4)")
    folder = tmp_path / "models"
    save_model(spec.build(), spec, {"errors": {"test": 0.5}}, folder)
    assert sorted(p.name for p in folder.iterdir()) == [spec.metadata_file, spec.weights_file]
    before = _saved_pair(folder, spec)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(zoo_weights.torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_model(spec.build(), spec, {"errors": {"test": 0.1}}, folder)
    assert _saved_pair(folder, spec) == before
    assert sorted(p.name for p in folder.iterdir()) == [spec.metadata_file, spec.weights_file]


def test_a_crash_before_the_record_is_written_leaves_new_weights_without_the_old_record(tmp_path, monkeypatch):
    spec = find_spec("FC10(1e-4)")
    folder = tmp_path / "models"
    save_model(spec.build(), spec, {"errors": {"test": 0.5}}, folder)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # stands for the process dying between the two files

    monkeypatch.setattr(zoo_weights, "atomic_write_text", crash)
    model = spec.build()
    with pytest.raises(KeyboardInterrupt):
        save_model(model, spec, {"errors": {"test": 0.1}}, folder)
    assert not (folder / spec.metadata_file).exists()  # no record that describes other weights
    assert torch.equal(read_state_dict(folder / spec.weights_file)["fc1.weight"], model.fc1.weight)


def test_metadata_that_cannot_be_written_fails_before_anything_is_replaced(tmp_path):
    spec = find_spec("FC10(1e-4)")
    folder = tmp_path / "models"
    save_model(spec.build(), spec, {"errors": {"test": 0.5}}, folder)
    before = _saved_pair(folder, spec)
    with pytest.raises(TypeError):
        save_model(spec.build(), spec, {"errors": {"test": object()}}, folder)
    assert _saved_pair(folder, spec) == before


def test_saved_weights_round_trip_through_the_model_status(isolated_user_folder):
    spec = find_spec("FC10(1e-2)")
    model = spec.build()
    save_model(model, spec, {"errors": {"test": 0.25}}, isolated_user_folder / "models")
    assert model_status(spec).test_error == 0.25
    assert torch.equal(load_zoo_model(spec.name).network.fc1.weight, model.fc1.weight)


# --- loading is cancellable between steps ------------------------------------------------------------------------


def test_loading_a_network_honours_a_cancel_between_steps(tmp_path):
    cancelled = Monitor()
    cancelled.cancel()
    path, _, _ = random_linear_digits(tmp_path / "digits.onnx")
    with pytest.raises(Cancelled):
        load_own_network(path, monitor=cancelled)
    assert load_own_network(path, monitor=Monitor()).is_digit_network
    write_safetensors(build_architecture("mobilenet_v3_small", 3).state_dict(), tmp_path / "m.safetensors")
    with pytest.raises(Cancelled):
        load_own_network(tmp_path / "m.safetensors", "mobilenet_v3_small", monitor=cancelled)


# --- downloads that trickle or stall ------------------------------------------------------------------------------


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Announces 1000 bytes, then sends one a second."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                if self.server.stopping.wait(1.0):
                    return
        except OSError:
            pass  # the client went away

    def log_message(self, *args):
        pass


@pytest.fixture
def trickle_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stopping.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_server():
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def _serve_weights(monkeypatch, url: str) -> None:
    monkeypatch.setattr(photo_catalogue.PhotoModelEntry, "url", property(lambda self: url))


def _cache_folder():
    return find_photo_model("resnet18").cache_path().parent


@pytest.mark.parametrize("server", ["trickle_server", "silent_server"])
def test_a_download_from_a_slow_server_is_cancelled_at_once_and_leaves_nothing(monkeypatch, request, server):
    _serve_weights(monkeypatch, request.getfixturevalue(server) + "/resnet18-00000000.pth")
    monitor = Monitor()
    timer = threading.Timer(0.5, monitor.cancel)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        download_weights("resnet18", monitor)
    assert time.monotonic() - started < 1.5
    timer.cancel()
    assert list(_cache_folder().iterdir()) == []


def test_a_server_that_sends_nothing_fails_after_the_download_timeout(monkeypatch, silent_server):
    monkeypatch.setattr(download, "DOWNLOAD_TIMEOUT", 1)
    _serve_weights(monkeypatch, silent_server + "/resnet18-00000000.pth")
    started = time.monotonic()
    with pytest.raises(WeightsError, match="no data from the server for 1 s. Is this machine online"):
        download_weights("resnet18")
    assert time.monotonic() - started < 2.5
    assert list(_cache_folder().iterdir()) == []


def test_every_reader_of_torch_files_refuses_torchscript_from_the_bytes_it_loads_and_never_calls_torch_jit(
        tmp_path, monkeypatch):
    """The refusal is read from the records handed to torch.load (one read of the file), for a user's network and for
    a checkpoint alike; nothing in the application calls torch.jit.load."""
    target = tmp_path / "victim"
    path = torchscript_file(SavesWhenRun(str(target)), tmp_path / "checkpoint.pt")

    def never(*args, **kwargs):
        raise AssertionError("torch.jit.load was called")

    monkeypatch.setattr(torch.jit, "load", never)
    reads = []
    real_read_bytes = type(path).read_bytes
    monkeypatch.setattr(type(path), "read_bytes", lambda self: reads.append(self.name) or real_read_bytes(self))
    for read in (load_torch_file, read_state_dict, load_own_network):
        reads.clear()
        with pytest.raises(WeightsError, match="is TorchScript, a program, which this application never runs"):
            read(path)
        assert reads == ["checkpoint.pt"], (read.__name__, reads)
    assert not target.exists()
