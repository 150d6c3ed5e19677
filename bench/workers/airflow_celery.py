#!/usr/bin/env python3
"""Apache Airflow with the CeleryExecutor: the peer of sluice's pool of workers.

    python3 bench/workers/airflow_celery.py --shape wide|chain --tasks 200 --workers N \\
        [--concurrency 4] [--pg-url URL] [--idle-sleep S] [--keep]

or from Python: `run_peer(shape, tasks, workers, concurrency=4, pg_url=None)` returns the figures
as a dict. Standard library only: Airflow runs from its own virtualenv, .venv-airflow, through
its CLI (and that virtualenv's python with psycopg2 reads the metadata DB).

What one call does:
  1. bench/workers/airflow_setup.sh: the pinned Airflow (bench/airflow/requirements.txt) plus the
     Celery provider, Celery, redis and psycopg2 (bench/workers/airflow_requirements.txt) in
     .venv-airflow. Idempotent, a few seconds once installed.
  2. a Redis server (Debian's `redis-server`, exit 3 with the apt-get hint when missing) on a free
     loopback port, no persistence: the Celery broker.
  3. a PostgreSQL: a fresh database on --pg-url's server (created, dropped at the end), else a
     throwaway server from scripts/postgres.sh. It is Airflow's metadata DB
     (postgresql+psycopg2://) and Celery's result backend (db+postgresql://).
  4. a fresh AIRFLOW_HOME in a temporary folder (bench/airflow's SQLite setup is not touched),
     `airflow db migrate`, the DAG file, then `airflow scheduler` and N
     `airflow celery worker --concurrency C` processes; it waits until the scheduler heartbeats,
     the DAG is parsed and unpaused and every worker has logged "ready.".
  5. `airflow dags trigger` of one DAG run; waits (polling the dag_run row every 0.1 s) until
     it ends; reads the run's rows of dag_run and task_instance.
  6. stops everything it started (workers, scheduler, their task processes, Redis, PostgreSQL
     or the database it created), also on failure or Ctrl-C.

DAG shapes (the same as sluice's side of bench/workers/bench.py), every task a BashOperator
running `true` (BashOperator, not EmptyOperator: Airflow never executes EmptyOperator tasks):
  wide   --tasks independent tasks.
  chain  --tasks tasks in layers of 10: task i waits for task i-10 (10 chains side by side).

Figures (the last line of stdout is one JSON object):
  wall_s             the DAG run's end_date - start_date (dag_run row: from the scheduler
                     starting the run to the scheduler marking it done).
  trigger_to_end_s   from launching `airflow dags trigger` to this script seeing the run done
                     (adds the CLI's start-up, a few seconds of Python imports, and the queued
                     -> running step of the DAG run).
  queued_to_end_s    the dag_run's queued_at (the trigger's insert) to its end_date.
  tasks_span_s       first task start_date to last task end_date.
  tasks_per_s        tasks / wall_s.
  latency_ms         per task, start_date - queued_dttm: from the scheduler handing the task to
                     Celery (queued) to the task process marking it running on a worker:
                     p50, p95, max. For `wide` every task is queued in the first scheduler
                     loops, so this includes waiting for a free worker slot (throughput bound).
  sched_lag_ms       per task, start_date - the moment it became ready: the latest end_date of
                     its upstream tasks (chain), or the DAG run's start_date for tasks with no
                     upstream (all of `wide`, the first layer of `chain`). p50, p95, max.
  tasks_per_worker   Celery tasks each worker received (counted in its log).
  loadavg_before/after  /proc/loadavg around the run (the 1-minute figure still carries the
                     previous run when runs follow each other).

Airflow settings this script changes, and why (everything else is Airflow's default):
  core.executor = CeleryExecutor                  the peer under test.
  core.parallelism = max(tasks, 32)               default 32: no global cap below the DAG size.
  core.max_active_tasks_per_dag = max(tasks, 16)  default 16 (and the DAG's max_active_tasks =
                                                  tasks): no per-DAG cap below the DAG size.
  core.default_pool_task_slot_count =             default 128 slots in default_pool, read when
      max(tasks, 128)                             `db migrate` creates the pool: no pool cap.
  scheduler.max_tis_per_query = 0                 default 16 task instances queued per scheduler
                                                  loop; 0 = up to core.parallelism, so all ready
                                                  tasks are queued in one loop.
  scheduler.min_file_process_interval = 600       default 30 s: the unchanged DAG file is not
                                                  re-parsed during the run (CPU taken from the
                                                  workers on a small machine). Likewise
  scheduler.dag_dir_list_interval = 600           (default 300) and
  scheduler.parsing_processes = 1                 (default 2): there is one DAG file.
  scheduler.task_queued_timeout = 3600            default 600 s: a task long in Celery's queue
                                                  behind a few worker slots is not failed.
  scheduler.scheduler_heartbeat_sec = 5           the default, kept and written out because it
                                                  is often mistaken for the loop period: it is
                                                  only how often the scheduler job records it is
                                                  alive, it does not delay scheduling.
  scheduler.scheduler_idle_sleep_time             the default (1 s) unless --idle-sleep: how long
                                                  the scheduler loop sleeps after a loop that
                                                  queued nothing and saw no task finish. It
                                                  bounds how late a finished task's successor is
                                                  queued, so it shows in chain's sched_lag_ms.
  core.load_examples = False, core.dags_are_paused_at_creation = False (and the DAG's
  is_paused_upon_creation=False), schedule=None, catchup=False: no example DAGs, the DAG runs
  only when triggered, at once.
  Workers: `airflow celery worker --concurrency C --celery-hostname wK --skip-serve-logs
  --pid ...`: a distinct Celery node name and pid file per worker, and no task-log HTTP
  server (each worker would bind the same port 8793). Celery's other worker options are
  Airflow's defaults (prefork pool, prefetch multiplier 1, tasks run in a fork of the pool
  process, [celery] sync_parallelism for reading results).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib  # noqa: E402  (bench/benchlib.py: throwaway PostgreSQL, percentiles)

VENV = os.path.join(REPO, ".venv-airflow")
VENV_BIN = os.path.join(VENV, "bin")
VENV_PY = os.path.join(VENV_BIN, "python")
AIRFLOW = os.path.join(VENV_BIN, "airflow")
SETUP_SH = os.path.join(HERE, "airflow_setup.sh")
REDIS_HINT = "apt-get install -y redis-server"
CHAIN_WIDTH = 10  # chain: task i waits for task i - CHAIN_WIDTH


class MissingRedis(Exception):
    pass


def log(msg):
    print("airflow_celery: " + msg, file=sys.stderr, flush=True)


# --- the DAG ----------------------------------------------------------------------------------

DAG_FILE = '''\
# Generated by bench/workers/airflow_celery.py: {shape}, {n} BashOperator tasks running `true`.
from datetime import datetime, timezone

from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG(
    dag_id={dag_id!r},
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_tasks={n},
    max_active_runs=1,
    default_args={{"retries": 0}},
    tags=["sluice-bench"],
) as dag:
    tasks = [BashOperator(task_id="t%04d" % i, bash_command="true") for i in range({n})]
    if {shape!r} == "chain":
        for i in range({width}, {n}):
            tasks[i - {width}] >> tasks[i]
'''


def upstream_of(shape, i):
    """Index of task i's upstream task, or None."""
    return i - CHAIN_WIDTH if shape == "chain" and i >= CHAIN_WIDTH else None


# --- metadata DB access, through .venv-airflow's python and psycopg2 ---------------------------

DB_HELPER = r'''
import json, sys, time
import psycopg2
mode, dsn = sys.argv[1], sys.argv[2]
conn = psycopg2.connect(dsn)
conn.autocommit = True
cur = conn.cursor()
if mode == "create_db":
    cur.execute('CREATE DATABASE "%s"' % sys.argv[3])
elif mode == "drop_db":
    cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % sys.argv[3])
elif mode == "ready":
    dag_id, deadline = sys.argv[3], time.time() + float(sys.argv[4])
    while True:
        cur.execute("SELECT d.is_paused, (SELECT count(*) FROM serialized_dag s WHERE s.dag_id = d.dag_id)"
                    " FROM dag d WHERE d.dag_id = %s", (dag_id,))
        dag = cur.fetchone()
        cur.execute("SELECT count(*) FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'"
                    " AND latest_heartbeat > start_date")
        sched = cur.fetchone()[0]
        if dag and dag[0] is False and dag[1] and sched:
            print("ready", flush=True)
            break
        if time.time() > deadline:
            print("timeout: dag row %r, running scheduler jobs %d" % (dag, sched), flush=True)
            sys.exit(1)
        time.sleep(0.25)
elif mode == "wait":
    dag_id, run_id, deadline = sys.argv[3], sys.argv[4], time.time() + float(sys.argv[5])
    print("polling", flush=True)
    while True:
        cur.execute("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        row = cur.fetchone()
        if row and row[0] in ("success", "failed"):
            seen = time.time()
            break
        if time.time() > deadline:
            print(json.dumps({"timeout": True, "state": row and row[0]}), flush=True)
            sys.exit(1)
        time.sleep(0.1)
    ep = lambda c: "extract(epoch from %s)" % c
    cur.execute("SELECT state, %s, %s, %s FROM dag_run WHERE dag_id = %%s AND run_id = %%s"
                % (ep("queued_at"), ep("start_date"), ep("end_date")), (dag_id, run_id))
    state, queued_at, start, end = cur.fetchone()
    cur.execute("SELECT task_id, state, %s, %s, %s, hostname FROM task_instance"
                " WHERE dag_id = %%s AND run_id = %%s ORDER BY task_id"
                % (ep("queued_dttm"), ep("start_date"), ep("end_date")), (dag_id, run_id))
    tis = [[r[0], r[1]] + [None if v is None else float(v) for v in r[2:5]] + [r[5]]
           for r in cur.fetchall()]
    f = lambda v: None if v is None else float(v)
    print(json.dumps({"seen_end": seen, "state": state, "queued_at": f(queued_at),
                      "start": f(start), "end": f(end), "tis": tis}), flush=True)
'''


def db_helper(*args, **kw):
    """Runs DB_HELPER in .venv-airflow's python; a Popen when kw['popen'], else its stdout."""
    cmd = [VENV_PY, "-c", DB_HELPER] + [str(a) for a in args]
    if kw.get("popen"):
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cp = subprocess.run(cmd, capture_output=True, text=True)
    if cp.returncode != 0:
        raise RuntimeError("DB helper %s failed (exit %d): %s%s"
                           % (args[0], cp.returncode, cp.stdout[-2000:], cp.stderr[-2000:]))
    return cp.stdout


def with_db(url, db):
    """The postgres:// URL with its database name replaced by db."""
    head, _, tail = url.rpartition("/")
    query = "?" + tail.split("?", 1)[1] if "?" in tail else ""
    return "%s/%s%s" % (head, db, query)


def sqlalchemy_url(url, scheme):
    """postgres://... or postgresql://... with another scheme (postgresql+psycopg2, db+postgresql)."""
    return scheme + "://" + url.split("://", 1)[1]


# --- processes --------------------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def descendants(pid):
    """Every live descendant of pid (from /proc), deepest last."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def stop(proc, name, grace=30):
    """Stops proc (started with start_new_session=True), its process group and its descendants
    (Airflow's task processes put themselves in process groups of their own): SIGTERM, then
    SIGKILL for whatever is left after `grace` seconds."""
    if proc is None:
        return
    kids = descendants(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is None or sig == signal.SIGKILL:
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        for k in kids:
            try:
                os.kill(k, sig)
            except ProcessLookupError:
                pass
        if sig == signal.SIGKILL:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log("%s did not stop in %d s after SIGTERM: SIGKILL" % (name, grace))
            continue
        # wait a little for the descendants too before the SIGKILL sweep
        end = time.monotonic() + 5
        while time.monotonic() < end and any(os.path.exists("/proc/%d" % k) for k in kids):
            time.sleep(0.1)
        kids = [k for k in kids if os.path.exists("/proc/%d" % k)]
        if not kids:
            break
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log("%s (pid %d) still there after SIGKILL" % (name, proc.pid))


def start_redis(folder):
    """redis-server on a free loopback port, no persistence; (process, redis:// URL)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise MissingRedis()
    port = free_port()
    out = open(os.path.join(folder, "redis.log"), "wb")
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--daemonize", "no", "--dir", folder],
                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc, "redis-server")
            raise RuntimeError("redis-server did not start; see %s" % out.name)
        time.sleep(0.1)
    return proc, "redis://127.0.0.1:%d/0" % port


def airflow_env(home, tasks, broker, pg_url, idle_sleep):
    env = dict(os.environ)
    env["PATH"] = VENV_BIN + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONPATH", None)
    cfg = {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(home, "dags"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(pg_url, "postgresql+psycopg2"),
        "AIRFLOW__CELERY__BROKER_URL": broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": sqlalchemy_url(pg_url, "db+postgresql"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": str(max(tasks, 32)),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(max(tasks, 16)),
        "AIRFLOW__CORE__DEFAULT_POOL_TASK_SLOT_COUNT": str(max(tasks, 128)),
        "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "0",
        "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "600",
        "AIRFLOW__SCHEDULER__PARSING_PROCESSES": "1",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "3600",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "5",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY": "True",  # silences a deprecation warning only
        "AIRFLOW__WEBSERVER__SECRET_KEY": uuid.uuid4().hex,  # shared by all processes of the run
    }
    if idle_sleep is not None:
        cfg["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = str(idle_sleep)
    for k in list(env):
        if k.startswith("AIRFLOW__") or k == "AIRFLOW_CONFIG":
            del env[k]
    env.update(cfg)
    return env


def tail_file(path, n=30):
    try:
        return "\n".join(benchlib.tail(path, n))
    except OSError:
        return "(no %s)" % path


def percentiles(values):
    if not values:
        return None
    return {"p50": round(benchlib.pct(values, 50), 1), "p95": round(benchlib.pct(values, 95), 1),
            "max": round(max(values), 1)}


# --- one measurement ----------------------------------------------------------------------------

def run_peer(shape, tasks, workers, concurrency=4, pg_url=None, idle_sleep=None, keep=False,
             timeout=1800.0):
    """One DAG run of `shape` with `tasks` tasks on `workers` Celery workers of `concurrency`
    slots each; returns the figures (see the module's docstring). Raises MissingRedis when
    redis-server is not installed, RuntimeError on any other failure."""
    if shape not in ("wide", "chain"):
        raise ValueError("shape must be wide or chain")
    if shutil.which("redis-server") is None:
        raise MissingRedis()
    cp = subprocess.run([SETUP_SH], capture_output=True, text=True)
    if cp.returncode != 0:
        raise RuntimeError("%s failed (exit %d):\n%s" % (SETUP_SH, cp.returncode, (cp.stderr + cp.stdout)[-3000:]))
    version = subprocess.run([VENV_PY, "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
                             capture_output=True, text=True, check=True).stdout.strip()

    tmp = tempfile.mkdtemp(prefix="airflow-celery-")
    home = os.path.join(tmp, "airflow-home")
    os.makedirs(os.path.join(home, "dags"))
    dag_id = "sluice_workers_%s_%d" % (shape, tasks)
    run_id = "bench_%s" % uuid.uuid4().hex[:12]
    procs = []  # (name, Popen), stopped in reverse order
    pgdir = created_db = None
    ok = False
    load_before = os.getloadavg()
    try:
        if pg_url:
            created_db = "airflow_celery_%s" % uuid.uuid4().hex[:10]
            db_helper("create_db", pg_url, created_db)
            url = with_db(pg_url, created_db)
        else:
            pgdir = os.path.join(tmp, "pg")
            url = benchlib.start_postgres(pgdir)
        log("PostgreSQL %s" % url)
        redis, broker = start_redis(tmp)
        procs.append(("redis-server", redis))
        log("Redis %s" % broker)

        env = airflow_env(home, tasks, broker, url, idle_sleep)
        with open(os.path.join(home, "dags", dag_id + ".py"), "w") as f:
            f.write(DAG_FILE.format(shape=shape, n=tasks, dag_id=dag_id, width=CHAIN_WIDTH))

        t = time.monotonic()
        mlog = os.path.join(tmp, "db-migrate.log")
        with open(mlog, "wb") as out:
            if subprocess.run([AIRFLOW, "db", "migrate"], env=env, stdout=out, stderr=subprocess.STDOUT).returncode:
                raise RuntimeError("airflow db migrate failed:\n" + tail_file(mlog))
        log("airflow db migrate: %.1f s" % (time.monotonic() - t))

        def spawn(name, args):
            out = open(os.path.join(tmp, name + ".log"), "wb")
            p = subprocess.Popen([AIRFLOW] + args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, cwd=tmp)
            procs.append((name, p))
            return p

        t = time.monotonic()
        spawn("scheduler", ["scheduler"])
        for k in range(1, workers + 1):
            spawn("worker%d" % k, ["celery", "worker", "--concurrency", str(concurrency),
                                   "--celery-hostname", "w%d" % k, "--skip-serve-logs",
                                   "--pid", os.path.join(tmp, "worker%d.pid" % k)])

        def check_alive():
            for name, p in procs:
                if p.poll() is not None and not (name == "trigger" and p.returncode == 0):
                    raise RuntimeError("%s exited (%s):\n%s" % (name, p.returncode,
                                                                tail_file(os.path.join(tmp, name + ".log"))))

        # The scheduler heartbeats and has parsed the DAG (unpaused), every worker says "ready."
        ready = db_helper("ready", url, dag_id, 300, popen=True)
        deadline = time.monotonic() + 300
        pending = {"worker%d" % k for k in range(1, workers + 1)}
        while pending or ready.poll() is None:
            check_alive()
            for name in list(pending):
                with open(os.path.join(tmp, name + ".log"), "rb") as f:
                    if b" ready." in f.read():
                        pending.discard(name)
            if time.monotonic() > deadline:
                raise RuntimeError("not ready in 300 s: workers not ready %s" % sorted(pending))
            time.sleep(0.25)
        if ready.returncode != 0:
            raise RuntimeError("scheduler/DAG not ready: %s %s" % (ready.stdout.read(), ready.stderr.read()))
        log("scheduler and %d workers ready: %.1f s" % (workers, time.monotonic() - t))

        # Trigger one run, timed from launching the CLI to the helper seeing the run done.
        waiter = db_helper("wait", url, dag_id, run_id, timeout, popen=True)
        if waiter.stdout.readline().strip() != "polling":
            raise RuntimeError("DB poller did not start: %s" % waiter.stderr.read())
        t_trigger = time.time()
        tlog = os.path.join(tmp, "trigger.log")
        with open(tlog, "wb") as out:
            trig = subprocess.Popen([AIRFLOW, "dags", "trigger", dag_id, "-r", run_id], env=env,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(("trigger", trig))
            while waiter.poll() is None:
                if trig.poll() not in (None, 0):
                    raise RuntimeError("airflow dags trigger failed:\n" + tail_file(tlog))
                check_alive()
                time.sleep(0.2)
        out_text, err_text = waiter.communicate()
        if waiter.returncode != 0:
            raise RuntimeError("waiting for the DAG run failed: %s %s" % (out_text[-2000:], err_text[-2000:]))
        res = json.loads(out_text.strip().splitlines()[-1])
        load_after = os.getloadavg()
        if res["state"] != "success":
            bad = [ti for ti in res["tis"] if ti[1] != "success"][:5]
            raise RuntimeError("DAG run ended %s; first unsuccessful tasks: %s" % (res["state"], bad))

        tis = {ti[0]: ti for ti in res["tis"]}  # task_id -> [id, state, queued, start, end, host]
        if len(tis) != tasks:
            raise RuntimeError("%d task instances, expected %d" % (len(tis), tasks))
        latency, lag = [], []
        for i in range(tasks):
            _, _, queued, start, end, _ = tis["t%04d" % i]
            latency.append((start - queued) * 1000.0)
            up = upstream_of(shape, i)
            ready_at = tis["t%04d" % up][4] if up is not None else res["start"]
            lag.append((start - ready_at) * 1000.0)
        wall = res["end"] - res["start"]
        starts = [ti[3] for ti in tis.values()]
        ends = [ti[4] for ti in tis.values()]
        per_worker = []  # Celery tasks each worker received (from its log), to show the spread
        for k in range(1, workers + 1):
            with open(os.path.join(tmp, "worker%d.log" % k), "rb") as f:
                per_worker.append(f.read().count(b"] received"))
        ok = True
        return {
            "peer": "airflow-celery",
            "airflow": version,
            "shape": shape,
            "tasks": tasks,
            "workers": workers,
            "concurrency": concurrency,
            "scheduler_idle_sleep_s": idle_sleep if idle_sleep is not None else 1.0,
            "wall_s": round(wall, 3),
            "trigger_to_end_s": round(res["seen_end"] - t_trigger, 3),
            "queued_to_end_s": round(res["end"] - res["queued_at"], 3),
            "tasks_span_s": round(max(ends) - min(starts), 3),
            "tasks_per_s": round(tasks / wall, 2),
            "latency_ms": percentiles(latency),
            "sched_lag_ms": percentiles(lag),
            "tasks_per_worker": per_worker,
            "cpus": os.cpu_count(),
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after],
        }
    finally:
        for name, p in reversed(procs):
            stop(p, name)
        if created_db:
            try:
                db_helper("drop_db", pg_url, created_db)
            except RuntimeError as e:
                log(str(e))
        if pgdir:
            benchlib.stop_postgres(pgdir)
        if keep or not ok:
            log("work folder kept (logs, AIRFLOW_HOME): %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=("wide", "chain"), required=True)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--workers", type=int, required=True, help="airflow celery worker processes")
    ap.add_argument("--concurrency", type=int, default=4, help="task slots per worker (default 4)")
    ap.add_argument("--pg-url", help="postgres:// URL of a server to create a throwaway database on "
                    "(default: a throwaway server from scripts/postgres.sh)")
    ap.add_argument("--idle-sleep", type=float, help="[scheduler] scheduler_idle_sleep_time in s "
                    "(default: Airflow's, 1 s)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the DAG run")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, AIRFLOW_HOME)")
    args = ap.parse_args()
    if args.tasks < 1 or args.workers < 1 or args.concurrency < 1:
        ap.error("--tasks, --workers and --concurrency must be at least 1")
    try:
        result = run_peer(args.shape, args.tasks, args.workers, args.concurrency, args.pg_url,
                          args.idle_sleep, args.keep, args.timeout)
    except MissingRedis:
        print("error: redis-server is not installed (the Celery broker); install it with:\n"
              "    %s" % REDIS_HINT, file=sys.stderr)
        return 3
    except (RuntimeError, subprocess.CalledProcessError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    # SIGTERM to this script runs the finally: clauses (stops everything it started) too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
