"""The architecture's contracts (pyproject.toml): no Qt in the core or the command line, core layers without
cycles, and a clean lint, checked on every run of the suite."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def test_import_contracts_are_kept(monkeypatch):
    pytest.importorskip("importlinter")
    from importlinter.cli import lint_imports

    monkeypatch.setattr(sys, "path", list(sys.path))  # lint-imports puts the working folder first and leaves it there

    assert lint_imports(config_filename=str(PYPROJECT)) == 0, "an import contract of pyproject.toml is broken"


def test_the_code_is_lint_clean():
    pytest.importorskip("ruff")
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
