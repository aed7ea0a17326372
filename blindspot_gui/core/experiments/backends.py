"""Where an experiment's parts are computed: in this process one after another (the default), or as tasks on a Ray
cluster (``use_cluster``), every finished part handed back to this process, which stores it.

A part is a :class:`PartJob`: a module-level function and its arguments, computing a part's (record, arrays) from
nothing but those (the function loads the network itself). The part store therefore needs no shared storage: the
driver writes each part as it arrives, so a campaign resumes after any failure, and a worker that dies mid-part is
replaced by Ray, which runs the part again (``RETRIES``). Parts compute with a fixed thread count
(attacked.EXPERIMENT_THREADS), so a part gives the same figures wherever it runs.

Ray's servers listen on every network interface (tests/test_cluster_sockets.py), so a cluster started here
(``local_cluster``) needs Ray 2.59 or newer with token authentication on: each one gets a token of its own, in a
private folder with Ray's session files, and is refused unless its GCS turns away a call without that token. A cluster
started or joined for a run is shut down or left when the run ends.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from blindspot_gui.core.monitor import Monitor

INSTALL_HINT = 'the cluster backend needs Ray: pip install "blindspot-gui[cluster]" (or pip install ray)'
OLDEST_RAY = (2, 59)
"""The first Ray with token authentication on by default."""
UPGRADE_HINT = 'pip install --upgrade "ray>=2.59"'
AUTH_MODE = "RAY_AUTH_MODE"
AUTH_VARIABLES = (AUTH_MODE, "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
"""Where Ray reads whether to authenticate, and its token (the variable first, then the file)."""
RETRIES = 3
"""Times Ray runs a part again whose worker died (a killed process, a lost machine)."""
WAIT_SECONDS = 0.2
"""How often the driver looks for finished parts and for Cancel."""


@dataclass(frozen=True)
class _Run:
    """The cluster a run's parts go to, and what the end of the run closes (a local cluster, a connection)."""

    address: str
    closing: ExitStack


_CLUSTER: ContextVar[_Run | None] = ContextVar("blindspot_cluster", default=None)


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
    one running here, anything else is a cluster's address (ray://host:10001 or host:6379); None: this process.
    A cluster started or joined for the block is shut down or left when it ends, also on an error or Cancel."""
    with ExitStack() as closing:
        token = _CLUSTER.set(None if address is None else _Run(address, closing))
        try:
            yield
        finally:
            _CLUSTER.reset(token)


def cluster_address() -> str | None:
    run = _CLUSTER.get()
    return None if run is None else run.address


def ray_installed() -> bool:
    """Whether Ray can be imported, found without importing it (which takes a second)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: a module entry of None, as when an import was blocked
        return False


def require_ray():
    """The ray module, or an ImportError that says how to install it (a ValueError where it is older than 2.59)."""
    try:
        import ray
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    require_recent_ray(ray.__version__)
    return ray


def require_recent_ray(version: str) -> None:
    """Refuse a Ray older than 2.59, whose clusters run without authentication unless told otherwise."""
    if tuple(int(number) for number in re.findall(r"\d+", version)[:2]) < OLDEST_RAY:
        raise ValueError(f"the cluster backend needs Ray 2.59 or newer (token authentication on by default), found "
                         f"Ray {version}: {UPGRADE_HINT}")


def require_token_authentication() -> None:
    """Refuse to start a cluster here where the environment turns Ray's token authentication off."""
    mode = os.environ.get(AUTH_MODE)
    if mode is not None and mode.strip().lower() != "token":
        raise ValueError(f"{AUTH_MODE}={mode} turns Ray's token authentication off, and a local cluster's servers "
                         f"listen on every network interface: unset {AUTH_MODE} (or set it to token) to start one")


@contextmanager
def local_cluster(num_cpus: int | None = None) -> Iterator[str]:
    """Start a Ray cluster on this machine for the block and yield its GCS address: token authentication on with a
    token made for it (checked: its GCS must refuse a call without it), no dashboard, Ray's session in a private
    folder (0700) removed after; the cluster is shut down and the environment put back when the block ends."""
    ray = require_ray()
    require_token_authentication()
    folder = Path(tempfile.mkdtemp(prefix="blindspot-ray-"))  # made 0700
    try:
        with _environment_restored():
            _use_token(_write_token(folder))
            try:
                context = ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                                   configure_logging=False, _temp_dir=str(folder / "ray"))
                _require_refused_without_token(context.address_info["gcs_address"])
                yield context.address_info["gcs_address"]
            finally:
                ray.shutdown()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _write_token(folder: Path) -> Path:
    """A new random token (256 bits, as Ray makes them) in ``folder``, readable by this user only."""
    path = folder / "auth_token"
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as stream:
        stream.write(secrets.token_hex(32))
    return path


def _use_token(path: Path) -> None:
    """Have Ray, here and in the processes it starts, authenticate with the token in ``path`` and no other."""
    os.environ.pop("RAY_AUTH_TOKEN", None)  # it would win over the file
    os.environ.update({AUTH_MODE: "token", "RAY_AUTH_TOKEN_PATH": str(path)})
    _reread_ray_settings()


def _reread_ray_settings() -> None:
    """Have Ray read its authentication mode and token again (it keeps what it read first)."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextmanager
def _environment_restored() -> Iterator[None]:
    """Put the environment variables and the SIGTERM handler back as they were after the block: ray.init sets some
    variables (its authentication mode, usage statistics) and the handler, and a local cluster its token."""
    before, on_sigterm = dict(os.environ), signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        os.environ.update(before)
        _reread_ray_settings()
        if on_sigterm is not None and signal.getsignal(signal.SIGTERM) != on_sigterm:  # set on the main thread only
            signal.signal(signal.SIGTERM, on_sigterm)


_CALL_THE_GCS = """import sys
from ray._raylet import GcsClient
try:
    GcsClient(address=sys.argv[1]).internal_kv_get(b"blindspot", None, timeout=10)
except Exception as error:
    print(type(error).__name__)
else:
    print("answered")
"""


def gcs_answer(address: str, auth: dict[str, str]) -> str:
    """What a new process gets when it reads from the GCS at ``address`` with Ray's authentication variables
    ``auth`` (this process's own left out): "answered", or the name of the error."""
    environment = {name: value for name, value in os.environ.items() if name not in AUTH_VARIABLES} | auth
    try:
        done = subprocess.run([sys.executable, "-c", _CALL_THE_GCS, address], env=environment, capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "no answer in 60 s"
    lines = done.stdout.split()
    return lines[-1] if lines else f"no answer (exit status {done.returncode})"


def _require_refused_without_token(address: str) -> None:
    answer = gcs_answer(address, {AUTH_MODE: "disabled"})
    if answer != "AuthenticationError":
        raise ValueError(f"the local Ray cluster's GCS ({address}) gave '{answer}' to a call without its token "
                         "instead of refusing it: it was shut down and no part was sent to it")


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
    run = _CLUSTER.get()
    if run is None:
        _run_here(jobs, monitor, on_finished)
    else:
        _run_on_ray(jobs, monitor, on_finished, run)


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


@contextmanager
def _joined(ray, address: str) -> Iterator[None]:
    """Join the cluster at ``address`` (or the one running here: "auto") for the block, and leave it after."""
    with _environment_restored():
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            yield
        finally:
            ray.shutdown()


def _connect(ray, run: _Run) -> None:
    """Start or join the run's cluster, until the run ends; a Ray already set up in this process is used as it is."""
    if not ray.is_initialized():
        run.closing.enter_context(local_cluster() if run.address == "local" else _joined(ray, run.address))


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


def _run_on_ray(jobs, monitor: Monitor, on_finished, run: _Run) -> None:
    ray = require_ray()
    monitor.progress(0.0, f"connecting to the Ray cluster ({run.address})")
    _connect(ray, run)
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
