#!/usr/bin/env python3
"""Drug-mentions benchmark: the pandas reference against the sluice pipeline, same inputs.

    bench.py [--publications 1000000] [--drugs 1000] [--seed 42] [--repeat 3]
             [--sluice target/release/sluice] [--data DIR] [--workdir DIR] [--keep] [--json]

1. Creates (once) the virtualenv /.venv-bench at the repository root with
   bench/drug_mentions/requirements.txt (pandas from PyPI), or reuses it.
2. Generates the inputs with generate.py into a temporary folder (TMP/data), unless --data
   points at an existing data folder (e.g. /work/shared/servier-data).
3. Runs, each in its own process and measured alone:
     pandas   .venv-bench/bin/python bench/drug_mentions/pandas_ref.py DATA TMP/pandas.json
     sluice   SLUICE run examples/drug_mentions/pipeline.yaml --home TMP/home
                    --param data=DATA --param out=TMP/sluice_out --force
              (from the repository root; the pipeline writes TMP/sluice_out/graph.json)
   Wall time, and peak memory: the maximum resident set size reported by `/usr/bin/time -v`
   (GNU time: ru_maxrss of the process and its waited-for descendants, i.e. the largest
   single process of the tree, not the sum), or, without /usr/bin/time, the same figure from
   resource.getrusage(RUSAGE_CHILDREN) inside a fresh wrapper subprocess per run.
   Both are run --repeat times, alternately (pandas, sluice, pandas, sluice…) so that both
   see the same machine noise; sluice starts from a new --home each time (nothing cached).
4. Compares the two graphs with compare.py and prints the median, fastest and slowest wall
   time of each, the largest peak memory, the pandas/sluice ratios of the medians and whether
   the outputs are equal.

If the sluice binary or examples/drug_mentions/pipeline.yaml is missing, it says so and still
runs and reports the pandas side. Exit status: 0 when everything ran (and, if sluice ran, the
graphs are equal), 1 otherwise.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (VENV_PY, say, ensure_venv, measure, work_folder,  # noqa: E402
                      leave_work_folder)
PIPELINE = "examples/drug_mentions/pipeline.yaml"


def fmt_mib(v):
    return "%.0f MiB" % v if v is not None else "n/a"


def summarize(runs):
    """One result out of repeated runs: median wall time, its range, the largest peak."""
    ok = all(r["ok"] for r in runs)
    walls = sorted(r["wall_s"] for r in runs)
    peaks = [r["peak_mib"] for r in runs if r["peak_mib"] is not None]
    failed = next((r for r in runs if not r["ok"]), runs[-1])
    return {"ok": ok, "rc": failed["rc"], "log": failed["log"], "runs": len(runs),
            "wall_s": round(statistics.median(walls), 3), "wall_min_s": walls[0],
            "wall_max_s": walls[-1], "peak_mib": max(peaks) if peaks else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description="pandas vs sluice on the drug-mentions graph")
    ap.add_argument("--publications", type=int, default=1000000)
    ap.add_argument("--drugs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each, alternately; the median is reported (default 3)")
    ap.add_argument("--sluice", default="target/release/sluice",
                    help="sluice binary (relative to the repository root unless absolute)")
    ap.add_argument("--data", help="use this data folder instead of generating one")
    ap.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    a = ap.parse_args(argv)

    ensure_venv(REQUIREMENTS, "import pandas")
    tmp, keep = work_folder(a, "drug_mentions_bench_")
    results = {"publications": a.publications, "drugs": a.drugs, "workdir": tmp}
    try:
        if a.data:
            data = os.path.abspath(a.data)
            results["data"] = data
            say("data: %s" % data)
        else:
            data = os.path.join(tmp, "data")
            say("generating %d publications x %d drugs into %s" % (a.publications, a.drugs, data))
            t0 = time.perf_counter()
            subprocess.run([VENV_PY, os.path.join(HERE, "generate.py"),
                            "--publications", str(a.publications), "--drugs", str(a.drugs),
                            "--seed", str(a.seed), "--out", data], check=True)
            results["generate_s"] = round(time.perf_counter() - t0, 3)
            say("  generated in %.1f s" % results["generate_s"])

        pandas_out = os.path.join(tmp, "pandas.json")
        sluice = a.sluice if os.path.isabs(a.sluice) else os.path.join(REPO, a.sluice)
        pipeline = os.path.join(REPO, PIPELINE)
        missing = []
        if not (os.path.isfile(sluice) and os.access(sluice, os.X_OK)):
            missing.append("sluice binary %s does not exist (build it: cargo build --release)" % sluice)
        if not os.path.isfile(pipeline):
            missing.append("pipeline %s does not exist yet" % pipeline)
        for m in missing:
            say("SLUICE SKIPPED: " + m)
        sluice_graph = os.path.join(tmp, "sluice_out", "graph.json")
        home = os.path.join(tmp, "home")
        pd_runs, sl_runs = [], []
        for i in range(max(1, a.repeat)):
            say("run %d/%d: pandas_ref.py ..." % (i + 1, max(1, a.repeat)))
            pd_runs.append(measure("pandas", [VENV_PY, os.path.join(HERE, "pandas_ref.py"),
                                              data, pandas_out],
                                   os.path.join(tmp, "pandas-%d.log" % i)))
            if missing:
                continue
            shutil.rmtree(home, ignore_errors=True)
            cmd = [sluice, "run", PIPELINE, "--home", home, "--param", "data=" + data,
                   "--param", "out=" + os.path.join(tmp, "sluice_out"), "--force"]
            say("run %d/%d: %s" % (i + 1, max(1, a.repeat), " ".join(cmd)))
            res = measure("sluice", cmd, os.path.join(tmp, "sluice-%d.log" % i))
            if res["ok"] and not os.path.isfile(sluice_graph):
                say("sluice exited 0 but wrote no %s" % sluice_graph)
                res["ok"] = False
            sl_runs.append(res)
        pd_res = summarize(pd_runs)
        results["pandas"] = pd_res
        sl_res = summarize(sl_runs) if sl_runs else None
        results["sluice"] = sl_res if sl_res else {"skipped": missing}

        equal = None
        if pd_res["ok"] and sl_res and sl_res["ok"]:
            say("comparing %s and %s" % (pandas_out, sluice_graph))
            cp = subprocess.run([VENV_PY, os.path.join(HERE, "compare.py"), pandas_out, sluice_graph])
            equal = cp.returncode == 0
        results["equal"] = equal

        say()
        say("drug mentions, %s" % (("data %s" % data) if a.data else
                                   "%d publications x %d drugs" % (a.publications, a.drugs)))
        say("  %-8s %10s %17s %12s" % ("", "wall", "(fastest-slowest)", "peak RSS"))
        for name, r in (("pandas", pd_res), ("sluice", sl_res)):
            if r is None:
                say("  %-8s %10s" % (name, "skipped"))
            else:
                say("  %-8s %9.2fs %17s %12s%s" % (
                    name, r["wall_s"], "(%.2f-%.2f s)" % (r["wall_min_s"], r["wall_max_s"]),
                    fmt_mib(r["peak_mib"]), "" if r["ok"] else "   FAILED (exit %d)" % r["rc"]))
        say("  (median of %d runs each, alternated)" % pd_res["runs"])
        if pd_res["ok"] and sl_res and sl_res["ok"]:
            results["ratio_time"] = round(pd_res["wall_s"] / sl_res["wall_s"], 2) if sl_res["wall_s"] else None
            if pd_res["peak_mib"] and sl_res["peak_mib"]:
                results["ratio_mem"] = round(pd_res["peak_mib"] / sl_res["peak_mib"], 2)
            say("  pandas/sluice: time x%s, peak memory x%s"
                % (results.get("ratio_time"), results.get("ratio_mem")))
        say("  outputs equal: %s" % {True: "yes", False: "NO", None: "not compared"}[equal])
        if a.json:
            say(json.dumps(results))
        ok = pd_res["ok"] and (sl_res is None or (sl_res["ok"] and equal))
        return 0 if ok else 1
    finally:
        leave_work_folder(tmp, keep)


if __name__ == "__main__":
    sys.exit(main())
