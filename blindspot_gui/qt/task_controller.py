"""The shape every tab shares: start a core function through the task runner, hear back through four hooks.

As Orange's ConcurrentWidgetMixin does for its widgets, a tab calls ``start(slot, function, *args)``
with a plain Qt-free core function whose last keyword argument is ``monitor``; the function runs
on a worker thread, and its progress, partial results, result and exception come back on the
GUI thread to the handlers given to ``start`` (``on_done``, ``on_partial``, ...), else to the
tab's ``_on_task_*`` hooks with the slot's name. Errors reach a tab as the exception itself,
never as a string to be parsed. One task runs per slot; starting another cancels it and drops
its results.
"""

from __future__ import annotations

from typing import Any, Callable

from blindspot_gui.qt.task_runner import Task, TaskRunner


class TaskController:
    """Mixin for a tab: ``start`` core functions in named slots; override the ``_on_task_*`` hooks it needs."""

    runner: TaskRunner

    def start(self, slot: str, function: Callable[..., Any], *args, throttle_partials: bool = True,
              on_done: Callable | None = None, on_progress: Callable | None = None,
              on_partial: Callable | None = None, on_failed: Callable | None = None,
              on_cancelled: Callable | None = None, **kwargs) -> Task:
        """Run ``function(*args, **kwargs, monitor=monitor)`` in ``slot`` on a worker thread; what it reports goes
        to the handlers given, else to the ``_on_task_*`` hooks."""
        return self.runner.start(
            slot, lambda monitor: function(*args, **kwargs, monitor=monitor),
            on_finished=on_done or (lambda result: self._on_task_done(slot, result)),
            on_progress=on_progress or (lambda fraction, message: self._on_task_progress(slot, fraction, message)),
            on_partial=on_partial or (lambda partial: self._on_task_partial(slot, partial)),
            on_error=on_failed or (lambda error: self._on_task_failed(slot, error)),
            on_cancelled=on_cancelled or (lambda: self._on_task_cancelled(slot)),
            throttle_partials=throttle_partials,
        )

    def cancel_task(self, slot: str) -> None:
        """Ask the task in ``slot`` to stop; what it returns (a search: its best so far) still arrives."""
        self.runner.cancel(slot)

    def is_running(self, slot: str) -> bool:
        return self.runner.is_running(slot)

    def _on_task_progress(self, slot: str, fraction: float, message: str) -> None:
        """Progress of the task in ``slot``: ``fraction`` in [0, 1] and what it is doing."""

    def _on_task_partial(self, slot: str, partial: Any) -> None:
        """A partial result of the task in ``slot`` (a search's best so far, an epoch's report)."""

    def _on_task_done(self, slot: str, result: Any) -> None:
        """The task in ``slot`` returned ``result``."""

    def _on_task_failed(self, slot: str, error: BaseException) -> None:
        """The task in ``slot`` raised ``error``."""

    def _on_task_cancelled(self, slot: str) -> None:
        """The task in ``slot`` stopped on Cancel without a result."""
