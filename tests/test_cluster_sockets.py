"""A local Ray cluster as `--cluster local` starts it: what its processes listen on (TCP and UDP, read from /proc),
that its GCS refuses a call without the run's token, its private folder, and that nothing of it is left after the
run, here a cancelled one; what README.md's "On a Ray cluster" promises."""

import os
import socket
import stat
import time
from collections import Counter
from ipaddress import ip_address
from pathlib import Path

import pytest
import ray

from blindspot_gui.core.experiments.backends import PartJob, gcs_answer, run_parts, use_cluster
from blindspot_gui.core.monitor import Cancelled, Monitor

EVERY_INTERFACE = "every interface"
MACHINE_ADDRESS = "the machine's address"
LOOPBACK = "loopback only"


def _address(text: str, version6: bool) -> tuple[str, int]:
    """An address:port of /proc/net/*: the address's 32-bit words in the machine's (little-endian) order, hex."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    raw = b"".join(raw[start:start + 4][::-1] for start in range(0, len(raw), 4))
    return socket.inet_ntop(socket.AF_INET6 if version6 else socket.AF_INET, raw), int(port, 16)


def listening_sockets() -> dict[str, tuple[str, str, int]]:
    """This machine's listening TCP sockets and bound UDP sockets: inode -> (protocol, address, port)."""
    found = {}
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]:
            fields = line.split()
            if protocol.startswith("udp") or fields[3] == "0A":  # 0A: LISTEN
                found[fields[9]] = (protocol, *_address(fields[1], protocol.endswith("6")))
    return found


def socket_inodes(pid: int) -> set[str]:
    """The sockets process ``pid`` has open (none where it has just ended)."""
    inodes = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and the ones they started, from /proc/*/stat's parent field."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def process_name(pid: int) -> str:
    """gcs_server, raylet, a Ray worker ("worker": ray::IDLE, ray::_run_job), ray::RuntimeEnvAgent, a script, or
    "ended"."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return "ended"
    if words[0].startswith("ray::"):
        title = words[0].split()[0]
        return "worker" if title in ("ray::IDLE", "ray::_run_job") else title
    return Path(next((word for word in words[1:] if word.endswith(".py")), words[0])).name


def where(host: str, machine: str) -> str:
    if host in ("::", "0.0.0.0"):
        return EVERY_INTERFACE
    if host == machine:
        return MACHINE_ADDRESS
    return LOOPBACK if ip_address(host).is_loopback else host


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def look_at_the_cluster(before: set[str]) -> dict:
    """Who listens where (this process: only the sockets it did not have before the run), the GCS's answers to a
    wrong token and to the run's own, and the run's private folder."""
    sockets, machine = listening_sockets(), ray.nodes()[0]["NodeManagerAddress"]
    processes = {os.getpid(): "this process"} | {pid: process_name(pid) for pid in descendants(os.getpid())}
    listening = [(pid, name, sockets[inode][0], where(sockets[inode][1], machine))
                 for pid, name in processes.items() for inode in socket_inodes(pid) - before if inode in sockets]
    gcs, token = ray.get_runtime_context().gcs_address, Path(os.environ["RAY_AUTH_TOKEN_PATH"])
    modes = {path: (stat.S_IMODE(path.stat().st_mode), path.stat().st_uid) for path in (token, token.parent)}
    return {"listening": listening, "processes": processes, "token": token, "modes": modes,
            "ray_folder": Path(ray.get_runtime_context().get_temp_dir()),
            "wrong token": gcs_answer(gcs, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}),
            "the run's token": gcs_answer(gcs, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)})}


def test_a_local_cluster_listens_on_every_interface_only_with_its_token_and_is_gone_after_a_cancelled_run():
    environment, before = dict(os.environ), socket_inodes(os.getpid())
    monitor, seen = Monitor(), {}

    def look_then_cancel(key, pid):  # in this process, as the first part comes back; the second part is running
        seen.update(look_at_the_cluster(before), part_ran_in=pid)
        monitor.cancel()

    jobs = [PartJob("pid", lambda monitor: os.getpid(), ()), PartJob("sleep", lambda monitor: time.sleep(60), ())]
    with use_cluster("local"), pytest.raises(Cancelled):
        run_parts(jobs, monitor, look_then_cancel)
    workers = Counter(pid for pid, name, _, _ in seen["listening"] if name == "worker")  # a starting one: no socket
    assert seen["part_ran_in"] in workers and set(workers.values()) == {1}
    assert not [entry for entry in seen["listening"] if entry[2].startswith("udp")]
    assert Counter((name, place) for _, name, _, place in seen["listening"]) == Counter({  # no dashboard, no metrics
        ("this process", EVERY_INTERFACE): 1, ("gcs_server", EVERY_INTERFACE): 1, ("raylet", EVERY_INTERFACE): 2,
        ("worker", EVERY_INTERFACE): len(workers), ("ray::RuntimeEnvAgent", MACHINE_ADDRESS): 1})
    assert seen["wrong token"] == "AuthenticationError" and seen["the run's token"] == "answered"
    folder = seen["token"].parent
    assert seen["modes"] == {seen["token"]: (0o600, os.getuid()), folder: (0o700, os.getuid())}
    assert seen["ray_folder"].parent == folder
    assert not folder.exists() and not ray.is_initialized() and dict(os.environ) == environment
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in seen["processes"] if pid != os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in seen["processes"] if pid != os.getpid() and running(pid)]
