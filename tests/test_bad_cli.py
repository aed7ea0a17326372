"""The command line against a busy CPU, ignored options, outputs that fail, Ctrl+C, and every error it can meet."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from blindspot_gui.cli import _limited_training_data, main
from blindspot_gui.core.threads import (
    _cgroup_quota,
    busy_cores,
    configure_threads,
    parse_thread_count,
    thread_count_choice,
)
from blindspot_gui.core.models.mnist_zoo import find_spec
from model_files import random_linear_digits

ROOT = Path(__file__).resolve().parent.parent
CAT = ROOT / "resources" / "samples" / "cat.png"


@pytest.fixture
def torch_threads():
    """Put PyTorch's thread count back after a test changes it."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"blindspot {command}: ") and "Traceback" not in err, err
    return lines[0]


# --- 1. a busy CPU: the thread count is chosen, not left to PyTorch ------------------------------------


@pytest.mark.parametrize(
    "available, busy, expected",
    [
        (2, 0.0, 2),  # an idle 2-core machine: both cores
        (2, 0.3, 2),  # a little background work
        (2, 0.6, 1),  # a core more than half taken counts as taken
        (2, 2.0, 1),  # the case: two busy processes on two cores
        (2, 7.5, 1),  # overloaded: never fewer than one
        (16, 1.0, 4),  # a large idle machine: capped, the networks gain nothing beyond a few threads
        (3, 0.0, 3),
        (1, -0.5, 1),  # nonsense load figures cannot raise the count
    ],
)
def test_thread_choice_counts_free_cores_and_caps(available, busy, expected):
    assert thread_count_choice(available, busy) == expected


def test_environment_decides_over_the_setting_which_decides_over_the_choice():
    assert thread_count_choice(2, 2.0, requested=3) == 3
    assert thread_count_choice(2, 2.0, requested=3, environment="2") == 2
    assert thread_count_choice(2, 2.0, requested=0) == 1  # 0: automatic
    assert thread_count_choice(2, 0.0, requested=1, environment="auto") == 2  # "auto" beats the setting
    assert thread_count_choice(2, 0.0, requested=1, environment=" ") == 1  # empty: as if unset
    assert parse_thread_count(" 8 ") == 8


@pytest.mark.parametrize("text", ["lots", "-2", "2.5", "100000"])
def test_bad_thread_values_are_refused_naming_their_source(text):
    with pytest.raises(ValueError, match="BLINDSPOT_THREADS"):
        thread_count_choice(2, 0.0, environment=text)
    with pytest.raises(ValueError, match="the thread setting"):
        thread_count_choice(2, 0.0, requested=-1)


def test_configure_threads_sets_pytorch(monkeypatch, torch_threads):
    monkeypatch.setenv("BLINDSPOT_THREADS", "1")
    assert configure_threads() == 1 and torch.get_num_threads() == 1
    monkeypatch.setenv("BLINDSPOT_THREADS", "nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        configure_threads()
    warnings = []
    chosen = configure_threads(warn=warnings.append)  # the window: warn and carry on with the automatic choice
    assert 1 <= chosen == torch.get_num_threads() and "BLINDSPOT_THREADS='nonsense'" in warnings[0]


def test_a_bad_thread_variable_stops_the_cli_with_one_line(monkeypatch, capsys, torch_threads):
    monkeypatch.setenv("BLINDSPOT_THREADS", "many")
    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0"]) == 1
    captured = capsys.readouterr()
    assert "BLINDSPOT_THREADS='many'" in one_error_line(captured.err, "attack") and captured.out == ""


def test_the_cli_reports_the_threads_it_searched_with(monkeypatch, capsys, torch_threads):
    monkeypatch.setenv("BLINDSPOT_THREADS", "1")
    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0"]) == 0
    assert "ms (1 CPU thread)" in capsys.readouterr().out


def test_a_container_quota_limits_the_cores(tmp_path):
    quota = tmp_path / "cpu.max"
    for text, cores in (("150000 100000\n", 2), ("max 100000\n", None), ("garbage", None), ("", None)):
        quota.write_text(text)
        assert _cgroup_quota(quota) == cores
    assert _cgroup_quota(tmp_path / "absent") is None


def test_busy_processes_started_seconds_ago_are_counted():
    """The 1-minute load barely moves in a second; the running tasks show them at once."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.5)
        busy = busy_cores()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert busy >= 1.5 and thread_count_choice(2, busy) == 1


# --- 2. options a path would ignore are honoured or refused ---------------------------------------------


@pytest.mark.parametrize(
    "arguments, named",
    [
        (["attack", "--model", "efficientnet-lite0", "--image", str(CAT), "--images", "test:0:3"], "--images"),
        (["attack", "--model", "fc100-100-10", "--architecture", "resnet18"], "--architecture"),
        (["attack", "--model", "fc100-100-10", "--preprocessing", "none", "--classes", "x.txt"], "--preprocessing"),
        (["attack", "--model", "fc100-100-10", "--seed", "3"], "--seed"),
        (["attack", "--model", "fc100-100-10", "--target", "next", "--candidates", "3"], "--candidates"),
        (["attack", "--model", "fc100-100-10", "--images", "test:0:3", "--save", "OUT"], "--save"),
        (["attack", "--model", "conv", "--image", str(CAT)], "--images test:I"),
        (["attack", "--model", "efficientnet-lite0", "--model-file", "x.pt", "--image", str(CAT)], "--model-file"),
        (["attack", "--model-file", "x.pt"], "--image FILE"),
        (["reproduce", "table1", "--model", "conv"], "--model"),
        (["reproduce", "table1", "--images", "photos"], "--images needs --model"),
        (["reproduce", "table1", "--model", "efficientnet-lite0", "--rule", "nearest"], "--rule random or next"),
        (["reproduce", "table2", "--images", "photos"], "--images needs --model"),
        (["reproduce", "table2", "--model", "efficientnet-lite0"], "two or more photo networks"),
        (["reproduce", "table2", "--model", "efficientnet-lite0,EfficientNet-Lite0"], "two or more photo networks"),
        (["reproduce", "table2", "--model", "efficientnet-lite0,conv"], "not 'conv'"),
        (["reproduce", "table2", "--model", "efficientnet-lite0,resnet18", "--rule", "nearest"], "--rule random or next"),
        (["reproduce", "table3", "--model", "efficientnet-lite0"], "--model"),
        (["reproduce", "table3", "--per-layer", "--epochs", "2"], "--per-layer, --epochs"),
        (["reproduce", "table5", "--rule", "next"], "--rule"),
        (["reproduce", "table5", "--n", "5"], "--n"),
        (["reproduce", "advtrain", "--n", "5", "--model", "conv"], "--model, --n"),
        (["units", "--model", "fc100-100-10", "--layer", "sigmoid1", "--unit", "1", "--mode", "channel-max"],
         "--mode channel-max"),
        (["units", "--model", "conv", "--layer", "relu1", "--unit", "1", "--top", "20000"], "--top"),
        (["eval", "efficientnet-lite0"], "classifies photos"),
    ],
)
def test_ignored_options_are_refused_before_any_work(arguments, named, capsys, tmp_path):
    arguments = [str(tmp_path / "out.png") if item == "OUT" else item for item in arguments]
    json_option = ["--json", str(tmp_path / "out.json")] if arguments[0] in ("attack", "units", "reproduce") else []
    started = time.perf_counter()
    assert main([*arguments, *json_option]) == 2
    captured = capsys.readouterr()
    assert named in one_error_line(captured.err, arguments[0]) and captured.out == ""
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out.png").exists()
    assert time.perf_counter() - started < 10


def test_a_photo_search_writes_the_npz_it_was_asked_for(tmp_path, capsys):
    """--npz on the photo path: channels first, like the digits, with the network's answers."""
    from PIL import Image
    from torchvision.models import mobilenet_v3_small

    torch.manual_seed(0)
    weights = tmp_path / "small.pt"
    torch.save(mobilenet_v3_small(num_classes=3).state_dict(), weights)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (90, 120, 3), dtype=np.uint8)).save(photo)
    code = main(["attack", "--model-file", str(weights), "--architecture", "mobilenet_v3_small", "--image", str(photo),
                 "--target", "least-likely", "--npz", str(tmp_path / "out.npz"), "--json", str(tmp_path / "out.json")])
    record = json.loads((tmp_path / "out.json").read_text())
    assert code == (0 if record["success"] else 1)
    with np.load(tmp_path / "out.npz") as saved:
        assert set(saved.files) == {"original", "adversarial", "target", "prediction", "adversarial_prediction"}
        assert saved["original"].shape == saved["adversarial"].shape == (1, 3, 224, 224)
        assert saved["target"].tolist() == [record["target"]]
        assert saved["adversarial_prediction"].tolist() == [record["adversarial_prediction"]]
        assert 0 <= saved["adversarial"].min() and saved["adversarial"].max() <= 1


def test_seed_candidates_and_save_are_honoured_for_digits(tmp_path, capsys):
    from PIL import Image

    for seed in ("5", "6"):
        assert main(["attack", "--model", "fc100-100-10", "--images", "test:0:6", "--target", "random", "--seed", seed,
                     "--json", str(tmp_path / f"{seed}.json")]) == 0
    targets = [[row["target"] for row in json.loads((tmp_path / f"{seed}.json").read_text())] for seed in "56"]
    assert targets[0] != targets[1]  # the seed reached the random target rule
    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0", "--save", str(tmp_path / "a.png")]) == 0
    with Image.open(tmp_path / "a.png") as saved:
        assert saved.size == (28, 28) and saved.mode == "L"
    assert "8-bit PNG" in capsys.readouterr().out
    assert main(["attack", "--model", "fc100-100-10", "--images", "test:0", "--target", "none", "--candidates", "1",
                 "--json", str(tmp_path / "c.json")]) == 0
    assert json.loads((tmp_path / "c.json").read_text())[0]["success"]


# --- 3. outputs are checked before the work, and computed work is never lost -----------------------------


@pytest.mark.parametrize(
    "arguments, option",
    [
        (["attack", "--model", "fc100-100-10", "--images", "test:0:3", "--json", "BAD"], "--json"),
        (["attack", "--model", "fc100-100-10", "--images", "test:0:3", "--npz", "BAD"], "--npz"),
        (["attack", "--model", "fc100-100-10", "--images", "test:0", "--save", "BAD"], "--save"),
        (["attack", "--model", "efficientnet-lite0", "--image", str(CAT), "--npz", "BAD"], "--npz"),
        (["units", "--model", "conv", "--layer", "relu1", "--unit", "0", "--png", "BAD"], "--png"),
        (["units", "--model", "conv", "--layer", "relu1", "--unit", "0", "--json", "BAD"], "--json"),
        (["reproduce", "table5", "--model", "fc10-1", "--csv", "BAD"], "--csv"),
        (["reproduce", "table1", "--n", "2", "--json", "BAD"], "--json"),
        (["train", "fc10-1", "--limit", "100", "--out", "BAD"], "--out"),
    ],
)
def test_unwritable_outputs_are_refused_before_any_work(arguments, option, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    bad = tmp_path / "file.txt" / "out"
    started = time.perf_counter()
    assert main([str(bad) if item == "BAD" else item for item in arguments]) == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err, arguments[0])
    assert option in line and str(bad) in line and "choose another path" in line and captured.out == ""
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize("device", ["bogus", "cuda:99", "meta"] + ([] if torch.cuda.is_available() else ["cuda"]))
def test_an_unusable_device_is_refused_before_training(device, tmp_path, capsys):
    assert main(["train", "fc10-1", "--limit", "100", "--device", device, "--out", str(tmp_path / "models")]) == 2
    captured = capsys.readouterr()
    assert f"--device {device}" in one_error_line(captured.err, "train") and captured.out == ""
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


def test_a_limit_beyond_the_data_is_clamped_with_a_message(capsys):
    assert _limited_training_data(find_spec("fc10-1"), 10**9) is None  # None: all the training data
    assert "training on all of them" in capsys.readouterr().err
    assert len(_limited_training_data(find_spec("fc100-100-10-p1"), 100)) == 100


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder where every file can be created but none can be put in place, as on a disk that fills up."""
    full = tmp_path / "full"
    full.mkdir()
    real_replace = os.replace

    def replace(source, destination, *args, **kwargs):
        if Path(destination).parent == full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(source, destination, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return full


def fallback_path(err: str) -> Path:
    kept = err.split("kept in '")[1].split("'")[0]
    return Path(kept)


def test_a_result_that_cannot_be_written_is_kept_in_the_temporary_folder(full_disk, tmp_path, capsys):
    code = main(["attack", "--model", "fc100-100-10", "--images", "test:3:5", "--json", str(full_disk / "r.json"),
                 "--npz", str(tmp_path / "r.npz")])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "blindspot attack: could not write" in err
    kept = fallback_path(err)
    try:
        assert [row["index"] for row in json.loads(kept.read_text())] == [3, 4]
    finally:
        kept.unlink()
    assert (tmp_path / "r.npz").exists() and not (full_disk / "r.json").exists()  # the other output is written


def test_a_trained_model_that_cannot_be_saved_is_kept(full_disk, capsys):
    assert main(["train", "fc10-1", "--limit", "500", "--out", str(full_disk)]) == 1
    err = capsys.readouterr().err
    kept = fallback_path(err)
    try:
        assert (kept / "fc10-1.pt").is_file() and json.loads((kept / "fc10-1.json").read_text())["training_images"] == 500
    finally:
        for path in kept.iterdir():
            path.unlink()
        kept.rmdir()
    assert "could not save FC10(1)" in err and not (full_disk / "fc10-1.pt").exists()


# --- 4. Ctrl+C ------------------------------------------------------------------------------------------


def interrupt(command: list[str], ready: str, tmp_path) -> tuple[int, str, float]:
    """Start ``command``, wait until ``ready`` shows on stderr, send SIGINT; exit status, stderr, seconds to exit."""
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=os.environ | {"PYTHONUNBUFFERED": "1"},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while ready.encode() not in seen and time.monotonic() < deadline and process.poll() is None:
            seen += os.read(process.stderr.fileno(), 4096)
        assert ready.encode() in seen, seen.decode(errors="replace")
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        _, rest = process.communicate(timeout=20)
        return process.returncode, (seen + rest).decode(errors="replace"), time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_ctrl_c_stops_training_and_saves_nothing(tmp_path):
    out = tmp_path / "models"
    code, err, seconds = interrupt([sys.executable, "-m", "blindspot_gui.cli", "train", "fc100-100-10",
                                    "--limit", "20000", "--out", str(out)], "% after", tmp_path)
    assert code == 130 and "blindspot train: interrupted" in err and "Traceback" not in err
    assert seconds < 5 and not list(out.glob("*.pt"))


def test_ctrl_c_ends_work_stuck_in_cpp_code(tmp_path):
    """A TorchScript loop that never returns (like an endless model) is ended 1 s after Ctrl+C, status 130."""
    script = tmp_path / "endless.py"
    script.write_text(textwrap.dedent("""
        import sys, warnings
        import torch
        from blindspot_gui.cli import run_interruptibly
        from blindspot_gui.core.monitor import Monitor

        warnings.simplefilter("ignore")

        @torch.jit.script
        def endless(x: torch.Tensor) -> torch.Tensor:
            while bool(x[0] > -1.0):
                x = x + 1.0
            return x

        def work():
            print("running", file=sys.stderr, flush=True)
            return int(endless(torch.zeros(1))[0])

        run_interruptibly(work, [Monitor()], "attack")
    """))
    code, err, seconds = interrupt([sys.executable, str(script)], "running", tmp_path)
    assert code == 130 and "blindspot attack: interrupted" in err and "Traceback" not in err
    assert 0.9 <= seconds < 5


# --- 5. every error is one line: what, and what to do --------------------------------------------------


def test_every_error_is_one_line_without_a_traceback(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "random.pt").write_bytes(np.random.default_rng(0).bytes(300))
    (tmp_path / "folder").mkdir()
    cases = [
        (["attack", "--model", "efficientnet-lite0", "--image", str(tmp_path / "missing.jpg")], "does not exist"),
        (["attack", "--model", "efficientnet-lite0", "--image", str(tmp_path / "notes.txt")], "notes.txt"),
        (["attack", "--model", "efficientnet-lite0", "--image", str(tmp_path / "folder")], "folder"),
        (["eval", "fc10-1", "--weights", str(tmp_path / "random.pt")], "random.pt"),
        (["eval", "nosuchnet"], "`blindspot models` lists every network"),
        (["attack", "--model", "fc100-100-10", "--images", "test:9999:10001"], "goes past its end"),
        (["units", "--model", "conv", "--layer", "nosuchlayer", "--unit", "0"], "nosuchlayer"),
        (["attack", "--model-file", str(tmp_path / "random.pt"), "--architecture", "resnet18", "--image", str(CAT)],
         "random.pt"),
    ]
    for arguments, message in cases:
        assert main(arguments) == 1, arguments
        captured = capsys.readouterr()
        assert message in one_error_line(captured.err, arguments[0]) and captured.out == "", arguments


def test_options_for_the_other_kind_of_model_file_are_refused_by_name(tmp_path, capsys):
    """--input-range is for ONNX graphs, --architecture for state dicts: each is refused, in one line, for the other."""
    weights = tmp_path / "weights.pt"
    torch.save(find_spec("FC100-100-10").build().state_dict(), weights)
    code = main(["attack", "--model-file", str(weights), "--input-range", "0-255", "--images", "test:0:1"])
    assert code == 2 and "--input-range is not used" in one_error_line(capsys.readouterr().err, "attack")
    graph, _, _ = random_linear_digits(tmp_path / "digits.onnx")
    code = main(["attack", "--model-file", str(graph), "--architecture", "fc100-100-10", "--images", "test:0:1"])
    line = one_error_line(capsys.readouterr().err, "attack")
    assert code == 2 and "--architecture is not used" in line and "is ONNX" in line
    assert main(["attack", "--model-file", str(weights), "--images", "test:0:1"]) == 0  # without them, both run
    assert main(["attack", "--model-file", str(graph), "--input-range", "0-1", "--images", "test:0:1"]) == 0


@pytest.mark.parametrize("content", [b"\x00\x9f" + bytes(range(256)) * 40, b"these are not weights\n" * 50])
def test_a_model_file_that_is_no_weights_says_so_the_first_time(content, tmp_path, capsys):
    """Random bytes or text as a photo network's --model-file: unreadable, not "say which architecture"."""
    junk = tmp_path / "junk.pt"
    junk.write_bytes(content)
    assert main(["attack", "--model-file", str(junk), "--image", str(CAT)]) != 0
    line = one_error_line(capsys.readouterr().err, "attack")
    assert "junk.pt" in line and "not a readable PyTorch weights file" in line and "architecture" not in line
