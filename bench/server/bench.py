#!/usr/bin/env python3
"""The server under load, on this machine, through its HTTP API (loopback only):

1. Scheduling: RUNS runs (default 10,000) of a 10-task pipeline (one task, eight after it in
   parallel, one after those; `op: noop`) triggered with POST /api/pipelines/tenfold/runs
   (`force`: every task runs) by CLIENTS client threads. Printed: runs/s, and p50/p99 of
   - the trigger lag: from the client's request to the run's first task starting;
   - the task lag: from a task becoming ready (its last upstream ended, or the run started)
     to its attempt starting.
2. Search: POST /api/search over a dataset of TEXTS texts embedded by all-MiniLM-L6-v2,
   driven by wrk (Debian's package; installed with apt-get when missing) for SECONDS seconds
   with CONNECTIONS connections. Printed: requests/s and p50/p99 latency (wrk's --latency).

    python3 bench/server/bench.py [--runs 10000] [--sluice target/release/sluice] [--out F]

Standard library only. The server, wrk and the client share the machine's cores: the figures
are for everything on one machine, as a single-box deployment runs it.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (REPO, say, ensure_wrk, pct, say_load_average,  # noqa: E402
                      start_sluice_serve, write_figures)

PIPELINE = """name: tenfold
description: one task, eight after it, one after those (scheduling benchmark)
max_active_runs: {max_active}
tasks:
  first: {{ op: noop }}
{middle}
  last: {{ op: noop, after: [{names}] }}
"""

DOCS = """name: docs
tasks:
  sheets: {{ op: read.csv, path: docs.csv }}
  embeddings: {{ op: embed, input: sheets, model: {model}, text: text }}
"""

TOPICS = ["logement", "impôts", "travail", "santé", "retraite", "transports", "famille",
          "papiers", "études", "entreprise", "justice", "environnement"]
ACTIONS = ["demander", "renouveler", "déclarer", "contester", "payer", "résilier",
           "obtenir", "modifier", "signaler", "calculer"]
THINGS = ["une aide", "un titre", "une allocation", "un contrat", "une carte", "un permis",
          "une pension", "un congé", "une subvention", "un certificat"]


def texts(n):
    out = []
    for i in range(n):
        t, a, th = TOPICS[i % len(TOPICS)], ACTIONS[(i // 3) % len(ACTIONS)], THINGS[(i // 7) % len(THINGS)]
        out.append("Comment %s %s pour %s (fiche %d) : conditions, délais et démarches en ligne."
                   % (a, th, t, i))
    return out


class Api:
    def __init__(self, base, token):
        self.base, self.token = base, token

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def trigger_all(api, runs, clients):
    """Triggers `runs` runs from `clients` threads; returns {run_id: trigger time in µs}."""
    sent = {}
    lock = threading.Lock()
    left = [runs]
    conflicts = [0]

    def worker():
        while True:
            with lock:
                if left[0] == 0:
                    return
                left[0] -= 1
            while True:
                t = time.time()
                # force: every task runs (a noop is otherwise cached after the first run)
                status, body = api.call("POST", "/api/pipelines/tenfold/runs", {"force": True})
                if status == 202:
                    with lock:
                        sent[body["run_id"]] = int(t * 1e6)
                    break
                if status == 409:  # max_active_runs reached: wait for a free slot
                    with lock:
                        conflicts[0] += 1
                    time.sleep(0.002)
                    continue
                raise RuntimeError("trigger answered %d: %s" % (status, body))

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return sent, conflicts[0]


def scheduling(api, runs, clients):
    say("scheduling: %d runs of tenfold (10 noop tasks) from %d clients" % (runs, clients))
    t0 = time.perf_counter()
    sent, conflicts = trigger_all(api, runs, clients)
    while True:
        status, running = api.call("GET", "/api/runs?state=running&limit=1")
        if status == 200 and not running:
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    deps = {"first": []}
    for i in range(1, 9):
        deps["m%d" % i] = ["first"]
    deps["last"] = ["m%d" % i for i in range(1, 9)]
    trigger_lag, task_lag, failed = [], [], 0
    for run_id, t in sent.items():
        status, v = api.call("GET", "/api/runs/" + run_id)
        if status != 200 or v["run"]["state"] != "succeeded":
            failed += 1
            continue
        started = {a["task"]: a["started_at"] for a in v["attempts"] if a.get("started_at")}
        ended = {a["task"]: a["ended_at"] for a in v["attempts"] if a.get("ended_at")}
        if not started:
            failed += 1
            continue
        trigger_lag.append((min(started.values()) - t) / 1e3)
        for task, s in started.items():
            ready = max((ended[d] for d in deps.get(task, []) if d in ended),
                        default=v["run"]["started_at"])
            task_lag.append((s - ready) / 1e3)
    res = {
        "runs": runs, "clients": clients, "wall_s": round(wall, 2),
        "runs_per_s": round(runs / wall, 1), "failed": failed, "conflicts_409": conflicts,
        "trigger_lag_ms": {"p50": round(pct(trigger_lag, 50), 2), "p99": round(pct(trigger_lag, 99), 2),
                           "max": round(max(trigger_lag or [float("nan")]), 2)},
        "task_lag_ms": {"p50": round(pct(task_lag, 50), 2), "p99": round(pct(task_lag, 99), 2),
                        "max": round(max(task_lag or [float("nan")]), 2)},
    }
    say("  %d runs in %.1f s: %.1f runs/s (%d failed, %d answers 409 while max_active_runs was reached)"
        % (runs, wall, runs / wall, failed, conflicts))
    say("  trigger lag (request -> first task started): p50 %.2f ms, p99 %.2f ms"
        % (res["trigger_lag_ms"]["p50"], res["trigger_lag_ms"]["p99"]))
    say("  task lag (ready -> started): p50 %.2f ms, p99 %.2f ms over %d tasks"
        % (res["task_lag_ms"]["p50"], res["task_lag_ms"]["p99"], len(task_lag)))
    return res


def ms(value, unit):
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def search_load(api, base, token, seconds, connections, folder):
    wrk = ensure_wrk()
    body = {"dataset": "docs.embeddings", "query": "renouveler un permis de conduire", "k": 10}
    status, first = api.call("POST", "/api/search", body)
    if status != 200 or len(first["hits"]) != 10:
        raise RuntimeError("POST /api/search answered %d: %s" % (status, first))
    script = os.path.join(folder, "search.lua")
    with open(script, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write("wrk.body = %s\n" % json.dumps(json.dumps(body)))
        f.write('wrk.headers["Content-Type"] = "application/json"\n')
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)
        f.write("done = function(summary, latency, requests)\n"
                "  io.write(string.format('non2xx %d\\n', summary.errors.status))\nend\n")
    say("search: wrk -t2 -c%d -d%ds POST /api/search (k 10) over docs.embeddings" % (connections, seconds))
    cp = subprocess.run([wrk, "-t2", "-c%d" % connections, "-d%ds" % seconds, "--latency",
                         "-s", script, base + "/api/search"], capture_output=True, text=True)
    out = cp.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = dict((p, ms(v, u)) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    non2xx = re.search(r"non2xx (\d+)", out)
    if cp.returncode != 0 or not rps or "50" not in lat:
        raise RuntimeError("wrk failed (exit %d):\n%s%s" % (cp.returncode, out, cp.stderr))
    res = {"connections": connections, "seconds": seconds, "requests_per_s": float(rps.group(1)),
           "latency_ms": {"p50": lat["50"], "p99": lat["99"]},
           "errors_non_2xx": int(non2xx.group(1)) if non2xx else None}
    say("  %.0f requests/s; latency p50 %.2f ms, p99 %.2f ms; %s non-2xx answers"
        % (res["requests_per_s"], lat["50"], lat["99"], res["errors_non_2xx"]))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description="sluice serve: scheduling lag and search under load")
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=4, help="client threads triggering runs")
    ap.add_argument("--max-active", type=int, default=32, help="max_active_runs of the pipeline")
    ap.add_argument("--texts", type=int, default=20000, help="texts of the searched dataset")
    ap.add_argument("--seconds", type=int, default=20, help="length of the search load")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--sluice", default=os.path.join(REPO, "target", "release", "sluice"))
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--out", help="write the figures as JSON here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)
    args.sluice = os.path.abspath(args.sluice)
    if not os.access(args.sluice, os.X_OK):
        say("building the release binary (cargo build --release -p sluice)")
        subprocess.run(["cargo", "build", "--release", "-p", "sluice"], cwd=REPO, check=True)
    folder = tempfile.mkdtemp(prefix="sluice-bench-server-")
    names = ["m%d" % i for i in range(1, 9)]
    with open(os.path.join(folder, "tenfold.yaml"), "w") as f:
        f.write(PIPELINE.format(max_active=args.max_active, names=", ".join(names),
                                middle="\n".join("  %s: { op: noop, after: first }" % n for n in names)))
    env = dict(os.environ, SLUICE_PASSWORD="bench-password")
    subprocess.run([args.sluice, "user", "add", "bench", "--role", "operator"], cwd=folder,
                   env=env, check=True, capture_output=True)
    token = subprocess.run([args.sluice, "token", "create", "--user", "bench", "--label", "bench"],
                           cwd=folder, check=True, capture_output=True, text=True).stdout.strip()
    results = {"machine": {"cpus": os.cpu_count()}}
    if not args.skip_search:
        model = subprocess.run([os.path.join(REPO, "scripts", "model.sh")], check=True,
                               capture_output=True, text=True).stdout.strip()
        with open(os.path.join(folder, "docs.csv"), "w") as f:
            f.write("id,text\n")
            for i, t in enumerate(texts(args.texts)):
                f.write('%d,"%s"\n' % (i, t))
        with open(os.path.join(folder, "docs.yaml"), "w") as f:
            f.write(DOCS.format(model=model))
        say("embedding %d texts for the search dataset (sluice run docs.yaml)" % args.texts)
        t = time.perf_counter()
        subprocess.run([args.sluice, "run", "docs.yaml"], cwd=folder, check=True, capture_output=True)
        say("  %.1f s" % (time.perf_counter() - t))
    log = open(os.path.join(folder, "serve.log"), "w")
    before = os.getloadavg()
    proc, base = start_sluice_serve(args.sluice, folder, log)
    try:
        api = Api(base, token)
        results["scheduling"] = scheduling(api, args.runs, args.clients)
        if not args.skip_search:
            results["search"] = search_load(api, base, token, args.seconds, args.connections, folder)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    say_load_average(before, os.getloadavg())
    write_figures(results, args.out)
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        say("kept %s" % folder)


if __name__ == "__main__":
    main()
