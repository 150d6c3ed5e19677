#!/usr/bin/env python3
"""PostgreSQL + pgvector load benchmark: embedded service-public chunks, mediatech's method
(psycopg2 executemany of INSERT ... ON CONFLICT DO UPDATE) against sluice's load.postgres.

    bench.py [--data DIR | --rows 100000 --docs 20000 --seed 3] [--batch 10]
             [--connect pool|per-batch] [--rebuild-indexes] [--no-verify]
             [--no-reload] [--sluice target/release/sluice] [--out FILE.json] [--workdir DIR] [--keep]

1. Reuses the virtualenv .venv-bench at the repository root, installing
   bench/load_postgres/requirements.txt into it (created if needed) when one of its
   packages does not import.
2. Input: --data DIR (DIR/chunks.parquet), otherwise generate.py writes --rows chunks of
   --docs documents (--seed) into TMP/data (100,000 rows: about 20 s).
3. Starts a throwaway PostgreSQL 16 + pgvector with `scripts/postgres.sh start TMP/pg`
   (the pgserver package; as root the server runs as the user sluice-pg; fsync and
   synchronous_commit are off there) and stops it at the end, failure or not.
4. Reference, in its own process, into the table service_public:
     .venv-bench/bin/python bench/load_postgres/reference.py --url URL --data DIR
         --batch B --connect C [--rebuild-indexes] [--verify]
   It prints one JSON line; rows/s = rows / the seconds spent in the database calls of its
   insert loop (reading Parquet and building the Python rows excluded).
5. sluice, into its own table service_public_sluice of the same server (run_sluice):
     target/release/sluice --home TMP/sluice-home run bench/load_postgres/pipeline.yaml
         --param data=DIR/chunks.parquet --param url=URL
   rows/s = rows / copy_s, the load task's seconds of reading Parquet, encoding and
   binary COPY; the HNSW and doc_id indexes it builds in the same transaction are counted
   apart (index_s). Then, unless --no-reload, the next version of the data (generate.py
   --mutate 1 1) is loaded into the same table: the merge's counters and seconds.
6. Prints rows, seconds, rows/s and table size of each side and the ratio
   sluice rows/s / reference rows/s (the target is x10 or more), with the load average;
   --out writes every figure as JSON.

Exit status: 0 when the reference ran fine (and sluice, when it runs, too), 1 when a side
failed, 2 when --data has no chunks.parquet or the server could not start.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (VENV_PY, say, ensure_venv, last_json_object, start_postgres,  # noqa: E402
                      stop_postgres, say_load_average, write_figures, work_folder,
                      leave_work_folder)
IMPORTS = "import psycopg2, pyarrow, numpy, xxhash"
FILE = "chunks.parquet"
TABLE_REFERENCE = "service_public"
TABLE_SLUICE = "service_public_sluice"


def run_reference(url, data, batch, connect, rebuild_indexes, verify, log_path):
    cmd = [VENV_PY, os.path.join(HERE, "reference.py"), "--url", url, "--data", data,
           "--batch", str(batch), "--connect", connect, "--table", TABLE_REFERENCE]
    if rebuild_indexes:
        cmd.append("--rebuild-indexes")
    if verify:
        cmd.append("--verify")
    say("reference: %s" % " ".join(cmd))
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        cp = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=log, text=True)
    wall = time.perf_counter() - t0
    res = last_json_object(cp.stdout)
    if cp.returncode != 0 or res is None:
        with open(log_path) as f:
            err = f.read()
        say("reference FAILED (exit %d):\n%s" % (cp.returncode, (err + cp.stdout)[-3000:]))
        out = {"ok": False, "rc": cp.returncode, "command": cmd}
        if res is not None:
            out["result"] = res
        return out
    res.update({"ok": True, "wall_s": round(wall, 3), "command": cmd})
    return res


def sluice_json(sluice, home, args):
    cp = subprocess.run([sluice, "--home", home] + args, cwd=REPO, capture_output=True, text=True)
    if cp.returncode != 0:
        raise RuntimeError("sluice %s failed: %s" % (" ".join(args), cp.stderr[-2000:]))
    return json.loads(cp.stdout)


def table_bytes(url, table):
    """pg_total_relation_size of a table (heap, TOAST, indexes), through psycopg2."""
    code = ("import psycopg2, sys; c = psycopg2.connect(sys.argv[1]); cur = c.cursor(); "
            "cur.execute('SELECT pg_total_relation_size(to_regclass(%s))', (sys.argv[2],)); "
            "print(cur.fetchone()[0])")
    cp = subprocess.run([VENV_PY, "-c", code, url, '"%s"' % table], capture_output=True, text=True)
    try:
        return int(cp.stdout.strip())
    except ValueError:
        return None


def run_sluice(sluice, url, data, workdir, table=TABLE_SLUICE):
    """sluice run bench/load_postgres/pipeline.yaml (read.parquet -> load.postgres) into TABLE
    of the same server. Returns the load task's counters: rows/s is rows / copy_s, the seconds
    of reading the Parquet file, encoding and sending the rows and the server storing them
    (the reference's load_s leaves reading Parquet out); the HNSW and doc_id indexes, built
    in the same transaction, are index_s, apart."""
    if not os.access(sluice, os.X_OK):
        reason = "%s not found: build it with cargo build --release" % sluice
        say(reason)
        return {"skipped": reason}
    home = os.path.join(workdir, "sluice-home")
    cmd = [sluice, "--home", home, "run", os.path.join(HERE, "pipeline.yaml"),
           "--param", "data=" + os.path.join(data, FILE), "--param", "url=" + url,
           "--param", "table=" + table]
    say("sluice: %s" % " ".join(cmd))
    t0 = time.perf_counter()
    with open(os.path.join(workdir, "sluice-%s.log" % os.path.basename(data)), "w") as log:
        cp = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if cp.returncode != 0:
        return {"ok": False, "rc": cp.returncode, "command": cmd}
    run_id = sluice_json(sluice, home, ["runs", "--json", "--limit", "1"])[0]["id"]
    show = sluice_json(sluice, home, ["show", run_id, "--json"])
    m = [a for a in show["attempts"] if a["task"] == "load"][-1]["metrics"]
    return {"ok": True, "rows": m["rows"], "seconds": m["copy_s"],
            "rows_per_s": round(m["rows"] / m["copy_s"], 1), "metrics": m,
            "wall_s": round(wall, 3), "table_bytes": table_bytes(url, table), "command": cmd}


def parquet_bytes(data):
    return os.path.getsize(os.path.join(data, FILE))


def fmt_mb(b):
    return "%.1f MB" % (b / 1e6) if b is not None else "n/a"


def main(argv=None):
    ap = argparse.ArgumentParser(description="mediatech's psycopg2 upsert vs sluice load.postgres")
    ap.add_argument("--data", help="folder holding chunks.parquet (default: generate one)")
    ap.add_argument("--rows", type=int, default=100_000, help="rows to generate (default 100000)")
    ap.add_argument("--docs", type=int, default=20_000, help="documents to generate (default 20000)")
    ap.add_argument("--seed", type=int, default=3, help="generate.py seed (default 3)")
    ap.add_argument("--batch", type=int, default=10,
                    help="reference rows per executemany + commit (default 10, mediatech's sheets batch)")
    ap.add_argument("--connect", choices=("pool", "per-batch"), default="pool",
                    help="reference: one reused connection (default) or one per batch")
    ap.add_argument("--rebuild-indexes", action="store_true",
                    help="reference: recreate the HNSW and doc_id indexes after the load (timed apart)")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the reference's check of the table against the Parquet file")
    ap.add_argument("--no-reload", action="store_true",
                    help="skip sluice's reload of the next version (1 %% changed, 1 %% deleted)")
    ap.add_argument("--sluice", default="target/release/sluice",
                    help="sluice binary, for run_sluice (relative to the repository root unless absolute)")
    ap.add_argument("--out", help="write the figures as JSON to this file")
    ap.add_argument("--workdir", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args(argv)

    sluice = a.sluice if os.path.isabs(a.sluice) else os.path.join(REPO, a.sluice)
    if a.data and not os.path.isfile(os.path.join(a.data, FILE)):
        say("%s not found (make it with bench/load_postgres/generate.py --out %s)"
            % (os.path.join(a.data, FILE), a.data))
        return 2
    ensure_venv(REQUIREMENTS, IMPORTS)
    tmp, keep = work_folder(a, "load_postgres_bench_")
    pgdir = os.path.join(tmp, "pg")
    started = False
    results = {"workdir": tmp, "cpus": os.cpu_count()}
    try:
        if a.data:
            data = os.path.abspath(a.data)
        else:
            data = os.path.join(tmp, "data")
            say("generating %d rows (%d documents, seed %d) into %s" % (a.rows, a.docs, a.seed, data))
            t0 = time.perf_counter()
            subprocess.run([VENV_PY, os.path.join(HERE, "generate.py"), "--rows", str(a.rows),
                            "--docs", str(a.docs), "--seed", str(a.seed), "--out", data],
                           check=True)
            results["generate_s"] = round(time.perf_counter() - t0, 3)
        results.update({"data": data, "parquet_bytes": parquet_bytes(data)})
        manifest = os.path.join(data, "manifest.json")
        if os.path.isfile(manifest):
            with open(manifest) as f:
                results["manifest"] = {k: v for k, v in json.load(f).items()
                                       if k not in ("changed", "deleted")}

        say("starting PostgreSQL (scripts/postgres.sh start %s)" % pgdir)
        try:
            url = start_postgres(pgdir)
        except RuntimeError as e:
            say(str(e))
            return 2
        started = True
        results["url"] = url
        say("server: %s" % url)

        results["load_average_before"] = list(os.getloadavg())
        ref = run_reference(url, data, a.batch, a.connect, a.rebuild_indexes, not a.no_verify,
                            os.path.join(tmp, "reference.log"))
        results["reference"] = ref
        sl = run_sluice(sluice, url, data, tmp)
        results["sluice"] = sl
        rl = None
        if sl.get("ok") and not a.no_reload:
            data2 = os.path.join(tmp, "data-mutated")
            say("generating the next version (1 %% of the documents changed, 1 %% deleted) "
                "into %s" % data2)
            subprocess.run([VENV_PY, os.path.join(HERE, "generate.py"), "--rows", str(a.rows),
                            "--docs", str(a.docs), "--seed", str(a.seed), "--out", data2,
                            "--mutate", "1", "1"], check=True)
            rl = run_sluice(sluice, url, data2, tmp)
            results["sluice_reload"] = rl
        results["load_average_after"] = list(os.getloadavg())

        rows = ref.get("rows") or (results.get("manifest") or {}).get("rows")
        say()
        say("load into PostgreSQL %s + pgvector %s: %s rows (%s documents), %s-d vectors, "
            "Parquet %s" % (ref.get("server_version", "?"), ref.get("pgvector", "?"),
                            "{:,}".format(rows) if rows else "?",
                            "{:,}".format(ref["docs"]) if ref.get("docs") else "?",
                            ref.get("dimension", "?"), fmt_mb(results["parquet_bytes"])))
        say("  %-36s %9s %10s %10s %12s" % ("", "rows", "seconds", "rows/s", "table size"))
        name_ref = "reference (executemany, batch %d)" % a.batch
        if ref.get("ok"):
            say("  %-36s %9d %10.2f %10.1f %12s" % (name_ref, ref["rows"], ref["load_s"],
                                                    ref["rows_per_s"], fmt_mb(ref["table_bytes"])))
        else:
            say("  %-36s FAILED (exit %s), see %s" % (name_ref, ref.get("rc"),
                                                     os.path.join(tmp, "reference.log")))
        if sl.get("skipped"):
            say("  %-36s skipped: %s" % ("sluice (load.postgres)", sl["skipped"]))
        elif not sl.get("ok"):
            say("  %-36s FAILED (exit %s)" % ("sluice (load.postgres)", sl.get("rc")))
        else:
            say("  %-36s %9d %10.2f %10.1f %12s" % ("sluice (load.postgres)", sl["rows"],
                                                    sl["seconds"], sl["rows_per_s"],
                                                    fmt_mb(sl.get("table_bytes"))))
            m = sl["metrics"]
            say("  sluice: seconds = reading Parquet + encoding + binary COPY into the new "
                "table (copy_s); then in the same transaction the HNSW (m 16, "
                "ef_construction 128, maintenance_work_mem 1GB) and doc_id indexes %.1f s, "
                "ANALYZE %.1f s; process wall %.1f s" % (m["index_s"], m["analyze_s"],
                                                         sl["wall_s"]))
            if rl and rl.get("ok"):
                m = rl["metrics"]
                say("  sluice reload (1 %% of documents changed, 1 %% deleted): %d rows, "
                    "%d inserted, %d updated, %d deleted, %d unchanged; copy to staging %.1f s, "
                    "merge %.1f s (HNSW updated row by row), ANALYZE %.1f s; process wall %.1f s"
                    % (m["rows"], m["inserted"], m["updated"], m["deleted"], m["unchanged"],
                       m["copy_s"], m["merge_s"], m["analyze_s"], rl["wall_s"]))
            elif rl:
                say("  sluice reload FAILED (exit %s)" % rl.get("rc"))
        if ref.get("ok"):
            say("  reference: %s connection%s; reading Parquet and building rows (%.1f s) not "
                "counted; process wall %.1f s" % (
                    "one reused" if a.connect == "pool" else "a new",
                    "" if a.connect == "pool" else " per batch", ref["prepare_s"] + ref["read_parquet_s"],
                    ref["wall_s"]))
            if ref.get("index_s") is not None:
                say("  reference: HNSW + doc_id indexes and ANALYZE after the load: %.1f s"
                    % ref["index_s"])
            if ref.get("verify"):
                v = ref["verify"]
                say("  reference table check: %s (%d rows, %d documents, %d rows compared, "
                    "vectors exact: %s)" % ("ok" if v["ok"] else "FAILED: " + "; ".join(v["problems"]),
                                            v["rows"], v["docs"], v["checked"],
                                            v["vector_max_abs_diff"] == 0.0))
        if ref.get("ok") and sl.get("ok") and ref.get("rows_per_s"):
            results["ratio_sluice_over_reference"] = round(sl["rows_per_s"] / ref["rows_per_s"], 2)
            say("  sluice / reference (rows/s): x%.2f (target: x10 or more)"
                % results["ratio_sluice_over_reference"])
        say_load_average(results["load_average_before"], results["load_average_after"])
        write_figures(results, a.out)
        ok = ref.get("ok") and (ref.get("verify") or {"ok": True})["ok"] \
            and (sl.get("skipped") or sl.get("ok")) and (rl is None or rl.get("ok"))
        return 0 if ok else 1
    finally:
        if started:
            stop_postgres(pgdir)
        leave_work_folder(tmp, keep)


if __name__ == "__main__":
    sys.exit(main())
