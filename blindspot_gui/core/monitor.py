"""Progress, partial results and cancellation for long core functions, without any GUI dependency.

Every long job in the core takes a ``monitor`` argument. It calls ``monitor.progress``
with a fraction in [0, 1], ``monitor.partial`` with intermediate results a front end may
show, and ``monitor.check`` at safe points, which raises :class:`Cancelled` once the
front end has asked the job to stop.
"""

from __future__ import annotations

import threading
from typing import Any, Callable


class Cancelled(Exception):
    """Raised inside a job by :meth:`Monitor.check` after cancellation was requested."""


class Monitor:
    """A monitor that forwards to optional callbacks and cancels through a thread-safe flag."""

    def __init__(
        self,
        on_progress: Callable[[float, str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
    ):
        self._on_progress = on_progress
        self._on_partial = on_partial
        self._cancel_requested = threading.Event()

    def progress(self, fraction: float, message: str = "") -> None:
        if self._on_progress is not None:
            self._on_progress(min(max(fraction, 0.0), 1.0), message)

    def partial(self, result: Any) -> None:
        if self._on_partial is not None:
            self._on_partial(result)

    def cancel(self) -> None:
        """Ask the job to stop at its next check (callable from any thread)."""
        self._cancel_requested.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel_requested.is_set()

    def check(self) -> None:
        if self._cancel_requested.is_set():
            raise Cancelled()

    def scaled(self, start: float, end: float) -> "ScaledMonitor":
        """A sub-monitor whose progress 0..1 maps onto start..end of this one."""
        return ScaledMonitor(self, start, end)

    def quiet(self, start: float = 0.0, end: float = 1.0) -> "ScaledMonitor":
        """Like :meth:`scaled`, but the nested job's partial results are not passed on."""
        return ScaledMonitor(self, start, end, forward_partials=False)


class ScaledMonitor(Monitor):
    """Maps a nested loop's progress onto a range of its parent's; shares the parent's cancel flag."""

    def __init__(self, parent: Monitor, start: float, end: float, forward_partials: bool = True):
        super().__init__()
        self._parent = parent
        self._forward_partials = forward_partials
        self._start = start
        self._end = end

    def progress(self, fraction: float, message: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        self._parent.progress(self._start + (self._end - self._start) * fraction, message)

    def partial(self, result: Any) -> None:
        if self._forward_partials:
            self._parent.partial(result)

    def cancel(self) -> None:
        self._parent.cancel()

    @property
    def cancelled(self) -> bool:
        return self._parent.cancelled

    def check(self) -> None:
        self._parent.check()

