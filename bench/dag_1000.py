#!/usr/bin/env python3
"""Scheduling overhead of sluice on a 1,000-task DAG of `noop` tasks.

Generates a DAG with chains, fan-out and fan-in (1 start task, 20 chains of 25 tasks,
498 tasks fanning out from the chain ends, 1 final task waiting for all of them), runs it with
`sluice run --force` (state in SQLite), and prints:

  - total wall time of the `sluice run` process (start-up, validation and store included),
  - median and p99 scheduling overhead per task: from the moment a task became ready (its last
    upstream task finished) to the moment its attempt started, as recorded in the state store.

It measures twice: with the default `max_parallel` (one slot per core: 498 tasks ready at
once wait for a slot, so ready -> running includes that queueing) and with `max_parallel: 1000`
(no task ever waits for a slot: ready -> running is the scheduler's own overhead).

Usage: bench/dag_1000.py [--sluice target/release/sluice] [--repeat 5]
For scale (from ../shared/reference/anchors.md): Airflow 2 needs 11–14 s of scheduling lag for
1,000 tasks and about 2.9 s per task on a 40-task chain; Windmill about 50 ms per task.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHAINS, CHAIN_LEN, FAN_OUT = 20, 25, 498


def pipeline_yaml(max_parallel) -> str:
    lines = ["name: dag_1000"]
    if max_parallel:
        lines.append(f"max_parallel: {max_parallel}")
    lines += ["tasks:", "  start: { op: noop }"]
    for c in range(CHAINS):
        for j in range(CHAIN_LEN):
            after = "start" if j == 0 else f"c{c}_{j - 1}"
            lines.append(f"  c{c}_{j}: {{ op: noop, after: {after} }}")
    for k in range(FAN_OUT):
        lines.append(f"  w{k}: {{ op: noop, after: c{k % CHAINS}_{CHAIN_LEN - 1} }}")
    fan_in = ", ".join(f"w{k}" for k in range(FAN_OUT))
    lines.append(f"  end: {{ op: noop, after: [{fan_in}] }}")
    return "\n".join(lines) + "\n"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(sluice, max_parallel, repeat):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dag_1000.yaml")
        with open(path, "w") as f:
            f.write(pipeline_yaml(max_parallel))
        env = {k: v for k, v in os.environ.items() if k not in ("SLUICE_HOME", "SLUICE_STATE")}
        walls, overheads = [], []
        for i in range(repeat + 1):  # the first run warms the page cache and creates the store
            t0 = time.perf_counter()
            out = subprocess.run([sluice, "run", path, "--force", "--json"], env=env, cwd=tmp,
                                 capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if out.returncode != 0:
                print(out.stdout, out.stderr, file=sys.stderr)
                return None, None
            summary = json.loads(out.stdout)
            assert len(summary["tasks"]) == 1000, len(summary["tasks"])
            assert summary["state"] == "succeeded", summary["state"]
            show = subprocess.run([sluice, "show", summary["run_id"], "--json"], env=env, cwd=tmp,
                                  capture_output=True, text=True, check=True)
            attempts = json.loads(show.stdout)["attempts"]
            assert len(attempts) == 1000, len(attempts)
            if i == 0:
                continue
            walls.append(wall)
            overheads.extend((a["started_at"] - a["ready_at"]) / 1000.0 for a in attempts)
        return walls, overheads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", default="target/release/sluice")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sluice = os.path.abspath(args.sluice)
    if not os.path.exists(sluice):
        print(f"error: {sluice} not found; build it with `cargo build --release -p sluice`", file=sys.stderr)
        return 2

    print(f"sluice 1,000-task noop DAG ({CHAINS} chains x {CHAIN_LEN}, fan-out {FAN_OUT}, fan-in 1), "
          f"state in SQLite, {os.cpu_count()} cores, median of {args.repeat} runs after 1 warm-up")
    for label, max_parallel in ((f"max_parallel = cores ({os.cpu_count()})", None), ("max_parallel = 1000", 1000)):
        walls, overheads = measure(sluice, max_parallel, args.repeat)
        if walls is None:
            return 1
        print(f"  {label}")
        print(f"    total wall time     {statistics.median(walls):.3f} s   (min {min(walls):.3f}, max {max(walls):.3f})")
        print(f"    overhead per task   median {statistics.median(overheads):.3f} ms   "
              f"p99 {percentile(overheads, 0.99):.3f} ms   max {max(overheads):.3f} ms   (ready -> running)")
    print("  for scale: Airflow 2 needs 11-14 s of scheduling lag for 1,000 tasks (published figure, not run here)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
