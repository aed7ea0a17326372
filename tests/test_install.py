"""The package as installed: resources inside it, both entry points declared, no Qt in the core."""

import ast
from importlib import metadata
from pathlib import Path

import pytest

import blindspot_gui
from blindspot_gui.core.resources import resources_root

PACKAGE_DIR = Path(blindspot_gui.__file__).resolve().parent


def test_resources_reach_an_installed_copy():
    if (PACKAGE_DIR.parent / "pyproject.toml").exists():
        pytest.skip("imported from a source checkout, not from an installed copy")
    assert resources_root() == PACKAGE_DIR / "resources"
    assert (resources_root() / "models" / "fc100-100-10.pt").is_file()
    assert (resources_root() / "datasets" / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert (resources_root() / "samples" / "cat.png").is_file()


def test_entry_points_are_declared():
    try:
        entry_points = metadata.distribution("blindspot-gui").entry_points
    except metadata.PackageNotFoundError:
        pytest.skip("blindspot-gui is not installed")
    declared = {(entry.group, entry.name, entry.value) for entry in entry_points}
    assert ("console_scripts", "blindspot", "blindspot_gui.cli:main") in declared
    assert ("gui_scripts", "blindspot-gui", "blindspot_gui.qt.app:main") in declared


def test_core_never_imports_qt():
    for path in (PACKAGE_DIR / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("PySide6", "pyqtgraph", "shiboken6", "blindspot_gui.qt")), (
                    f"{path.name} imports {name}"
                )
