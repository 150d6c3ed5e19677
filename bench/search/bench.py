#!/usr/bin/env python3
"""Search quality and speed on 100,000 vectors: sluice's embedded HNSW index and pgvector's
HNSW index, each against exact search (recall@10), with queries/s.

    bench.py [--data DIR] [--queries 200] [--k 10] [--ef 16 32 64 128 256] [--no-postgres]
             [--model DIR] [--sluice BIN] [--recall-bin BIN] [--out FILE.json] [--keep]

1. Data: the *.parquet files of DIR, in name order, with `chunk_id` and `embedding`
   (bench/load_postgres/generate.py's, generated into a temporary folder when --data is not
   given: 100,000 rows, random 384-d unit vectors, seed 3; or the same chunks embedded by
   all-MiniLM-L6-v2 with bench/search/embed.yaml, see README.md).
2. Queries, --queries of each kind (numpy, seed 11):
     texts:  with --model, held-out chunks (generate.py --seed 99: documents not in the data)
             embedded by that model with `sluice embed`: real questions of the same kind;
     near:   normalise(0.6 * v + 0.8 * g), v a vector of the dataset, g a random unit vector:
             a question about one document (cosine about 0.6 with it);
     random: random unit vectors, the hardest case for any graph index (no neighbour stands out).
   The exact top-k of each query is computed with numpy (cosine).
3. sluice: `cargo run --release -p sluice-vector --example recall` builds the embedded index
   of the `embedding` column (m 16, ef_construction 100; the build is timed) and runs the
   queries at each --ef: recall@k against its own exact search (the same as numpy's) and
   queries/s (one thread, in process); one build serves every kind of query.
4. pgvector (unless --no-postgres): scripts/postgres.sh starts a server, sluice loads the data
   with bench/load_postgres/pipeline.yaml (HNSW m 16, ef_construction 128, vector_cosine_ops),
   then for each ef, `SET hnsw.ef_search` and one `ORDER BY embedding <=> q LIMIT k` per query
   through psycopg2: recall@k against numpy's exact top-k, queries/s (client round trips
   included).
5. Filtered queries (--where-column theme --where-shares 10 1): for each share, the value of
   the column whose rows come closest to it; `column = 'value'` on both sides. sluice: the
   index's filtered search (the rows the predicate keeps, as `sluice search --where` finds
   them); pgvector: `WHERE column = 'value' ORDER BY ... LIMIT k`. Recall@k against numpy's
   exact top-k among the kept rows, and the rows returned on average (k, unless the index
   gives up early: pgvector 0.6's HNSW scan filters its ef_search candidates afterwards).
   pgvector's own execution time is also read from EXPLAIN ANALYZE (server-side queries/s,
   no client round trip).
6. With --server HOME (a sluice home where embed.yaml ran; needs --model): `sluice serve` on
   that home, then one `POST /api/search` per held-out text and per its first eight words
   (a typed query), one client, with and without the narrowest filter: the request's latency
   as the client sees it and the server's `Server-Timing` (embedding the query, searching),
   i.e. the share of a request spent embedding the query.
Needs .venv-bench (bench/load_postgres/requirements.txt: psycopg2, pyarrow, numpy).
"""

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (VENV_PY, say, ensure_venv, start_postgres, stop_postgres,  # noqa: E402
                      start_sluice_serve, write_figures)

LOAD = os.path.join(REPO, "bench", "load_postgres")
REQUIREMENTS = os.path.join(LOAD, "requirements.txt")
IMPORTS = "import psycopg2, pyarrow, numpy"
TABLE = "search_bench"


def inner(args):
    """Runs inside .venv-bench (numpy, pyarrow, psycopg2)."""
    import numpy as np
    import pyarrow.parquet as pq
    import glob
    files = sorted(glob.glob(os.path.join(args.data, "*.parquet")))
    table = pq.read_table(files, columns=["chunk_id", "embedding", args.where_column])
    ids = table.column("chunk_id").to_pylist()
    flat = table.column("embedding").combine_chunks().values.to_numpy(zero_copy_only=False)
    x = flat.reshape(len(ids), -1).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rng = np.random.default_rng(11)
    dim = x.shape[1]

    def unit(v):
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    g = unit(rng.standard_normal((args.queries, dim)).astype(np.float32))
    picks = rng.choice(len(ids), args.queries, replace=False)
    kinds = {}
    if args.model:
        # Held-out texts: chunks of other documents (generate.py, another seed), embedded
        # by the model that made the dataset's vectors.
        held = os.path.join(args.work, "heldout")
        subprocess.run([sys.executable, os.path.join(LOAD, "generate.py"), "--rows",
                        str(args.queries), "--docs", str(max(1, args.queries // 4)), "--seed", "99",
                        "--out", held], check=True, stdout=subprocess.DEVNULL)
        texts = pq.read_table(os.path.join(held, "chunks.parquet"),
                              columns=["chunk_text"]).column("chunk_text").to_pylist()
        tfile = os.path.join(args.work, "texts.jsonl")
        with open(tfile, "w") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
        cp = subprocess.run([args.sluice, "embed", "--model", args.model, "--input", tfile],
                            capture_output=True, text=True)
        if cp.returncode != 0:
            raise SystemExit("sluice embed failed:\n" + cp.stderr[-3000:])
        vecs = [json.loads(line)["embedding"] for line in cp.stdout.splitlines() if line.strip()]
        kinds["texts"] = unit(np.array(vecs, dtype=np.float32))
    kinds["near"] = unit(0.6 * x[picks] + 0.8 * g)
    kinds["random"] = unit(rng.standard_normal((args.queries, dim)).astype(np.float32))
    results = {"rows": len(ids), "dimension": dim, "queries": args.queries, "k": args.k}
    # Filters: for each share, the column's value whose rows come closest to it.
    col = np.array([str(v) for v in table.column(args.where_column).to_pylist()], dtype=object)
    values, counts = np.unique(col, return_counts=True)
    filters = []
    for share in args.where_shares:
        best = int(np.argmin(np.abs(counts / len(col) - share / 100.0)))
        value = str(values[best])
        rows = np.flatnonzero(col == value)
        afile = os.path.join(args.work, "allow-%g.json" % share)
        with open(afile, "w") as f:
            json.dump(rows.tolist(), f)
        filters.append({"share_wanted": share, "value": value, "rows": len(rows),
                        "share": len(rows) / len(col), "file": afile, "kept": rows,
                        "sql": "%s = '%s'" % (args.where_column, value.replace("'", "''"))})
    # Each query's exact top-k among each filter's rows, for both sides.
    wanted = {(f["sql"], kind): filtered_exact(q, x, f["kept"], args.k)
              for f in filters for kind, q in kinds.items()}
    results["filters"] = [{k: f[k] for k in ("share_wanted", "value", "rows", "share", "sql")}
                          for f in filters]
    exact = {}
    qfiles = []
    for kind, q in kinds.items():
        exact[kind] = np.argsort(-(q @ x.T), axis=1)[:, :args.k]
        qfile = os.path.join(args.work, "queries-%s.json" % kind)
        with open(qfile, "w") as f:
            json.dump(q.tolist(), f)
        qfiles.append(qfile)
    recall = ([args.recall_bin] if args.recall_bin else
              ["cargo", "run", "--quiet", "--release", "-p", "sluice-vector", "--example",
               "recall", "--"])
    if not args.only_update:
        # One index build serves every kind of query.
        say("sluice: %s queries" % ", ".join(kinds))
        allow = ["--allow", ",".join(f["file"] for f in filters)] if filters else []
        cp = subprocess.run(recall + [args.data, "embedding", ",".join(qfiles), str(args.k)]
                            + [str(e) for e in args.ef] + allow,
                            cwd=REPO, capture_output=True, text=True)
        if cp.returncode != 0:
            raise SystemExit("recall example failed:\n" + cp.stderr[-3000:])
        built = json.loads(cp.stdout.strip().splitlines()[-1])
        for kind, qfile in zip(kinds, qfiles):
            side = {k: v for k, v in built.items() if k not in ("queries", "filtered")}
            side.update(built["queries"][qfile])
            results.setdefault("sluice", {})[kind] = side
        # Filtered: recall against numpy's exact top-k among the kept rows.
        for f in filters:
            for kind, qfile in zip(kinds, qfiles):
                want = wanted[(f["sql"], kind)]
                runs = []
                for r in built["filtered"][f["file"]][qfile]:
                    found = sum(len(set(h) & w) for h, w in zip(r["hits"], want))
                    runs.append({"ef": r["ef"], "queries_per_s": r["queries_per_s"],
                                 "rows_mean": r["rows_mean"],
                                 "recall": found / (len(want) * args.k)})
                results.setdefault("sluice_filtered", {}).setdefault(f["sql"], {})[kind] = runs
    if args.update:
        # The incremental update: version 2's index from version 1's, against a whole build.
        say("sluice: index update, %g %% of rows changed" % args.update)
        cp = subprocess.run(recall + [args.data, "embedding", ",".join(qfiles), str(args.k)]
                            + [str(e) for e in args.ef] + ["--update", str(args.update)],
                            cwd=REPO, capture_output=True, text=True)
        if cp.returncode != 0:
            raise SystemExit("recall example --update failed:\n" + cp.stderr[-3000:])
        up = json.loads(cp.stdout.strip().splitlines()[-1])
        up["queries"] = {kind: up["queries"][qfile] for kind, qfile in zip(kinds, qfiles)}
        results["sluice_update"] = up
    if args.url:
        results["pgvector_version"] = pg_scalar(args.url, "SELECT extversion FROM pg_extension "
                                                          "WHERE extname = 'vector'")
    for kind, q in kinds.items():
        if args.url:
            import psycopg2
            conn = psycopg2.connect(args.url)
            cur = conn.cursor()
            runs = []
            for ef in args.ef:
                cur.execute("SET hnsw.ef_search = %d" % min(ef, 1000))
                found = 0
                t0 = time.perf_counter()
                for i in range(len(q)):
                    lit = vector_literal(q[i])
                    cur.execute("SELECT chunk_id FROM %s ORDER BY embedding <=> %%s::vector LIMIT %d"
                                % (TABLE, args.k), (lit,))
                    got = {r[0] for r in cur.fetchall()}
                    found += len(got & {ids[j] for j in exact[kind][i]})
                qps = len(q) / (time.perf_counter() - t0)
                runs.append({"ef_search": ef, "queries_per_s": qps,
                             "recall": found / (len(q) * args.k)})
            cur.execute("EXPLAIN SELECT chunk_id FROM %s ORDER BY embedding <=> %%s::vector LIMIT %d"
                        % (TABLE, args.k), ("[" + ",".join(["0"] * dim) + "]",))
            plan = " ".join(r[0] for r in cur.fetchall())
            results.setdefault("pgvector", {})[kind] = {"hnsw": runs, "uses_index": "hnsw" in plan}
            for f in filters:
                want = wanted[(f["sql"], kind)]
                runs = []
                for ef in args.ef:
                    cur.execute("SET hnsw.ef_search = %d" % min(ef, 1000))
                    found = rows = 0
                    server_ms = 0.0
                    t0 = time.perf_counter()
                    for i in range(len(q)):
                        lit = vector_literal(q[i])
                        cur.execute("SELECT chunk_id FROM %s WHERE %s ORDER BY embedding <=> "
                                    "%%s::vector LIMIT %d" % (TABLE, f["sql"].replace("%", "%%"),
                                                              args.k), (lit,))
                        got = [r[0] for r in cur.fetchall()]
                        rows += len(got)
                        found += len(set(got) & {ids[j] for j in want[i]})
                    qps = len(q) / (time.perf_counter() - t0)
                    for i in range(len(q)):
                        server_ms += explain_ms(cur, "SELECT chunk_id FROM %s WHERE %s ORDER BY "
                                                "embedding <=> %%s::vector LIMIT %d"
                                                % (TABLE, f["sql"].replace("%", "%%"), args.k), q[i])
                    runs.append({"ef_search": ef, "queries_per_s": qps,
                                 "server_queries_per_s": len(q) / (server_ms / 1e3),
                                 "rows_mean": rows / len(q),
                                 "recall": found / (len(q) * args.k)})
                results.setdefault("pgvector_filtered", {}).setdefault(f["sql"], {})[kind] = runs
            # Server-side time of the unfiltered queries (EXPLAIN ANALYZE's execution time).
            for r in results["pgvector"][kind]["hnsw"]:
                cur.execute("SET hnsw.ef_search = %d" % min(r["ef_search"], 1000))
                ms = sum(explain_ms(cur, "SELECT chunk_id FROM %s ORDER BY embedding <=> "
                                         "%%s::vector LIMIT %d" % (TABLE, args.k), q[i])
                         for i in range(len(q)))
                r["server_queries_per_s"] = len(q) / (ms / 1e3)
            conn.close()
    if args.server_home and args.model:
        results["server"] = served(args, texts, filters[-1]["sql"] if filters else None)
    print(json.dumps(results))


def filtered_exact(q, x, kept, k):
    """Each query's exact top-k among the rows `kept` (numpy row numbers), as sets."""
    import numpy as np
    sub = x[kept]
    top = np.argsort(-(q @ sub.T), axis=1)[:, :k]
    return [set(int(kept[j]) for j in row) for row in top]


def pg_scalar(url, sql):
    import psycopg2
    conn = psycopg2.connect(url)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]
    finally:
        conn.close()


def vector_literal(vector):
    """A vector as pgvector reads it from text: `[v1,v2,...]`, each float exactly."""
    return "[" + ",".join("%r" % float(v) for v in vector) + "]"


def explain_ms(cur, sql, vector):
    """PostgreSQL's own execution time of one query, in milliseconds."""
    lit = vector_literal(vector)
    cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, (lit,))
    return float(cur.fetchone()[0][0]["Execution Time"])


def served(args, texts, where):
    """`sluice serve` on --server-home: one search request per text, one client, with and
    without `where`: client latency and the server's Server-Timing (embed, search)."""
    import urllib.request
    # This inner process ends with the bench: every sluice command from here on is on that home.
    os.environ["SLUICE_HOME"] = args.server_home
    os.environ["SLUICE_PASSWORD"] = "bench-password"
    # The user may exist from an earlier run of the bench on this home.
    subprocess.run([args.sluice, "user", "add", "bench", "--role", "viewer"], capture_output=True)
    token = subprocess.run([args.sluice, "token", "create", "--user", "bench", "--label",
                            "search-bench"], capture_output=True, text=True,
                           check=True).stdout.strip()
    log = open(os.path.join(args.work, "serve.log"), "w")
    folder = os.path.join(args.work, "serve")
    os.makedirs(folder, exist_ok=True)
    proc, base = start_sluice_serve(args.sluice, folder, log)
    out = {}
    # Held-out chunks (about 150 tokens, what the index holds) and their first eight words
    # (what a person types in a search box).
    kinds = (("chunk texts", texts), ("8-word queries", [" ".join(t.split()[:8]) for t in texts]))
    try:
        for (filter_label, flt), (kind, queries) in itertools.product(
                (("no filter", None), ("where " + (where or ""), where)), kinds):
            if not flt and filter_label != "no filter":
                continue
            label = "%s, %s" % (kind, filter_label)
            totals, embeds, searches = [], [], []
            for i, text in enumerate([queries[0]] + queries):
                body = {"dataset": args.server_dataset, "query": text, "k": args.k, "ef": 128}
                if flt:
                    body["where"] = flt
                req = urllib.request.Request(base + "/api/search", data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": "Bearer " + token})
                t0 = time.perf_counter()
                with urllib.request.urlopen(req) as r:
                    r.read()
                    timing = r.headers.get("Server-Timing", "")
                total = (time.perf_counter() - t0) * 1e3
                if i == 0:
                    continue  # the first request opens the model and the index
                parts = dict((p.split(";")[0].strip(), float(p.split("dur=")[1].split(";")[0]))
                             for p in timing.split(",") if "dur=" in p)
                totals.append(total)
                embeds.append(parts.get("embed", 0.0))
                searches.append(parts.get("search", 0.0))
            totals.sort()
            out[label] = {"requests": len(totals),
                          "total_ms_mean": sum(totals) / len(totals),
                          "total_ms_p50": totals[len(totals) // 2],
                          "embed_ms_mean": sum(embeds) / len(embeds),
                          "search_ms_mean": sum(searches) / len(searches),
                          "embed_share": sum(embeds) / sum(totals)}
    finally:
        proc.terminate()
        proc.wait()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="recall@k and queries/s: sluice's index and pgvector")
    ap.add_argument("--data")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--out")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--sluice", default=os.path.join(REPO, "target", "release", "sluice"),
                    help="the sluice binary that loads PostgreSQL (default target/release/sluice)")
    ap.add_argument("--recall-bin", help="a built recall example (default: cargo run --release "
                                         "-p sluice-vector --example recall)")
    ap.add_argument("--model", help="also query with held-out texts embedded by this model "
                                    "(the dataset's, e.g. .models/all-MiniLM-L6-v2)")
    ap.add_argument("--update", type=float, default=0,
                    help="also measure the embedded index's incremental update: two versions "
                         "that differ by this percentage of rows each way, version 2's index "
                         "updated from version 1's against built whole (e.g. 1)")
    ap.add_argument("--only-update", action="store_true",
                    help="with --update: skip the plain recall run and pgvector")
    ap.add_argument("--where-column", default="theme",
                    help="the column of the filtered queries (default theme)")
    ap.add_argument("--where-shares", type=float, nargs="*", default=[10, 1],
                    help="shares of rows the filters keep, in percent (default 10 1; none: no "
                         "filtered queries)")
    ap.add_argument("--server", help="a sluice home where bench/search/embed.yaml ran: also "
                                     "measure POST /api/search on `sluice serve` (needs --model)")
    ap.add_argument("--server-dataset", default="search_bench.embedded")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--server-home", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.inner:
        return inner(a)
    ensure_venv(REQUIREMENTS, IMPORTS)
    tmp = tempfile.mkdtemp(prefix="search_bench_")
    pgdir = os.path.join(tmp, "pg")
    started = False
    try:
        data = a.data
        if not data:
            data = os.path.join(tmp, "data")
            say("generating 100,000 rows into %s" % data)
            subprocess.run([VENV_PY, os.path.join(LOAD, "generate.py"), "--rows", "100000",
                            "--docs", "20000", "--seed", "3", "--out", data], check=True)
        data = os.path.abspath(data)
        url = None
        if not (a.no_postgres or a.only_update):
            try:
                url = start_postgres(pgdir)
            except RuntimeError as e:
                say(str(e))
                return 2
            started = True
            sluice = a.sluice
            say("loading into pgvector with sluice")
            subprocess.run([sluice, "--home", os.path.join(tmp, "home"), "run",
                            os.path.join(LOAD, "pipeline.yaml"), "--param",
                            "data=" + os.path.join(data, "*.parquet"), "--param", "url=" + url,
                            "--param", "table=" + TABLE], check=True, stdout=subprocess.DEVNULL)
            # pipeline.yaml renames the column for mediatech's table; search it under that name
            subprocess.run([VENV_PY, "-c", "import psycopg2,sys; c=psycopg2.connect(sys.argv[1]); "
                            "c.autocommit=True; c.cursor().execute('ALTER TABLE %s RENAME COLUMN "
                            "\"embeddings_all-MiniLM-L6-v2\" TO embedding')" % TABLE, url], check=True)
        cmd = [VENV_PY, os.path.abspath(__file__), "--inner", "--data", data, "--work", tmp,
               "--queries", str(a.queries), "--k", str(a.k), "--ef"] + [str(e) for e in a.ef]
        if url:
            cmd += ["--url", url]
        if a.recall_bin:
            cmd += ["--recall-bin", a.recall_bin]
        if a.model:
            cmd += ["--model", os.path.abspath(a.model)]
        if a.update:
            cmd += ["--update", str(a.update)]
        if a.only_update:
            cmd += ["--only-update"]
        cmd += ["--where-column", a.where_column, "--where-shares"] + [str(s) for s in
                                                                       a.where_shares]
        if a.server:
            cmd += ["--server-home", os.path.abspath(a.server), "--server-dataset",
                    a.server_dataset]
        cmd += ["--sluice", a.sluice]
        cp = subprocess.run(cmd, capture_output=True, text=True)
        sys.stderr.write(cp.stderr)
        if cp.returncode != 0:
            return 1
        res = json.loads(cp.stdout.strip().splitlines()[-1])
        res["load_average"] = list(os.getloadavg())
        say()
        say("%d vectors of %d dimensions, %d queries of each kind, recall@%d against exact search"
            % (res["rows"], res["dimension"], res["queries"], res["k"]))
        for kind in [k for k in ("texts", "near", "random") if k in res.get("sluice", {})]:
            s = res["sluice"][kind]
            say("%s queries:" % kind)
            say("  sluice embedded index: built in %.1f s (m %d, ef_construction %d); exact search "
                "%.1f queries/s" % (s["build_s"], s["m"], s["ef_construction"],
                                    s["exact_queries_per_s"]))
            for r in s["hnsw"]:
                say("    ef %4d: recall %.3f, %8.1f queries/s" % (r["ef"], r["recall"],
                                                                 r["queries_per_s"]))
            if "pgvector" in res:
                p = res["pgvector"][kind]
                say("  pgvector %s HNSW (index used: %s):" % (res.get("pgvector_version", ""),
                                                             p["uses_index"]))
                for r in p["hnsw"]:
                    say("    ef_search %4d: recall %.3f, %8.1f queries/s (server side %.1f)"
                        % (r["ef_search"], r["recall"], r["queries_per_s"],
                           r.get("server_queries_per_s", float("nan"))))
        for f in res.get("filters", []):
            say("filter %s (%d rows, %.1f %%):" % (f["sql"], f["rows"], 100 * f["share"]))
            for kind, runs in res.get("sluice_filtered", {}).get(f["sql"], {}).items():
                say("  %s queries, sluice:" % kind)
                for r in runs:
                    say("    ef %4d: recall %.3f, %.1f rows, %8.1f queries/s"
                        % (r["ef"], r["recall"], r["rows_mean"], r["queries_per_s"]))
                p = res.get("pgvector_filtered", {}).get(f["sql"], {}).get(kind)
                if p:
                    say("  %s queries, pgvector %s:" % (kind, res.get("pgvector_version", "")))
                    for r in p:
                        say("    ef_search %4d: recall %.3f, %.1f rows, %8.1f queries/s "
                            "(server side %.1f)" % (r["ef_search"], r["recall"], r["rows_mean"],
                                                    r["queries_per_s"],
                                                    r["server_queries_per_s"]))
        for label, r in res.get("server", {}).items():
            say("POST /api/search (%s), %d requests, one client: %.2f ms mean (p50 %.2f), "
                "embedding the query %.2f ms, searching %.2f ms: embedding is %.0f %% of a "
                "request" % (label, r["requests"], r["total_ms_mean"], r["total_ms_p50"],
                             r["embed_ms_mean"], r["search_ms_mean"], 100 * r["embed_share"]))
        up = res.get("sluice_update")
        if up:
            say("index update, %g %% of rows changed each way (%d rows): %d vectors kept, %d "
                "inserted, %d removed (%s)" % (up["changed_pct"], up["rows"], up["kept"],
                                              up["inserted"], up["removed"], up["graph"]))
            say("  updated in %.1f s; built whole in %.1f s: %.1fx faster (version 1 built in "
                "%.1f s)" % (up["update_s"], up["whole_build_s"],
                             up["whole_build_s"] / max(up["update_s"], 1e-9),
                             up["version1_build_s"]))
            for kind, both in up["queries"].items():
                say("  %s queries:" % kind)
                for u, w in zip(both["updated"]["hnsw"], both["whole"]["hnsw"]):
                    say("    ef %4d: recall updated %.3f (%8.1f queries/s), built whole %.3f "
                        "(%8.1f queries/s)" % (u["ef"], u["recall"], u["queries_per_s"],
                                               w["recall"], w["queries_per_s"]))
        write_figures(res, a.out)
        return 0
    finally:
        if started:
            stop_postgres(pgdir)
        if a.keep:
            say("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
