"""Running out of memory, told in plain words: the one failure that comes from the machine, not from the input.

A network (a user's especially) can ask for more memory than the computer has. Where the system
refuses the allocation, Python and torch raise an error the program can catch (``MemoryError``,
torch's "can't allocate memory" RuntimeError, ``torch.OutOfMemoryError`` on a GPU), and the window
and the command line say what happened and what to do. Where the operating system kills the
process instead (Linux's out-of-memory killer, when memory was promised and then touched), no
program can answer: the README says so.
"""

from __future__ import annotations

import sys

OUT_OF_MEMORY = ("this computer ran out of memory for the network — close other programs, or choose a smaller "
                 "network, image or number of images")


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation the system refused (on the CPU or a GPU)."""
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")  # not imported here: the command line answers --help before torch loads
    if torch is not None and isinstance(error, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(error, RuntimeError) and "can't allocate memory" in str(error)
