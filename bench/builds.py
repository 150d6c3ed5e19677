#!/usr/bin/env python3
"""Two builds of sluice on the same inputs, in the same run: does a change of build settings
(profile, linker, features) or of code keep the benchmark figures?

Runs, for each binary, alternately (A, B, A, B…) so that both see the same machine state:

  - dag_1000: the 1,000-task noop DAG of bench/dag_1000.py (default max_parallel: 498 tasks
    queue for the slots), total wall time and median ready -> running of its tasks;
  - dag_1000_unqueued: the same DAG with max_parallel 1000 (the scheduler's own overhead);
  - drug_mentions: examples/drug_mentions/pipeline.yaml on generated inputs (bench/drug_mentions/
    generate.py, standard library only; 200,000 publications x 500 drugs by default), wall time;
  - embed: `sluice embed --bench` on generated texts (bench/embed/texts.py) with the model of
    scripts/model.sh, texts per second (its own timing, model loading excluded); in f32
    (`--precision f32` where the binary has it, the only precision of older ones) unless
    --embed-precision;
  - link: bench/link/synthetic.yaml on bench/link/generate.py --link (100,000 + 100,000 records by
    default), wall time;
  - load_postgres: bench/load_postgres/pipeline.yaml (read.parquet -> load.postgres, HNSW
    index built) into a new table of one PostgreSQL (scripts/postgres.sh) per run, on
    bench/load_postgres/generate.py's chunks (30,000 by default; needs .venv-bench), the load's
    rows/s (rows / copy_s) and its index seconds.

Prints the median of each for A and B and the ratio B/A (for seconds, > 1 means B is slower;
for rates, < 1 means B is slower). Standard library only, except load_postgres.

Usage: bench/builds.py --a OLD/sluice --b NEW/sluice [--repeat 3] [--publications 200000]
       [--texts 500] [--threads 2] [--records 200000] [--rows 30000] [--skip embed ...]
"""

import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import dag_1000  # noqa: E402
from benchlib import (VENV_PY, cpu_model, last_json_object, say, start_postgres,  # noqa: E402
                      stop_postgres)

MODEL = os.path.join(REPO, ".models", "all-MiniLM-L6-v2")


def dag(binary, max_parallel=None):
    """The DAG's wall time and its tasks' median ready -> running, in ms."""
    walls, overheads = dag_1000.measure(binary, max_parallel, 1)
    if walls is None:
        raise SystemExit("dag_1000 failed with %s" % binary)
    return walls[0], statistics.median(overheads)


def drugs(binary, data, tmp):
    home = os.path.join(tmp, "home")
    out = os.path.join(tmp, "out")
    shutil.rmtree(home, ignore_errors=True)
    cmd = [binary, "run", "examples/drug_mentions/pipeline.yaml", "--home", home,
           "--param", "data=" + data, "--param", "out=" + out, "--force"]
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if cp.returncode != 0 or not os.path.isfile(os.path.join(out, "graph.json")):
        raise SystemExit("drug_mentions failed with %s:\n%s" % (binary, (cp.stderr + cp.stdout)[-3000:]))
    return wall


def has_precision(binary):
    """Whether `sluice embed` of this binary takes --precision (older ones ran f32 only)."""
    cp = subprocess.run([binary, "embed", "--help"], capture_output=True, text=True)
    return "--precision" in cp.stdout


def precision_args(binary, precision):
    """What makes `sluice embed` of this binary run at `precision`."""
    if has_precision(binary):
        return ["--precision", precision]
    if precision != "f32":
        raise SystemExit("%s has no --precision: it embeds in f32 only" % binary)
    return []


def embed(binary, texts, threads, precision_args):
    cmd = [binary, "embed", "--model", MODEL, "--input", texts, "--threads", str(threads),
           "--batch-size", "32", "--bench"] + precision_args
    cp = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    res = last_json_object(cp.stdout) if cp.returncode == 0 else None
    if res is None or "texts_per_second" not in res:
        raise SystemExit("embed failed with %s:\n%s" % (binary, (cp.stderr + cp.stdout)[-3000:]))
    return res["texts_per_second"]


def link(binary, data, tmp):
    home = os.path.join(tmp, "home")
    shutil.rmtree(home, ignore_errors=True)
    cmd = [binary, "run", "bench/link/synthetic.yaml", "--home", home, "--param", "data=" + data,
           "--force"]
    t0 = time.perf_counter()
    cp = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if cp.returncode != 0:
        raise SystemExit("link failed with %s:\n%s" % (binary, (cp.stderr + cp.stdout)[-3000:]))
    return wall


def load_postgres(binary, url, data, tmp, table):
    """The load's rows/s (rows / copy_s) and its index seconds, into a new table."""
    lpg = importlib.import_module("load_postgres.bench")
    shutil.rmtree(os.path.join(tmp, "sluice-home"), ignore_errors=True)
    res = lpg.run_sluice(binary, url, data, tmp, table=table)
    if not res.get("ok"):
        raise SystemExit("load_postgres failed with %s: %s (log in %s)" % (binary, res, tmp))
    return res["rows_per_s"], res["metrics"]["index_s"]


WORKLOADS = ("dag_1000", "dag_1000_unqueued", "drug_mentions", "embed", "link", "load_postgres")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the reference binary")
    ap.add_argument("--b", required=True, help="the binary compared with it")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--publications", type=int, default=200000)
    ap.add_argument("--drugs", type=int, default=500)
    ap.add_argument("--texts", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--embed-precision", default="f32", choices=["auto", "f32", "bf16", "int8"],
                    help="the precision both binaries embed at (default f32, the only one of "
                         "binaries before 2026-12)")
    ap.add_argument("--records", type=int, default=200000,
                    help="link: records in all, half originals and half duplicates")
    ap.add_argument("--rows", type=int, default=30000, help="load_postgres: chunks")
    ap.add_argument("--skip", action="append", default=[], choices=WORKLOADS)
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    bins = {"A": os.path.abspath(a.a), "B": os.path.abspath(a.b)}
    for k, b in bins.items():
        if not os.access(b, os.X_OK):
            raise SystemExit("%s: %s is not an executable" % (k, b))
    if "embed" not in a.skip and not os.path.isdir(MODEL):
        raise SystemExit("no model at %s: run scripts/model.sh first (or --skip embed)" % MODEL)
    if "load_postgres" not in a.skip and not os.access(VENV_PY, os.X_OK):
        raise SystemExit("no %s for load_postgres's data: see bench/load_postgres/README.md "
                         "(or --skip load_postgres)" % VENV_PY)
    load = os.getloadavg()[0]
    say("A = %s\nB = %s\n%s, %d cores, load %.2f; %d rounds, A and B alternating" % (
        bins["A"], bins["B"], cpu_model(), os.cpu_count() or 0, load, a.repeat))
    # The figures of each workload: name and unit.
    names = {"dag_1000": [("dag_1000", "s (wall)"), ("dag_1000 ready->running", "ms (median)")],
             "dag_1000_unqueued": [("dag_1000 unqueued", "s (wall)"),
                                   ("unqueued ready->running", "ms (median)")],
             "drug_mentions": [("drug_mentions", "s (wall)")],
             "embed": [("embed " + a.embed_precision, "texts/s")],
             "link": [("link", "s (wall)")],
             "load_postgres": [("load_postgres copy", "rows/s"), ("load_postgres index", "s")]}
    figures = {name: {"unit": unit, "A": [], "B": []}
               for w in WORKLOADS if w not in a.skip for name, unit in names[w]}
    embed_args = {k: precision_args(b, a.embed_precision) for k, b in bins.items()
                  if "embed" not in a.skip}
    pgdir = None
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "drugs")
        if "drug_mentions" not in a.skip:
            subprocess.run([sys.executable, os.path.join(HERE, "drug_mentions", "generate.py"),
                            "--publications", str(a.publications), "--drugs", str(a.drugs),
                            "--seed", "42", "--out", data], check=True, capture_output=True)
        texts = os.path.join(tmp, "texts.jsonl")
        if "embed" not in a.skip:
            subprocess.run([sys.executable, os.path.join(HERE, "embed", "texts.py"), "--kind", "bench",
                            "--count", str(a.texts), "--seed", "2", "--out", texts], check=True,
                           capture_output=True)
        people = os.path.join(tmp, "people")
        if "link" not in a.skip:
            subprocess.run([sys.executable, os.path.join(HERE, "link", "generate.py"),
                            "--link", str(a.records // 2), "--out", people], check=True,
                           capture_output=True)
        chunks = os.path.join(tmp, "chunks")
        url = None
        if "load_postgres" not in a.skip:
            subprocess.run([VENV_PY, os.path.join(HERE, "load_postgres", "generate.py"),
                            "--rows", str(a.rows), "--docs", str(max(1, a.rows // 5)),
                            "--seed", "3", "--out", chunks], check=True, capture_output=True)
            pgdir = os.path.join(tmp, "pg")
            url = start_postgres(pgdir)
        try:
            for r in range(a.repeat):
                for k in ("A", "B"):
                    b = bins[k]
                    work = os.path.join(tmp, "run-" + k)
                    os.makedirs(work, exist_ok=True)

                    def add(name, value):
                        figures[name][k].append(value)

                    if "dag_1000" not in a.skip:
                        wall, lag = dag(b)
                        add("dag_1000", wall)
                        add("dag_1000 ready->running", lag)
                    if "dag_1000_unqueued" not in a.skip:
                        wall, lag = dag(b, 1000)
                        add("dag_1000 unqueued", wall)
                        add("unqueued ready->running", lag)
                    if "drug_mentions" not in a.skip:
                        add("drug_mentions", drugs(b, data, work))
                    if "embed" not in a.skip:
                        add("embed " + a.embed_precision, embed(b, texts, a.threads, embed_args[k]))
                    if "link" not in a.skip:
                        add("link", link(b, people, work))
                    if "load_postgres" not in a.skip:
                        rate, index_s = load_postgres(b, url, chunks, work, "regress_%s_%d" % (k.lower(), r))
                        add("load_postgres copy", rate)
                        add("load_postgres index", index_s)
                say("round %d/%d done" % (r + 1, a.repeat))
        finally:
            if pgdir:
                stop_postgres(pgdir)
    out = {}
    say("\n%-26s %12s %12s %8s  %s" % ("workload", "A median", "B median", "B/A", "unit"))
    for w, f in figures.items():
        ma, mb = statistics.median(f["A"]), statistics.median(f["B"])
        out[w] = {"A": f["A"], "B": f["B"], "ratio": mb / ma, "unit": f["unit"]}
        say("%-26s %12.3f %12.3f %8.3f  %s" % (w, ma, mb, mb / ma, f["unit"]))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"a": bins["A"], "b": bins["B"], "cpu": cpu_model(), "load": load,
                       "figures": out}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
