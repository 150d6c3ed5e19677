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

Usage: bench/dag_1000.py [--sluice target/release/sluice] [--repeat 5] [--airflow [--airflow-tasks 100]]

--airflow (opt-in) also measures Apache Airflow, the peer, on the same DAG shape
(bench/airflow/: setup.sh installs it into .venv-airflow, dag_1000.py builds and runs the DAG with
PythonOperator no-op tasks) and prints Airflow's wall time and per-task lag and the ratio of
Airflow's wall time to sluice's. Two ways to run it, both one task at a time on SQLite:
`airflow dags test` on the full 1,000-task DAG, and a real `airflow scheduler` with the
SequentialExecutor (LocalExecutor refuses SQLite) on a smaller DAG of the same shape
(--airflow-tasks, default 100: each task costs about 2 s, 1,000 would take over half an hour), compared
with sluice on that same smaller DAG. See bench/airflow/dag_1000.py.

For scale (from ../shared/reference/anchors.md): Airflow 2 needs 11–14 s of scheduling lag for
1,000 tasks and about 2.9 s per task on a 40-task chain; Windmill about 50 ms per task.
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHAINS, CHAIN_LEN, FAN_OUT = 20, 25, 498


def pipeline_yaml(max_parallel, shape=(CHAINS, CHAIN_LEN, FAN_OUT), name="dag_1000") -> str:
    chains, chain_len, fan_out = shape
    lines = [f"name: {name}"]
    if max_parallel:
        lines.append(f"max_parallel: {max_parallel}")
    lines += ["tasks:", "  start: { op: noop }"]
    for c in range(chains):
        for j in range(chain_len):
            after = "start" if j == 0 else f"c{c}_{j - 1}"
            lines.append(f"  c{c}_{j}: {{ op: noop, after: {after} }}")
    for k in range(fan_out):
        lines.append(f"  w{k}: {{ op: noop, after: c{k % chains}_{chain_len - 1} }}")
    fan_in = ", ".join(f"w{k}" for k in range(fan_out))
    lines.append(f"  end: {{ op: noop, after: [{fan_in}] }}")
    return "\n".join(lines) + "\n"


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def measure(sluice, max_parallel, repeat, shape=(CHAINS, CHAIN_LEN, FAN_OUT), lineage=False):
    n = 2 + shape[0] * shape[1] + shape[2]  # 1,000 with the default shape
    name = "dag_1000" if n == 1000 else f"dag_{n}"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(pipeline_yaml(max_parallel, shape, name))
        env = {k: v for k, v in os.environ.items()
               if k not in ("SLUICE_HOME", "SLUICE_STATE") and not k.startswith("OPENLINEAGE_")}
        if lineage:
            # OpenLineage events of every run and task to a local NDJSON file.
            config = os.path.join(tmp, "openlineage.yml")
            with open(config, "w") as f:
                f.write(f"transport:\n  type: file\n  path: {os.path.join(tmp, 'lineage.ndjson')}\n")
            env["OPENLINEAGE_CONFIG"] = config
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
            assert len(summary["tasks"]) == n, len(summary["tasks"])
            assert summary["state"] == "succeeded", summary["state"]
            show = subprocess.run([sluice, "show", summary["run_id"], "--json"], env=env, cwd=tmp,
                                  capture_output=True, text=True, check=True)
            attempts = json.loads(show.stdout)["attempts"]
            assert len(attempts) == n, len(attempts)
            if i == 0:
                continue
            walls.append(wall)
            overheads.extend((a["started_at"] - a["ready_at"]) / 1000.0 for a in attempts)
        return walls, overheads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sluice", default="target/release/sluice")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--airflow", action="store_true",
                    help="also measure Apache Airflow on the same DAG shape (installs it into .venv-airflow)")
    ap.add_argument("--airflow-tasks", type=int, default=100, metavar="N",
                    help="DAG size for Airflow's scheduler + SequentialExecutor run (default 100)")
    args = ap.parse_args()
    sluice = os.path.abspath(args.sluice)
    if not os.path.exists(sluice):
        print(f"error: {sluice} not found; build it with `cargo build --release -p sluice`", file=sys.stderr)
        return 2

    print(f"sluice 1,000-task noop DAG ({CHAINS} chains x {CHAIN_LEN}, fan-out {FAN_OUT}, fan-in 1), "
          f"state in SQLite, {os.cpu_count()} cores, median of {args.repeat} runs after 1 warm-up")
    default_walls = None  # sluice's wall times with the default max_parallel, for the Airflow ratio
    for label, max_parallel in ((f"max_parallel = cores ({os.cpu_count()})", None), ("max_parallel = 1000", 1000)):
        walls, overheads = measure(sluice, max_parallel, args.repeat)
        if walls is None:
            return 1
        default_walls = default_walls or walls
        print(f"  {label}")
        print(f"    total wall time     {statistics.median(walls):.3f} s   (min {min(walls):.3f}, max {max(walls):.3f})")
        print(f"    overhead per task   median {statistics.median(overheads):.3f} ms   "
              f"p99 {percentile(overheads, 0.99):.3f} ms   max {max(overheads):.3f} ms   (ready -> running)")
    # Lineage: the same DAG with OpenLineage events (2 per task, 2 per run) to a file, against
    # the same DAG without, measured alternately in this run.
    plain, traced = [], []
    for _ in range(args.repeat):
        for walls, lineage in ((plain, False), (traced, True)):
            w, _ = measure(sluice, None, 1, lineage=lineage)
            if w is None:
                return 1
            walls.extend(w)
    without, with_ = statistics.median(plain), statistics.median(traced)
    print(f"  lineage to a local file (OpenLineage events, {args.repeat} runs each, alternated)")
    print(f"    without {without:.3f} s   with {with_:.3f} s   overhead {100 * (with_ / without - 1):+.1f} %")
    print("  for scale: Airflow 2 needs 11-14 s of scheduling lag for 1,000 tasks (published figure, not run here)")
    if args.airflow:
        return measure_airflow(sluice, args, statistics.median(default_walls))
    return 0


# --- Apache Airflow, the peer (opt-in: --airflow) ---------------------------------------------

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)


def airflow_runner_module():
    """bench/airflow/dag_1000.py, loaded by path: its `shape()` scales the DAG down for Airflow.
    (It imports Airflow only inside functions, so this interpreter needs no Airflow.)"""
    spec = importlib.util.spec_from_file_location("airflow_bench", os.path.join(BENCH, "airflow", "dag_1000.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_airflow(home, mode, tasks):
    """One measurement by bench/airflow/dag_1000.py in the Airflow virtualenv: its JSON result."""
    python = os.path.join(ROOT, ".venv-airflow", "bin", "python")
    out = subprocess.run([python, os.path.join(BENCH, "airflow", "dag_1000.py"), "--mode", mode,
                          "--tasks", str(tasks), "--json"],
                         env={**os.environ, "AIRFLOW_HOME": home}, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stdout, out.stderr[-5000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_airflow(r, label):
    per_task = r["wall_s"] / r["tasks"] * 1000
    print(f"    {label}")
    print(f"      total wall time     {r['wall_s']:.3f} s   ({per_task:.1f} ms per task)")
    print(f"      lag per task        median {r['lag_ms_median']:.1f} ms   p99 {r['lag_ms_p99']:.1f} ms   "
          f"max {r['lag_ms_max']:.1f} ms   ({r['lag_kind']})")


def measure_airflow(sluice, args, sluice_wall):
    """Sets Airflow up, runs the DAG with `airflow dags test` (1,000 tasks) and with a scheduler +
    SequentialExecutor (--airflow-tasks tasks, and sluice on that same smaller DAG), prints it all."""
    t0 = time.perf_counter()
    setup = subprocess.run([os.path.join(BENCH, "airflow", "setup.sh")], capture_output=True, text=True)
    setup_s = time.perf_counter() - t0
    if setup.returncode != 0:
        print(setup.stdout, setup.stderr, file=sys.stderr)
        return 1
    home = setup.stdout.strip().splitlines()[-1].split("=", 1)[1]
    installed = "installed" if "installing" in setup.stderr else "already installed"

    t0 = time.perf_counter()
    test = run_airflow(home, "test", 1000)
    if test is None:
        return 1
    mod = airflow_runner_module()
    n = args.airflow_tasks
    sched = run_airflow(home, "scheduler", n)
    if sched is None:
        return 1
    airflow_s = time.perf_counter() - t0
    # sluice on the scheduler run's smaller DAG, default max_parallel, for a same-shape ratio.
    small_walls, _ = measure(sluice, None, args.repeat, mod.shape(n))
    if small_walls is None:
        return 1
    sluice_small = statistics.median(small_walls)

    chains, chain_len, fan_out = mod.shape(n)
    print(f"  Airflow {test['airflow_version']} on the same DAG (PythonOperator no-op tasks), SQLite, 1 run each, "
          f"tasks one at a time (whatever the {os.cpu_count()} cores); setup {setup_s:.1f} s ({installed}), "
          f"Airflow runs {airflow_s:.0f} s")
    print_airflow(test, "`airflow dags test` (in-process, no scheduler or executor), 1,000 tasks, whole process")
    print_airflow(sched, f"`airflow scheduler` + SequentialExecutor (a task process per task), {n} tasks "
                         f"({chains} chains x {chain_len}, fan-out {fan_out}: the same shape scaled down), "
                         f"trigger -> run finished")
    print(f"      sluice, same {n}-task DAG: total wall time {sluice_small:.3f} s "
          f"({sluice_small / n * 1000:.1f} ms per task; max_parallel = cores, median of {args.repeat} runs)")
    print(f"  ratio Airflow / sluice (total wall time): dags test {test['wall_s'] / sluice_wall:.0f}x (1,000 tasks);  "
          f"scheduler + SequentialExecutor {sched['wall_s'] / sluice_small:.0f}x ({n} tasks, same shape both sides)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
