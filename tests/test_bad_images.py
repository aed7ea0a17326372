"""Hostile images, IDX data sets and class-name files: each gives a clear message or is handled, in bounded memory."""

import gzip
import os
import resource
import struct
import threading
import time
import zlib
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image, ImageOps

from blindspot_gui.core import image_folders, images, photos
from blindspot_gui.core.data import DatasetError, load_idx_dataset, parse_class_names, read_class_names
from blindspot_gui.core.image_folders import load_image_folder
from blindspot_gui.core.images import ImageFileError, load_digit_image, read_image
from blindspot_gui.core.photos import prepare_photo, sample_photos
from blindspot_gui.core.monitor import Cancelled, Monitor
from blindspot_gui.core.models import class_names
from blindspot_gui.core.models.weights_io import WeightsError
from conftest import write_idx

# --- measuring ------------------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/self/status")


@contextmanager
def bounded(seconds: float = 2.0, megabytes: float = 500.0):
    """Assert that the block adds at most ``megabytes`` of peak resident memory and takes at most ``seconds``.

    Address space is capped 2 GB above today's while the block runs, so that a regression fails with a
    MemoryError instead of filling the machine.
    """
    with open("/proc/self/clear_refs", "w") as clear:  # the peak (VmHWM) starts again from the current size
        clear.write("5")
    resident = _status_mb("VmRSS")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    ceiling = int((_status_mb("VmSize") + 2048) * 2**20)
    resource.setrlimit(resource.RLIMIT_AS, (ceiling if hard == resource.RLIM_INFINITY else min(ceiling, hard), hard))
    start = time.perf_counter()
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    elapsed = time.perf_counter() - start
    added = _status_mb("VmHWM") - resident
    assert added < megabytes, f"peak memory grew by {added:.0f} MB"
    assert elapsed < seconds, f"took {elapsed:.1f} s"


# --- building hostile PNGs without ever holding their pixels -------------------------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_png(path, width: int, height: int, colour_type: int = 0, ink_rows=(), ink=b"") -> None:
    """A PNG of zeros (black, or transparent for RGBA), with ``ink`` bytes at the start of each row in ``ink_rows``."""
    channels = {0: 1, 2: 3, 6: 4}[colour_type]
    blank = bytes(1 + width * channels)
    marked = b"\0" + ink + bytes(width * channels - len(ink))
    compressor = zlib.compressobj(1)
    rows = set(ink_rows)
    body = b"".join(compressor.compress(marked if row in rows else blank) for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body + compressor.flush())
                     + _chunk(b"IEND", b""))


# --- tiny files, huge images ------------------------------------------------------------------------------


def test_a_1x60000_strip_becomes_a_photo_and_a_digit_in_little_memory_and_time(tmp_path):
    path = tmp_path / "strip.png"
    write_png(path, 1, 60000, ink_rows=range(29000, 31000), ink=b"\xff")
    assert path.stat().st_size < 1000
    with bounded():
        photo = prepare_photo(read_image(path))
    assert photo.shape == (3, 224, 224) and np.isfinite(photo).all()
    with bounded():
        digit = load_digit_image(path).pixels
    assert digit.shape == (28, 28) and digit.max() > 0.5


def test_a_strip_declaring_millions_of_pixels_on_one_side_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "long.png"
    write_png(path, 39_000_000, 1)
    for read in (load_digit_image, lambda p: prepare_photo(read_image(p)), lambda p: read_image(p, shorter_side=256)):
        with bounded(megabytes=100):
            with pytest.raises(ImageFileError, match=r"'long.png' is 39,000,000x1 pixels; no side may be longer"):
                read(path)


def test_a_huge_png_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "huge.png"
    write_png(path, 13000, 13000, ink_rows=range(6000, 7000), ink=b"\xff" * 1000)
    assert path.stat().st_size < 1_000_000
    for read in (load_digit_image, lambda p: prepare_photo(read_image(p)), lambda p: read_image(p, shorter_side=256)):
        with bounded(megabytes=100), pytest.warns(Image.DecompressionBombWarning):
            with pytest.raises(ImageFileError, match=r"'huge.png' is 13,000x13,000 pixels \(169 megapixels\).*"
                                                     r"at most 40 megapixels.*[Ss]cale it down"):
                read(path)


def test_a_large_legal_image_is_converted_in_bounded_memory(tmp_path):
    path = tmp_path / "large.png"  # 35 megapixels of transparency with a black bar: a digit "1" on white
    write_png(path, 5000, 7000, colour_type=6, ink_rows=range(1500, 5500), ink=bytes([0, 0, 0, 255]) * 600)
    with bounded(seconds=5):
        digit = load_digit_image(path).pixels
    assert digit.shape == (28, 28) and digit.max() > 0.9 and digit[:, :3].max() == 0 and digit[:3].max() == 0
    with bounded(seconds=5):
        photo = read_image(path, shorter_side=256)
        pixels = prepare_photo(photo)
    assert pixels.shape == (3, 224, 224) and pixels.max() == 1.0  # transparent is white


def test_a_jpeg_photo_is_decoded_at_the_smallest_scale_that_keeps_its_shorter_side(tmp_path, monkeypatch):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4096, 3072), (200, 30, 30)).save(path, quality=90)
    assert read_image(path, shorter_side=256).size == (512, 384)  # an eighth: 384 >= 256
    assert read_image(path, shorter_side=1000).size == (2048, 1536)
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 1_000_000)  # what is decoded counts, not what is declared
    assert read_image(path, shorter_side=256).size == (512, 384)
    with pytest.raises(ImageFileError, match="big.jpg' is 4,096x3,072 pixels"):
        read_image(path)


def test_the_photo_crop_is_the_same_as_resizing_the_whole_photo(tmp_path):
    rng = np.random.default_rng(1)
    for width, height in ((640, 320), (301, 517), (224, 224), (50, 80)):
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        scale = 256 / min(width, height)
        size = (max(224, round(width * scale)), max(224, round(height * scale)))
        whole = image.resize(size, Image.Resampling.BILINEAR, reducing_gap=None)
        left, top = (size[0] - 224) // 2, (size[1] - 224) // 2
        expected = np.asarray(whole.crop((left, top, left + 224, top + 224)), dtype=np.float32) / 255
        assert np.abs(prepare_photo(image) - expected.transpose(2, 0, 1)).max() <= 1 / 255 + 1e-6


# --- what images hold ---------------------------------------------------------------------------------


def _bar_image() -> Image.Image:
    picture = Image.new("L", (40, 60), 255)
    picture.paste(0, (5, 10, 12, 50))  # a dark bar near the left edge
    return picture


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_exif_orientation_is_applied_on_the_digit_path(tmp_path, suffix):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    tagged = tmp_path / f"tagged{suffix}"
    _bar_image().save(tagged, exif=exif, quality=95)
    upright = tmp_path / f"upright{suffix}"
    ImageOps.exif_transpose(Image.open(tagged)).save(upright, quality=95)
    shown = load_digit_image(tagged)
    assert np.abs(shown.pixels - load_digit_image(upright).pixels).max() < 0.05
    assert np.abs(shown.pixels - load_digit_image(upright).pixels.T).max() > 0.5  # a bar lying, not standing
    assert np.abs(prepare_photo(read_image(tagged)) - prepare_photo(read_image(upright))).max() < 0.05


def test_a_sixteen_bit_photo_is_scaled_not_clipped(tmp_path):
    values = np.full((60, 80), 20000, dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    pixels = prepare_photo(read_image(path))
    assert pixels == pytest.approx(20000 / 65535, abs=0.01)


def test_transparent_areas_of_a_photo_are_white(tmp_path):
    palette = Image.new("P", (64, 64), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (24, 24, 40, 40))  # a red square on transparent black
    palette.save(tmp_path / "palette.png", transparency=0)
    rgba = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (24, 24, 40, 40))
    rgba.save(tmp_path / "rgba.png")
    for name in ("palette.png", "rgba.png"):
        pixels = prepare_photo(read_image(tmp_path / name))
        assert np.allclose(pixels[:, 5, 5], 1.0) and np.allclose(pixels[:, 112, 112], (1, 0, 0), atol=0.01), name


def test_a_cmyk_jpeg_is_read_as_colour_by_both_paths(tmp_path):
    path = tmp_path / "cmyk.jpg"
    picture = Image.new("CMYK", (64, 64), (0, 0, 0, 0))  # white paper
    picture.paste((0, 255, 255, 0), (20, 10, 44, 54))  # red ink
    picture.save(path, quality=95)
    pixels = prepare_photo(read_image(path))
    assert np.allclose(pixels[:, 5, 5], 1.0, atol=0.03) and np.allclose(pixels[:, 112, 112], (1, 0, 0), atol=0.05)
    digit = load_digit_image(path).pixels
    assert digit.max() > 0.5 and digit[0, 0] == 0


def test_float_images_with_nan_and_infinity_give_finite_pixels(tmp_path):
    values = np.zeros((40, 40), dtype=np.float32)
    values[10:30, 15:25] = 1.0
    values[0, 0], values[1, 1], values[2, 2] = np.nan, np.inf, -np.inf
    path = tmp_path / "float.tif"
    Image.fromarray(values, mode="F").save(path)
    digit = load_digit_image(path).pixels
    assert np.isfinite(digit).all() and digit.max() > 0.5
    assert np.isfinite(prepare_photo(read_image(path))).all()


def test_a_gif_with_ten_thousand_frames_opens_at_once(tmp_path):
    path = tmp_path / "frames.gif"
    frames = [Image.new("L", (8, 8), 0), Image.new("L", (8, 8), 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=10, optimize=False)
    raw = path.read_bytes()
    start = raw.index(b"\x21\xf9")  # the first frame's graphic control extension
    second = raw.index(b"\x21\xf9", start + 1)
    path.write_bytes(raw[:second] + raw[second:-1] * 10_000 + b"\x3b")  # the last frame, 10,000 times
    with bounded(megabytes=100):
        image = read_image(path)
        prepare_photo(image)
        load_digit_image(path)
    assert image.size == (8, 8)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow warns, and reads on
def test_a_damaged_exif_block_does_not_stop_the_image(tmp_path):
    path = tmp_path / "exif.jpg"
    _bar_image().save(path, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\x01\x12")
    assert read_image(path).size == (40, 60)


def test_a_truncated_image_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.png"
    write_png(path, 3000, 3000, ink_rows=range(3000), ink=b"\x80" * 3000)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageFileError, match="'cut.png' is damaged or truncated"):
        read_image(path)


def _in_thread(call, seconds: float = 10.0):
    """Run ``call`` on another thread and return what it raised: a read that blocks fails the test, not hangs it."""
    outcome = []

    def run():
        try:
            call()
            outcome.append(None)
        except Exception as error:  # the test inspects it
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"still blocked after {seconds} s"
    return outcome[0]


def test_devices_pipes_and_folders_are_refused_without_blocking(tmp_path):
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "folder.png").mkdir()
    expected = {"zero.png": "device", "pipe.png": "pipe", "folder.png": "folder", "missing.png": "does not exist"}
    for name, kind in expected.items():
        error = _in_thread(lambda name=name: read_image(tmp_path / name))
        assert isinstance(error, ImageFileError) and name in str(error), error
        assert kind in str(error).replace(str(tmp_path), ""), error


def test_images_decode_on_worker_threads_alike(tmp_path):
    paths = []
    for number in range(6):
        path = tmp_path / f"{number}.png"
        picture = _bar_image().rotate(30 * number, fillcolor=255)
        picture.save(path)
        paths.append(path)
    serial = [load_digit_image(path).pixels for path in paths]
    parallel = [None] * len(paths)

    def convert(number):
        parallel[number] = load_digit_image(paths[number]).pixels

    workers = [threading.Thread(target=convert, args=(number,)) for number in range(len(paths))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert all(np.array_equal(a, b) for a, b in zip(serial, parallel))


# --- image folders ------------------------------------------------------------------------------------


def _digit_folder(folder, count: int):
    for number in range(count):
        _bar_image().save(folder / f"{number:03d}.png")


def test_loading_a_folder_reports_progress_and_can_be_cancelled(tmp_path):
    _digit_folder(tmp_path, 6)
    seen = []
    monitor = Monitor(lambda fraction, text: seen.append((fraction, text)))
    dataset, skipped = load_image_folder(tmp_path, monitor=monitor)
    assert len(dataset) == 6 and not skipped
    fractions = [fraction for fraction, _ in seen]
    assert fractions == sorted(fractions) and len(fractions) >= 6 and any("005.png" in text for _, text in seen)

    monitor = Monitor(lambda fraction, text: monitor.cancel() if "002.png" in text else None)
    with pytest.raises(Cancelled):
        load_image_folder(tmp_path, monitor=monitor)


def test_a_folder_with_too_many_files_stops_listing_and_says_so(tmp_path, monkeypatch):
    _digit_folder(tmp_path, 8)
    monkeypatch.setattr(image_folders, "FOLDER_LIST_LIMIT", 5)
    dataset, skipped = load_image_folder(tmp_path)
    assert len(dataset) == 5
    assert skipped and "more than 5 entries" in skipped[-1]


def test_a_digit_folder_keeps_at_most_its_limit(tmp_path, monkeypatch):
    _digit_folder(tmp_path, 5)
    monkeypatch.setattr(image_folders, "DIGIT_FOLDER_LIMIT", 3)
    dataset, skipped = load_image_folder(tmp_path)
    assert len(dataset) == 3 and skipped == ["003.png", "004.png"]


def test_a_folder_with_a_pipe_and_a_device_among_its_images_still_loads(tmp_path):
    _digit_folder(tmp_path, 2)
    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    outcome = []
    assert _in_thread(lambda: outcome.append(load_image_folder(tmp_path))) is None
    dataset, _ = outcome[0]
    assert len(dataset) == 2


# --- IDX files ----------------------------------------------------------------------------------------


def _idx(shape, body: bytes = b"", ndim=None, kind=0x08) -> bytes:
    ndim = len(shape) if ndim is None else ndim
    return bytes([0, 0, kind, ndim]) + b"".join(int(n).to_bytes(4, "big") for n in shape) + body


def _replace_images(folder, raw: bytes, compress: bool = True):
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(raw, compresslevel=1) if compress else raw)
    return path


@pytest.mark.parametrize(
    "raw, message",
    [
        (_idx((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), b"\0" * 100), r"declares shape .* too large"),
        (_idx((2**21, 2**21, 2**22)), r"declares shape .* too large"),  # 2**64 values: numpy's product wraps to 0
        (_idx((6, 28, 28), b"\0" * 100), r"declares shape \(6, 28, 28\).*holds only 100"),
        (_idx((6, 28, 28), b"\0" * (6 * 784 + 10)), r"more data than its shape \(6, 28, 28\)"),
        (b"\x00\x00\x08", r"not an IDX file"),
        (b"\x1f\x8b\x08\x03" + bytes(100), r"not an IDX file"),
        (_idx((), ndim=0), r"0 dimensions"),
        (_idx((1, 1, 1, 1, 1), b"\0", ndim=5), r"5 dimensions"),
        (_idx((6, 28), ndim=3), r"truncated IDX header"),
        (_idx((6, 28, 28), b"\0" * 6 * 784 * 4, kind=0x0D), r"type 0x0d"),
        (_idx((0, 28, 28)), r"holds no images"),
        (_idx((6, 0, 28)), r"images of 0x28 pixels"),
    ],
)
def test_bad_idx_images_give_a_clear_error(tiny_idx_dir, raw, message):
    _replace_images(tiny_idx_dir, raw)
    with bounded(megabytes=100), pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*" + message):
        load_idx_dataset(tiny_idx_dir, "test")


@pytest.mark.parametrize("position", [12, 20, -8])  # a bad code table, a bad code, a bad checksum
def test_a_corrupt_deflate_stream_is_a_clear_error(tiny_idx_dir, position):
    raw = bytearray(gzip.compress(_idx((6, 28, 28), bytes(6 * 784)), mtime=0))
    raw[position] ^= 0xFF
    (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*damaged or truncated"):
        load_idx_dataset(tiny_idx_dir, "test")


def test_a_deflate_bomb_is_never_inflated_past_the_declared_size(tiny_idx_dir):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip: 300 MB of zeros in under a megabyte
    chunks = [compressor.compress(_idx((6, 28, 28), b"\0" * 6 * 784))]
    block = bytes(1 << 20)
    chunks += [compressor.compress(block) for _ in range(300)]
    (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").write_bytes(b"".join(chunks) + compressor.flush())
    with bounded(megabytes=100), pytest.raises(DatasetError, match="more data than its shape"):
        load_idx_dataset(tiny_idx_dir, "test")


def test_an_uncompressed_idx_file_larger_than_declared_is_not_read_whole(tiny_idx_dir):
    (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").unlink()
    path = tiny_idx_dir / "t10k-images-idx3-ubyte"
    path.write_bytes(_idx((6, 28, 28), b"\0" * 6 * 784))
    with open(path, "r+b") as stream:
        stream.truncate(4 << 30)  # 4 GB, sparse
    with bounded(megabytes=100), pytest.raises(DatasetError, match="more data than its shape"):
        load_idx_dataset(tiny_idx_dir, "test")


def test_labels_that_do_not_match_the_images_are_refused(tiny_idx_dir):
    write_idx(tiny_idx_dir / "t10k-labels-idx1-ubyte.gz", np.zeros(5))
    with pytest.raises(DatasetError, match="6 images but 't10k-labels-idx1-ubyte.gz' holds 5 labels"):
        load_idx_dataset(tiny_idx_dir, "test")
    write_idx(tiny_idx_dir / "t10k-labels-idx1-ubyte.gz", np.zeros((6, 2)))
    with pytest.raises(DatasetError, match=r"labels of shape \(6, 2\)"):
        load_idx_dataset(tiny_idx_dir, "test")


def test_labels_outside_the_named_classes_are_refused(tiny_idx_dir):
    (tiny_idx_dir / "classes.txt").write_text("a\nb\nc\n")
    write_idx(tiny_idx_dir / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2, 7, 0, 1]))
    with pytest.raises(DatasetError, match="classes.txt' names 3 classes but the labels go up to 7"):
        load_idx_dataset(tiny_idx_dir, "test")


def test_an_idx_file_that_is_a_device_is_refused(tiny_idx_dir, tmp_path):
    (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").unlink()
    (tiny_idx_dir / "t10k-images-idx3-ubyte").symlink_to("/dev/zero")
    error = _in_thread(lambda: load_idx_dataset(tiny_idx_dir, "test"))
    assert isinstance(error, DatasetError) and "t10k-images-idx3-ubyte" in str(error)
    assert "device" in str(error).replace(str(tmp_path), "")


# --- class-name files ---------------------------------------------------------------------------------


def _names_file(tmp_path, content: bytes):
    path = tmp_path / "names.txt"
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    "content, message",
    [
        (bytes(range(256)) * 4, "not a text file"),
        (b"cat\ndog\n\x1b[31mred\n", "not a text file"),
        ("cat\ncaf\u00e9\n".encode("latin-1"), "not UTF-8 text.*line 2"),
        (b"cat\ndog\n\ncat\n", "'cat' twice.*lines 1 and 4"),
        (b"\n \n", "no class names"),
        (b"\n" + b"x" * 5000 + b"\n", "line 2 is 5,000 characters long"),
    ],
)
def test_bad_class_name_files_give_a_clear_error(tmp_path, content, message):
    path = _names_file(tmp_path, content)
    with pytest.raises(DatasetError, match="names.txt.*" + message):
        parse_class_names(path)
    with pytest.raises(WeightsError, match="names.txt.*" + message):
        class_names.read_class_names(path)


def test_good_class_name_files_are_read(tmp_path):
    path = _names_file(tmp_path, "\ufeffT-shirt/top\r\n\nTrouser \r\n caf\u00e9\n\n\n".encode())
    assert parse_class_names(path) == ("T-shirt/top", "Trouser", "caf\u00e9")
    assert class_names.read_class_names(path) == ["T-shirt/top", "Trouser", "caf\u00e9"]
    with pytest.raises(DatasetError, match="names 3 classes but the labels go up to 3"):
        read_class_names(path, 4)


def test_an_enormous_class_name_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "names.txt"
    with open(path, "wb") as stream:
        stream.truncate(3 << 30)  # 3 GB, sparse
    with bounded(megabytes=50), pytest.raises(DatasetError, match="names.txt' is 3,072 MB.*at most 2 MB"):
        parse_class_names(path)


def test_a_class_name_pipe_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "names.txt")
    error = _in_thread(lambda: parse_class_names(tmp_path / "names.txt"))
    assert isinstance(error, DatasetError) and "pipe" in str(error).replace(str(tmp_path), "")


# --- the shipped sample list ----------------------------------------------------------------------------


def test_a_damaged_sample_list_keeps_the_good_entries(tmp_path, monkeypatch):
    Image.new("RGB", (30, 30)).save(tmp_path / "good.png")
    (tmp_path / "samples.json").write_text(
        '[{"file": "good.png", "title": "Good"}, 7, {"title": "no file"}, {"file": 3, "title": "x"},'
        ' {"file": "../good.png", "title": "outside"}, {"file": "good.png", "title": ["x"]},'
        ' {"file": "missing.png", "title": "gone"}, {"file": "good.png", "title": "Good", "label": 5}]'
    )
    monkeypatch.setattr(photos, "resource_path", lambda *parts: tmp_path)
    found = sample_photos()
    assert [(s.path.name, s.title, s.label) for s in found] == [("good.png", "Good", "Good")] * 2
    (tmp_path / "samples.json").write_text('{"file": "good.png"}')
    assert sample_photos() == []
