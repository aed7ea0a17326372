"""The MNIST loader: shapes and ranges, checksum verification, bad files, other IDX folders, the P1/P2 split."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from blindspot_gui.core import data
from blindspot_gui.core.data import DatasetError, load_idx_dataset, load_mnist
from conftest import write_idx


def test_mnist_splits_have_the_documented_shape_and_range():
    for split, count in (("train", 60000), ("test", 10000)):
        dataset = load_mnist(split)
        assert dataset.images.shape == (count, 1, 28, 28)
        assert dataset.images.dtype == torch.float32
        assert float(dataset.images.min()) == 0.0 and float(dataset.images.max()) == 1.0
        assert dataset.labels.shape == (count,)
        assert sorted(dataset.labels.unique().tolist()) == list(range(10))


def test_bundled_checksums_match_the_shipped_sums_file():
    listed = dict(line.split()[::-1] for line in (data.mnist_dir() / "SHA256SUMS").read_text().splitlines())
    assert listed == data.MNIST_SHA256


@pytest.fixture
def mnist_copy(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in data.MNIST_SHA256:
        shutil.copy(data.mnist_dir() / name, folder / name)
    return folder


def load_checked(folder, split="test"):
    return load_idx_dataset(folder, split, checksums=data.MNIST_SHA256)


def test_missing_file_names_the_file(mnist_copy):
    (mnist_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        load_checked(mnist_copy)


def test_truncated_file_is_reported_with_its_name(mnist_copy):
    path = mnist_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz.*(altered|truncated)"):
        load_checked(mnist_copy)


def test_altered_file_fails_its_checksum(mnist_copy):
    path = mnist_copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    path.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match="Checksum mismatch.*t10k-labels"):
        load_checked(mnist_copy)


def test_truncated_file_without_checksum_is_caught_by_structure(mnist_copy):
    path = mnist_copy / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) - 784]))
    with pytest.raises(DatasetError, match="declares shape .* truncated or altered"):
        load_idx_dataset(mnist_copy, "test")


def test_damaged_gzip_stream_gives_a_clear_error(mnist_copy):
    path = mnist_copy / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(DatasetError, match="damaged or truncated"):
        load_idx_dataset(mnist_copy, "test")


def test_file_that_is_not_idx_is_rejected(tiny_idx_dir):
    (tiny_idx_dir / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"<html>not found</html>"))
    with pytest.raises(DatasetError, match="not an IDX file"):
        load_idx_dataset(tiny_idx_dir, "test")


def test_mismatched_image_and_label_counts_are_rejected(tiny_idx_dir):
    write_idx(tiny_idx_dir / "t10k-labels-idx1-ubyte.gz", np.zeros(5))
    with pytest.raises(DatasetError, match="do not form an image set"):
        load_idx_dataset(tiny_idx_dir, "test")


def test_missing_folder_and_bad_split_are_clear():
    with pytest.raises(DatasetError, match="does not exist"):
        load_idx_dataset("/nonexistent/folder", "test")
    with pytest.raises(ValueError, match="split must be"):
        load_mnist("validation")


def test_other_idx_folder_loads_with_its_class_names(tiny_idx_dir):
    (tiny_idx_dir / "classes.txt").write_text("T-shirt\nTrouser\nPullover\n")
    dataset = load_idx_dataset(tiny_idx_dir, "train")
    assert dataset.images.shape == (12, 1, 28, 28)
    assert 0.0 <= float(dataset.images.min()) and float(dataset.images.max()) <= 1.0
    assert dataset.class_names == ("T-shirt", "Trouser", "Pullover")
    assert dataset.labels.tolist() == [label % 3 for label in range(12)]


def test_uncompressed_idx_files_load_too(tiny_idx_dir):
    for path in tiny_idx_dir.glob("*.gz"):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()
    assert len(load_idx_dataset(tiny_idx_dir, "test")) == 6


def test_class_names_file_too_short_is_rejected(tiny_idx_dir, tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("only-one\n")
    with pytest.raises(DatasetError, match="names 1 classes"):
        load_idx_dataset(tiny_idx_dir, "train", class_names_file=names)


def test_p1_p2_split_is_stored_disjoint_complete_and_reproducible():
    p1, p2 = data.p1_p2_split()
    assert len(p1) == len(p2) == 30000
    assert np.intersect1d(p1, p2).size == 0
    assert np.array_equal(np.sort(np.concatenate([p1, p2])), np.arange(60000))
    regenerated = data.make_p1_p2_split()
    assert np.array_equal(p1, regenerated[0]) and np.array_equal(p2, regenerated[1])
    part = data.training_part("P2")
    assert len(part) == 30000 and np.array_equal(part.indices, p2)
    assert torch.equal(part.images[0], load_mnist("train").images[int(p2[0])])


FASHION_MNIST = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist


@pytest.mark.skipif(not __import__("os").path.isdir(FASHION_MNIST), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist_opens_with_its_class_names(tmp_path):
    names = tmp_path / "classes.txt"
    names.write_text("T-shirt/top\nTrouser\nPullover\nDress\nCoat\nSandal\nShirt\nSneaker\nBag\nAnkle boot\n")
    dataset = load_idx_dataset(FASHION_MNIST, "test", class_names_file=names)
    assert dataset.images.shape == (10000, 1, 28, 28) and dataset.class_names[9] == "Ankle boot"


def test_image_folder_classes_come_from_top_subfolders_and_any_suffix_case(tmp_path):
    from PIL import Image

    from blindspot_gui.core.image_folders import load_image_folder

    for relative in ("cats/a.PNG", "cats/deep/b.png", "dogs/c.JPG", "loose.bmp"):
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        picture = Image.new("RGB", (40, 30), "white")
        picture.paste((0, 0, 0), (15, 5, 25, 25))
        picture.save(path, format={"PNG": "PNG", "JPG": "JPEG", "BMP": "BMP"}[path.suffix[1:].upper()])
    dataset, skipped = load_image_folder(tmp_path)
    assert not skipped and len(dataset) == 4
    assert dataset.class_names == ("(none)", "cats", "dogs")
    assert sorted(dataset.labels.tolist()) == [0, 1, 1, 2]


def test_sixteen_bit_grey_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from blindspot_gui.core.images import load_digit_image

    values = np.zeros((28, 28), dtype=np.uint16)
    values[6:22, 12:16] = 40000
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)  # a 16-bit grey PNG
    pixels = load_digit_image(path).pixels
    assert pixels.max() == pytest.approx(40000 / 65535, abs=0.02) and pixels[0, 0] == 0.0
