"""Reading and writing weight files, which are untrusted input: data only, read so that what is checked is what loads.

State dicts are data: a ``safetensors`` file, or ``torch.save``'s format read only with
``torch.load(weights_only=True)``. A zip archive (torch.save's format) is read by Python first, every
byte of it accounted for (records side by side from the first byte, then one central directory,
then its end records), compared with torch's own reader of the same bytes, inflated under a limit,
and written afresh for torch: torch never parses the user's file, only the records Python checked.
Weights holding NaN or infinite values are refused. A TorchScript archive is a program, never run:
it is refused, from the same records torch.load would get, with the one line that converts it to ONNX.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import struct
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from blindspot_gui.core.files import atomic_write

MAX_INFLATION = 100
"""A weights archive whose compressed records expand to more than this many times the file's size is refused."""
MAX_INFLATED_BYTES = 4 << 30
"""Nor may its compressed records expand to more than this many bytes in all (4 GiB)."""
COMPUTED_TYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128)
"""Floating-point types torch computes with directly; others (the float8s) are widened to float32 to be checked."""
TORCHSCRIPT_TO_ONNX = ('torch.onnx.export(torch.jit.load("net.pt"), torch.rand(1, 3, 224, 224), "net.onnx", '
                       'dynamo=False, dynamic_axes={"input": {0: "batch"}}, input_names=["input"])')
"""Words of the refusal message, never executed here: the line a user who trusts the file runs in their own Python
(torch 2.9 and newer) to turn a TorchScript file into ONNX. The refusal itself is read from the very records ``torch.load`` would get (see
``repacked_archive``); ``torch.load(weights_only=True)`` would not run the program either."""


class WeightsError(ValueError):
    """A weights file is missing, corrupt, unsafe, or does not fit the architecture."""


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
    source = torch_file_source(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols are not for our users
            return torch.load(source, map_location="cpu", weights_only=True)
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


def torch_file_source(path: Path) -> io.BytesIO:
    """What to hand ``torch.load`` for ``path``, read once: a zip archive's records checked and written afresh, or,
    for torch's older formats (one pickle stream, which only torch reads), the bytes as they are."""
    data = path.read_bytes()
    return io.BytesIO(repacked_archive(data, path.name) if data[:4] == b"PK\x03\x04" else data)


def load_torch_file(path):
    """``torch.load(path, weights_only=True)`` on the CPU through :func:`torch_file_source`, for files this
    application wrote itself (checkpoints); errors are torch's."""
    return torch.load(torch_file_source(Path(path)), map_location="cpu", weights_only=True)


LOCAL_HEADER = struct.Struct("<4s5H3L2H")
"""A zip record's local header: signature, versions, flags, method, time, date, CRC, sizes, name and extra lengths."""
END_RECORD = struct.Struct("<4s4H2LH")
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")


def repacked_archive(data: bytes, name: str) -> bytes:
    """The records of the zip archive ``data`` (torch.save's format), checked, inflated under the limits and written
    afresh by torch's own writer, so that ``torch.load`` reads exactly what Python read. A WeightsError naming
    ``name`` when the file is damaged, holds anything besides its records and directory, or when Python and torch
    read its directory differently (a file built to show each of them something else)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        records = sorted(archive.infolist(), key=lambda record: record.header_offset)
    except Exception as error:  # zipfile fails in many ways on damaged archives
        raise WeightsError(f"'{name}' is a damaged weights archive ({first_line(error)}).") from None
    with archive:
        if any(_is_code(record.filename) or _is_constants(record.filename) for record in records):
            raise WeightsError(f"'{name}' is TorchScript, a program, which this application never runs; convert it "
                               f"to ONNX in your own Python, only if you trust where it came from (loading it runs "
                               f"its code): {TORCHSCRIPT_TO_ONNX}")
        problem = _layout_problem(data, archive, records) or _reader_disagreement(data, records)
        if problem:
            raise WeightsError(f"Refused '{name}': {problem}. Save the weights again with torch.save or as "
                               "safetensors.")
        _check_inflation(records, len(data), name)
        return _written_afresh(archive, records, name)


def _layout_problem(data: bytes, archive: zipfile.ZipFile, records: list[zipfile.ZipInfo]) -> str | None:
    """Why every byte of ``data`` is not one of its records, its central directory or its end records, in order."""
    names = [record.filename.lower() for record in records]  # torch's zip reader finds names in any case
    if len(set(names)) != len(names):
        return "it holds two records of the same name (letter case aside)"
    if not records or len({record.filename.split("/", 1)[0] for record in records}) != 1 or any(
            "/" not in record.filename or ".." in record.filename.split("/") for record in records):
        return "its records are not in one folder, as torch.save writes them"
    position = 0
    for record in records:
        if record.header_offset != position:
            return ("it holds data outside its records" if position else
                    "it holds data before its first record (where a second archive can hide)")
        position = _record_end(data, record)
        if position is None:
            return f"its record '{record.filename}' does not match its directory entry"
    return _directory_problem(data, position, len(records), archive.comment)


def _record_end(data: bytes, record: zipfile.ZipInfo) -> int | None:
    """Where ``record`` ends (local header, name, extra field, data and data descriptor), or None when its local
    header disagrees with the central directory."""
    start = record.header_offset
    if start + LOCAL_HEADER.size > len(data):
        return None
    signature, _, flags, method, _, _, _, _, _, name_length, extra_length = LOCAL_HEADER.unpack_from(data, start)
    name_start = start + LOCAL_HEADER.size
    if (signature != b"PK\x03\x04" or method != record.compress_type
            or data[name_start:name_start + name_length] != record.orig_filename.encode("utf-8")):
        return None
    end = name_start + name_length + extra_length + record.compress_size
    if flags & 0x08:  # a data descriptor follows: signature, CRC and both sizes (4 or 8 bytes each)
        for size, layout in ((16, "<4s3L"), (24, "<4sL2Q")):
            if data[end:end + 4] == b"PK\x07\x08" and len(data) >= end + size and struct.unpack_from(
                    layout, data, end)[1:] == (record.CRC, record.compress_size, record.file_size):
                return end + size
        return None
    return end if end <= len(data) else None


def _directory_problem(data: bytes, directory_start: int, count: int, comment: bytes) -> str | None:
    """Why the central directory does not start at ``directory_start`` and run, through the end records (zip64's,
    then the classic one, as torch writes them), to the last byte of ``data`` with ``count`` entries."""
    end = len(data) - END_RECORD.size
    if comment or end < directory_start:
        return "it has bytes after its directory"
    signature, _, _, _, entries, size, offset, _ = END_RECORD.unpack_from(data, end)
    if signature != b"PK\x05\x06":
        return "it has bytes after its directory"
    directory_end = end
    locator = end - ZIP64_LOCATOR.size
    if locator >= directory_start and data[locator:locator + 4] == b"PK\x06\x07":  # zip64 end records (torch's)
        _, _, record_start, _ = ZIP64_LOCATOR.unpack_from(data, locator)
        if record_start + ZIP64_END_RECORD.size > locator:
            return "its zip64 end records are damaged"
        fields = ZIP64_END_RECORD.unpack_from(data, record_start)
        if fields[0] != b"PK\x06\x06" or record_start + 12 + fields[1] != locator:
            return "its zip64 end records are damaged"
        if any(short not in (long, mask) for short, long, mask in (
                (entries, fields[7], 0xFFFF), (size, fields[8], 0xFFFFFFFF), (offset, fields[9], 0xFFFFFFFF))):
            return "its two end records disagree"
        entries, size, offset, directory_end = fields[7], fields[8], fields[9], record_start
    if offset != directory_start or offset + size != directory_end:
        return "its central directory is not where its end record says (a second directory or hidden data)"
    if entries != count:
        return "its end record counts another number of records than its directory holds"
    return None


def _reader_disagreement(data: bytes, records: list[zipfile.ZipInfo]) -> str | None:
    """How torch's reader of ``data`` disagrees with Python's about any record's name, data offset or size."""
    ours = {}
    for record in records:
        header = LOCAL_HEADER.unpack_from(data, record.header_offset)
        ours[record.filename.split("/", 1)[1]] = (record.header_offset + LOCAL_HEADER.size + header[9] + header[10],
                                                  record.file_size)
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        theirs = {name: (reader.get_record_offset(name), reader.get_record_size(name))
                  for name in reader.get_all_records()}
    except Exception as error:  # torch's reader fails in many ways on damaged archives
        return f"torch cannot read its directory ({first_line(error)})"
    if theirs != ours:
        return "torch's reader and Python's see different records in it (a file built to show each something else)"
    return None


def _check_inflation(records: list[zipfile.ZipInfo], size: int, name: str) -> None:
    inflated = sum(record.file_size for record in records if record.compress_type != zipfile.ZIP_STORED)
    if inflated > MAX_INFLATION * size or inflated > MAX_INFLATED_BYTES:
        raise WeightsError(
            f"Refused '{name}': its compressed records would expand from {size:,} bytes to {inflated:,} bytes "
            f"(a decompression bomb). Weight files are stored uncompressed; save the weights again with "
            f"torch.save or as safetensors."
        )


def _written_afresh(archive: zipfile.ZipFile, records: list[zipfile.ZipInfo], name: str) -> bytes:
    """The records, read and CRC-checked by Python (each no larger than its directory says), in a new archive
    written by torch's own writer."""
    from torch.serialization import _get_storage_alignment, get_crc32_options

    output = io.BytesIO()
    writer = torch._C.PyTorchFileWriter(output, get_crc32_options(), _get_storage_alignment())
    try:
        for record in records:
            with archive.open(record) as stream:
                content = stream.read(record.file_size + 1)
            if len(content) != record.file_size:
                raise WeightsError(f"'{name}' is a damaged weights archive: '{record.filename}' is not the size "
                                   "its directory says.")
            writer.write_record(record.filename.split("/", 1)[1], content, len(content))
        writer.write_end_of_file()
    except WeightsError:
        raise
    except Exception as error:  # bad CRC, unknown compression, a name torch's writer refuses, ...
        raise WeightsError(f"'{name}' is a damaged weights archive ({first_line(error)}).") from None
    return output.getvalue()


def check_finite(tensors: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights that hold NaN or infinite values, naming the first such tensor."""
    for name, tensor in tensors.items():
        if not (tensor.is_floating_point() or tensor.is_complex()) or tensor.layout != torch.strided:
            continue
        try:
            values = tensor if tensor.dtype in COMPUTED_TYPES else tensor.float()  # float8s have no isfinite
        except (RuntimeError, NotImplementedError, TypeError):
            raise WeightsError(f"'{source}' stores '{name}' as {tensor.dtype}, a type this application cannot "
                               "compute with; save the weights as float32.") from None
        if not bool(torch.isfinite(values).all()):
            kind = "NaN" if bool(torch.isnan(values).any()) else "infinite"
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


def _is_constants(name: str) -> bool:
    """Whether an archive member is TorchScript's constants table, in any case."""
    return name.lower().replace("\\", "/").rsplit("/", 1)[-1] == "constants.pkl"


def _is_code(name: str) -> bool:
    """Whether an archive member is TorchScript code (a ``.py`` file or one in a ``code`` folder), in any case."""
    lower = name.lower().replace("\\", "/")
    return lower.endswith(".py") or "code" in lower.split("/")[:-1]

