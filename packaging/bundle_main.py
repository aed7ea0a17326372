"""The standalone bundle's entry point (packaging/build_bundle.py): opens the window as ``blindspot-gui`` does."""

import sys

from blindspot_gui.qt.app import main

if __name__ == "__main__":
    sys.exit(main())
