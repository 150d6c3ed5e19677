#!/usr/bin/env python3
"""Two builds of sluice on the same inputs, in the same run: does a change of build settings
(profile, linker, features) or of code keep the benchmark figures?

Runs, for each binary, alternately (A, B, A, B…) so that both see the same machine state:

  - dag_1000: the 1,000-task noop DAG of bench/dag_1000.py (default max_parallel), total wall time;
  - drug_mentions: examples/drug_mentions/pipeline.yaml on generated inputs (bench/drug_mentions/
    generate.py, standard library only; 200,000 publications x 500 drugs by default), wall time;
  - embed: `sluice embed --bench` on generated texts (bench/embed/texts.py) with the model of
    scripts/model.sh, texts per second (its own timing, model loading excluded).

Prints the median of each for A and B and the ratio B/A (for wall times, > 1 means B is slower;
for texts/s, < 1 means B is slower). Standard library only.

Usage: bench/builds.py --a OLD/sluice --b NEW/sluice [--repeat 3] [--publications 200000]
       [--texts 500] [--threads 2] [--skip embed]
"""

import argparse
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
from benchlib import last_json_object, say  # noqa: E402

MODEL = os.path.join(REPO, ".models", "all-MiniLM-L6-v2")


def dag(binary):
    walls, _ = dag_1000.measure(binary, None, 1)
    if walls is None:
        raise SystemExit("dag_1000 failed with %s" % binary)
    return walls[0]


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


def embed(binary, texts, threads):
    cmd = [binary, "embed", "--model", MODEL, "--input", texts, "--threads", str(threads),
           "--batch-size", "32", "--bench"]
    cp = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    res = last_json_object(cp.stdout) if cp.returncode == 0 else None
    if res is None or "texts_per_second" not in res:
        raise SystemExit("embed failed with %s:\n%s" % (binary, (cp.stderr + cp.stdout)[-3000:]))
    return res["texts_per_second"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the reference binary")
    ap.add_argument("--b", required=True, help="the binary compared with it")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--publications", type=int, default=200000)
    ap.add_argument("--drugs", type=int, default=500)
    ap.add_argument("--texts", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", action="append", default=[], choices=["dag_1000", "drug_mentions", "embed"])
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    bins = {"A": os.path.abspath(a.a), "B": os.path.abspath(a.b)}
    for k, b in bins.items():
        if not os.access(b, os.X_OK):
            raise SystemExit("%s: %s is not an executable" % (k, b))
    if "embed" not in a.skip and not os.path.isdir(MODEL):
        raise SystemExit("no model at %s: run scripts/model.sh first (or --skip embed)" % MODEL)
    load = os.getloadavg()[0]
    say("A = %s\nB = %s\n%d cores, load %.2f; %d rounds, A and B alternating" % (
        bins["A"], bins["B"], os.cpu_count() or 0, load, a.repeat))
    figures = {w: {"A": [], "B": []} for w in ("dag_1000", "drug_mentions", "embed") if w not in a.skip}
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "drugs")
        if "drug_mentions" in figures:
            subprocess.run([sys.executable, os.path.join(HERE, "drug_mentions", "generate.py"),
                            "--publications", str(a.publications), "--drugs", str(a.drugs),
                            "--seed", "42", "--out", data], check=True, capture_output=True)
        texts = os.path.join(tmp, "texts.jsonl")
        if "embed" in figures:
            subprocess.run([sys.executable, os.path.join(HERE, "embed", "texts.py"), "--kind", "bench",
                            "--count", str(a.texts), "--seed", "2", "--out", texts], check=True,
                           capture_output=True)
        for r in range(a.repeat):
            for k in ("A", "B"):
                b = bins[k]
                if "dag_1000" in figures:
                    figures["dag_1000"][k].append(dag(b))
                if "drug_mentions" in figures:
                    work = os.path.join(tmp, "run-" + k)
                    os.makedirs(work, exist_ok=True)
                    figures["drug_mentions"][k].append(drugs(b, data, work))
                if "embed" in figures:
                    figures["embed"][k].append(embed(b, texts, a.threads))
            say("round %d/%d done" % (r + 1, a.repeat))
    units = {"dag_1000": "s (wall)", "drug_mentions": "s (wall)", "embed": "texts/s"}
    out = {}
    say("\n%-14s %12s %12s %8s  %s" % ("workload", "A median", "B median", "B/A", "unit"))
    for w, f in figures.items():
        ma, mb = statistics.median(f["A"]), statistics.median(f["B"])
        out[w] = {"A": f["A"], "B": f["B"], "ratio": mb / ma}
        say("%-14s %12.3f %12.3f %8.3f  %s" % (w, ma, mb, mb / ma, units[w]))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"a": bins["A"], "b": bins["B"], "load": load, "figures": out}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
