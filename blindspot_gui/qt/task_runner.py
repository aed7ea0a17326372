"""Runs core jobs on a thread pool and reports back to the GUI thread through Qt signals.

A job is a plain function ``job(monitor) -> result`` from the Qt-free core. The runner gives it a
:class:`~blindspot_gui.core.monitor.Monitor` whose progress and partial results become signals
(throttled so the GUI thread is never flooded), and whose cancel flag the GUI can set. Each task
lives in a named slot ("search", "training", ...): starting a task in a slot cancels the one
already there, and signals of a task that is no longer current are dropped, so a stale result can
never overwrite a newer one. On quit the runner cancels everything and waits for the workers.
"""

from __future__ import annotations

import gc
import itertools
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from pyqtgraph.util.garbage_collector import GarbageCollector

from blindspot_gui.core.memory import OUT_OF_MEMORY, is_out_of_memory
from blindspot_gui.core.monitor import Cancelled, Monitor

PROGRESS_INTERVAL = 0.05
"""Seconds between two progress or partial signals of one task."""
STUCK_THREADS = 4
"""Threads added at most for cancelled tasks that have not stopped yet."""
IDLE_THREAD_EXPIRY_MS = 0
"""A worker thread ends as soon as it has no task. Each thread that has run torch keeps its own OpenMP team; while
more teams live than the computer has cores, OpenMP's workers stop spinning between operations and every small
operation waits for a sleeping thread to wake: a photo search on a pool thread ran ~1.5x slower while another
pool thread's team idled (tour photo step: answer after 8.3 s instead of 5.5 s, first picture 1.8 s instead of
1.4 s; ``python benchmarks/tour_photo_step.py``, two cores). A new thread per task costs well under a millisecond."""


class TaskSignals(QObject):
    """Signals of one task, emitted from its worker thread and delivered on the GUI thread."""

    sig_progress = Signal(float, str)
    sig_partial = Signal(object)
    sig_finished = Signal(object)
    sig_failed = Signal(object)
    """The exception the job raised."""
    sig_cancelled = Signal()


_COLLECTOR: GarbageCollector | None = None


def collect_garbage_on_the_gui_thread() -> None:
    """Python's cycle collector runs in whichever thread happens to allocate; when a worker's collection destroys
    Qt objects (a closed window's menus) while the GUI thread waits on Qt's locks, both wait for ever (seen in the
    test suite). So automatic collection is turned off and done by a timer on the GUI thread instead, with
    pyqtgraph's GarbageCollector. A full collection walks every object the imports made (about 400 000 with torch
    and Qt: a quarter of a second with the window frozen), so those are collected once and then frozen out of
    later collections (they live as long as the program). Idempotent; call it on the GUI thread."""
    global _COLLECTOR
    if _COLLECTOR is None:
        gc.collect()
        gc.freeze()
        _COLLECTOR = GarbageCollector(interval=0.5)


def describe_error(error: BaseException) -> str:
    """One line for the user: our own errors (ValueError and OSError kinds) by their message, others with their type."""
    if is_out_of_memory(error):
        return OUT_OF_MEMORY[0].upper() + OUT_OF_MEMORY[1:] + "."
    message = str(error).strip()
    if message and isinstance(error, (ValueError, OSError)):
        return message.splitlines()[0] if isinstance(error, OSError) else message
    return "".join(traceback.format_exception_only(type(error), error)).strip()


class _ThrottledMonitor(Monitor):
    """A monitor that forwards progress and partial results as signals, at most every PROGRESS_INTERVAL."""

    def __init__(self, signals: TaskSignals, throttle_partials: bool = True):
        super().__init__()
        self._signals = signals
        self._throttle_partials = throttle_partials
        self._last_progress = -1.0
        self._last_partial = -1.0

    def progress(self, fraction: float, message: str = "") -> None:
        now = time.perf_counter()
        if fraction >= 1.0 or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self._signals.sig_progress.emit(min(max(fraction, 0.0), 1.0), message)

    def partial(self, result: Any) -> None:
        now = time.perf_counter()
        urgent = getattr(result, "urgent", False)  # e.g. a search's first success: shown at once
        if not self._throttle_partials or urgent or now - self._last_partial >= PROGRESS_INTERVAL:
            self._last_partial = now
            self._signals.sig_partial.emit(result)


class _Relay(QObject):
    """Lives on the GUI thread, so that signals from the worker reach the callbacks through its event queue."""

    def __init__(self, runner: "TaskRunner", task: "Task", callbacks: dict):
        super().__init__(runner)
        self.runner = runner
        self.task = task
        self.callbacks = callbacks

    def _deliver(self, name: str, *args) -> None:
        callback = self.callbacks.get(name)
        if callback is not None and self.runner.is_current(self.task):
            callback(*args)

    @Slot(float, str)
    def on_progress(self, fraction: float, message: str) -> None:
        self._deliver("progress", fraction, message)

    @Slot(object)
    def on_partial(self, result) -> None:
        self._deliver("partial", result)

    def _deliver_last(self, name: str, *args) -> None:
        try:
            self._deliver(name, *args)
        finally:  # even if the callback fails, the task is over
            self.runner.task_ended(self.task)

    @Slot(object)
    def on_finished(self, result) -> None:
        self._deliver_last("finished", result)

    @Slot(object)
    def on_failed(self, error: BaseException) -> None:
        """Hands the exception to ``on_error`` when given, else its description to ``on_failed``."""
        if self.callbacks.get("error") is not None:
            self._deliver_last("error", error)
        else:
            self._deliver_last("failed", describe_error(error))

    @Slot()
    def on_cancelled(self) -> None:
        self._deliver_last("cancelled")


class Task(QRunnable):
    """One run of ``job(monitor)`` on the pool."""

    def __init__(self, job: Callable[[Monitor], Any], slot: str, number: int, throttle_partials: bool = True):
        super().__init__()
        self.setAutoDelete(False)
        self.job = job
        self.slot = slot
        self.number = number
        self.signals = TaskSignals()
        self.monitor = _ThrottledMonitor(self.signals, throttle_partials)
        self.relay = None
        self.done = False

    def cancel(self) -> None:
        self.monitor.cancel()

    def run(self) -> None:
        if self.monitor.cancelled:  # replaced while it waited for a thread
            self.done = True
            self.signals.sig_cancelled.emit()
            return
        try:
            result = self.job(self.monitor)
        except Cancelled:
            self.signals.sig_cancelled.emit()
        except BaseException as error:  # a failed job must never take the application down
            self.signals.sig_failed.emit(error)
        else:
            self.signals.sig_finished.emit(result)
        finally:
            self.done = True


class TaskRunner(QObject):
    """Starts tasks in named slots, one at a time per slot, and keeps them alive until they finish."""

    sig_task_started = Signal(str)
    sig_task_ended = Signal(str)

    def __init__(self, parent=None, max_threads: int = 2):
        super().__init__(parent)
        collect_garbage_on_the_gui_thread()  # workers run Python: their collections must not destroy Qt objects
        self.pool = QThreadPool()
        self.max_threads = max_threads
        self.pool.setMaxThreadCount(max_threads)
        self.pool.setExpiryTimeout(IDLE_THREAD_EXPIRY_MS)
        self._numbers = itertools.count(1)
        self._current: dict[str, Task] = {}
        self._alive: set[Task] = set()

    def start(
        self,
        slot: str,
        job: Callable[[Monitor], Any],
        on_finished: Callable[[Any], None] | None = None,
        on_progress: Callable[[float, str], None] | None = None,
        on_partial: Callable[[Any], None] | None = None,
        on_failed: Callable[[str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        throttle_partials: bool = True,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Task:
        """Run ``job(monitor)`` in ``slot``; callbacks run on the GUI thread.

        A task already running in the slot is cancelled and nothing more of it is delivered.
        Partial results arrive at most every PROGRESS_INTERVAL unless ``throttle_partials`` is False
        (for rare ones, such as one per training epoch, that must all arrive). A failure reaches
        ``on_error`` as the exception itself when given, else ``on_failed`` as a one-line description.
        """
        self.replace(slot)
        task = Task(job, slot, next(self._numbers), throttle_partials)
        callbacks = {"progress": on_progress, "partial": on_partial, "finished": on_finished,
                     "failed": on_failed, "cancelled": on_cancelled, "error": on_error}
        relay = _Relay(self, task, callbacks)
        task.relay = relay
        task.signals.sig_progress.connect(relay.on_progress)
        task.signals.sig_partial.connect(relay.on_partial)
        task.signals.sig_finished.connect(relay.on_finished)
        task.signals.sig_failed.connect(relay.on_failed)
        task.signals.sig_cancelled.connect(relay.on_cancelled)
        self._current[slot] = task
        self._alive.add(task)
        self._make_room()
        self.pool.start(task)
        self.sig_task_started.emit(slot)
        return task

    def _make_room(self) -> None:
        """A thread more for each cancelled task still running (a network stuck in its own code, deaf to Cancel),
        up to STUCK_THREADS more, so that such tasks never keep new work waiting."""
        stuck = sum(task.monitor.cancelled and not task.done for task in self._alive)
        self.pool.setMaxThreadCount(self.max_threads + min(stuck, STUCK_THREADS))

    def is_current(self, task: Task) -> bool:
        return self._current.get(task.slot) is task

    def task_ended(self, task: Task) -> None:
        """Called on the GUI thread when ``task`` has delivered its last signal."""
        self._alive.discard(task)
        if task.relay is not None:
            task.relay.deleteLater()
            task.relay = None
        if self._current.get(task.slot) is task:
            del self._current[task.slot]
            self.sig_task_ended.emit(task.slot)

    def is_running(self, slot: str) -> bool:
        return slot in self._current

    def cancel(self, slot: str) -> None:
        """Ask the task in ``slot`` to stop; it still delivers what it returns (a search: its best so far)."""
        task = self._current.get(slot)
        if task is not None:
            task.cancel()

    def replace(self, slot: str) -> None:
        """Cancel the task in ``slot`` and drop everything it would still deliver."""
        task = self._current.pop(slot, None)
        if task is not None:
            task.cancel()
            self.sig_task_ended.emit(slot)

    def cancel_all(self) -> None:
        for slot in list(self._current):
            self.replace(slot)
        for task in list(self._alive):
            task.cancel()

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        """Cancel every task and wait at most ``timeout_ms`` for the workers; True if they all stopped in time.

        A worker that ignores cancellation (a user's network stuck in its own code) is not waited for:
        closing must never hang. The application's entry point then ends the process without
        waiting for such a worker (see ``blindspot_gui.qt.app.main``).
        """
        self.cancel_all()
        return self.pool.waitForDone(timeout_ms)

    @property
    def running_count(self) -> int:
        return sum(not task.done for task in self._alive)
