"""`python -m blindspot_gui.cli` runs the command line."""

import sys

from blindspot_gui.cli import main

sys.exit(main())
