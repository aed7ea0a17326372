"""Table 1 computed here and on a Ray cluster: wall time of each, the overhead per part, and that the figures agree.

Each run starts from an empty part store (a temporary BLINDSPOT_HOME), so every part is computed. "Ray-local" is a
cluster started on this machine (``--cluster local``: as many workers as cores); ``--address`` points the same run
at a real cluster (every machine needs this package, the same zoo and the cluster extra: pip install
"blindspot-gui[cluster]"). The overhead per part is (cluster wall time x workers - the wall time here) / parts:
the worker time a part costs beyond computing it here (starting workers, importing torch and loading data in each,
shipping the images out and the part back), an upper bound where workers sit idle at the end.
Run: python benchmarks/cluster_overhead.py [--n 1000] [--address local]
"""

import argparse
import contextlib
import os
import tempfile
import time

import ray

from blindspot_gui.core import experiments
from blindspot_gui.core.experiments.backends import local_cluster, use_cluster


def timed_table1(n: int, address: str | None) -> tuple[dict, float]:
    with tempfile.TemporaryDirectory(prefix="blindspot-bench-") as home:
        os.environ["BLINDSPOT_HOME"] = home
        started = time.perf_counter()
        with use_cluster(address):
            result = experiments.table1(n)
        return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--address", default="local")
    args = parser.parse_args()
    here, here_seconds = timed_table1(args.n, None)
    with contextlib.ExitStack() as cluster:  # started before the clock, as a running cluster would be
        if args.address == "local":
            cluster.enter_context(local_cluster())  # the app's own: token authentication on, no dashboard
        else:
            ray.init(address=args.address, log_to_driver=False, configure_logging=False)
            cluster.callback(ray.shutdown)
        workers = int(ray.cluster_resources().get("CPU", 1))
        there, there_seconds = timed_table1(args.n, "auto")
    parts = len(there["rows"])
    same = [(row["distortion"], row["success"]) for row in here["rows"]] == [
        (row["distortion"], row["success"]) for row in there["rows"]]
    print(f"Table 1, n = {args.n}, {parts} parts; {os.cpu_count()} cores here, {workers} CPUs on the cluster")
    print("| run | wall time | overhead per part |")
    print("|---|---|---|")
    print(f"| this process | {here_seconds:.1f} s | — |")
    print(f"| Ray ({args.address}, {workers} workers) | {there_seconds:.1f} s | "
          f"{(there_seconds * workers - here_seconds) / parts:.1f} s |")
    print(f"same figures: {same}")


if __name__ == "__main__":
    main()
