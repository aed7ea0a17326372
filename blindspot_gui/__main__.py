"""`python -m blindspot_gui` runs the command line."""

import sys

from blindspot_gui.cli import main

sys.exit(main())
