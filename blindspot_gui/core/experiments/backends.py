"""Where an experiment's parts are computed: in this process one after another (the default), or as tasks on a Ray
cluster (``use_cluster``), every finished part handed back to this process, which stores it.

A part is a :class:`PartJob`: a module-level function and its arguments, computing a part's (record, arrays) from
nothing but those (the function loads the network itself). The part store therefore needs no shared storage: the
driver writes each part as it arrives, so a campaign resumes after any failure, and a worker that dies mid-part is
replaced by Ray, which runs the part again (``RETRIES``). Parts compute with a fixed thread count
(attacked.EXPERIMENT_THREADS), so a part gives the same figures wherever it runs.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch

from blindspot_gui.core.monitor import Monitor

INSTALL_HINT = 'the cluster backend needs Ray: pip install "blindspot-gui[cluster]" (or pip install ray)'
RETRIES = 3
"""Times Ray runs a part again whose worker died (a killed process, a lost machine)."""
WAIT_SECONDS = 0.2
"""How often the driver looks for finished parts and for Cancel."""

_CLUSTER: ContextVar[str | None] = ContextVar("blindspot_cluster", default=None)


@dataclass(frozen=True)
class PartJob:
    """One part to compute: ``function(*args, monitor=...)`` returns the part's (record, arrays); on a cluster it asks
    for one CPU, and one GPU too when its ``device`` is one."""

    key: str
    function: Callable[..., Any]
    args: tuple
    device: str = "cpu"
    title: str = ""
    """what progress calls the part (default: its key)."""

    @property
    def name(self) -> str:
        return self.title or self.key

    @property
    def gpus(self) -> int:
        return 0 if torch.device(self.device).type == "cpu" else 1


@contextmanager
def use_cluster(address: str | None) -> Iterator[None]:
    """Compute the parts of experiments run inside on Ray: "local" starts a cluster on this machine, "auto" joins the
    one running here, anything else is a cluster's address (ray://host:10001 or host:6379); None: this process."""
    token = _CLUSTER.set(address)
    try:
        yield
    finally:
        _CLUSTER.reset(token)


def cluster_address() -> str | None:
    return _CLUSTER.get()


def ray_installed() -> bool:
    """Whether Ray can be imported, found without importing it (which takes a second)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: a module entry of None, as when an import was blocked
        return False


def require_ray():
    """The ray module, or an ImportError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return ray


def require_same_weights(network: str, found: str, asked: str) -> None:
    """Refuse to compute a part with weights (fingerprints) other than those of the machine that asked for it."""
    if found != asked:
        raise ValueError(f"the copy of {network} where this part ran has other weights than the one that asked for "
                         "it: put the same weights on every machine of the cluster")


def cluster_device_problem(device: str) -> str | None:
    """Why parts on ``device`` cannot go to a cluster (None: they can): Ray gives each part a GPU of its own."""
    if torch.device(device).index is not None:
        return "on a cluster, say cuda rather than cuda:N: Ray gives each part a GPU of its own"
    return None


def run_parts(jobs: list[PartJob], monitor: Monitor, on_finished: Callable[[str, Any], None]) -> None:
    """Compute every job, calling ``on_finished(key, result)`` in this process as each one is done."""
    if not jobs:
        return
    address = cluster_address()
    if address is None:
        _run_here(jobs, monitor, on_finished)
    else:
        _run_on_ray(jobs, monitor, on_finished, address)


def run_one(job: PartJob, monitor: Monitor):
    """Compute one job (here or on the cluster in use) and return its result."""
    results = {}
    run_parts([job], monitor, results.__setitem__)
    return results[job.key]


def _run_here(jobs, monitor: Monitor, on_finished) -> None:
    for position, job in enumerate(jobs):
        monitor.check()
        part = monitor.scaled(position / len(jobs), (position + 1) / len(jobs))
        on_finished(job.key, job.function(*job.args, monitor=part))
        part.progress(1.0, f"{job.name} done")


def _connect(ray, address: str) -> None:
    if ray.is_initialized():
        return
    ray.init(address=None if address == "local" else address, include_dashboard=False, log_to_driver=False,
             configure_logging=False)


def _run_job(function, *args):
    """What a Ray worker runs: the part, with a monitor nobody listens to (the driver reports progress per part)."""
    return function(*args, monitor=Monitor())


def _shared(ray, jobs) -> list[list]:
    """Each job's arguments, every array among them put in Ray's object store once (the parts of a table share
    their images: sending them with every task would copy them once per part)."""
    stored = {}
    for job in jobs:
        for value in job.args:
            if isinstance(value, (np.ndarray, torch.Tensor)) and id(value) not in stored:
                stored[id(value)] = ray.put(value)
    return [[stored.get(id(value), value) for value in job.args] for job in jobs]


def _own(value):
    """``value`` with every read-only numpy array in it copied: Ray hands results over as views of its object store,
    which a part's user (torch.from_numpy) must not write through."""
    if isinstance(value, np.ndarray) and not value.flags.writeable:
        return value.copy()
    if isinstance(value, dict):
        return {key: _own(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_own(item) for item in value)
    return value


def _require_gpus(ray, jobs) -> None:
    """Refuse, before any part is sent, parts that need a GPU on a cluster without one (Ray would wait for it
    forever) and parts that name one GPU of many (Ray gives each part a GPU of its own, which it sees as cuda:0)."""
    problem = next(filter(None, (cluster_device_problem(job.device) for job in jobs)), None)
    if problem is not None:
        raise ValueError(problem)
    if any(job.gpus for job in jobs) and not ray.cluster_resources().get("GPU"):
        raise ValueError("the Ray cluster has no GPU: run the parts on the CPU, or add GPU machines to the cluster")


def _run_on_ray(jobs, monitor: Monitor, on_finished, address: str) -> None:
    ray = require_ray()
    monitor.progress(0.0, f"connecting to the Ray cluster ({address})")
    _connect(ray, address)
    _require_gpus(ray, jobs)
    remote = ray.remote(num_cpus=1, max_retries=RETRIES)(_run_job)
    pending = {remote.options(num_gpus=job.gpus).remote(job.function, *args): job
               for job, args in zip(jobs, _shared(ray, jobs))}
    done = 0
    monitor.progress(0.0, f"{len(jobs)} part{'' if len(jobs) == 1 else 's'} sent to the Ray cluster")
    try:
        while pending:
            monitor.check()
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            for reference in ready:
                job = pending.pop(reference)
                try:
                    result = ray.get(reference)
                except ray.exceptions.RayTaskError as error:
                    raise error.as_instanceof_cause() from None
                on_finished(job.key, _own(result))
                done += 1
                monitor.progress(done / len(jobs), f"{job.name} done on the cluster"
                                                     + (f" ({done} of {len(jobs)} parts)" if len(jobs) > 1 else ""))
    except BaseException:  # Cancel, or a part that failed: the others stop too (they may hold GPUs)
        for reference in pending:
            ray.cancel(reference, force=True)
        raise
