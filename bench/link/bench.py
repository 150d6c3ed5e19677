#!/usr/bin/env python3
"""Record-linkage benchmark: Python recordlinkage against sluice's `link` op, same files, same
blocking, same comparisons.

    bench.py [--records 1000000] [--seed 1] [--febrl /work/shared/febrl]
             [--sluice target/release/sluice] [--skip-synthetic]
             [--skip-recordlinkage-synthetic] [--peer-timeout 1800]
             [--workdir DIR] [--keep] [--json] [--out FILE.json]

1. Creates (once) the virtualenv .venv-bench at the repository root with
   bench/link/requirements.txt (recordlinkage 0.16 and its pandas / scikit-learn stack from
   PyPI), or reuses it.
2. Data sets, each a pair of FEBRL4-shaped files dataset4a.csv / dataset4b.csv:
     febrl4     the real FEBRL4 files in --febrl (5,000 + 5,000 records, 5,000 true pairs);
     synthetic  generate.py --link RECORDS/2 --seed S into TMP/synthetic (1,000,000 records by
                default: 500,000 originals + one corrupted duplicate of each), unless
                --skip-synthetic.
3. For each data set, each in its own process and measured alone (wall time and peak RSS of
   the whole command with /usr/bin/time -v, see benchlib.measure):
     recordlinkage  timeout PEER_TIMEOUT .venv-bench/bin/python bench/link/recordlinkage_ref.py
                        DATA --rules febrl4|synthetic
                    (prints one JSON line: candidates, links, P/R/F1, seconds per phase). On
                    the synthetic set it may run out of time or memory: that is reported
                    ("did not finish in N s", "killed: out of memory?") instead of failing the
                    benchmark; --skip-recordlinkage-synthetic leaves it out.
     sluice         SLUICE run bench/link/febrl4.yaml|synthetic.yaml --home TMP/home-NAME
                        --param data=DATA --force
                    then its figures (candidate pairs, links, P/R/F1, pairs/s, seconds) are read
                    back from the state store by sluice_figures().
   Both sides are timed the same way: the whole command, reading the CSV files included.
4. Prints one table (data set, tool, records, candidate pairs, links, precision / recall / F1,
   wall seconds, candidate pairs per wall second and per second of linkage proper, peak RSS)
   and the recordlinkage / sluice ratios of wall time and peak memory, with the machine's CPUs
   and load average. --json also prints every figure as one JSON line, --out writes them to a
   file.

If the sluice binary or a pipeline file is missing, the sluice side is reported as skipped and
the recordlinkage side still runs. Exit status: 0 when everything that ran succeeded (a
recordlinkage run over its time limit or killed for memory on the synthetic set counts as a
result, not a failure), 1 otherwise.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (VENV_PY, say, ensure_venv, last_json_object, measure,  # noqa: E402
                      say_load_average, write_figures, work_folder, leave_work_folder)
IMPORTS = "import recordlinkage, pandas, numpy, sklearn, jellyfish"
PIPELINES = {"febrl4": "bench/link/febrl4.yaml", "synthetic": "bench/link/synthetic.yaml"}


def sluice_json(sluice, home, args):
    cp = subprocess.run([sluice, "--home", home] + args, cwd=REPO, capture_output=True, text=True)
    if cp.returncode != 0:
        raise RuntimeError("sluice %s failed (exit %d): %s"
                           % (" ".join(args), cp.returncode, (cp.stderr + cp.stdout)[-2000:]))
    return json.loads(cp.stdout)


def pipeline_name(pipeline_file):
    """The top-level `name:` of a pipeline file (no YAML parser needed for that)."""
    with open(os.path.join(REPO, pipeline_file)) as f:
        for line in f:
            m = re.match(r"name:\s*([^\s#]+)", line)
            if m:
                return m.group(1).strip("\"'")
    return None


def sluice_figures(sluice, home, pipeline_file, task="links"):
    """The figures of the last run of pipeline_file in home, from the metrics that the `link`
    task's last attempt recorded in the state store:
        SLUICE --home HOME runs PIPELINE_NAME --limit 1 --json   -> [{"id": RUN_ID, ...}]
        SLUICE --home HOME show RUN_ID --json                    -> {"attempts": [{"task",
                                                                     "attempt", "metrics"}]}
    Returns dict(records, candidates, links, precision, recall, f1, pairs_per_s, compare_s,
    read_s, metrics) or raises RuntimeError.

    The names are those the op records (crates/sluice-link/src/lib.rs):
    candidate_pairs, links, precision, recall, f1, pairs_per_second, records_left,
    records_right (0 when deduplicating), read_seconds and link_seconds (blocking, u
    sampling, EM and scoring: everything after reading the records)."""
    name = pipeline_name(pipeline_file)
    runs = sluice_json(sluice, home, ["runs"] + ([name] if name else []) + ["--limit", "1", "--json"])
    if not runs:
        raise RuntimeError("no run of %s in %s" % (name or pipeline_file, home))
    run_id = runs[0]["id"]
    show = sluice_json(sluice, home, ["show", run_id, "--json"])
    attempts = [a for a in show.get("attempts", []) if a.get("task") == task and a.get("metrics")]
    if not attempts:
        raise RuntimeError("run %s: no metrics recorded for task %s" % (run_id, task))
    m = max(attempts, key=lambda a: a.get("attempt", 0))["metrics"]
    compare_s = m.get("link_seconds")
    return {
        "run_id": run_id,
        "records": (m.get("records_left") or 0) + (m.get("records_right") or 0) or None,
        "candidates": m.get("candidate_pairs"),
        "links": m.get("links"),
        "precision": m.get("precision"),
        "recall": m.get("recall"),
        "f1": m.get("f1"),
        "pairs_per_s": m.get("pairs_per_second"),
        "compare_s": compare_s,
        "read_s": m.get("read_seconds"),
        "metrics": m,
    }


def run_recordlinkage(data, rules, timeout_s, log_path):
    """recordlinkage_ref.py under `timeout`, under /usr/bin/time. Returns measure()'s dict plus
    the script's JSON figures, or `status` = timeout / killed / memory_error / failed."""
    cmd = ["timeout", "-k", "30", str(int(timeout_s)), VENV_PY,
           os.path.join(HERE, "recordlinkage_ref.py"), data, "--rules", rules]
    say("recordlinkage: %s" % " ".join(cmd[4:]))
    res = measure("recordlinkage", cmd, log_path)
    res["command"] = cmd
    with open(log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    if res["ok"]:
        fig = last_json_object(text)
        if fig is None:
            res.update(ok=False, status="failed", why="no JSON line in %s" % log_path)
        else:
            res.update(fig)
            res["status"] = "ok"
        return res
    rc = res["rc"]
    if rc == 124 or (rc == 137 and res["wall_s"] >= timeout_s):
        res.update(status="timeout", why="did not finish in %d s" % timeout_s)
    elif "MemoryError" in text:
        res.update(status="memory_error", why="MemoryError after %.0f s (peak RSS %s)"
                   % (res["wall_s"], fmt_mib(res["peak_mib"])))
    elif rc in (137, -9) or "signal 9" in text:
        res.update(status="killed", why="killed by SIGKILL after %.0f s, out of memory? "
                   "(peak RSS %s)" % (res["wall_s"], fmt_mib(res["peak_mib"])))
    else:
        res.update(status="failed", why="exit %d, see %s" % (rc, log_path))
    return res


def run_sluice(sluice, name, data, tmp):
    pipeline = PIPELINES[name]
    home = os.path.join(tmp, "home-" + name)
    shutil.rmtree(home, ignore_errors=True)
    cmd = [sluice, "run", pipeline, "--home", home, "--param", "data=" + data, "--force"]
    say("sluice: %s" % " ".join(cmd))
    res = measure("sluice", cmd, os.path.join(tmp, "sluice-%s.log" % name))
    res["command"] = cmd
    if not res["ok"]:
        res["status"] = "failed"
        res["why"] = "exit %d, see %s" % (res["rc"], res["log"])
        return res
    try:
        res.update(sluice_figures(sluice, home, pipeline))
        res["status"] = "ok"
    except (RuntimeError, ValueError, KeyError, OSError) as e:
        res.update(ok=False, status="failed", why="figures: %s" % e)
        say("sluice figures FAILED: %s" % e)
    return res


def fmt_mib(v):
    return "%.0f" % v if v is not None else "n/a"


def fmt_int(v):
    return "{:,}".format(v) if isinstance(v, int) else ("n/a" if v is None else str(v))


def fmt_prf(r):
    if r.get("precision") is None:
        return "n/a"
    return "%.3f/%.3f/%.3f" % (r["precision"], r["recall"], r["f1"])


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def main(argv=None):
    ap = argparse.ArgumentParser(description="Python recordlinkage vs sluice link, same inputs")
    ap.add_argument("--records", type=int, default=1000000,
                    help="synthetic records in all, half originals, half duplicates (default 1000000)")
    ap.add_argument("--seed", type=int, default=1, help="generate.py seed (default 1)")
    ap.add_argument("--febrl", default="/work/shared/febrl",
                    help="folder holding FEBRL4's dataset4a.csv and dataset4b.csv")
    ap.add_argument("--sluice", default="target/release/sluice",
                    help="sluice binary (relative to the repository root unless absolute)")
    ap.add_argument("--skip-synthetic", action="store_true", help="only the FEBRL4 files")
    ap.add_argument("--skip-recordlinkage-synthetic", action="store_true",
                    help="run only sluice on the synthetic set")
    ap.add_argument("--peer-timeout", type=int, default=1800,
                    help="time limit of each recordlinkage run in seconds (default 1800)")
    ap.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    ap.add_argument("--out", help="write every figure as JSON to this file")
    a = ap.parse_args(argv)
    if a.records < 2:
        ap.error("--records must be >= 2")

    febrl = os.path.abspath(a.febrl)
    for f in ("dataset4a.csv", "dataset4b.csv"):
        if not os.path.isfile(os.path.join(febrl, f)):
            say("%s not found (--febrl DIR: a folder with FEBRL4's dataset4a.csv and dataset4b.csv)"
                % os.path.join(febrl, f))
            return 1
    ensure_venv(REQUIREMENTS, IMPORTS)
    tmp, keep = work_folder(a, "link_bench_")
    results = {"workdir": tmp, "cpus": os.cpu_count(), "datasets": {}}
    try:
        sluice = a.sluice if os.path.isabs(a.sluice) else os.path.join(REPO, a.sluice)
        missing = []
        if not (os.path.isfile(sluice) and os.access(sluice, os.X_OK)):
            missing.append("sluice binary %s does not exist (build it: cargo build --release)" % sluice)
        for p in PIPELINES.values():
            if not os.path.isfile(os.path.join(REPO, p)):
                missing.append("pipeline %s does not exist" % p)
        for m in missing:
            say("SLUICE SKIPPED: " + m)

        sets = [("febrl4", febrl, True)]
        if not a.skip_synthetic:
            data = os.path.join(tmp, "synthetic")
            n = a.records // 2
            say("generating %d + %d synthetic records (seed %d) into %s" % (n, n, a.seed, data))
            t0 = time.perf_counter()
            subprocess.run([VENV_PY, os.path.join(HERE, "generate.py"), "--link", str(n),
                            "--seed", str(a.seed), "--out", data], check=True)
            results["generate_s"] = round(time.perf_counter() - t0, 3)
            say("  generated in %.1f s" % results["generate_s"])
            sets.append(("synthetic", data, not a.skip_recordlinkage_synthetic))

        results["load_average_before"] = list(os.getloadavg())
        for name, data, with_peer in sets:
            entry = {"data": data}
            results["datasets"][name] = entry
            if with_peer:
                entry["recordlinkage"] = run_recordlinkage(
                    data, name, a.peer_timeout, os.path.join(tmp, "recordlinkage-%s.log" % name))
            else:
                entry["recordlinkage"] = {"status": "skipped", "why": "--skip-recordlinkage-synthetic"}
            if missing:
                entry["sluice"] = {"status": "skipped", "why": "; ".join(missing)}
            else:
                entry["sluice"] = run_sluice(sluice, name, data, tmp)
            rl, sl = entry["recordlinkage"], entry["sluice"]
            if rl.get("status") == "ok" and sl.get("status") == "ok":
                entry["ratio_time"] = ratio(rl["wall_s"], sl["wall_s"])
                entry["ratio_mem"] = ratio(rl["peak_mib"], sl["peak_mib"])
        results["load_average_after"] = list(os.getloadavg())

        say()
        say("record linkage: Python recordlinkage %s vs sluice link (wall and peak RSS of the "
            "whole command, reading the CSV files included)"
            % next((d["recordlinkage"].get("version") for d in results["datasets"].values()
                    if d["recordlinkage"].get("version")), "0.16"))
        head = ("  %-9s %-13s %9s %11s %7s %19s %9s %11s %11s %9s"
                % ("data", "tool", "records", "candidates", "links", "P/R/F1", "wall s",
                   "pairs/s", "pairs/s*", "peak MiB"))
        say(head)
        for name, entry in results["datasets"].items():
            for tool in ("recordlinkage", "sluice"):
                r = entry[tool]
                if r.get("status") != "ok":
                    say("  %-9s %-13s %s" % (name, tool, {"skipped": "skipped: "}.get(
                        r.get("status"), "DID NOT FINISH: ") + r.get("why", "")))
                    continue
                cand = r.get("candidates")
                say("  %-9s %-13s %9s %11s %7s %19s %9.2f %11s %11s %9s" % (
                    name, tool, fmt_int(r.get("records")), fmt_int(cand), fmt_int(r.get("links")),
                    fmt_prf(r), r["wall_s"],
                    fmt_int(round(cand / r["wall_s"])) if cand and r["wall_s"] else "n/a",
                    fmt_int(round(r["pairs_per_s"])) if r.get("pairs_per_s") else "n/a",
                    fmt_mib(r.get("peak_mib"))))
            if entry.get("ratio_time") is not None:
                say("  %-9s recordlinkage / sluice: wall time x%s, peak memory x%s"
                    % (name, entry["ratio_time"], entry.get("ratio_mem")))
        say("  pairs/s: candidate pairs per wall second of the whole command; pairs/s*: per "
            "second of linkage proper (recordlinkage: index + compare + classify; sluice: its "
            "pairs_per_second metric), reading the files left out")
        say_load_average(results["load_average_before"], results["load_average_after"])
        write_figures(results, a.out)
        if a.json:
            say(json.dumps(results))
        ok = True
        for entry in results["datasets"].values():
            rl, sl = entry["recordlinkage"], entry["sluice"]
            if rl.get("status") not in ("ok", "skipped", "timeout", "killed", "memory_error"):
                ok = False
            if rl.get("status") in ("timeout", "killed", "memory_error") and entry is \
                    results["datasets"].get("febrl4"):
                ok = False                          # FEBRL4 is small: it must finish
            if sl.get("status") not in ("ok", "skipped"):
                ok = False
        return 0 if ok else 1
    finally:
        leave_work_folder(tmp, keep)


if __name__ == "__main__":
    sys.exit(main())
