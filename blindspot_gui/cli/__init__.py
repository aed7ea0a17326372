"""The `blindspot` command line, a front end on the core: :func:`main` parses a command and runs its module."""

from __future__ import annotations

import os
import sys

from blindspot_gui.cli.common import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, error_line
from blindspot_gui.cli.common import run_interruptibly
from blindspot_gui.cli.models import _limited_training_data
from blindspot_gui.cli.parser import build_parser
from blindspot_gui.core.data import DatasetError
from blindspot_gui.core.files import OutputError
from blindspot_gui.core.images import ImageFileError
from blindspot_gui.core.memory import OUT_OF_MEMORY, is_out_of_memory
from blindspot_gui.core.models.mnist_zoo import UnknownModelError
from blindspot_gui.core.models.weights_io import WeightsError
from blindspot_gui.core.monitor import Cancelled
from blindspot_gui.core.threads import configure_threads, torch_threads

__all__ = ["main", "run_interruptibly", "_limited_training_data"]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.monitors = []
    try:
        with torch_threads(None):  # configure_threads sets the process's count: a caller (a test) gets its own back
            args.threads = configure_threads()
            if getattr(args, "check", None):
                args.check(args)
            return run_interruptibly(lambda: args.run(args), args.monitors, args.command)
    except UsageError as error:
        print(error_line(args.command, error), file=sys.stderr)
        return EXIT_USAGE
    except (UnknownModelError, WeightsError, DatasetError, ImageFileError, OutputError, ValueError, OSError) as error:
        print(error_line(args.command, error), file=sys.stderr)
        return EXIT_FAILURE
    except (KeyboardInterrupt, Cancelled):
        print(f"\nblindspot {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # a bug or a library failure: one line, and how to see more
        if is_out_of_memory(error):
            print(f"blindspot {args.command}: {OUT_OF_MEMORY}", file=sys.stderr)
            return EXIT_FAILURE
        if os.environ.get("BLINDSPOT_TRACEBACK"):
            raise
        print(f"blindspot {args.command}: unexpected {type(error).__name__}: {' '.join(str(error).split())[:300]} — "
              "run again with BLINDSPOT_TRACEBACK=1 for the details, and report it", file=sys.stderr)
        return EXIT_FAILURE
