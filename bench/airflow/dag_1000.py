#!/usr/bin/env python3
"""Apache Airflow on the same DAG shape as bench/dag_1000.py: the peer measurement.

The DAG: 1 start task, CHAINS chains of CHAIN_LEN tasks hanging off it, FAN_OUT tasks fanning
out from the chain ends (w{k} after the end of chain k % CHAINS), and 1 final task waiting for all
the fan-out tasks. With --tasks 1000 (the default) it is exactly bench/dag_1000.py's DAG: same
task names (start, c{chain}_{j}, w{k}, end) and the same edges. A smaller --tasks N keeps that
shape scaled down (about half the tasks in chains, half in the fan-out; see `shape`).

Every task is a PythonOperator calling a no-op function. EmptyOperator would be the obvious
choice for a "noop", but Airflow never executes EmptyOperator tasks (the scheduler marks them
success without running them), which would hide exactly the per-task overhead we measure.

Two ways to run one DAG run end to end (--mode):

  test       `airflow dags test`: one process parses the DAG, creates a DAG run and runs every
             task in-process, one after the other, in a minimal scheduling loop (no scheduler,
             no executor, no task subprocesses). The fastest way Airflow offers to run a DAG
             once, but not how Airflow runs DAGs in production.
  scheduler  a real `airflow scheduler` with the SequentialExecutor: the scheduler queues each
             ready task and the executor runs `airflow tasks run ...` as a subprocess, one task
             at a time. That is Airflow's own execution path. LocalExecutor (parallel task
             processes) would be the usual choice on one machine, but Airflow refuses it on
             SQLite ("cannot use SQLite with the LocalExecutor": it needs PostgreSQL/MySQL),
             and this benchmark keeps both tools on SQLite. Each task pays a Python interpreter
             start and an Airflow import, so a 1,000-task run takes half an hour or more on a 2-core
             machine: use --tasks N (e.g. 100) and compare per-task figures.

Both modes are sequential: Airflow runs one task at a time here whatever the core count.

It prints (or with --json writes one JSON object to stdout):
  - total wall time: `test`: the whole `airflow dags test` process (start-up and DAG parsing
    included, like the `sluice run` process); `scheduler`: from triggering the DAG run (the
    scheduler already running, the DAG already parsed) until the run is seen finished,
  - per-task lag from Airflow's metadata DB, median and p99: from the moment the task became
    ready (end_date of its latest-finishing upstream task; for the start task, the DAG run's
    start_date) to task_instance.start_date (ready -> running). `airflow dags test` leaves
    start_date empty (it skips the code that sets it), so in `test` mode the lag runs to
    task_instance.end_date instead (ready -> done: for a no-op task, ready -> running plus
    Airflow's own bookkeeping of the task).
    As tasks run one at a time, both include the wait behind other ready tasks (498 fan-out tasks
    become ready at once), like sluice's default max_parallel row.

Run it with the virtualenv that bench/airflow/setup.sh creates, with AIRFLOW_HOME set as
setup.sh sets it:  bench/airflow/setup.sh && .venv-airflow/bin/python bench/airflow/dag_1000.py
"""

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

DAG_ID = "sluice_bench_dag"
# The shape of bench/dag_1000.py at 1,000 tasks.
CHAINS, CHAIN_LEN, FAN_OUT = 20, 25, 498


def shape(n: int):
    """(chains, chain_len, fan_out) for an n-task DAG: 1 start + chains * chain_len + fan_out + 1 end.

    n = 1000 gives bench/dag_1000.py's (20, 25, 498); smaller n scales chain count with sqrt(n)
    and keeps about half the tasks in chains, the rest in the fan-out.
    """
    if n < 5:
        raise ValueError("the DAG needs at least 5 tasks (start, one chain task, two fan-out tasks, end)")
    chains = max(1, round(CHAINS * math.sqrt(n / 1000)))
    chain_len = max(1, round((n - 2) / 2 / chains))
    fan_out = n - 2 - chains * chain_len
    return chains, chain_len, fan_out


def edges(n: int):
    """(task, [upstream tasks]) in topological order: the same names and edges as bench/dag_1000.py."""
    chains, chain_len, fan_out = shape(n)
    yield "start", []
    for c in range(chains):
        for j in range(chain_len):
            yield f"c{c}_{j}", ["start" if j == 0 else f"c{c}_{j - 1}"]
    for k in range(fan_out):
        yield f"w{k}", [f"c{k % chains}_{chain_len - 1}"]
    yield "end", [f"w{k}" for k in range(fan_out)]


def noop():
    """The task body: nothing, so that all that is measured is Airflow's own overhead."""


def build_dag(n: int = 1000):
    """The Airflow DAG of `edges(n)`, every task a PythonOperator calling `noop`."""
    from airflow import DAG
    from airflow.operators.python import PythonOperator

    with DAG(
        dag_id=DAG_ID,
        schedule=None,  # runs only when triggered
        start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
        catchup=False,
        max_active_tasks=n,  # no per-DAG cap below the executor's own (default 16)
        default_args={"retries": 0},
        tags=["sluice-bench"],
    ) as dag:
        ops = {}
        for task_id, upstream in edges(n):
            ops[task_id] = PythonOperator(task_id=task_id, python_callable=noop)
            for u in upstream:
                ops[u] >> ops[task_id]
    return dag


# --- the runner -------------------------------------------------------------------------------

# DAG file written to $AIRFLOW_HOME/dags: it loads this module by path and builds the n-task DAG.
# (The words "airflow" and "DAG" must appear in it for Airflow's DAG discovery to parse it.)
DAG_FILE = '''\
# Generated by bench/airflow/dag_1000.py: the airflow DAG of the sluice benchmark, {n} tasks.
import importlib.util

_spec = importlib.util.spec_from_file_location("sluice_bench_airflow_dag", {module!r})
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
dag = _mod.build_dag({n})
'''


def airflow_env(home: str) -> dict:
    """The environment of every Airflow process: SQLite in AIRFLOW_HOME, no example DAGs."""
    env = dict(os.environ)
    # The SequentialExecutor starts each task as `airflow tasks run ...`, found on PATH.
    venv_bin = os.path.dirname(sys.executable)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env.update({
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(home, "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "SequentialExecutor",  # the only executor Airflow allows on SQLite
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",  # silences a deprecation warning only
    })
    return env


def write_dag_file(home: str, n: int):
    dags = os.path.join(home, "dags")
    os.makedirs(dags, exist_ok=True)
    with open(os.path.join(dags, f"{DAG_ID}.py"), "w") as f:
        f.write(DAG_FILE.format(n=n, module=os.path.abspath(__file__)))


def lags_ms(dag, dag_run, tis, until="start_date"):
    """Lag of each task instance, in ms, from the metadata DB's timestamps: from the moment it
    became ready (end_date of its latest-finishing upstream task; the DAG run's start_date for the
    start task) to its `until` timestamp: start_date (ready -> running) or end_date (ready -> done)."""
    by_id = {ti.task_id: ti for ti in tis}
    out = []
    for ti in tis:
        upstream = dag.get_task(ti.task_id).upstream_task_ids
        ready = max((by_id[u].end_date for u in upstream), default=dag_run.start_date)
        out.append((getattr(ti, until) - ready).total_seconds() * 1000.0)
    return out


def load_run(dag, run_id=None):
    """The DAG run (the given one, else the latest) and its task instances, from the metadata DB."""
    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        q = session.query(DagRun).filter(DagRun.dag_id == DAG_ID)
        dr = (q.filter(DagRun.run_id == run_id) if run_id else q.order_by(DagRun.id.desc())).first()
        tis = session.query(TaskInstance).filter(TaskInstance.dag_id == DAG_ID,
                                                 TaskInstance.run_id == dr.run_id).all()
        session.expunge_all()
    return dr, tis


def clear_previous_runs(home: str):
    """Deletes earlier runs of the benchmark DAG (metadata rows and task logs), so that every
    measurement starts from the same, empty history."""
    import shutil

    from airflow.models import DagRun, TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(TaskInstance).filter(TaskInstance.dag_id == DAG_ID).delete(synchronize_session=False)
        session.query(DagRun).filter(DagRun.dag_id == DAG_ID).delete(synchronize_session=False)
    shutil.rmtree(os.path.join(home, "logs", f"dag_id={DAG_ID}"), ignore_errors=True)


def run_test(home: str, n: int, log):
    """One run with `airflow dags test`; returns the wall time of that process."""
    logical_date = datetime.now(timezone.utc).isoformat()
    t0 = time.perf_counter()
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "airflow"), "dags", "test",
                          DAG_ID, logical_date], env=airflow_env(home), stdout=log, stderr=log)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"airflow dags test failed (exit {out.returncode}); see {log.name}")
    return wall, None


def run_scheduler(home: str, n: int, log):
    """One run under `airflow scheduler` + SequentialExecutor; returns (wall time, run_id)."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.jobs.job import Job
    from airflow.models import DagBag, DagModel, DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    # Put the DAG in the DB (serialized, unpaused) before the scheduler starts, so that the run
    # can be triggered at once and the scheduler's first DAG-file parse is not part of the time.
    DagBag(dag_folder=os.path.join(home, "dags"), include_examples=False).sync_to_db()
    DagModel.get_dagmodel(DAG_ID).set_is_paused(is_paused=False)

    started = datetime.now(timezone.utc)
    # Its own session (process group), so that stopping it also stops its DAG processor and a
    # task subprocess it may be running.
    sched = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "airflow"), "scheduler"],
                             env=airflow_env(home), stdout=log, stderr=log, start_new_session=True)
    try:
        # Wait until the scheduler job heartbeats (it is up and looping).
        deadline = time.monotonic() + 120
        while True:
            if sched.poll() is not None:
                raise RuntimeError(f"airflow scheduler exited ({sched.returncode}); see {log.name}")
            with create_session() as session:
                job = (session.query(Job).filter(Job.job_type == "SchedulerJob", Job.start_date >= started)
                       .order_by(Job.id.desc()).first())
                if job is not None and job.latest_heartbeat > job.start_date:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"airflow scheduler did not start in 120 s; see {log.name}")
            time.sleep(0.5)

        run_id = f"bench__{started.strftime('%Y%m%dT%H%M%S.%f')}"
        t0 = time.perf_counter()
        trigger_dag(DAG_ID, run_id=run_id, execution_date=datetime.now(timezone.utc))
        while True:  # poll the run's state; 0.1 s of polling granularity on a run of minutes
            with create_session() as session:
                state = session.query(DagRun.state).filter(DagRun.dag_id == DAG_ID,
                                                           DagRun.run_id == run_id).scalar()
            if state in (DagRunState.SUCCESS, DagRunState.FAILED):
                break
            if sched.poll() is not None:
                raise RuntimeError(f"airflow scheduler exited ({sched.returncode}); see {log.name}")
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        if state != DagRunState.SUCCESS:
            raise RuntimeError(f"DAG run {run_id} ended {state}; see {log.name}")
        return wall, run_id
    finally:
        stop_group(sched)


def stop_group(proc):
    """Stops the process group that `proc` leads (started with start_new_session), nothing else."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:  # already gone
            pass
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("test", "scheduler"), default="test")
    ap.add_argument("--tasks", type=int, default=1000, help="DAG size (default 1000: bench/dag_1000.py's DAG)")
    ap.add_argument("--repeat", type=int, default=1, help="runs to measure (median reported)")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args()

    home = os.environ.get("AIRFLOW_HOME")
    if not home or not os.path.exists(os.path.join(home, "airflow.db")):
        print("error: AIRFLOW_HOME with a migrated airflow.db needed: run bench/airflow/setup.sh "
              "(it prints the AIRFLOW_HOME to export)", file=sys.stderr)
        return 2
    # Airflow reads its configuration when first imported: the same environment as its processes.
    os.environ.update(airflow_env(home))
    import airflow

    write_dag_file(home, args.tasks)
    dag = build_dag(args.tasks)
    assert len(dag.tasks) == args.tasks, len(dag.tasks)
    runner = run_test if args.mode == "test" else run_scheduler
    # `airflow dags test` runs tasks without recording their start_date (only end_date): there
    # the lag is ready -> done, which for a no-op task is ready -> running plus the task's own
    # bookkeeping (state and XCom writes).
    until, lag_kind = ("start_date", "ready -> running") if args.mode == "scheduler" else ("end_date", "ready -> done")

    walls, lags = [], []
    with tempfile.NamedTemporaryFile("w", dir=home, prefix=f"bench-{args.mode}-", suffix=".log",
                                     delete=False) as log:
        for _ in range(args.repeat):
            clear_previous_runs(home)
            wall, run_id = runner(home, args.tasks, log)
            dr, tis = load_run(dag, run_id)
            assert len(tis) == args.tasks, len(tis)
            bad = [ti.task_id for ti in tis if ti.state != "success"]
            assert not bad, f"tasks not successful: {bad[:5]}"
            walls.append(wall)
            lags.extend(lags_ms(dag, dr, tis, until))
    os.unlink(log.name)  # kept only when a run failed

    chains, chain_len, fan_out = shape(args.tasks)
    result = {
        "airflow_version": airflow.__version__,
        "mode": args.mode,
        "executor": "none (in-process dag.test)" if args.mode == "test" else "SequentialExecutor",
        "tasks": args.tasks,
        "shape": {"chains": chains, "chain_len": chain_len, "fan_out": fan_out},
        "runs": len(walls),
        "wall_s": statistics.median(walls),
        "wall_s_all": walls,
        "lag_ms_median": statistics.median(lags),
        "lag_ms_p99": percentile(lags, 0.99),
        "lag_ms_max": max(lags),
        "lag_kind": lag_kind,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"Airflow {result['airflow_version']}, mode {args.mode} ({result['executor']}), "
              f"{args.tasks} tasks ({chains} chains x {chain_len}, fan-out {fan_out}, fan-in 1), SQLite")
        print(f"  total wall time     {result['wall_s']:.3f} s   ({result['wall_s'] / args.tasks * 1000:.1f} ms per task)")
        print(f"  lag per task        median {result['lag_ms_median']:.1f} ms   p99 {result['lag_ms_p99']:.1f} ms   "
              f"max {result['lag_ms_max']:.1f} ms   ({lag_kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
