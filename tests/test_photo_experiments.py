"""Tables 1 and 2 of photo networks (EfficientNet-Lite0, and a MobileNet with random weights) on the sample photos and
on folders of photos the tests make: figures, stored parts reused across tables and damaged ones computed again, and
folders that cannot be read as labelled photos."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from blindspot_gui.cli import main
from blindspot_gui.core.experiments.photo_attacked import photo_table1, photo_table2
from blindspot_gui.core.files import read_arrays
from experiment_helpers import SAMPLES, make_folder, put_random_weights_in_the_hub_cache


def test_a_folder_of_labelled_photos_gives_error_success_and_distortion_and_resumes(tmp_path, capsys):
    folder = make_folder(tmp_path / "photos", {"espresso": ["coffee.png"], "281": ["cat.png"]})  # 281: tabby
    output = tmp_path / "table.json"
    assert main(["reproduce", "table1", "--model", "efficientnet-lite0", "--images", str(folder),
                 "--json", str(output)]) == 0
    result = json.loads(output.read_text())
    row = result["rows"][0]
    # Lite0 calls the cat a tiger cat (282), so one photo of two is wrong and only the espresso is attacked
    assert row["photos"] == 2 and row["attacked"] == 1 and row["test_error"] == pytest.approx(0.5)
    assert row["success"] == 1.0 and 0 < row["distortion"] < 0.01
    printed = capsys.readouterr().out
    assert "Table 1 for a photo network — ours\n" in printed and "50.00%" in printed and "AlexNet" in printed
    again = photo_table1("efficientnet-lite0", folder, None)
    assert again["rows"][0]["reused"] == again["rows"][0]["parts"] == 1
    assert again["rows"][0]["distortion"] == row["distortion"]


def test_a_damaged_part_is_computed_again_and_said(tmp_path):
    folder = make_folder(tmp_path / "photos", {"espresso": ["coffee.png"]})
    first = photo_table1("efficientnet-lite0", folder, None, rule="next")
    part = next(iter(sorted((tmp_path / "blindspot_home" / "experiments").glob("photo-parts-*/*-photos-*.json"))))
    part.write_text('{"start": 0, "photos": 1, "correct": 5, "succeeded": 9}')
    second = photo_table1("efficientnet-lite0", folder, None, rule="next")
    assert second["rows"][0]["reused"] == 0
    assert second["rows"][0]["distortion"] == pytest.approx(first["rows"][0]["distortion"])
    assert any(str(part) in note and "computed again" in note for note in second["notes"])


def test_without_a_folder_the_sample_photos_with_a_known_class_are_used_and_said():
    result = photo_table1("efficientnet-lite0", None, 1)
    assert result["rows"][0]["photos"] == 1 and result["source"] == "1 sample photo"
    assert any("astronaut.png left out" in note for note in result["notes"])


@pytest.mark.parametrize("layout, says", [
    ({"not a class at all": ["coffee.png"]}, "the subfolder 'not a class at all'"),
    ({".": ["coffee.png"]}, "directly in it but no labels file"),
])
def test_a_folder_that_is_not_labelled_photos_is_refused_with_what_to_do(tmp_path, capsys, layout, says):
    folder = tmp_path / "photos"
    folder.mkdir()
    for class_name, files in layout.items():
        for name in files:
            (folder / class_name).mkdir(exist_ok=True)
            shutil.copy(SAMPLES[name], folder / class_name / name)
    assert main(["reproduce", "table1", "--model", "efficientnet-lite0", "--images", str(folder)]) != 0
    error = capsys.readouterr().err
    assert says in error and "subfolder" in error


def test_photos_directly_in_a_folder_take_their_classes_from_its_labels_file(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    shutil.copy(SAMPLES["cat.png"], folder / "cat.png")
    (folder / "labels.csv").write_text("# file, class\ncat.png,tabby\n")
    row = photo_table1("efficientnet-lite0", folder, None)["rows"][0]
    assert row["photos"] == 1 and row["test_error"] == 1.0 and row["attacked"] == 0  # a "tiger cat" to Lite0


@pytest.mark.parametrize("labels, says", [
    (None, "no labels file"),
    ("cat.png,not a class\n", "line 1 of"),
    ("other.png,tabby\n", "the photo 'cat.png' lies directly in"),
    ("cat.png\n", "is not \"file name,class\""),
    (b"\xff\xfe\x00cat", "not UTF-8"),
])
def test_a_bad_labels_file_is_refused_naming_the_line_or_photo(tmp_path, capsys, labels, says):
    folder = tmp_path / "flat"
    folder.mkdir()
    shutil.copy(SAMPLES["cat.png"], folder / "cat.png")
    if isinstance(labels, bytes):
        (folder / "labels.csv").write_bytes(labels)
    elif labels is not None:
        (folder / "labels.csv").write_text(labels)
    assert main(["reproduce", "table1", "--model", "efficientnet-lite0", "--images", str(folder)]) != 0
    assert says in capsys.readouterr().err


def test_photo_table2_feeds_each_networks_adversarial_photos_to_every_network_beside_noise(tmp_path, capsys):
    put_random_weights_in_the_hub_cache("mobilenet_v3_small")  # a second network, one that gets no photo right
    output = tmp_path / "table2.json"
    assert main(["reproduce", "table2", "--model", "efficientnet-lite0,mobilenet_v3_small", "--rule", "next",
                 "--json", str(output)]) == 0
    result = json.loads(output.read_text())
    assert result["experiment"] == "photo_table2" and result["columns"] == ["EfficientNet-Lite0", "MobileNet V3 (small)"]
    lite0, untrained, *noise = result["rows"]
    # Lite0's own examples fool it by construction; the untrained net is wrong on every photo, adversarial or not
    assert lite0["errors"] == [1.0, 1.0] and 0 < lite0["distortion"] < 0.01
    assert untrained["errors"] == [None, None] and untrained["distortion"] is None
    assert [row["examples"] for row in noise] == ["Gaussian noise, stddev 0.01", "Gaussian noise, stddev 0.05"]
    # noise ten times the size of the adversarial change leaves Lite0's answers as they were (wrong on the cat only)
    assert noise[0]["errors"][0] == pytest.approx(1 / 3) and noise[0]["errors"][1] == 1.0
    assert "0 of 2 parts reused from earlier runs" in result["notes"]
    stored = read_arrays(next(Path(result["folder"]).glob("efficientnet-lite0-photos-*.npz")))
    made = stored["success"]  # the changes Table 2 judges are the attacks' changes (kept as float16)
    rms = np.sqrt((stored["change"][made].astype(np.float64) ** 2).mean(axis=(1, 2, 3)))
    assert made.sum() == 2 and np.allclose(rms, stored["distortion"][made], rtol=1e-3)
    # Table 1 reuses Table 2's attacks, and so does Table 2 when a network's weights change: only its part is new
    assert "1 of 1 parts reused from earlier runs" in photo_table1("efficientnet-lite0", None, rule="next")["notes"]
    put_random_weights_in_the_hub_cache("mobilenet_v3_small", seed=1)
    again = photo_table2(("efficientnet-lite0", "mobilenet_v3_small"), rule="next")
    assert "1 of 2 parts reused from earlier runs" in again["notes"]
    assert any("mobilenet_v3_small-photos-000000" in note and "other weights" in note for note in again["notes"])
    assert again["rows"][0]["errors"] == lite0["errors"] and again["rows"][0]["distortion"] == lite0["distortion"]
    printed = capsys.readouterr().out
    assert "Table 2 for photo networks — ours\n" in printed and "3 sample photos" in printed
    assert "MobileNet V3 (small): wrong on 100.0% of the photos; 0 of 0 attacks succeeded" in printed
