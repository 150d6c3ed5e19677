#!/usr/bin/env python3
"""sluice's pool of workers: tasks per second and ready -> running latency with 1, 2 and 4
`sluice worker` processes on no-op tasks, against Apache Airflow's CeleryExecutor on the same
DAGs (opt-in), and how the queue's claims scale with 10-90 claimers on PostgreSQL.

Two DAG shapes of --tasks tasks, each a `run: "true"` command (Airflow: BashOperator "true"):
  - wide:  every task independent (throughput);
  - chain: layers of 10, task i waits for task i-10 (10 chains side by side: each step pays
           the latency of a task becoming ready, being claimed and its outcome collected).

For each number of workers W (--workers 1,2,4; each `sluice worker --slots S`), one
`sluice run --executor workers --force` per shape on a throwaway PostgreSQL (scripts/postgres.sh)
is timed; from the store: ready -> running = the worker's claim (work_queue.claimed_at, the
database's clock) minus the moment the run loop saw the task ready (attempts.ready_at). The
same DAG run by the local executor (max_parallel 4) is printed as a reference.

--airflow runs bench/workers/airflow_celery.py (Airflow 2.11 with the CeleryExecutor, Redis,
metadata on PostgreSQL; set up by bench/workers/airflow_setup.sh) with the same shapes,
tasks, workers and concurrency (= slots), and prints the ratios.

--claims runs the `claims` example of sluice-store (N claimers, each its own connection, as N
worker processes; claim + record per item) for --claim-levels on the same PostgreSQL.

Usage: bench/workers/bench.py --sluice /work/target-release/release/sluice
         [--tasks 200] [--workers 1,2,4] [--slots 4] [--repeat 3] [--airflow]
         [--claims --claims-bin target/release/examples/claims] [--out figures.json]
"""

import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import benchlib  # noqa: E402
from benchlib import say  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def pipeline(shape, tasks, max_parallel=None):
    lines = ["name: fleet_%s" % shape]
    if max_parallel:
        lines.append("max_parallel: %d" % max_parallel)
    lines.append("tasks:")
    for i in range(tasks):
        after = ", after: [t%04d]" % (i - 10) if shape == "chain" and i >= 10 else ""
        lines.append('  t%04d: { run: "true"%s }' % (i, after))
    return "\n".join(lines) + "\n"


def psql_path(pgdir):
    found = shutil.which("psql")
    if found:
        return found
    for pattern in (os.path.join(pgdir, "pkg/pgserver/pginstall/bin/psql"),):
        hits = glob.glob(pattern)
        if hits:
            return hits[0]
    py = subprocess.run([os.path.join(benchlib.REPO, "scripts", "python-env.sh")],
                        capture_output=True, text=True).stdout.strip()
    out = subprocess.run([py, "-c", "import os, pgserver; print(os.path.dirname(pgserver.__file__))"],
                         capture_output=True, text=True).stdout.strip()
    return os.path.join(out, "pginstall", "bin", "psql")


def query(psql, url, sql):
    out = subprocess.run([psql, url, "-At", "-F", "\t", "-c", sql], capture_output=True,
                         text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def start_workers(sluice, url, n, slots, folder, logs):
    procs = []
    for i in range(n):
        log = open(os.path.join(logs, "worker-%d.log" % i), "w")
        env = dict(os.environ, SLUICE_STATE=url)
        procs.append((subprocess.Popen([sluice, "worker", "--slots", str(slots)], cwd=folder,
                                       env=env, stdout=log, stderr=log,
                                       start_new_session=True), log))
    return procs


def stop_workers(procs):
    for p, _ in procs:
        p.send_signal(signal.SIGTERM)
    for p, log in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()


def wait_workers(psql, url, n):
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = query(psql, url, "SELECT COUNT(*) FROM workers WHERE state = 'running' "
                                "AND heartbeat_at > (EXTRACT(EPOCH FROM clock_timestamp()) - 30) * 1000000")
        if rows and int(rows[0][0]) >= n:
            return
        time.sleep(0.1)
    raise RuntimeError("%d workers did not start" % n)


def run_once(sluice, url, folder, executor, log_path):
    env = dict(os.environ, SLUICE_STATE=url)
    cmd = [sluice, "run", "pipeline.yaml", "--force", "--json", "--executor", executor]
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    with open(log_path, "w") as f:
        f.write(cp.stderr)
    if cp.returncode != 0:
        raise RuntimeError("sluice run failed (exit %d): %s" % (cp.returncode, cp.stderr[-2000:]))
    summary = json.loads(cp.stdout)
    return wall, summary["run_id"]


def latencies(psql, url, run_id):
    rows = query(psql, url,
                 "SELECT (q.claimed_at - a.ready_at) / 1000.0 FROM work_queue q JOIN attempts a "
                 "ON a.run_id = q.run_id AND a.task = q.task AND a.attempt = q.attempt "
                 "WHERE q.run_id = '%s' AND q.state = 'done'" % run_id)
    return [float(r[0]) for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", default=os.path.join(benchlib.REPO, "target/release/sluice"))
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--shapes", default="wide,chain")
    ap.add_argument("--airflow", action="store_true")
    ap.add_argument("--claims", action="store_true")
    ap.add_argument("--claims-bin", default=os.path.join(benchlib.REPO, "target/release/examples/claims"))
    ap.add_argument("--claim-levels", default="1,10,25,50,90")
    ap.add_argument("--claim-items", type=int, default=20000)
    ap.add_argument("--out")
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    sluice = os.path.abspath(args.sluice)
    levels = [int(x) for x in args.workers.split(",")]
    shapes = args.shapes.split(",")
    tmp, keep = benchlib.work_folder(args, "sluice-workers-bench.")
    pgdir = os.path.join(tmp, "pg")
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs, exist_ok=True)
    say("sluice workers bench: %d no-op tasks per DAG, %s workers x %d slots, %d runs each"
        % (args.tasks, args.workers, args.slots, args.repeat))
    say("machine: %s, %d CPUs, %s" % (benchlib.cpu_model(), os.cpu_count(), time.strftime("%Y-%m-%d %H:%M")))
    load_before = os.getloadavg()
    url = benchlib.start_postgres(pgdir)
    psql = psql_path(pgdir)
    results = {"cpu": benchlib.cpu_model(), "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
               "tasks": args.tasks, "slots": args.slots, "sluice": [], "airflow": [], "claims": []}
    try:
        for shape in shapes:
            folder = os.path.join(tmp, shape)
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, "pipeline.yaml"), "w") as f:
                f.write(pipeline(shape, args.tasks, max_parallel=args.slots))
            walls = [run_once(sluice, url, folder, "local", os.path.join(logs, "local.log"))[0]
                     for _ in range(args.repeat)]
            wall = statistics.median(walls)
            results["sluice"].append({"shape": shape, "executor": "local", "workers": 0,
                                      "wall_s": round(wall, 3),
                                      "tasks_per_s": round(args.tasks / wall, 1)})
            say("  %-5s local (max_parallel %d): %.2f s, %.0f tasks/s"
                % (shape, args.slots, wall, args.tasks / wall))
            with open(os.path.join(folder, "pipeline.yaml"), "w") as f:
                f.write(pipeline(shape, args.tasks))
            for w in levels:
                procs = start_workers(sluice, url, w, args.slots, folder, logs)
                try:
                    wait_workers(psql, url, w)
                    walls, lat = [], []
                    for r in range(args.repeat):
                        wall, run_id = run_once(sluice, url, folder, "workers",
                                                os.path.join(logs, "run-%s-%d-%d.log" % (shape, w, r)))
                        walls.append(wall)
                        lat.extend(latencies(psql, url, run_id))
                finally:
                    stop_workers(procs)
                wall = statistics.median(walls)
                row = {"shape": shape, "executor": "workers", "workers": w, "wall_s": round(wall, 3),
                       "tasks_per_s": round(args.tasks / wall, 1),
                       "latency_ms": {"p50": round(benchlib.pct(lat, 50), 1),
                                      "p95": round(benchlib.pct(lat, 95), 1),
                                      "max": round(max(lat), 1)}}
                results["sluice"].append(row)
                say("  %-5s %d worker(s): %.2f s, %.0f tasks/s, ready->running p50 %.1f ms, "
                    "p95 %.1f ms, max %.1f ms" % (shape, w, wall, args.tasks / wall,
                                                  row["latency_ms"]["p50"], row["latency_ms"]["p95"],
                                                  row["latency_ms"]["max"]))
        if args.airflow:
            # After every sluice run: Airflow's processes (and their teardown) must not share
            # the cores with sluice's measurements.
            for shape in shapes:
                for w in levels:
                    row = next(r for r in results["sluice"]
                               if r["shape"] == shape and r["workers"] == w)
                    cp = subprocess.run([sys.executable, os.path.join(HERE, "airflow_celery.py"),
                                         "--shape", shape, "--tasks", str(args.tasks),
                                         "--workers", str(w), "--concurrency", str(args.slots)],
                                        capture_output=True, text=True)
                    peer = benchlib.last_json_object(cp.stdout)
                    if cp.returncode != 0 or peer is None:
                        say("  airflow FAILED (exit %d): %s" % (cp.returncode, (cp.stderr + cp.stdout)[-1500:]))
                        continue
                    results["airflow"].append(peer)
                    # Airflow's ready -> running: start_date minus the end of the last upstream
                    # task (the run's start for tasks without one), as sluice's figure.
                    lag = peer.get("sched_lag_ms") or peer["latency_ms"]
                    say("  %-5s airflow celery, %d worker(s): %.2f s, %.1f tasks/s, ready->running p50 %.0f ms, "
                        "p95 %.0f ms -> sluice x%.1f tasks/s, x%.0f lower p50 latency"
                        % (shape, w, peer["wall_s"], peer["tasks_per_s"], lag["p50"], lag["p95"],
                           row["tasks_per_s"] / peer["tasks_per_s"],
                           lag["p50"] / max(row["latency_ms"]["p50"], 0.1)))
        if args.claims:
            say("  queue claims on PostgreSQL, %d items, claim + record per item:" % args.claim_items)
            cp = subprocess.run([args.claims_bin, url, "--items", str(args.claim_items),
                                 "--workers", args.claim_levels], capture_output=True, text=True)
            if cp.returncode != 0:
                say("  claims FAILED: %s" % cp.stderr[-2000:])
            for line in cp.stdout.splitlines():
                row = json.loads(line)
                results["claims"].append(row)
                say("    %3d claimers: %6.0f claims/s, one claim p50 %.2f ms, p99 %.2f ms"
                    % (row["workers"], row["claims_per_s"], row["claim_ms_p50"], row["claim_ms_p99"]))
    finally:
        benchlib.stop_postgres(pgdir)
        benchlib.say_load_average(load_before, os.getloadavg())
        benchlib.leave_work_folder(tmp, keep)
    benchlib.write_figures(results, args.out)


if __name__ == "__main__":
    main()
