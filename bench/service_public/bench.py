#!/usr/bin/env python3
"""Service-public sheets benchmark: parse + chunk, the Python reference against sluice.

    bench.py [--data DIR | --sheets 50000 --seed 42] [--repeat 3]
             [--sluice target/release/sluice] [--tokenizer .models/all-MiniLM-L6-v2/tokenizer.json]
             [--size 256] [--workdir DIR] [--keep] [--json] [--python-only]

1. Reuses the virtualenv .venv-bench at the repository root, installing
   bench/service_public/requirements.txt into it (created if needed) when one of its
   packages does not import.
2. Input: DIR/vosdroits-latest.zip with --data, otherwise generate.py writes --sheets sheets
   into a temporary folder (TMP/data).
3. Runs, each in its own process and measured alone, --repeat times, alternately (python,
   sluice, python, sluice...) so both see the same machine noise:
     python  .venv-bench/bin/python bench/service_public/reference.py ZIP
                 --tokenizer TOKENIZER --size SIZE --out TMP/reference.parquet
     sluice  SLUICE --home TMP/home-<i> run bench/service_public/pipeline.yaml
                 --param data=ZIP --param tokenizer=TOKENIZER --json
             (a fresh --home each run: nothing cached; from the repository root)
   then, outside the timing, reads the sluice chunk count with
     SLUICE --home TMP/home-<i> sql "select count(*) as n from service_public_bench.chunks"
            --format json
   Wall time is measured around each process; peak memory is the "Maximum resident set
   size" of /usr/bin/time -v (GNU time: the largest single process of the tree), or, without
   it, resource.getrusage(RUSAGE_CHILDREN).ru_maxrss in a fresh wrapper process per run.
4. Prints, for each side, the median / fastest / slowest wall time, documents/s and MB/s
   (over the median), the largest peak RSS and the chunk count, then the ratio
   python median / sluice median. Documents = the F*.xml / N*.xml members of the zip (the
   sheets both sides parse); MB = their uncompressed size, 10^6 bytes.

The sluice binary is not built here: if it is missing, bench.py says to run
`cargo build --release -p sluice` and exits 2 (likewise if bench/service_public/pipeline.yaml
is missing). --python-only measures the reference alone. Exit status: 0 when every run
succeeded, 1 otherwise, 2 when sluice or its pipeline is missing.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (VENV_PY, say, ensure_venv, tail, last_json_object,  # noqa: E402
                      measure as measure_once, work_folder, leave_work_folder)
PIPELINE = "bench/service_public/pipeline.yaml"
TOKENIZER = ".models/all-MiniLM-L6-v2/tokenizer.json"
ZIP_NAME = "vosdroits-latest.zip"
COUNT_SQL = "select count(*) as n from service_public_bench.chunks"
IMPORTS = "import bs4, lxml, langchain_text_splitters, tokenizers, pyarrow, xxhash"


def zip_sheets(path):
    """(number of F*/N* .xml members, their uncompressed bytes, zip size)."""
    n = size = 0
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            base = os.path.basename(info.filename)
            if not info.is_dir() and base.endswith(".xml") and base.startswith(("F", "N")):
                n += 1
                size += info.file_size
    return n, size, os.path.getsize(path)


def measure(name, cmd, log_path):
    """One timed run (benchlib.measure), with the chunk count filled in later."""
    return dict(measure_once(name, cmd, log_path), chunks=None)


def last_json_line(path):
    """The last line of the file that parses as a JSON object, or None."""
    return last_json_object("\n".join(tail(path, 200)))


def sluice_chunks(sluice, home, log_path):
    """Chunk count of a finished sluice run, read with `sluice sql ... --format json`."""
    cp = subprocess.run([sluice, "--home", home, "sql", COUNT_SQL, "--format", "json"],
                        cwd=REPO, capture_output=True, text=True)
    with open(log_path, "a") as log:
        log.write("\n$ sluice sql %r --format json\n%s%s" % (COUNT_SQL, cp.stdout, cp.stderr))
    if cp.returncode != 0:
        say("sluice sql FAILED (exit %d): %s" % (cp.returncode, cp.stderr.strip()[-500:]))
        return None
    try:
        rows = json.loads(cp.stdout)
        return int(rows[0]["n"])
    except (ValueError, LookupError, TypeError):
        say("sluice sql: unexpected output %r" % cp.stdout[:200])
        return None


def summarize(runs):
    """One result out of repeated runs: median wall time, its range, the largest peak."""
    ok = all(r["ok"] for r in runs)
    walls = sorted(r["wall_s"] for r in runs)
    peaks = [r["peak_mib"] for r in runs if r["peak_mib"] is not None]
    chunks = sorted({r["chunks"] for r in runs if r["chunks"] is not None})
    failed = next((r for r in runs if not r["ok"]), runs[-1])
    return {"ok": ok, "rc": failed["rc"], "log": failed["log"], "runs": len(runs),
            "wall_s": round(statistics.median(walls), 3), "wall_min_s": walls[0],
            "wall_max_s": walls[-1], "peak_mib": max(peaks) if peaks else None,
            "chunks": chunks[0] if len(chunks) == 1 else (chunks or None)}


def fmt_mib(v):
    return "%.0f MiB" % v if v is not None else "n/a"


def main(argv=None):
    ap = argparse.ArgumentParser(description="Python reference vs sluice on service-public sheets")
    ap.add_argument("--data", help="folder holding vosdroits-latest.zip (default: generate one)")
    ap.add_argument("--sheets", type=int, default=50000, help="sheets to generate without --data")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each, alternately; the median is reported (default 3)")
    ap.add_argument("--sluice", default="target/release/sluice",
                    help="sluice binary (relative to the repository root unless absolute)")
    ap.add_argument("--tokenizer", default=TOKENIZER,
                    help="HF tokenizer.json (default %s, made by scripts/model.sh)" % TOKENIZER)
    ap.add_argument("--size", type=int, default=256, help="chunk size in tokens (default 256)")
    ap.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--json", action="store_true", help="also print the results as one JSON line")
    ap.add_argument("--python-only", action="store_true", help="run the Python reference only")
    a = ap.parse_args(argv)

    sluice = a.sluice if os.path.isabs(a.sluice) else os.path.join(REPO, a.sluice)
    pipeline = os.path.join(REPO, PIPELINE)
    tokenizer = os.path.abspath(os.path.join(REPO, a.tokenizer))
    if not a.python_only:
        if not (os.path.isfile(sluice) and os.access(sluice, os.X_OK)):
            say("sluice binary %s not found: build it first with\n"
                "    cargo build --release -p sluice\n"
                "(or point --sluice at one; --python-only runs the reference alone)" % sluice)
            return 2
        if not os.path.isfile(pipeline):
            say("pipeline %s not found (--python-only runs the reference alone)" % pipeline)
            return 2
    if not os.path.isfile(tokenizer):
        say("tokenizer %s not found: run scripts/model.sh (or pass --tokenizer)" % tokenizer)
        return 2

    ensure_venv(REQUIREMENTS, IMPORTS)
    tmp, keep = work_folder(a, "service_public_bench_")
    results = {"workdir": tmp, "size": a.size, "tokenizer": tokenizer}
    try:
        if a.data:
            data = os.path.abspath(a.data)
        else:
            data = os.path.join(tmp, "data")
            say("generating %d sheets into %s" % (a.sheets, data))
            t0 = time.perf_counter()
            subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), "--sheets",
                            str(a.sheets), "--seed", str(a.seed), "--out", data], check=True)
            results["generate_s"] = round(time.perf_counter() - t0, 3)
        zpath = os.path.join(data, ZIP_NAME)
        if not os.path.isfile(zpath):
            say("%s not found (make it with bench/service_public/generate.py --sheets N --out %s)"
                % (zpath, data))
            return 2
        docs, xml_bytes, zip_bytes = zip_sheets(zpath)
        results.update({"zip": zpath, "documents": docs, "xml_bytes": xml_bytes,
                        "zip_bytes": zip_bytes})
        say("input: %s, %d sheets (F*/N* members), %.1f MB of XML, zip %.1f MB"
            % (zpath, docs, xml_bytes / 1e6, zip_bytes / 1e6))

        ref_out = os.path.join(tmp, "reference.parquet")
        py_runs, sl_runs = [], []
        n = max(1, a.repeat)
        for i in range(n):
            say("run %d/%d: reference.py ..." % (i + 1, n))
            log = os.path.join(tmp, "python-%d.log" % i)
            res = measure("python", [VENV_PY, os.path.join(HERE, "reference.py"), zpath,
                                     "--tokenizer", tokenizer, "--size", str(a.size),
                                     "--out", ref_out], log)
            if res["ok"]:
                line = last_json_line(log)
                res["chunks"] = line.get("chunks") if line else None
                res["inner"] = line
            py_runs.append(res)
            if a.python_only:
                continue
            home = os.path.join(tmp, "home-%d" % i)
            shutil.rmtree(home, ignore_errors=True)
            cmd = [sluice, "--home", home, "run", PIPELINE, "--param", "data=" + zpath,
                   "--param", "tokenizer=" + tokenizer, "--json"]
            say("run %d/%d: %s" % (i + 1, n, " ".join(cmd)))
            log = os.path.join(tmp, "sluice-%d.log" % i)
            res = measure("sluice", cmd, log)
            if res["ok"]:
                res["chunks"] = sluice_chunks(sluice, home, log)
                res["inner"] = last_json_line(log)
            sl_runs.append(res)
            shutil.rmtree(home, ignore_errors=True)
            if not res["ok"]:
                say("sluice failed: no further runs")
                break

        py = summarize(py_runs)
        sl = summarize(sl_runs) if sl_runs else None
        results["python"] = py
        results["sluice"] = sl if sl else {"skipped": "--python-only"}
        for r in (py, sl):
            if r and r["ok"] and r["wall_s"]:
                r["docs_per_s"] = round(docs / r["wall_s"], 1)
                r["mb_per_s"] = round(xml_bytes / 1e6 / r["wall_s"], 2)

        say()
        say("service-public sheets: %d sheets, %.1f MB of XML (zip %.1f MB), chunks of %d tokens"
            % (docs, xml_bytes / 1e6, zip_bytes / 1e6, a.size))
        say("  %-7s %10s %19s %10s %9s %10s %10s"
            % ("", "median", "(fastest-slowest)", "docs/s", "MB/s", "peak RSS", "chunks"))
        for name, r in (("python", py), ("sluice", sl)):
            if r is None:
                say("  %-7s %10s" % (name, "skipped"))
                continue
            if not r["ok"]:
                say("  %-7s FAILED (exit %d), see %s" % (name, r["rc"], r["log"]))
                continue
            chunks = r["chunks"]
            say("  %-7s %9.2fs %19s %10.1f %9.2f %10s %10s%s" % (
                name, r["wall_s"], "(%.2f-%.2f s)" % (r["wall_min_s"], r["wall_max_s"]),
                r.get("docs_per_s", 0.0), r.get("mb_per_s", 0.0), fmt_mib(r["peak_mib"]),
                chunks if not isinstance(chunks, list) else "/".join(map(str, chunks)), ""))
        say("  (median of %d runs%s; MB = 10^6 bytes of uncompressed sheet XML)"
            % (py["runs"], "" if a.python_only else " each, alternated"))
        if py["ok"] and sl and sl["ok"]:
            if sl["wall_s"]:
                results["ratio_time"] = round(py["wall_s"] / sl["wall_s"], 2)
            if py["peak_mib"] and sl["peak_mib"]:
                results["ratio_mem"] = round(py["peak_mib"] / sl["peak_mib"], 2)
            say("  python/sluice: time x%s, peak memory x%s"
                % (results.get("ratio_time"), results.get("ratio_mem")))
            same = py["chunks"] is not None and py["chunks"] == sl["chunks"]
            results["chunks_equal"] = same
            say("  chunk counts: %s" % ("equal" if same else "DIFFER (python %s, sluice %s)"
                                        % (py["chunks"], sl["chunks"])))
        if a.json:
            say(json.dumps(results))
        return 0 if py["ok"] and (sl is None or sl["ok"]) else 1
    finally:
        leave_work_folder(tmp, keep)


if __name__ == "__main__":
    sys.exit(main())
