#!/usr/bin/env python3
"""Drug-mentions benchmark: the sluice pipeline against pandas, DuckDB and Polars, same inputs.

    bench.py [--publications 1000000] [--drugs 1000] [--seed 42] [--repeat 3]
             [--peers pandas,duckdb,polars] [--sluice target/release/sluice]
             [--data DIR] [--workdir DIR] [--keep] [--json]

1. Creates (once) the virtualenv /.venv-bench at the repository root with
   bench/drug_mentions/requirements.txt (pandas, DuckDB and Polars from PyPI), or reuses it
   when it can import the peers asked for.
2. Generates the inputs with generate.py into a temporary folder (TMP/data), unless --data
   points at an existing data folder (e.g. /work/shared/servier-data).
3. Runs, each in its own process and measured alone (--peers picks the Python ones, in
   that order; default all three):
     pandas   .venv-bench/bin/python bench/drug_mentions/pandas_ref.py DATA TMP/pandas.json
     duckdb   .venv-bench/bin/python bench/drug_mentions/duckdb_ref.py DATA TMP/duckdb.json
     polars   .venv-bench/bin/python bench/drug_mentions/polars_ref.py DATA TMP/polars.json
     sluice   SLUICE run examples/drug_mentions/pipeline.yaml --home TMP/home
                    --param data=DATA --param out=TMP/sluice_out --force
              (from the repository root; the pipeline writes TMP/sluice_out/graph.json)
   Wall time, and peak memory: the maximum resident set size reported by `/usr/bin/time -v`
   (GNU time: ru_maxrss of the process and its waited-for descendants, i.e. the largest
   single process of the tree, not the sum), or, without /usr/bin/time, the same figure from
   resource.getrusage(RUSAGE_CHILDREN) inside a fresh wrapper subprocess per run.
   All are run --repeat times, alternately (pandas, duckdb, polars, sluice, pandas, …) so
   that all see the same machine noise; sluice starts from a new --home each time (nothing
   cached).
4. Compares every graph with the reference one (pandas', or the first peer's when pandas is
   not run) with compare.py, and prints the median, fastest and slowest wall time of each,
   the largest peak memory, whether each output equals the reference, the ratios of sluice
   to each peer (medians; "sluice vs duckdb: x1.3 faster"), the CPU model and the load
   average before and after.

If the sluice binary or examples/drug_mentions/pipeline.yaml is missing, it says so and still
runs and reports the peers. --json prints every figure as one JSON line at the end (the keys of
the pandas-only version are kept: pandas, sluice, equal = sluice's graph equals the reference,
ratio_time and ratio_mem = pandas / sluice). Exit status: 0 when everything that ran succeeded
and every graph equals the reference, 1 otherwise.
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
                      leave_work_folder, cpu_model, say_load_average)
PIPELINE = "examples/drug_mentions/pipeline.yaml"
# The Python peers: script, and the module whose version is reported.
PEERS = {"pandas": ("pandas_ref.py", "pandas"),
         "duckdb": ("duckdb_ref.py", "duckdb"),
         "polars": ("polars_ref.py", "polars")}


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


def peer_list(text):
    """--peers: comma-separated names among PEERS, in the order given, each once."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PEERS]
    if unknown:
        raise argparse.ArgumentTypeError("unknown peer(s) %s (choose among %s)"
                                         % (", ".join(unknown), ", ".join(PEERS)))
    return list(dict.fromkeys(names))


def versions(peers):
    """{peer: version of its library in .venv-bench}."""
    code = ("import importlib, json, sys\n"
            "print(json.dumps({m: importlib.import_module(m).__version__ for m in sys.argv[1:]}))")
    cp = subprocess.run([VENV_PY, "-c", code] + [PEERS[p][1] for p in peers],
                        capture_output=True, text=True)
    got = json.loads(cp.stdout) if cp.returncode == 0 else {}
    return {p: got.get(PEERS[p][1]) for p in peers}


def ratio_text(peer, r, sl, ratio_time, ratio_mem):
    """'sluice vs duckdb: x1.3 faster, x2.0 less memory (…)' from the peer / sluice ratios."""
    def phrase(x, more, less):
        if x is None:
            return "n/a"
        return "x%.1f %s" % (x, more) if x >= 1 else "x%.1f %s" % (1 / x, less)
    return "sluice vs %s: %s, %s (%.2f s vs %.2f s, %s vs %s)" % (
        peer, phrase(ratio_time, "faster", "slower"),
        phrase(ratio_mem, "less memory", "more memory"), sl["wall_s"], r["wall_s"],
        fmt_mib(sl["peak_mib"]), fmt_mib(r["peak_mib"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description="sluice vs pandas, DuckDB and Polars on the "
                                             "drug-mentions graph")
    ap.add_argument("--publications", type=int, default=1000000)
    ap.add_argument("--drugs", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each, alternately; the median is reported (default 3)")
    ap.add_argument("--peers", type=peer_list, default=list(PEERS),
                    help="Python peers to run, comma-separated, in this order "
                         "(default pandas,duckdb,polars; the first is the reference unless "
                         "pandas is among them)")
    ap.add_argument("--sluice", default="target/release/sluice",
                    help="sluice binary (relative to the repository root unless absolute)")
    ap.add_argument("--data", help="use this data folder instead of generating one")
    ap.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    a = ap.parse_args(argv)
    peers = a.peers
    if not peers:
        ap.error("--peers: name at least one of %s" % ", ".join(PEERS))
    reference = "pandas" if "pandas" in peers else peers[0]

    ensure_venv(REQUIREMENTS, "import " + ", ".join(PEERS[p][1] for p in peers))
    tmp, keep = work_folder(a, "drug_mentions_bench_")
    results = {"publications": a.publications, "drugs": a.drugs, "workdir": tmp,
               "cpu": cpu_model(), "cpus": os.cpu_count(),
               "date": time.strftime("%Y-%m-%d %H:%M"), "peers": peers,
               "versions": versions(peers), "reference": reference}
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

        outputs = {p: os.path.join(tmp, p + ".json") for p in peers}
        sluice = a.sluice if os.path.isabs(a.sluice) else os.path.join(REPO, a.sluice)
        pipeline = os.path.join(REPO, PIPELINE)
        missing = []
        if not (os.path.isfile(sluice) and os.access(sluice, os.X_OK)):
            missing.append("sluice binary %s does not exist (build it: cargo build --release)" % sluice)
        if not os.path.isfile(pipeline):
            missing.append("pipeline %s does not exist yet" % pipeline)
        for m in missing:
            say("SLUICE SKIPPED: " + m)
        outputs["sluice"] = os.path.join(tmp, "sluice_out", "graph.json")
        home = os.path.join(tmp, "home")
        runs = {name: [] for name in peers + ([] if missing else ["sluice"])}
        repeat = max(1, a.repeat)
        load_before = os.getloadavg()
        for i in range(repeat):
            for p in peers:
                say("run %d/%d: %s ..." % (i + 1, repeat, PEERS[p][0]))
                runs[p].append(measure(p, [VENV_PY, os.path.join(HERE, PEERS[p][0]), data,
                                           outputs[p]],
                                       os.path.join(tmp, "%s-%d.log" % (p, i))))
            if missing:
                continue
            shutil.rmtree(home, ignore_errors=True)
            cmd = [sluice, "run", PIPELINE, "--home", home, "--param", "data=" + data,
                   "--param", "out=" + os.path.join(tmp, "sluice_out"), "--force"]
            say("run %d/%d: %s" % (i + 1, repeat, " ".join(cmd)))
            res = measure("sluice", cmd, os.path.join(tmp, "sluice-%d.log" % i))
            if res["ok"] and not os.path.isfile(outputs["sluice"]):
                say("sluice exited 0 but wrote no %s" % outputs["sluice"])
                res["ok"] = False
            runs["sluice"].append(res)
        load_after = os.getloadavg()
        results["load_average_before"] = [round(x, 2) for x in load_before]
        results["load_average_after"] = [round(x, 2) for x in load_after]
        summary = {name: summarize(r) for name, r in runs.items()}
        results.update(summary)
        if missing:
            results["sluice"] = {"skipped": missing}
        sl_res = summary.get("sluice")

        # every graph against the reference's
        equal = {}
        ref_ok = summary[reference]["ok"]
        for name in runs:
            if name == reference:
                continue
            if ref_ok and summary[name]["ok"]:
                say("comparing %s and %s" % (outputs[reference], outputs[name]))
                cp = subprocess.run([VENV_PY, os.path.join(HERE, "compare.py"),
                                     outputs[reference], outputs[name]])
                equal[name] = cp.returncode == 0
            else:
                equal[name] = None
        results["outputs_equal"] = equal
        results["equal"] = equal.get("sluice")

        say()
        say("drug mentions, %s" % (("data %s" % data) if a.data else
                                   "%d publications x %d drugs" % (a.publications, a.drugs)))
        say("  machine: %s, %d CPUs, %s" % (results["cpu"], results["cpus"], results["date"]))
        say("  peers: %s" % ", ".join("%s %s" % (p, v or "?")
                                      for p, v in results["versions"].items()))
        say("  %-8s %10s %17s %12s   %s" % ("", "wall", "(fastest-slowest)", "peak RSS",
                                            "graph vs " + reference))
        for name in peers + ["sluice"]:
            r = summary.get(name)
            if r is None:
                say("  %-8s %10s" % (name, "skipped"))
                continue
            same = ("(reference)" if name == reference else
                    {True: "equal", False: "DIFFERENT", None: "not compared"}[equal[name]])
            say("  %-8s %9.2fs %17s %12s   %s%s" % (
                name, r["wall_s"], "(%.2f-%.2f s)" % (r["wall_min_s"], r["wall_max_s"]),
                fmt_mib(r["peak_mib"]), same,
                "" if r["ok"] else "   FAILED (exit %d)" % r["rc"]))
        say("  (median of %d runs each, alternated)" % repeat)

        # sluice against each peer: peer / sluice, of the medians and of the peaks
        ratios = {}
        for p in peers:
            r = summary[p]
            if not (r["ok"] and sl_res and sl_res["ok"]):
                continue
            rt = round(r["wall_s"] / sl_res["wall_s"], 2) if sl_res["wall_s"] else None
            rm = (round(r["peak_mib"] / sl_res["peak_mib"], 2)
                  if r["peak_mib"] and sl_res["peak_mib"] else None)
            ratios[p] = {"time": rt, "mem": rm}
            say("  " + ratio_text(p, r, sl_res, rt, rm))
        if not ratios:
            say("  sluice vs peers: not measured (%s)" % ("sluice skipped" if missing else
                                                         "a run failed"))
        results["ratios"] = ratios
        if "pandas" in ratios:
            results["ratio_time"] = ratios["pandas"]["time"]
            if ratios["pandas"]["mem"] is not None:
                results["ratio_mem"] = ratios["pandas"]["mem"]
        say_load_average(load_before, load_after)
        if a.json:
            say(json.dumps(results))
        ok = (all(r["ok"] for r in summary.values())
              and all(v is True for v in equal.values()))
        return 0 if ok else 1
    finally:
        leave_work_folder(tmp, keep)


if __name__ == "__main__":
    sys.exit(main())
