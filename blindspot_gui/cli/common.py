"""Plumbing every command shares: exit statuses, usage errors, progress, cancellation, outputs, devices and errors."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from blindspot_gui.core.files import OutputError, check_writable, os_reason
from blindspot_gui.core.images import ImageFileError
from blindspot_gui.core.models.mnist_zoo import UnknownModelError
from blindspot_gui.core.monitor import Monitor


EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
INTERRUPT_GRACE_S = 1.0
"""After Ctrl+C, how long the work may take to stop by itself before the process ends regardless."""


class UsageError(ValueError):
    """Options that do not go together, or that the chosen path would ignore (exit status 2)."""


class TerminalProgress:
    """Progress of a command on stderr: a tqdm bar on a terminal; where stderr is not one (a log file, a pipe, CI),
    plain lines instead of redrawn frames, one per tenth of the work and at most every LINE_SECONDS between them."""

    LINE_STEPS = 10
    LINE_SECONDS = 30.0

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream if stream is not None else sys.stderr  # the stderr of now, not of the first import
        self.started = time.perf_counter()
        self._bar = _tqdm_bar(label, self.stream) if _is_terminal(self.stream) else None
        self._last_step, self._last_line = -1, self.started

    def __call__(self, fraction: float, message: str = "") -> None:
        if self._bar is not None:
            self._bar.n = round(1000 * fraction)
            self._bar.set_postfix_str(message[:40], refresh=False)
            self._bar.update(0)  # redrawn when mininterval has passed since the last drawing
            if fraction >= 1.0:
                self._bar.refresh()
            return
        now, step = time.perf_counter(), int(self.LINE_STEPS * fraction)
        if step > self._last_step or now - self._last_line >= self.LINE_SECONDS:
            self._last_step, self._last_line = step, now
            self.stream.write(f"{self.label}: {100 * fraction:3.0f}% after {now - self.started:.0f} s  {message}\n")
            self.stream.flush()

    def write(self, line: str) -> None:
        """A line of its own between the progress (a bar steps aside for it and is drawn again below)."""
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _tqdm_bar(label: str, stream):
    """A tqdm bar of 1000 steps (a fraction to a tenth of a percent), redrawn at most ten times a second."""
    from tqdm import tqdm

    return tqdm(total=1000, desc=label, file=stream, mininterval=0.1, leave=True, dynamic_ncols=True,
                bar_format="{desc} {bar} {percentage:5.1f}% {elapsed} {postfix}")


def cancellable(args, on_progress=None, on_partial=None) -> Monitor:
    """A monitor for the command's work that Ctrl+C cancels (see :func:`run_interruptibly`)."""
    monitor = Monitor(on_progress=on_progress, on_partial=on_partial)
    args.monitors.append(monitor)
    return monitor


def check_outputs(outputs: dict) -> None:
    """Refuse now, before any work, an output path that could not be written later: {option: path or None}."""
    for option, path in outputs.items():
        if path is not None:
            check_writable(path, f"{option} file")


def write_outputs(command: str, outputs: list[tuple[str | None, Callable[[Path], object], str]]) -> int:
    """Write each asked-for output (path, write(path), what); 0 if all were written, else EXIT_FAILURE.

    An output that cannot be written (a full disk, a folder removed meanwhile) is not lost: it is
    written to a file in the temporary folder instead, and a message says where.
    """
    code = 0
    for path, write, what in outputs:
        if path is None:
            continue
        try:
            write(Path(path))
        except OSError as error:
            code = EXIT_FAILURE
            reason = os_reason(error)
            kept = _write_fallback(Path(path), write)
            where = f"kept in '{kept}' instead: move it where you want it" if kept else "the temporary folder failed too"
            print(f"blindspot {command}: could not write {what} '{path}' ({reason}) — {where}", file=sys.stderr)
    return code


def _write_fallback(path: Path, write: Callable[[Path], object]) -> Path | None:
    """Write the output to a new file in the temporary folder; its path, or None if that fails too."""
    try:
        handle, name = tempfile.mkstemp(prefix=f"blindspot-{path.stem}-", suffix=path.suffix)
        os.close(handle)
        write(Path(name))
        return Path(name)
    except OSError:
        return None


def device_of(args) -> str:
    """The torch device of --device (the CPU when it is not given)."""
    return getattr(args, "device", None) or "cpu"


def check_device(text: str, here: bool = True) -> str:
    """The torch device ``text`` if it exists on this machine (``here``; else only if it is a device at all, for
    parts that run on a cluster's machines); refused with a UsageError otherwise."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device {text} is not a device — use cpu, or cuda on a machine with an NVIDIA GPU") from None
    if not here:
        from blindspot_gui.core.experiments.backends import cluster_device_problem

        problem = cluster_device_problem(text)
        if problem is not None:
            raise UsageError(f"--device {text}: {problem}")
        return text
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"--device {text}: no CUDA GPU is usable on this machine — use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"--device {text}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"numbered from 0 — use cuda:0")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"--device {text}: Apple's Metal GPU is not usable here — use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"--device {text}: blindspot runs on cpu, cuda or mps — use one of those")
    return text


def refuse_unused(args, options: dict[str, str], reason: str) -> None:
    """A UsageError naming the options given (attribute name -> option text) that ``reason`` says are unused."""
    given = [text for name, text in options.items() if getattr(args, name) not in (None, False)]
    if given:
        one = len(given) == 1
        raise UsageError(f"{', '.join(given)} {'is' if one else 'are'} not used {reason} — leave {'it' if one else 'them'} out")


DEFAULT_IMAGES = "test:0:10"


def parse_image_range(text: str) -> tuple[str, int, int]:
    """'test:START:STOP' (or 'train:...'; 'test:I' for one image) -> (split, start, stop)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("train", "test"):
        raise ValueError(f"--images must look like test:START:STOP or train:START:STOP, not {text!r}")
    try:
        start = int(parts[1])
        stop = int(parts[2]) if len(parts) == 3 else start + 1
    except ValueError:
        raise ValueError(f"--images needs whole numbers, not {text!r}") from None
    if not 0 <= start < stop:
        raise ValueError(f"--images range {start}:{stop} is empty or negative")
    return parts[0], start, stop


HINTS = {
    OutputError: "choose another path",
    UnknownModelError: "`blindspot models` lists every network",
    ImageFileError: "check the image file, or give another",
}
"""What to do, for errors whose messages say only what went wrong."""


def error_line(command: str, error: BaseException) -> str:
    """``blindspot COMMAND: what — what to do`` on one line."""
    what = " ".join(str(error).split()) or type(error).__name__
    hint = next((hint for kind, hint in HINTS.items() if isinstance(error, kind)), None)
    if hint is None and isinstance(error, OSError) and not isinstance(error, OutputError):
        what = f"{os_reason(error)}" + (f": '{error.filename}'" if error.filename else "")
        hint = "check the file and its permissions"
    return f"blindspot {command}: {what.rstrip('.')} — {hint}" if hint and " — " not in what else f"blindspot {command}: {what}"


def run_interruptibly(work: Callable[[], int], monitors: list[Monitor], command: str,
                      grace: float = INTERRUPT_GRACE_S) -> int:
    """Run ``work`` in a worker thread so that Ctrl+C is heard even while a model's C++ code runs.

    The main thread waits in short steps. On Ctrl+C it cancels ``monitors``; work that stops
    within ``grace`` seconds ends as an ordinary interruption (KeyboardInterrupt is raised here),
    work that does not (a C++ forward pass that never returns) ends the process with status 130.
    An exception of the work is raised here as it is.
    """
    outcome: dict = {}
    done = threading.Event()  # not Thread.join: a join interrupted by Ctrl+C may report a running thread as ended

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as error:  # handed to the main thread, which reports it
            outcome["error"] = error
        finally:
            done.set()

    try:  # start() too: Ctrl+C may come as soon as the work runs, before start() has returned here
        threading.Thread(target=target, name=f"blindspot {command}", daemon=True).start()
        while not done.wait(0.1):
            pass
    except KeyboardInterrupt:
        for monitor in monitors:
            monitor.cancel()
        try:
            done.wait(grace)
        except KeyboardInterrupt:  # a second Ctrl+C: stop waiting
            pass
        if not done.is_set():
            print(f"\nblindspot {command}: interrupted", file=sys.stderr, flush=True)
            os._exit(EXIT_INTERRUPTED)
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
