"""The standalone bundle's entry point (packaging/build_bundle.py): the window, or the command line when started as ``blindspot``."""

import sys
from pathlib import Path

COMMAND_LINE = "blindspot"
"""Started by this name (a link beside ``blindspot-gui``, made by build_bundle.py), the bundle is the command line."""


def main() -> int:
    """``blindspot-gui`` opens the window; the bundle's ``blindspot`` (a link to the same executable) is the command line."""
    if Path(sys.argv[0]).name == COMMAND_LINE:
        from blindspot_gui.cli import main as command_line

        return command_line()
    from blindspot_gui.qt.app import main as window

    return window()


if __name__ == "__main__":
    sys.exit(main())
