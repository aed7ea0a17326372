"""How many CPU threads PyTorch's intra-op pool gets: chosen from the cores free now, capped, and overridable.

PyTorch's default pool has one thread per core, and its threads spin while they wait for each
other. When other programs keep cores busy (a desktop always shares them), a spinning thread
that lost its core holds the whole pool up: on a 2-core machine beside two busy processes a
digit search ran 10 to 30 times slower than alone (benchmarks/busy_cpu.py). So the count is
chosen from the cores this process may use minus those other programs keep busy now, capped
(the paper's networks are small: a few threads already split their matrix products finely),
and can be overridden by the environment variable ``BLINDSPOT_THREADS`` (a count, or ``auto``)
and by a setting.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

ENVIRONMENT_VARIABLE = "BLINDSPOT_THREADS"
MAX_THREADS = 4
"""The automatic choice never exceeds this (a judgement, not a measurement: this project's test machine has 2 cores)."""
MOST_THREADS = 1024
"""An explicit count above this is a typing mistake, not a machine."""
AUTOMATIC = ("", "auto", "0")
"""Values of the environment variable (and ``requested`` 0) that mean: choose automatically."""


def parse_thread_count(text: str, source: str = ENVIRONMENT_VARIABLE) -> int | None:
    """A thread count written as text: a whole number from 1 up, or None for "auto" (or empty, or 0)."""
    cleaned = text.strip().lower()
    if cleaned in AUTOMATIC:
        return None
    try:
        count = int(cleaned)
    except ValueError:
        count = -1
    if not 1 <= count <= MOST_THREADS:
        raise ValueError(f"{source}={text!r} is not a number of threads: give a whole number from 1 to "
                         f"{MOST_THREADS}, or 'auto'")
    return count


def thread_count_choice(available: int, busy: float, requested: int | None = None,
                        environment: str | None = None, cap: int = MAX_THREADS) -> int:
    """The intra-op thread count: the environment's value, else ``requested``, else the free cores, capped.

    ``available``: cores this process may run on; ``busy``: cores other programs keep busy now.
    The free cores are rounded to the nearest whole core, so a core more than half busy counts as
    taken (too few threads costs little on these networks, too many costs 30x). At least one thread.
    ``requested`` None or 0 means automatic; ``environment`` (the variable's text) set and not empty
    decides over ``requested``, "auto" meaning automatic. A malformed value raises ValueError naming it.
    """
    explicit = explicit_thread_count(requested, environment)
    if explicit is not None:
        return explicit
    free = max(0.0, available - max(0.0, busy))
    return max(1, min(cap, available, math.floor(free + 0.5)))


def explicit_thread_count(requested: int | None = None, environment: str | None = None) -> int | None:
    """The count the environment's value or else ``requested`` asks for; None when the choice is automatic."""
    if environment is not None and environment.strip():  # set and not empty: it decides, "auto" included
        return parse_thread_count(environment)
    if requested is not None:
        return parse_thread_count(str(requested), "the thread setting")
    return None


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity (else the CPU count), within a cgroup's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """The CPU quota of a container (cgroup v2 "QUOTA PERIOD"), rounded up to whole cores; None if unlimited."""
    try:
        fields = path.read_text().split()
        return max(1, math.ceil(int(fields[0]) / int(fields[1])))
    except (OSError, ValueError, IndexError, ZeroDivisionError):  # absent, "max", or garbage: no quota
        return None


def busy_cores(samples: int = 11, interval: float = 0.005) -> float:
    """Cores other programs keep busy now: the tasks running besides this one, averaged over about 50 ms.

    Linux tells the tasks runnable at this instant (/proc/loadavg); a few samples catch programs
    that run in bursts. The 1-minute load average is used only where that is not available: it
    lags about a minute both ways, missing a program started seconds ago and still counting one
    that ended (which would cost an idle machine its second core).
    """
    now = _running_now(samples, interval)
    if now is not None:
        return now
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows has no load average
        return 0.0


def _running_now(samples: int, interval: float) -> float | None:
    """The mean number of runnable tasks besides the reading thread, from /proc/loadavg's "R/T" field."""
    counts = []
    for sample in range(samples):
        try:
            running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        except (OSError, IndexError, ValueError):
            return None
        if running < 1:  # not even the reading thread: an emulated /proc that does not know
            return None
        counts.append(running - 1)
        if sample + 1 < samples:
            time.sleep(interval)
    return sum(counts) / len(counts)


def configure_threads(requested: int | None = None, warn: Callable[[str], None] | None = None) -> int:
    """Set PyTorch's intra-op thread count (see :func:`thread_count_choice`) and return it.

    ``requested`` is the user's setting (None or 0: automatic); ``BLINDSPOT_THREADS`` overrides it.
    A malformed value raises ValueError, or, when ``warn`` is given, is reported through ``warn``
    and the count is chosen automatically instead.
    """
    import torch  # here, not at the top: the command line's --help and argument errors answer before torch loads

    problem = None
    try:  # the cores are only measured (about 50 ms) when the choice is automatic
        count = explicit_thread_count(requested, os.environ.get(ENVIRONMENT_VARIABLE))
    except ValueError as error:
        if warn is None:
            raise
        count, problem = None, error
    if count is None:
        count = thread_count_choice(available_cores(), busy_cores())
    if problem is not None:
        warn(f"{problem}; using {count} (chosen from the free cores)")
    torch.set_num_threads(count)
    return count


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """PyTorch's intra-op thread count set to ``count`` (None: left as it is) inside, restored afterwards. Sums
    round differently with another count, so work that must give the same figures wherever and whenever it runs
    (an experiment's parts) fixes it; with None it puts back what code inside sets, such as an entry point's
    :func:`configure_threads` when a caller (a test) runs the entry point as a function."""
    import torch  # here, not at the top: see configure_threads

    before = torch.get_num_threads()
    torch.set_num_threads(count or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)
