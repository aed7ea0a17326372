"""How long the paper's tables take from scratch: Table 1 and Table 2 at N = 1,000 (targets 2 and 3 minutes).

Each run starts in a fresh, empty experiments folder, so nothing is reused. Table 2 reuses the
attacks of Table 1 when both run in one folder, so it is timed in a folder of its own.
Run: python benchmarks/experiments_speed.py [--n 1000] [--tables table1 table2] [--rule random]
(`--n all` times the full data sets: 60,000 training images for Tables 1-2, 10,000 test images for 3-4).
"""

import argparse
import os
import tempfile
import time

from blindspot_gui.core import experiments
from blindspot_gui.core.experiments import comparison_table, table_as_text

TARGETS = {"table1": 120.0, "table2": 180.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000")
    parser.add_argument("--tables", nargs="*", default=["table1", "table2"])
    parser.add_argument("--rule", default=experiments.DEFAULT_TARGET_RULE)
    args = parser.parse_args()
    n = None if args.n == "all" else int(args.n)
    timings = []
    for name in args.tables:
        with tempfile.TemporaryDirectory() as home:
            os.environ["BLINDSPOT_HOME"] = home
            started = time.perf_counter()
            result = experiments.run_experiment(name, experiments.AttackedTableSettings(n, args.rule))
            seconds = time.perf_counter() - started
        timings.append((name, result["n"], seconds))
        header, rows = table_as_text(comparison_table(result))
        print(f"\n{name}, {result['n']} images, {seconds:.1f} s")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    print("\n| table | images | seconds | target |")
    print("|---|---|---|---|")
    for name, count, seconds in timings:
        target = f"≤ {TARGETS[name]:.0f} s" if name in TARGETS and count == 1000 else "—"
        print(f"| {name} | {count} | {seconds:.1f} | {target} |")


if __name__ == "__main__":
    main()
