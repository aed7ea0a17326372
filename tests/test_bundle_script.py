"""packaging/build_bundle.py's own pieces (the bundle itself is built by hand: several GB and minutes, not for CI)."""

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "packaging" / "build_bundle.py"


def load(name: str, monkeypatch):
    """A script of packaging/ as a module, with that folder on sys.path as when it runs (put back afterwards)."""
    monkeypatch.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location(name, SCRIPT.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def build_bundle(monkeypatch):
    return load("build_bundle", monkeypatch)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the bundle is built on Linux")
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


def test_the_bundle_keeps_the_applications_name(build_bundle):
    from blindspot_gui.launcher import APP_ID

    assert build_bundle.APP == APP_ID  # the executable's name, the launcher's and the settings' all follow it


def test_glibc_versions_are_compared_as_numbers(build_bundle):
    assert build_bundle.newest_version(["2.2.5", "2.17", "2.4", "2.3.4"]) == "2.17"  # as text, 2.4 would win
    assert build_bundle.newest_version([]) == "unknown"


@pytest.mark.parametrize(("name", "program"), [("blindspot", "blindspot"), ("blindspot-gui", "blindspot-gui")])
def test_the_bundles_executable_is_the_command_line_by_its_links_name(name, program, monkeypatch, capsys):
    bundle_main = load("bundle_main", monkeypatch)
    monkeypatch.setattr(sys, "argv", [f"/opt/bundle/{name}", "--help"])
    with pytest.raises(SystemExit) as done:
        bundle_main.main()
    assert done.value.code == 0 and capsys.readouterr().out.startswith(f"usage: {program} ")
