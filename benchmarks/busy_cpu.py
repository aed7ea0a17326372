"""The 100-image targeted digit search alone and beside a CPU hog, with PyTorch's default threads and with ours.

Runs ``blindspot attack --model FC100-100-10 --images test:0:100 --target next`` (as a
subprocess, exactly as a user would) four ways: with PyTorch's default intra-op thread count
(one per core, forced through BLINDSPOT_THREADS) and with the count core/threads.py chooses,
each alone and beside two busy processes this script starts itself (and always stops, even on
an error or Ctrl+C; they also stop by themselves once this script is gone). Prints ms per image
and the slowdown beside the hog. Target (issue 13): slowdown at most 2.5x, idle no worse than
PyTorch's default.

    python benchmarks/busy_cpu.py [--repeat N] [--hogs K]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import signal
import statistics
import subprocess
import sys
import time

COMMAND = ["attack", "--model", "FC100-100-10", "--images", "test:0:100", "--target", "next"]
TIMING = re.compile(r"time per image\s+([0-9.]+) ms(?: \((\d+) CPU threads?\))?")
CHOSEN = "ours"


def hog(parent: int) -> None:
    """Keep one core busy until the benchmark that started it is gone."""
    spins = 0
    while True:
        spins += 1
        if spins % 5_000_000 == 0 and os.getppid() != parent:
            return


@contextlib.contextmanager
def cpu_hog(processes: int):
    """``processes`` busy processes for the duration of the block, killed at its end whatever happens."""
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    workers = [context.Process(target=hog, args=(os.getpid(),), daemon=True) for _ in range(processes)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(1.0)  # let them take their cores
        yield
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.kill()
        for worker in workers:
            worker.join(timeout=5)


def child_environment(threads: str | None) -> dict:
    """This environment without thread variables, and BLINDSPOT_THREADS set when ``threads`` is given."""
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLINDSPOT_THREADS")}
    if threads is not None:
        environment["BLINDSPOT_THREADS"] = threads
    return environment


def run_attack(threads: str | None) -> tuple[float, str]:
    """ms per image, and the thread count the command reported."""
    completed = subprocess.run([sys.executable, "-m", "blindspot_gui.cli", *COMMAND], capture_output=True,
                               text=True, env=child_environment(threads), timeout=1800)
    match = TIMING.search(completed.stdout)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"the attack failed ({completed.returncode}): {completed.stderr.strip()[-500:]}")
    return float(match.group(1)), match.group(2) or "?"


def default_thread_count() -> int:
    """PyTorch's own choice in a fresh process with no thread variables set."""
    completed = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                               capture_output=True, text=True, env=child_environment(None), check=True)
    return int(completed.stdout)


def load() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load averages " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def measure(repeat: int, hogs: int) -> dict:
    default = str(default_thread_count())
    settings = {f"torch default ({default})": default, CHOSEN: None}
    figures: dict = {}
    for name, threads in settings.items():
        for busy in (False, True):
            times, counts = [], set()
            for _ in range(repeat):
                with cpu_hog(hogs) if busy else contextlib.nullcontext():
                    milliseconds, count = run_attack(threads)
                times.append(milliseconds)
                counts.add(count)
                print(f"  {name:<20} {'beside the hog' if busy else 'alone':<15} {milliseconds:8.1f} ms per image "
                      f"({count} thread{'' if count == '1' else 's'})", flush=True)
            figures[name, busy] = (statistics.median(times), "/".join(sorted(counts)))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (the median is reported)")
    parser.add_argument("--hogs", type=int, default=2, help="busy processes beside the search (default 2)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the hog is stopped on SIGTERM too
    print(f"before: {load()}")
    print(f"blindspot {' '.join(COMMAND)}; {os.cpu_count()} CPUs; hog: {args.hogs} busy processes", flush=True)
    figures = measure(args.repeat, args.hogs)
    print(f"after:  {load()}")
    print(f"\n{'threads':<20} {'alone':>10} {'beside hog':>11} {'slowdown':>9}")
    for name in dict.fromkeys(name for name, _ in figures):
        (alone, counts_alone), (busy, counts_busy) = figures[name, False], figures[name, True]
        print(f"{name:<20} {alone:7.1f} ms {busy:8.1f} ms {busy / alone:8.1f}x   (threads: {counts_alone} alone, "
              f"{counts_busy} beside the hog)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
