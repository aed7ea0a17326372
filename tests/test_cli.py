"""The `blindspot` command line: models, eval and train, their JSON, and their errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from blindspot_gui.cli import main
from blindspot_gui.core.models.mnist_zoo import ZOO
from blindspot_gui.core.models.photo_catalogue import PHOTO_MODELS


def test_models_json_lists_every_network_with_status(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["name"] for row in rows] == [spec.name for spec in ZOO] + [entry.name for entry in PHOTO_MODELS]
    digits = [row for row in rows if row["kind"] == "digits"]
    assert all(row["status"] == "present" and 0 <= row["test_error"] < 0.25 for row in digits)
    lite0 = next(row for row in rows if row["key"] == "efficientnet-lite0")
    assert lite0["kind"] == "photos" and lite0["status"] == "present"  # shipped with a package
    assert {row["status"] for row in rows} <= {"present", "missing"}


def test_models_table_is_readable_in_aligned_columns(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "FC200-200-10" in "".join(lines) and "1.54%" in "".join(lines) and "EfficientNet-Lite0" in "".join(lines)
    for header in ("key", "kind", "weights", "description"):  # each column starts at the same place on every row
        start = lines[0].index(header)
        assert all(line[start - 2:start] == "  " and line[start] != " " for line in lines[1:]), header


def test_an_unknown_network_lists_the_photo_networks_too(capsys):
    assert main(["attack", "--model", "resnet", "--images", "test:0:1"]) != 0
    err = capsys.readouterr().err
    assert "Unknown network 'resnet'" in err and "resnet18" in err and "fc100-100-10" in err


def test_eval_remeasures_the_recorded_errors(capsys):
    assert main(["eval", "fc10-1e-2", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert set(record["errors"]) == {"train", "test"}
    assert 0.079 <= record["errors"]["test"] <= 0.109
    assert record["paper"]["test"] == 0.094


def test_eval_of_a_p1_model_reports_both_halves(capsys):
    assert main(["eval", "fc100-100-10-p1"]) == 0
    out = capsys.readouterr().out
    assert "P1" in out and "P2" in out and "(paper: 2.40%)" in out


def test_unknown_model_is_one_clear_line(capsys):
    assert main(["eval", "resnet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("blindspot eval: Unknown model 'resnet'") and "Traceback" not in err


def test_eval_refuses_a_malicious_weights_file(tmp_path, capsys):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94.")
    assert main(["eval", "fc10-1", "--weights", str(evil)]) == 1
    assert "Refused to load" in capsys.readouterr().err


def test_train_needs_names_or_all(capsys):
    assert main(["train"]) == 2
    assert "give model names or --all" in capsys.readouterr().err


def test_installed_console_script_runs():
    beside_python = Path(sys.executable).parent / "blindspot"
    executable = str(beside_python) if beside_python.exists() else shutil.which("blindspot")
    if executable is None:
        pytest.skip("blindspot is not installed as a console script in this environment")
    completed = subprocess.run([executable, "models"], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "FC100-100-10" in completed.stdout


def test_attack_prints_a_summary_and_writes_json_and_npz(tmp_path, capsys):
    import numpy as np

    records, arrays = tmp_path / "attack.json", tmp_path / "attack.npz"
    code = main(["attack", "--model", "fc100-100-10", "--images", "test:3:6", "--target", "next",
                 "--json", str(records), "--npz", str(arrays)])
    assert code == 0
    out = capsys.readouterr().out
    assert "success rate      100.0%" in out and "mean distortion" in out and "time per image" in out
    rows = json.loads(records.read_text())
    assert [row["index"] for row in rows] == [3, 4, 5]
    assert all(row["success"] and row["adversarial_prediction"] == row["target"] for row in rows)
    with np.load(arrays) as saved:
        assert set(saved.files) == {"original", "adversarial", "label", "target", "index"}
        assert saved["adversarial"].shape == (3, 1, 28, 28) and saved["index"].tolist() == [3, 4, 5]
        assert saved["target"].tolist() == ((saved["label"] + 1) % 10).tolist()


def test_attack_untargeted_with_the_reference_engine(capsys):
    assert main(["attack", "--model", "FC10(1e-2)", "--images", "test:0", "--target", "none",
                 "--engine", "reference"]) == 0
    assert "success rate      100.0%" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--images", "test:5:2"], "empty"),
        (["--images", "validation:0:3"], "must look like"),
        (["--images", "test:9999:10001"], "goes past its end"),
        (["--target", "12"], "target label 12 is invalid"),
        (["--target", "sideways"], "unknown target rule"),
    ],
)
def test_attack_bad_arguments_are_one_clear_line(arguments, message, capsys):
    assert main(["attack", "--model", "fc100-100-10", *arguments]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_attack_a_photo_with_your_own_model(capsys, tmp_path):
    import numpy as np
    import torch
    from PIL import Image
    from torch import nn

    from model_files import export_onnx, torchscript_file

    torch.manual_seed(0)
    network = nn.Sequential(nn.Conv2d(3, 6, 8, stride=8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                            nn.Linear(6, 3))
    (tmp_path / "names.txt").write_text("apple\nbanana\ncherry\n")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)).save(photo)
    program = torchscript_file(network, tmp_path / "tiny.pt")  # a program: refused with the line that converts it
    refused = main(["attack", "--model-file", str(program), "--image", str(photo)])
    err = capsys.readouterr().err
    assert refused == 1 and "is TorchScript, a program, which this application never runs; convert it to ONNX" in err
    assert "Traceback" not in err
    model_file = export_onnx(network, tmp_path / "tiny.onnx", torch.rand(1, 3, 224, 224))
    before = main(["attack", "--model-file", str(model_file), "--classes", str(tmp_path / "names.txt"),
                   "--preprocessing", "none", "--image", str(photo), "--target", "least-likely",
                   "--json", str(tmp_path / "record.json"), "--save", str(tmp_path / "adversarial.png")])
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "record.json").read_text())
    assert before == 0 and record["success"] and "success: now" in out
    assert record["class_names"]["adversarial"] == ["apple", "banana", "cherry"][record["target"]]
    with Image.open(tmp_path / "adversarial.png") as saved:
        assert saved.size == (224, 224)


def test_photo_attack_errors_are_one_clear_line(capsys, tmp_path):
    photo = Path(__file__).resolve().parent.parent / "resources" / "samples" / "cat.png"
    assert main(["attack", "--model", "resnet18", "--image", str(photo), "--target", "ostrich"]) == 1
    assert "weights not available: not in the torch hub cache" in capsys.readouterr().err
    assert main(["attack", "--model", "efficientnet-lite0", "--image", str(photo), "--target", "ostrch"]) == 1
    assert "did you mean ostrich" in capsys.readouterr().err
    assert main(["attack", "--model", "efficientnet-lite0", "--image", str(tmp_path / "none.jpg")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_sample_photos_are_found_by_name_from_any_folder(tmp_path, monkeypatch):
    from blindspot_gui.cli.parser import build_parser
    from blindspot_gui.qt.app import build_parser as window_parser

    monkeypatch.chdir(tmp_path)
    for parse in (lambda text: build_parser().parse_args(["attack", "--image", text]).image,
                  lambda text: window_parser().parse_args([text]).image_file):
        assert Path(parse("samples:cat")).name == "cat.png" and Path(parse("samples:cat")).is_file()
        assert Path(parse("Espresso")).name == "coffee.png"  # a bare name: no file of that name here
        (tmp_path / "cat").write_bytes(b"a file of that name")
        assert parse("cat") == "cat"  # a file of that name wins over the sample
        (tmp_path / "cat").unlink()
        assert parse("holiday.jpg") == "holiday.jpg"  # no such file, no such sample: reading it will say so


def test_an_unknown_sample_is_one_line_naming_the_samples(capsys):
    with pytest.raises(SystemExit):
        main(["attack", "--image", "samples:dog"])
    err = capsys.readouterr().err
    assert "no sample photo called 'samples:dog'" in err and "coffee" in err
