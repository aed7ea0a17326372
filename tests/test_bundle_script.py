"""packaging/build_bundle.py's own pieces (the bundle itself is built by hand: several GB and minutes, not for CI)."""

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "packaging" / "build_bundle.py"


@pytest.fixture(scope="module")
def build_bundle():
    spec = importlib.util.spec_from_file_location("build_bundle", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torchvisions_operator_libraries_are_found_for_the_bundle(build_bundle):
    """torch loads them by path: PyInstaller's analysis and --collect-binaries miss them (a bundle without them
    failed with "operator torchvision::nms does not exist")."""
    libraries = build_bundle.operator_libraries(Path(sys.executable), "torchvision")
    assert libraries and all(path.suffix == ".so" and path.parent.name == "torchvision" for path in libraries)


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils), as PyInstaller does on Linux")
def test_the_oldest_glibc_is_the_newest_version_any_library_asks_for(build_bundle, tmp_path):
    assert build_bundle.oldest_glibc(tmp_path) == "unknown"
    library = build_bundle.operator_libraries(Path(sys.executable), "torchvision")[0]
    shutil.copy(library, tmp_path / library.name)
    (tmp_path / "notes.txt").write_text("GLIBC_9.99 in a text file is not asked for by anything")
    version = build_bundle.oldest_glibc(tmp_path)
    assert re.fullmatch(r"2\.\d+(\.\d+)?", version)  # not the text file's 9.99
    assert tuple(map(int, version.split("."))) > (2, 2, 5)  # compared as numbers: every library also asks for 2.2.5
