"""Photo networks: preprocessing owned by the Classifier, the catalogue's weights (offline), downloads, users' own models."""

import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from blindspot_gui.core.attack.quantise import quantise_result
from blindspot_gui.core.attack.search import PHOTO_ATTACK, blindspot_search, config_for
from blindspot_gui.core.models import photo_catalogue
from blindspot_gui.core.models.class_names import class_index, imagenet_class_names
from blindspot_gui.core.models.classifier import PREPROCESSINGS
from blindspot_gui.core.models.download import download_weights
from blindspot_gui.core.models.own_network import load_own_network
from blindspot_gui.core.models.photo_catalogue import (
    PHOTO_MODELS,
    build_architecture,
    find_photo_model,
    load_photo_model,
    photo_classifier,
    photo_model_status,
)
from blindspot_gui.core.models.weights_io import WeightsError
from blindspot_gui.core.monitor import Cancelled, Monitor
from blindspot_gui.core.photos import prepare_photo, sample_photos
from model_files import export_onnx, torchscript_file


@pytest.fixture(scope="module")
def lite0():
    return load_photo_model("efficientnet-lite0")


def sample(name: str) -> np.ndarray:
    photo = next(s for s in sample_photos() if s.path.stem == name)
    with Image.open(photo.path) as image:
        return prepare_photo(image)


class TinyPhotoNet(nn.Module):
    def __init__(self, classes: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 5, stride=4)
        self.fc = nn.Linear(4, classes)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


def test_class_names_come_with_torchvision_and_targets_are_found_by_name():
    names = imagenet_class_names()
    assert len(names) == 1000 and names[9] == "ostrich"
    assert class_index("Ostrich", names) == 9
    assert class_index("9", names) == 9
    assert class_index("tiger ca", names) == names.index("tiger cat")
    with pytest.raises(ValueError, match="several classes"):
        class_index("cat", names)
    with pytest.raises(ValueError, match="did you mean ostrich"):
        class_index("ostrch", names)
    with pytest.raises(ValueError, match="numbers 264 and 474"):  # the dog and the sweater
        class_index("cardigan", names)


def test_prepare_photo_resizes_the_shorter_side_and_crops_the_centre():
    wide = Image.new("RGB", (640, 320), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 100, 320))  # a blue strip on the left, cut off by the centre crop
    pixels = prepare_photo(wide)
    assert pixels.shape == (3, 224, 224) and pixels.dtype == np.float32
    assert pixels.min() >= 0 and pixels.max() <= 1
    assert np.allclose(pixels[:, :, 0], [[1], [0], [0]], atol=0.01)
    assert prepare_photo(Image.new("L", (50, 80), 128)).shape == (3, 224, 224)  # grey and small: upscaled


def test_the_classifier_owns_normalisation():
    network = TinyPhotoNet()
    model = photo_classifier(network, PREPROCESSINGS["efficientnet-lite"], ["a", "b", "c"], "tiny", "module")
    pixels = torch.rand(2, 3, 32, 32)
    expected = network((pixels * 255 - 127) / 128)
    assert torch.allclose(model(pixels), expected, atol=1e-5)


def test_shipped_efficientnet_lite0_recognises_the_sample_photos(lite0):
    names = lite0.class_names
    assert names[int(lite0.probabilities(sample("coffee")).argmax())] == "espresso"
    assert names[int(lite0.probabilities(sample("cat")).argmax())] in ("tiger cat", "tabby", "Egyptian cat")


def test_torchvision_weights_are_looked_for_only_in_the_local_cache():
    status = photo_model_status(find_photo_model("resnet18"))
    assert not status.available and "not in the torch hub cache" in status.reason
    with pytest.raises(WeightsError, match="weights not available"):
        load_photo_model("resnet18")
    assert load_photo_model("resnet18", random_weights=True).name == "ResNet-18 (random weights)"


def test_weights_in_the_hub_cache_are_found_and_loaded():
    entry = find_photo_model("resnet18")
    torch.manual_seed(0)
    network = build_architecture("resnet18")
    entry.cache_path().parent.mkdir(parents=True)
    torch.save(network.state_dict(), entry.cache_path())
    assert photo_model_status(entry).available
    model = load_photo_model("resnet18")
    assert torch.equal(model.network.fc.weight, network.fc.weight)


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that hung up mid-download (a cancelled download is one) is not the server's failure


@pytest.fixture
def file_server(tmp_path):
    """A local web server for the files put in its folder; yields (folder, base URL)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = _QuietServer(("127.0.0.1", 0), partial(_Files, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _serve_weights(monkeypatch, url: str) -> None:
    monkeypatch.setattr(photo_catalogue.PhotoModelEntry, "url", property(lambda self: url))


def test_download_checks_the_file_and_reports_progress(monkeypatch, file_server):
    folder, base = file_server
    torch.save(build_architecture("resnet18").state_dict(), folder / "weights.pth")
    digest = hashlib.sha256((folder / "weights.pth").read_bytes()).hexdigest()[:8]
    (folder / "weights.pth").rename(folder / f"resnet18-{digest}.pth")
    _serve_weights(monkeypatch, f"{base}/resnet18-{digest}.pth")
    fractions = []
    path = download_weights("resnet18", Monitor(on_progress=lambda fraction, _: fractions.append(fraction)))
    assert path.is_file() and fractions[-1] == 1.0
    assert load_photo_model("resnet18").name == "ResNet-18"


def test_a_damaged_download_leaves_nothing_behind(monkeypatch, file_server):
    folder, base = file_server
    (folder / "resnet18-00000000.pth").write_bytes(b"not the weights")
    _serve_weights(monkeypatch, f"{base}/resnet18-00000000.pth")
    with pytest.raises(WeightsError, match="damaged"):
        download_weights("resnet18")
    assert list(find_photo_model("resnet18").cache_path().parent.iterdir()) == []


def test_offline_download_fails_fast_with_a_clear_message(monkeypatch):
    with pytest.raises(WeightsError, match="nothing to download"):
        download_weights("efficientnet-lite0")
    _serve_weights(monkeypatch, "http://127.0.0.1:9/resnet18-12345678.pth")  # nothing listens on port 9
    with pytest.raises(WeightsError, match="Is this machine online"):
        download_weights("resnet18")


def test_a_cancelled_download_leaves_nothing_behind(monkeypatch, file_server):
    folder, base = file_server
    (folder / "resnet18-00000000.pth").write_bytes(bytes(3 << 20))
    _serve_weights(monkeypatch, f"{base}/resnet18-00000000.pth")
    monitor = Monitor(on_progress=lambda *_: monitor.cancel())
    with pytest.raises(Cancelled):
        download_weights("resnet18", monitor)
    assert list(find_photo_model("resnet18").cache_path().parent.iterdir()) == []


def test_own_models_onnx_or_state_dict_with_class_names(tmp_path):
    torch.manual_seed(0)
    network = TinyPhotoNet()
    (tmp_path / "names.txt").write_text("apple\nbanana\n\ncherry\n")
    program = torchscript_file(network, tmp_path / "tiny.pt")
    with pytest.raises(WeightsError, match=r"'tiny.pt' is TorchScript, a program, .* convert it to ONNX"):
        load_own_network(program, preprocessing="none", class_names_file=tmp_path / "names.txt")
    graph = export_onnx(network, tmp_path / "tiny.onnx", torch.rand(1, 3, 64, 64))
    model = load_own_network(graph, preprocessing="none", class_names_file=tmp_path / "names.txt")
    assert model.class_names == ["apple", "banana", "cherry"] and model.name == "tiny.onnx"
    assert model.input_shape == (3, 64, 64) and model.preprocessing.name == "none"
    pixels = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model(pixels), network(pixels), rtol=1e-5, atol=1e-6)
    imagenet = load_own_network(graph)  # ImageNet's normalisation unless told otherwise, cropped to its own size
    assert imagenet.preprocessing.name == "imagenet" and imagenet.preprocessing.crop == 64
    assert imagenet.class_names == ["class 0", "class 1", "class 2"]
    (tmp_path / "two.txt").write_text("apple\nbanana\n")
    with pytest.raises(WeightsError, match="names 2 classes but the model has 3 outputs"):
        load_own_network(graph, preprocessing="imagenet", class_names_file=tmp_path / "two.txt")
    with pytest.raises(WeightsError, match="carries its own architecture"):
        load_own_network(graph, "resnet18")

    state = tmp_path / "resnet.pth"
    torch.save(build_architecture("resnet18", classes=10).state_dict(), state)
    for preprocessing in (None, "imagenet"):  # a photo state dict fits none of the digit architectures either
        with pytest.raises(WeightsError, match="say which torchvision architecture"):
            load_own_network(state, preprocessing=preprocessing)
    with pytest.raises(WeightsError, match="does not fit"):
        load_own_network(state, "alexnet")
    with pytest.raises(WeightsError, match="no classifier called"):
        load_own_network(state, "resnet19")
    model = load_own_network(state, "resnet18")
    assert model.class_names[:2] == ["class 0", "class 1"] and len(model.class_names) == 10


def test_every_catalogue_entry_builds_and_maps_a_photo_to_1000_classes():
    for entry in PHOTO_MODELS:
        if entry.key in ("vgg16", "resnet50"):
            continue  # large; same code path as the others
        model = load_photo_model(entry.key, random_weights=True)
        assert model.probabilities(np.full((3, 224, 224), 0.5, np.float32)).shape == (1000,)


def test_saved_adversarial_photo_survives_rounding(lite0):
    pixels = sample("coffee")
    assert config_for(lite0) is PHOTO_ATTACK
    result = blindspot_search(lite0, torch.from_numpy(pixels)[None], 9, None, config=config_for(lite0))[0]
    assert result.success and lite0.class_names[result.adversarial_prediction] == "ostrich"
    assert 0 < result.distortion <= 0.01
    kept = quantise_result(lite0, result)
    assert kept is not None
    rounded = kept.pixels
    assert np.allclose(rounded * 255, np.round(rounded * 255), atol=1e-3) and kept.distortion > 0
    assert int(lite0.probabilities(rounded).argmax()) == 9


def test_nothing_reaches_for_the_network_unless_a_download_is_asked_for(monkeypatch):
    import socket

    def refuse(*_args, **_kwargs):
        raise AssertionError("a code path tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for entry in PHOTO_MODELS:
        photo_model_status(entry)
    assert load_photo_model("efficientnet-lite0").class_names[9] == "ostrich"
    with pytest.raises(WeightsError, match="weights not available"):
        load_photo_model("alexnet")
