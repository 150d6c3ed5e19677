#!/usr/bin/env python3
"""Serving benchmark: `POST /api/models/{pipeline}/{task}/predict` of `sluice serve` against a
FastAPI + uvicorn reference (serve_fastapi.py) serving the same model version, one 1024-d
vector through a 512-128-32 MLP; then promotions during a load test (bench/ml/README.md).

    python3 bench/ml/serve.py [--sluice PATH] [--rows 4000] [--seconds 20] [--connections 8]
                              [--threads 2] [--workers 1] [--workdir DIR] [--keep] [--out F]

1. WORKDIR/docs.parquet (ROWS 1024-d float32 vectors, 16 classes) and serving.yaml (read it,
   train an MLP for 2 epochs), run with `--force --param seed=1`, then seed=2: versions A, B.
2. `sluice serve` on WORKDIR; an admin user, an operator token and an admin token; the alias
   (champion) promoted to A. uvicorn serves A's artifact (numpy, BLAS threads 1: sluice
   predicts a request on one thread); both must give the same probabilities (1e-4) on 5 vectors.
3. wrk -tTHREADS -cCONNECTIONS -dSECONDS on each with the same body, then 500 requests from
   one keep-alive client on each: requests/s, p50, p99, max, non-2xx, socket errors.
4. wrk on sluice's alias while a thread promotes it B, A, B... every 200 ms (API), asking two
   predictions after each: PASS when no request failed and both versions answered.
Runs on .venv-bench with only the packages it needs from requirements.txt (no scikit-learn,
LightGBM or torch); wrk from apt-get when missing. Exit 0 on PASS, 1 on FAIL, 2 on an error.
"""

import argparse
import datetime
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (REPO, VENV, say, ensure_venv, ensure_wrk, pct, say_load_average,  # noqa: E402
                      start_sluice_serve, write_figures)

IMPORTS = "import numpy, pyarrow, fastapi, uvicorn, uvloop, httptools"
# the lines of requirements.txt this script installs (with their pinned dependencies)
PACKAGES = ("numpy", "pyarrow", "fastapi", "uvicorn", "uvloop", "httptools", "starlette",
            "pydantic", "pydantic_core", "annotated-types", "annotated-doc", "anyio", "idna",
            "typing_extensions", "typing-inspection", "opentelemetry-api", "click", "h11")
DIM, CLASSES, TOLERANCE = 1024, 16, 1e-4
MODEL_PATH = "/api/models/serving/classifier"
PIPELINE = """# written by bench/ml/serve.py
name: serving
params:
  seed: {{default: 1, type: integer}}
tasks:
  docs: {{op: read.parquet, path: docs.parquet}}
  classifier:
    op: train
    input: docs
    label: label
    features: [embedding]
    model: {{type: mlp, hidden: [512, 128, 32], activation: leaky_relu, negative_slope: 0.1,
             dropout: [0.4, 0.3, 0.2], learning_rate: 0.001, epochs: 2, early_stopping: 0}}
    split: {{valid: 0.2, seed: 1}}
    seed: ${{params.seed}}
    threads: {threads}
"""
WRK_LUA = """wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
threads = {{}}
setup = function(thread) table.insert(threads, thread) end
init = function(args) counts = {{}} end
{response}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("figures %d %d %d %d %d %d %d %d %d %d\\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99), latency.max, e.status,
    e.connect, e.read, e.write, e.timeout))
  for _, t in ipairs(threads) do
    for v, n in pairs(t:get("counts") or {{}}) do
      io.write(string.format("version %s %d\\n", v, n))
    end
  end
end
"""
COUNT_VERSIONS = """response = function(status, headers, body)
  local v = body:match('"version":"([^"]*)"') or ("status-" .. status)
  counts[v] = (counts[v] or 0) + 1
end"""


class Client:
    """One keep-alive HTTP connection to a server, JSON in and out."""

    def __init__(self, base, token=None):
        host, port = base.split("//", 1)[1].rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = "Bearer " + token

    def call(self, method, path, body=None):
        """(status, decoded JSON answer)."""
        self.conn.request(method, path, json.dumps(body) if body is not None else None,
                          self.headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None


def sluice_binary(opt):
    """(absolute path, build kind) of --sluice, default target/debug/sluice."""
    path = os.path.abspath(opt or os.path.join(REPO, "target", "debug", "sluice"))
    if not os.access(path, os.X_OK):
        raise RuntimeError("sluice binary %s does not exist (cargo build, or --sluice PATH)"
                           % path)
    parts = os.path.realpath(path).split(os.sep)
    return path, "release" if "release" in parts else "debug" if "debug" in parts else "unknown"


def sluice_cli(sluice, folder, args, env=None):
    """Runs `sluice ARGS` in folder; its stdout, or an error with its output."""
    cp = subprocess.run([sluice] + args, cwd=folder, capture_output=True, text=True, env=env)
    if cp.returncode != 0:
        raise RuntimeError("sluice %s failed (exit %d):\n%s" % (
            " ".join(args), cp.returncode, (cp.stderr + cp.stdout)[-3000:]))
    return cp.stdout


def make_data(folder, rows, seed=1):
    """docs.parquet: 16 Gaussian classes in R^1024 (float32 fixed_size_list) and an int label;
    returns 5 vectors of it (the check) and one more (the load body)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 1.0, (CLASSES, DIM)).astype(np.float32)
    label = rng.integers(0, CLASSES, rows)
    x = (centres[label] + rng.normal(0.0, 2.0, (rows, DIM))).astype(np.float32)
    emb = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel(), pa.float32()), DIM)
    pq.write_table(pa.table({"embedding": emb, "label": pa.array(label, pa.int64())}),
                   os.path.join(folder, "docs.parquet"), compression="zstd")
    return [[float(v) for v in x[i]] for i in range(6)]


def train_two_versions(sluice, folder, threads):
    """Writes serving.yaml and runs it with seed 1, then 2: (A, B) with A the older."""
    with open(os.path.join(folder, "serving.yaml"), "w") as f:
        f.write(PIPELINE.format(threads=threads))
    for seed in (1, 2):
        t = time.perf_counter()
        sluice_cli(sluice, folder, ["run", "serving.yaml", "--force", "--param", "seed=%d" % seed])
        say("  sluice run serving.yaml --force --param seed=%d: %.1f s"
            % (seed, time.perf_counter() - t))
    rows = json.loads(sluice_cli(sluice, folder, ["datasets", "--json"]))
    mine = [r for r in rows if r.get("pipeline") == "serving" and r.get("task") == "classifier"]
    mine.sort(key=lambda r: r["created_at"])
    if len(mine) < 2:
        raise RuntimeError("serving.classifier has %d versions, not 2" % len(mine))
    return mine[-2], mine[-1]


def start_fastapi(model_dir, workers, log):
    """uvicorn serving serve_fastapi.py on model_dir; (process, base URL) once /health is up."""
    with socket.socket() as sock:  # a port free now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, SERVE_MODEL_DIR=model_dir, OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "serve_fastapi:app", "--app-dir",
                             HERE, "--host", "127.0.0.1", "--port", str(port), "--workers",
                             str(workers), "--loop", "uvloop", "--http", "httptools",
                             "--no-access-log", "--log-level", "warning"],
                            env=env, stdout=log, stderr=log)
    base = "http://127.0.0.1:%d" % port
    for _ in range(300):
        try:
            if Client(base).call("GET", "/health")[0] == 200:
                return proc, base
        except OSError:
            time.sleep(0.1)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("uvicorn did not start (log %s)" % log.name)


def check_same(sluice_client, predict_path, version, fastapi_client, vectors):
    """Max |sluice proba - FastAPI proba| over the vectors (sluice pinned to `version`)."""
    worst, labels_equal = 0.0, True
    for v in vectors:
        s_status, s = sluice_client.call("POST", "%s?version=%s" % (predict_path, version),
                                         {"vector": v})
        f_status, f = fastapi_client.call("POST", "/v1/predict", {"vector": v})
        if s_status != 200 or f_status != 200:
            raise RuntimeError("check: sluice answered %d %s, FastAPI %d %s"
                               % (s_status, s, f_status, f))
        sp = s["predictions"][0]
        worst = max(worst, max(abs(a - b) for a, b in zip(sp["probas"], f["probas"])))
        labels_equal &= sp["label"] == f["label"] and len(sp["probas"]) == len(f["probas"])
    return {"vectors": len(vectors), "max_abs_proba_difference": worst,
            "labels_equal": labels_equal, "ok": labels_equal and worst <= TOLERANCE}


def start_wrk(url, body, token, args, folder, name, count_versions=False):
    """Starts wrk with a Lua script (POST body, done() printing the figures)."""
    script = os.path.join(folder, name + ".lua")
    with open(script, "w") as f:
        f.write(WRK_LUA.format(
            body=json.dumps(json.dumps(body)),
            auth='wrk.headers["Authorization"] = "Bearer %s"' % token if token else "",
            response=COUNT_VERSIONS if count_versions else ""))
    cmd = [ensure_wrk(), "-t%d" % args.threads, "-c%d" % args.connections,
           "-d%ds" % args.seconds, "-s", script, url]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wrk_figures(proc):
    """Waits for wrk; its figures from the `figures` and `version` lines of done()."""
    out, err = proc.communicate()
    line = next((ln.split()[1:] for ln in out.splitlines() if ln.startswith("figures ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError("wrk failed (exit %d):\n%s%s" % (proc.returncode, out, err))
    n, dur, p50, p99, top, status, conn, read, write, timeout = (int(x) for x in line)
    res = {"requests": n, "requests_per_s": round(n / (dur / 1e6), 1), "p50_ms": p50 / 1e3,
           "p99_ms": p99 / 1e3, "max_ms": top / 1e3, "non_2xx": status,
           "socket_errors": {"connect": conn, "read": read, "write": write, "timeout": timeout}}
    versions = {}
    for ln in out.splitlines():
        if ln.startswith("version "):
            _, v, c = ln.split()
            versions[v] = versions.get(v, 0) + int(c)
    if versions:
        res["answers_by_version"] = versions
    return res


def sequential(base, path, body, token, n=500, warmup=20):
    """p50 / p99 in ms of n requests one after the other on one keep-alive connection."""
    client = Client(base, token)
    times, t0 = [], None
    for i in range(warmup + n):
        t0 = time.perf_counter() if i == warmup else t0
        t = time.perf_counter()
        status, _ = client.call("POST", path, body)
        if status != 200:
            raise RuntimeError("%s%s answered %d" % (base, path, status))
        if i >= warmup:
            times.append((time.perf_counter() - t) * 1e3)
    return {"requests": n, "requests_per_s": round(n / (time.perf_counter() - t0), 1),
            "p50_ms": round(pct(times, 50), 3), "p99_ms": round(pct(times, 99), 3),
            "max_ms": round(max(times), 3)}


def promote_loop(base, tokens, alias, versions, vector, stop, out):
    """Until stop: promote `alias` to the next of versions every 200 ms, then ask two
    predictions and record which version answered; fills out."""
    admin, operator = Client(base, tokens["admin"]), Client(base, tokens["operator"])
    out.update(promotions=0, failed_calls=[], probe_versions={}, probe_not_the_promoted=0)
    tick, i, took = time.perf_counter(), 1, []
    while not stop.is_set():
        target = versions[i % 2]
        t = time.perf_counter()
        status, ans = admin.call("POST", MODEL_PATH + "/promote",
                                 {"version": target, "alias": alias, "note": "bench/ml/serve.py"})
        took.append((time.perf_counter() - t) * 1e3)
        out["promote_call_ms"] = {"p50": round(pct(took, 50), 3), "max": round(max(took), 3)}
        if status == 200:
            out["promotions"] += 1
        else:
            out["failed_calls"].append("promote %d %s" % (status, ans))
        for _ in range(2):
            status, ans = operator.call("POST", MODEL_PATH + "/predict", {"vector": vector})
            if status != 200:
                out["failed_calls"].append("predict %d %s" % (status, ans))
                continue
            v = ans["version"]
            out["probe_versions"][v] = out["probe_versions"].get(v, 0) + 1
            out["probe_not_the_promoted"] += v != target
        i += 1
        tick += 0.2
        time.sleep(max(0.0, tick - time.perf_counter()))


def promotion_under_load(base, tokens, versions, vector, args, folder):
    """wrk on the alias's predict route while promote_loop runs beside it."""
    stop, out = threading.Event(), {}
    proc = start_wrk(base + MODEL_PATH + "/predict", {"vector": vector}, tokens["operator"],
                     args, folder, "promotion", count_versions=True)
    th = threading.Thread(target=promote_loop, args=(base, tokens, args.alias, versions, vector,
                                                     stop, out))
    th.start()
    try:
        res = wrk_figures(proc)
    finally:
        stop.set()
        th.join()
    res.update(out)
    errors = sum(res["socket_errors"].values())
    both = all(out["probe_versions"].get(v) for v in versions)
    res["pass"] = (res["non_2xx"] == 0 and errors == 0 and out["promotions"] > 0 and both
                   and not out["failed_calls"])
    return res


def report(r, args):
    """One table of the load runs, then the check and the promotion's verdict."""
    rows = [("wrk: sluice (%s build)" % r["sluice"]["build"], r["load"]["sluice"]),
            ("wrk: FastAPI + uvicorn (%d worker)" % args.workers, r["load"]["fastapi"]),
            ("one client: sluice", r["sequential"]["sluice"]),
            ("one client: FastAPI + uvicorn", r["sequential"]["fastapi"]),
            ("wrk: sluice, promotions every 200 ms", r["promotion"])]
    say()
    say("%-38s %10s %8s %8s %8s %8s %7s" % ("wrk -t%d -c%d -d%ds; one client: %d requests" % (
        args.threads, args.connections, args.seconds, r["sequential"]["sluice"]["requests"]),
        "requests/s", "p50 ms", "p99 ms", "max ms", "non-2xx", "socket"))
    for name, x in rows:
        say("%-38s %10.1f %8.3f %8.3f %8.1f %8s %7s" % (
            name, x["requests_per_s"], x["p50_ms"], x["p99_ms"], x["max_ms"],
            x.get("non_2xx", "-"), sum(x["socket_errors"].values()) if "socket_errors" in x
            else "-"))
    ra = r["load"]["ratios"]
    say("sluice requests/s / FastAPI's: %.2f; FastAPI p50 / sluice p50: %.2f (wrk), %.2f (one "
        "client)" % (ra["rps_sluice_over_fastapi"], ra["p50_fastapi_over_sluice"],
                     ra["sequential_p50_fastapi_over_sluice"]))
    p = r["promotion"]
    say("promotions: %d (each call p50 %.1f ms, max %.1f ms); answers by version: wrk %s, "
        "probes %s (%d not from the version just promoted); B's first load is in this run"
        % (p["promotions"], p["promote_call_ms"]["p50"], p["promote_call_ms"]["max"],
           json.dumps(p.get("answers_by_version", {})), json.dumps(p["probe_versions"]),
           p["probe_not_the_promoted"]))
    for line in p["failed_calls"][:5]:
        say("  failed call: %s" % line)
    say("%s: no request failed during %d promotions under load, and both versions answered"
        % ("PASS" if p["pass"] else "FAIL", p["promotions"]))


def options(argv):
    """The command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sluice", help="default target/debug/sluice")
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2, help="wrk's threads, and train's")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn's worker processes")
    ap.add_argument("--alias", default="champion")
    ap.add_argument("--workdir", help="kept; default a temporary folder, removed at the end")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", help="write the figures as JSON here")
    return ap.parse_args(argv)


def prepare(args, sluice, folder, results):
    """Data, two model versions, a user and its tokens; (versions, tokens, 6 vectors)."""
    vectors = make_data(folder, args.rows)
    say("data: %d rows x %d-d, %d classes; training two versions" % (args.rows, DIM, CLASSES))
    a, b = train_two_versions(sluice, folder, args.threads)
    results["model"] = {"name": "serving.classifier", "versions": [a["version"], b["version"]],
                        "fastapi_loads": a["version"], "model_dir": os.path.join(a["path"],
                                                                                 "model")}
    env = dict(os.environ, SLUICE_PASSWORD="bench-password")
    sluice_cli(sluice, folder, ["user", "add", "bench", "--role", "admin"], env=env)
    tokens = {role: sluice_cli(sluice, folder, ["token", "create", "--user", "bench", "--label",
                                                role, "--role", role]).strip()
              for role in ("operator", "admin")}
    return results["model"]["versions"], tokens, vectors


def measure(args, folder, sbase, fbase, versions, tokens, vectors, results):
    """The check, the load runs, the sequential client and the promotion run."""
    admin, predict = Client(sbase, tokens["admin"]), MODEL_PATH + "/predict"
    status, ans = admin.call("POST", MODEL_PATH + "/promote",
                             {"version": versions[0], "alias": args.alias})
    if status != 200:
        raise RuntimeError("promote answered %d: %s" % (status, ans))
    check = results["check"] = check_same(Client(sbase, tokens["operator"]), predict,
                                          versions[0], Client(fbase), vectors[:5])
    say("check, version %s on both, %d vectors: max |proba difference| %.2e, labels %s: %s"
        % (versions[0], check["vectors"], check["max_abs_proba_difference"],
           "equal" if check["labels_equal"] else "DIFFER", "ok" if check["ok"] else "FAIL"))
    if not check["ok"]:
        raise RuntimeError("the two servers do not compute the same model")
    body, load, seq = {"vector": vectors[5]}, {}, {}
    servers = (("sluice", sbase, predict, tokens["operator"]), ("fastapi", fbase, "/v1/predict",
                                                                 None))
    for name, base, path, token in servers:
        say("wrk on %s%s for %d s" % (name, path, args.seconds))
        load[name] = wrk_figures(start_wrk(base + path, body, token, args, folder, name))
    for name, base, path, token in servers:
        say("one client on %s%s" % (name, path))
        seq[name] = sequential(base, path, body, token)
    load["ratios"] = {
        "rps_sluice_over_fastapi": load["sluice"]["requests_per_s"]
        / load["fastapi"]["requests_per_s"],
        "p50_fastapi_over_sluice": load["fastapi"]["p50_ms"] / load["sluice"]["p50_ms"],
        "sequential_p50_fastapi_over_sluice": seq["fastapi"]["p50_ms"] / seq["sluice"]["p50_ms"]}
    results.update(load=load, sequential=seq)
    say("promotion under load: wrk for %d s, %s between %s and %s every 200 ms"
        % (args.seconds, args.alias, versions[0], versions[1]))
    results["promotion"] = promotion_under_load(sbase, tokens, versions, vectors[5], args, folder)


def main(argv):
    args = options(argv)
    sluice, build = sluice_binary(args.sluice)
    folder = os.path.abspath(args.workdir or tempfile.mkdtemp(prefix="sluice-bench-serve-"))
    os.makedirs(folder, exist_ok=True)
    say("sluice %s (%s build%s); %d CPUs; %s UTC; work folder %s" % (
        sluice, build, ": figures not to quote" if build != "release" else "", os.cpu_count(),
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"), folder))
    results = {"machine": {"cpus": os.cpu_count()}, "sluice": {"path": sluice, "build": build},
               "arguments": {k: v for k, v in vars(args).items() if k != "out"}}
    versions, tokens, vectors = prepare(args, sluice, folder, results)
    procs = []
    with open(os.path.join(folder, "serve.log"), "w") as slog, \
            open(os.path.join(folder, "uvicorn.log"), "w") as flog:
        try:
            sproc, sbase = start_sluice_serve(sluice, folder, slog)
            procs.append(sproc)
            fproc, fbase = start_fastapi(results["model"]["model_dir"], args.workers, flog)
            procs.append(fproc)
            before = os.getloadavg()
            measure(args, folder, sbase, fbase, versions, tokens, vectors, results)
            after = os.getloadavg()
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)
    report(results, args)
    say_load_average(before, after)
    results["load_average"] = {"before": before, "after": after}
    write_figures(results, args.out)
    if args.keep or args.workdir:
        say("kept %s" % folder)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if results["promotion"]["pass"] else 1


def requirements_subset():
    """A temporary requirements file: the PACKAGES lines of bench/ml/requirements.txt."""
    keep = {p.lower().replace("_", "-") for p in PACKAGES}
    fd, path = tempfile.mkstemp(prefix="serve-requirements-", suffix=".txt")
    with open(os.path.join(HERE, "requirements.txt")) as src, os.fdopen(fd, "w") as dst:
        dst.writelines(line for line in src if "==" in line and not line.startswith("#") and
                       line.split("==")[0].strip().lower().replace("_", "-") in keep)
    return path


if __name__ == "__main__":
    if os.path.realpath(sys.prefix) != os.path.realpath(VENV):  # run again on .venv-bench
        req = requirements_subset()
        py = ensure_venv(req, IMPORTS)
        os.unlink(req)
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    try:
        sys.exit(main(sys.argv[1:]))
    except RuntimeError as e:
        say("error: %s" % e)
        sys.exit(2)
