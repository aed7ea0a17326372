"""Reading and writing weight files, which are untrusted input: state dicts as data, TorchScript only when trusted.

State dicts are data: a ``safetensors`` file, or ``torch.save``'s format read only with
``torch.load(weights_only=True)``, after checking that its zip records do not inflate absurdly;
weights holding NaN or infinite values are refused. A TorchScript archive is a program rather
than data (its code can write files, even inside ``torch.jit.load``): it is refused unless the
user says they trust the file, and even then only loaded when an inspection of its code and
pickles (:mod:`blindspot_gui.core.models.torchscript`) finds no file-system or process operation.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.files import atomic_write
from blindspot_gui.core.models.torchscript import find_dangerous_code, member_kind

MAX_INFLATION = 100
"""A weights archive whose compressed records expand to more than this many times the file's size is refused."""
MAX_INFLATED_BYTES = 4 << 30
"""Nor may its compressed records expand to more than this many bytes in all (4 GiB)."""


class WeightsError(ValueError):
    """A weights file is missing, corrupt, unsafe, or does not fit the architecture."""


class UntrustedCodeError(WeightsError):
    """A TorchScript file, not loaded because the user has not said they trust its code."""


class DangerousCodeError(WeightsError):
    """A TorchScript file the user trusts whose code reaches files or processes: refused outright."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, or its type when the message is empty."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def existing_file(path, what: str = "Weights file") -> Path:
    """``path`` as a Path, or a WeightsError when it is missing or a folder."""
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{what} '{path}' is a folder; choose a file.")
    if not path.is_file():
        raise WeightsError(f"{what} '{path}' does not exist.")
    return path


def read_state_dict(path) -> dict[str, torch.Tensor]:
    """Read a state dict: a safetensors file, or a ``torch.save`` file read with ``weights_only=True``.

    Every failure is a WeightsError naming the file: missing, damaged, compressed records that
    would inflate absurdly, Python objects other than tensors, NaN or infinite weights.
    """
    path = existing_file(path)
    if is_torchscript(path):
        raise WeightsError(f"'{path}' is a TorchScript file (a program), not a state dict of weights.")
    state = _read_safetensors(path) if is_safetensors(path) else _read_torch_state(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(
        isinstance(name, str) and isinstance(value, torch.Tensor) and value.layout == torch.strided
        for name, value in state.items()
    ):
        raise WeightsError(f"'{path}' does not hold a state dict (a mapping of parameter names to tensors).")
    check_finite(state, path.name)
    return state


def _read_torch_state(path: Path):
    check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols are not for our users
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        if not _is_pickle(path):
            raise WeightsError(f"'{path}' is not a readable PyTorch weights file (damaged or another format).") from None
        raise WeightsError(
            f"Refused to load '{path}': it contains Python objects other than tensors, which could run code "
            "when loaded. Only plain state dicts (torch.save(model.state_dict(), file)) are accepted."
        ) from None
    except MemoryError:
        raise WeightsError(f"'{path}' declares tensors too large for this machine's memory; it is damaged.") from None
    except Exception as error:  # damaged input makes torch.load fail in many ways (KeyError, IndexError, ...)
        raise WeightsError(f"'{path}' is not a readable PyTorch weights file ({first_line(error)}).") from None


def is_safetensors(path) -> bool:
    """Whether ``path`` is (by its name) or looks like (an 8-byte header length, then JSON) a safetensors file."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return True
    try:
        with open(path, "rb") as stream:
            head = stream.read(9)
        size = path.stat().st_size
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= size - 8


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file  # here: a broken installation is then a message about this file
    except ImportError:
        raise WeightsError(f"Reading '{path.name}' needs the package safetensors (pip install safetensors).") from None
    try:
        return load_file(str(path), device="cpu")
    except (KeyboardInterrupt, SystemExit):
        raise
    except MemoryError:
        raise WeightsError(f"'{path}' declares tensors too large for this machine's memory; it is damaged.") from None
    except BaseException as error:  # safetensors' own errors, OSError, ..., and a Rust panic (a BaseException)
        raise WeightsError(f"'{path}' is not a readable safetensors file ({first_line(error)}).") from None


def write_safetensors(state: dict[str, torch.Tensor], path) -> Path:
    """Save a state dict as a safetensors file in one step (the safe format for sharing weights)."""
    from safetensors.torch import save  # as in _read_safetensors

    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state.items()}
    return atomic_write(path, lambda stream: stream.write(save(tensors)))


def check_archive(path: Path, data: bytes | None = None) -> None:
    """Refuse a zip archive (torch.save's and TorchScript's format) that is damaged or a decompression bomb.

    Reads only the archive's directory: duplicate record names (which two readers could resolve
    differently), records larger than the file, and compressed records that would inflate more
    than :data:`MAX_INFLATION` times the file's size or beyond :data:`MAX_INFLATED_BYTES`.
    ``data`` is the file's content when it is already in memory.
    """
    try:
        if data is None:
            with open(path, "rb") as stream:
                if stream.read(4) != b"PK\x03\x04":
                    return  # not a zip archive for torch either (the legacy pickle format)
            archive, size = zipfile.ZipFile(path), path.stat().st_size
        else:
            archive, size = zipfile.ZipFile(io.BytesIO(data)), len(data)
        with archive:
            records = archive.infolist()
    except Exception as error:  # zipfile fails in many ways on damaged archives
        raise WeightsError(f"'{path.name}' is a damaged weights archive ({first_line(error)}).") from None
    names = [record.filename.lower() for record in records]  # torch's zip reader finds names in any case
    if len(set(names)) != len(names):
        raise WeightsError(f"'{path.name}' is a damaged weights archive: it holds two records of the same name "
                           "(letter case aside).")
    if sum(record.compress_size for record in records) > size or any(
        record.compress_type == zipfile.ZIP_STORED and record.file_size != record.compress_size for record in records
    ):
        raise WeightsError(f"'{path.name}' is a damaged weights archive: its records do not fit in the file.")
    inflated = sum(record.file_size for record in records if record.compress_type != zipfile.ZIP_STORED)
    if inflated > MAX_INFLATION * size or inflated > MAX_INFLATED_BYTES:
        raise WeightsError(
            f"Refused '{path.name}': its compressed records would expand from {size:,} bytes to {inflated:,} bytes "
            f"(a decompression bomb). Weight files are stored uncompressed; save the weights again with "
            f"torch.save or as safetensors."
        )


def check_finite(tensors: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights that hold NaN or infinite values, naming the first such tensor."""
    for name, tensor in tensors.items():
        if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.layout != torch.strided:
            continue
        if not bool(torch.isfinite(tensor).all()):
            kind = "NaN" if bool(torch.isnan(tensor).any()) else "infinite"
            raise WeightsError(
                f"'{source}' holds {kind} values in '{name}': the weights are damaged (perhaps a training run "
                f"that diverged); retrain the network or choose another file."
            )


def _is_pickle(path: Path) -> bool:
    """Whether ``path`` is a torch zip archive or a well-formed pickle stream (as opposed to garbage)."""
    if zipfile.is_zipfile(path):
        return True
    try:
        with open(path, "rb") as stream:
            for _ in pickletools.genops(stream):
                pass
        return True
    except Exception:  # pickletools raises ValueError and others on malformed streams
        return False


def load_state_into(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    """Copy ``state`` into ``model``, explaining a mismatch of names or shapes in one message."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shapes = [
        f"{name} {tuple(state[name].shape)} instead of {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    wrong_types = [
        f"{name} {state[name].dtype}"
        for name, tensor in expected.items()
        if name in state and tensor.is_floating_point() and not state[name].is_floating_point()
    ]
    if missing or unexpected or wrong_shapes or wrong_types:
        details = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing[:4])}" if missing else "",
                f"unexpected {', '.join(unexpected[:4])}" if unexpected else "",
                f"wrong shape: {', '.join(wrong_shapes[:3])}" if wrong_shapes else "",
                f"not floating-point: {', '.join(wrong_types[:3])}" if wrong_types else "",
            )
            if part
        )
        raise WeightsError(f"'{source}' does not fit this architecture ({details}).")
    try:
        model.load_state_dict(state)
    except Exception as error:  # e.g. a tensor torch cannot copy into the parameter
        raise WeightsError(f"'{source}' does not fit this architecture ({first_line(error)}).") from None
    return model


def is_torchscript(path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip with compiled code or constants) rather than a state dict."""
    try:
        with zipfile.ZipFile(path) as archive:  # code or constants, named as torchscript.member_kind reads them
            return any(member_kind(name) == "code" or name.lower().rsplit("/", 1)[-1] == "constants.pkl"
                       for name in archive.namelist())
    except Exception:  # zipfile fails in many ways on damaged archives; then it is no TorchScript file
        return False


def load_torchscript(path, trust_code: bool = False) -> nn.Module:
    """A TorchScript file as an eval-mode module: only when ``trust_code``, and only if its code passes inspection.

    Raises :class:`UntrustedCodeError` without ``trust_code``, :class:`DangerousCodeError` when
    the archive's code or pickles name a file-system, process or unknown operation (nothing of it
    is loaded or run), and a WeightsError when it is damaged or holds NaN or infinite weights.
    """
    path = existing_file(path, "Model file")
    if not trust_code:
        raise UntrustedCodeError(
            f"'{path.name}' is a TorchScript file: a program, not just weights, whose code can write files or run "
            f"other code when it is loaded or used, so it was not loaded. Save the network's weights as a "
            f"safetensors state dict instead (safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')) "
            f"and load that with its architecture, or say explicitly that you trust this file and where it came from."
        )
    data = path.read_bytes()  # read once: what is inspected is what is loaded
    check_archive(path, data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            finding = find_dangerous_code(archive)
    except Exception as error:  # damaged records (bad CRC, unknown compression, ...)
        raise WeightsError(f"'{path.name}' is a damaged TorchScript file ({first_line(error)}).") from None
    if finding:
        raise DangerousCodeError(
            f"Refused '{path.name}' although you trust it: its code contains {finding}. A model file must not read or "
            f"write files or run programs; nothing of it was loaded. Ask its author for the weights as a safetensors "
            f"state dict."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch marks TorchScript deprecated; files remain
            model = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as error:  # TorchScript reports problems with many exception types
        raise WeightsError(f"'{path.name}' is a damaged TorchScript file ({first_line(error)}).") from None
    check_finite(dict(model.state_dict()), path.name)
    return model.eval()
