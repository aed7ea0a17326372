"""Where the bundled resources (MNIST, trained weights) live, in a source checkout or an installed copy."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def resources_root() -> Path:
    """The resources folder: ``blindspot_gui/resources`` when installed, ``resources/`` in a checkout."""
    for candidate in (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"blindspot_gui's resources folder is missing (looked in {_PACKAGE_DIR / 'resources'} and "
        f"{_PACKAGE_DIR.parent / 'resources'}); reinstall the package."
    )


def resource_path(*parts: str) -> Path:
    """A path inside the resources folder."""
    return resources_root().joinpath(*parts)


def user_dir(name: str, cache: bool = False) -> Path:
    """A folder for the user's own files: $BLINDSPOT_HOME/NAME, else ~/.local/share (or ~/.cache)/blindspot_gui/NAME."""
    home = os.environ.get("BLINDSPOT_HOME")
    if home:
        return Path(home) / name
    return Path.home() / (".cache" if cache else ".local/share") / "blindspot_gui" / name
