"""The README's screenshots are what `blindspot-gui --screenshot` makes now: each command is run and compared."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
THUMBNAIL = (128, 72)
MOST_DIFFERENCE = 0.06
"""Mean absolute difference of the two pictures shrunk to THUMBNAIL, in [0, 1]: the same layout, images and results,
whatever the timings in the text or a font's hinting on another machine."""


def screenshot_commands() -> list[list[str]]:
    """The command lines between the README's screenshot markers."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- screenshots -->(.*?)<!-- /screenshots -->", text, re.S)
    assert block, "README.md has no <!-- screenshots --> block"
    return [shlex.split(line) for line in block.group(1).splitlines() if line.startswith("blindspot-gui ")]


def thumbnail(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("L").resize(THUMBNAIL, Image.Resampling.BOX), dtype=np.float32) / 255.0


@pytest.mark.parametrize("command", screenshot_commands(), ids=lambda command: command[2])
def test_each_readme_screenshot_is_what_the_command_makes_now(command, tmp_path):
    committed = ROOT / command[command.index("--screenshot") + 1]
    assert committed.is_file(), f"{committed} is named in README.md but missing"
    made = tmp_path / committed.name
    arguments = [str(made) if word == str(committed.relative_to(ROOT)) else word for word in command[1:]]
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; from blindspot_gui.qt.app import main; sys.exit(main(sys.argv[1:]))",
         *arguments], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert completed.returncode == 0, completed.stderr
    with Image.open(made) as new, Image.open(committed) as old:
        assert new.size == old.size
    difference = float(np.abs(thumbnail(made) - thumbnail(committed)).mean())
    assert difference < MOST_DIFFERENCE, (f"{committed.name} is out of date (difference {difference:.3f}): make it "
                                          f"again with `{shlex.join(command)}`")
