#!/usr/bin/env python3
"""The current implementation's PostgreSQL load (mediatech), on the generated chunks.

    reference.py --url postgres://postgres@127.0.0.1:PORT/postgres --data DIR
                 [--batch 10] [--table service_public] [--connect pool|per-batch]
                 [--rebuild-indexes] [--verify | --verify-only] [--model all-MiniLM-L6-v2]

Loads DIR/chunks.parquet (bench/load_postgres/generate.py) into PostgreSQL + pgvector the
way mediatech loads its service-public chunks (../shared/reference/mediatech.md, sections
4 and 5; restated below, no code copied), with psycopg2:

  Table (section 5, "PostgreSQL schema", SERVICE_PUBLIC row; the column types as in
  mediatech's CREATE TABLE): chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, chunk_index
  INTEGER NOT NULL, chunk_xxh64 TEXT NOT NULL, audience, theme, title, surtitle, source,
  introduction, url TEXT, related_questions JSONB, web_services JSONB, context TEXT[], text,
  chunk_text TEXT, "embeddings_<model after '/'>" vector(N), plus UNIQUE(chunk_id), which
  mediatech's CREATE TABLE also declares (PostgreSQL folds it into the primary key: one
  B-tree on chunk_id, checked); then an HNSW index (vector_cosine_ops, m = 16,
  ef_construction = 128) and a B-tree idx_<table>_doc_id. The `vector` extension is created by code (CREATE EXTENSION IF NOT
  EXISTS vector). The vector column is a real pgvector vector(384) here as in mediatech
  (mediatech.md section 5: `type vector(N)`); only its Parquet export turns it into a JSON
  string (section 7).

  Load (section 4, "Directories, data.gouv, sheets: full rebuild each run"): the HNSW and
  doc_id indexes are dropped and the table TRUNCATEd, every chunk is inserted, then the two
  indexes are recreated and the table ANALYZEd. Insert (section 5): "psycopg2 `executemany`
  of `INSERT … ON CONFLICT (chunk_id) DO UPDATE` all columns; pool 2–10 conns. Batch = ...
  10 chunks (sheets)". So: executemany of one INSERT ... VALUES (%s x 17) ON CONFLICT
  (chunk_id) DO UPDATE SET <every other column> = EXCLUDED.<column>, per batch of --batch
  rows (default 10, mediatech's sheets batch), then commit; the vector passed as a Python
  list of floats (what the embeddings API client hands mediatech; psycopg2 sends it as an
  ARRAY[...] literal that pgvector casts to vector), the JSONB columns as JSON text (the
  Parquet already holds the JSON text mediatech's json.dumps would produce), context as a
  list (TEXT[]).

  --connect pool (default): one connection reused for every batch (a pool, used from one
  thread, hands back the same connection). --connect per-batch: a new connection per batch,
  closed after its commit; mediatech.md says "pool", but the mediatech source versions read
  for this benchmark (database/database_manage.py insert_data) open a connection per call.

Measured: load_s = the time spent in the database calls of the insert loop (connect when
per-batch, executemany, commit, close), the sum over all batches. Reading the Parquet file
and turning each batch into Python tuples (vectors to lists of floats) happen outside the
timer: mediatech has its rows in memory already. rows_per_s = rows / load_s. With
--rebuild-indexes, index_s is the recreation of the HNSW and doc_id indexes plus ANALYZE
(mediatech's end of a full rebuild), reported apart; without it the indexes are left
dropped. The table setup (drop, create, the refresh's drop-indexes + TRUNCATE) is not timed.

--verify (after the load) and --verify-only (no load) check the table against the Parquet
file: row count, distinct doc_ids, and for 8 chunk_ids spread over the file every column,
the vector compared exactly (pgvector keeps float4; the Parquet values are float32).

Prints one JSON line on stdout (rows, docs, batch, batches, connect, load_s, rows_per_s,
prepare_s, index_s, table_bytes..., verify); progress goes to stderr. Exit status 0, or 1 on
a failed verification, 2 on a missing input. Needs psycopg2 (psycopg2-binary), pyarrow and
numpy (bench/load_postgres/requirements.txt, in .venv-bench).
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np
import psycopg2
import pyarrow.parquet as pq

FILE = "chunks.parquet"
DIM = 384
# mediatech's SERVICE_PUBLIC columns, in its order (mediatech.md section 5); the last one is
# the vector column, named after the model.
COLUMNS = ["chunk_id", "doc_id", "chunk_index", "chunk_xxh64", "audience", "theme", "title",
           "surtitle", "source", "introduction", "url", "related_questions", "web_services",
           "context", "text", "chunk_text"]
VERIFY_SAMPLES = 8


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ident(name):
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit("--table: a lowercase SQL identifier, please (got %r)" % name)
    return name


def vector_column(model):
    # "embeddings_<model name after '/'>" (mediatech.md section 5)
    return "embeddings_" + model.split("/")[-1]


def ddl(table, vcol, dim):
    """mediatech's CREATE TABLE for service-public chunks, then its two indexes."""
    return [
        """CREATE TABLE {t} (
            chunk_id TEXT PRIMARY KEY,
            doc_id TEXT NOT NULL,
            chunk_index INTEGER NOT NULL,
            chunk_xxh64 TEXT NOT NULL,
            audience TEXT,
            theme TEXT,
            title TEXT,
            surtitle TEXT,
            source TEXT,
            introduction TEXT,
            url TEXT,
            related_questions JSONB,
            web_services JSONB,
            context TEXT[],
            text TEXT,
            chunk_text TEXT,
            "{v}" vector({d}),
            UNIQUE(chunk_id)
        )""".format(t=table, v=vcol, d=dim),
        hnsw_index(table, vcol),
        doc_id_index(table),
    ]


def hnsw_index(table, vcol):
    # mediatech leaves the name to PostgreSQL and finds the index again by its definition;
    # named here so that the refresh can drop it by name
    return ('CREATE INDEX {t}_hnsw ON {t} USING hnsw ("{v}" vector_cosine_ops) '
            "WITH (m = 16, ef_construction = 128)".format(t=table, v=vcol))


def doc_id_index(table):
    return "CREATE INDEX idx_{t}_doc_id ON {t}(doc_id)".format(t=table)


def upsert_sql(table, vcol):
    cols = COLUMNS + ['"%s"' % vcol]
    sets = ",\n    ".join("%s = EXCLUDED.%s" % (c, c) for c in cols if c != "chunk_id")
    return ("INSERT INTO {t} ({cols})\nVALUES ({ph})\nON CONFLICT (chunk_id) DO UPDATE SET\n    {sets};"
            .format(t=table, cols=", ".join(cols), ph=", ".join(["%s"] * len(cols)), sets=sets))


def read_parquet(path):
    """The Parquet columns the table takes, as Python lists, and the vectors as a matrix."""
    t = pq.read_table(path, columns=COLUMNS + ["embedding"])
    cols = {c: t.column(c).to_pylist() for c in COLUMNS}
    emb = t.column("embedding").combine_chunks()
    dim = emb.type.list_size
    vec = emb.values.to_numpy(zero_copy_only=False).reshape(-1, dim)
    return cols, vec, t.num_rows, dim


def rows_of(cols, vec, lo, hi):
    """Rows lo..hi as mediatech builds them: a tuple per chunk, the vector a list of floats."""
    out = []
    for i in range(lo, hi):
        out.append(tuple(cols[c][i] for c in COLUMNS) + (vec[i].tolist(),))
    return out


def table_sizes(cur, table):
    cur.execute("SELECT pg_total_relation_size(%s), pg_table_size(%s), pg_indexes_size(%s), "
                "pg_relation_size(%s)", (table, table, table, table))
    total, tbl, idx, heap = cur.fetchone()
    return {"table_bytes": total, "heap_and_toast_bytes": tbl, "indexes_bytes": idx,
            "heap_bytes": heap}


def parse_vector(text):
    return np.array([float(x) for x in text.strip("[]").split(",")], dtype=np.float32)


def verify(conn, table, vcol, cols, vec, nrows):
    """Row count, distinct doc_ids, and a few rows compared column by column."""
    problems = []
    cur = conn.cursor()
    cur.execute("SELECT count(*), count(DISTINCT doc_id) FROM %s" % table)
    count, docs = cur.fetchone()
    want_docs = len(set(cols["doc_id"]))
    if count != nrows:
        problems.append("rows: table %d, parquet %d" % (count, nrows))
    if docs != want_docs:
        problems.append("doc_ids: table %d, parquet %d" % (docs, want_docs))
    picks = sorted({int(i) for i in np.linspace(0, nrows - 1, VERIFY_SAMPLES)}) if nrows else []
    sel = ", ".join(COLUMNS) + ', "%s"::text' % vcol
    max_diff = 0.0
    for i in picks:
        cur.execute("SELECT %s FROM %s WHERE chunk_id = %%s" % (sel, table), (cols["chunk_id"][i],))
        got = cur.fetchone()
        if got is None:
            problems.append("%s: missing" % cols["chunk_id"][i])
            continue
        for c, g in zip(COLUMNS, got):
            want = cols[c][i]
            if c in ("related_questions", "web_services"):
                # psycopg2 returns JSONB as Python objects
                want = json.loads(want) if want is not None else None
            if g != want:
                problems.append("%s: column %s differs" % (cols["chunk_id"][i], c))
        v = parse_vector(got[-1])
        if v.shape != vec[i].shape:
            problems.append("%s: vector of %d values" % (cols["chunk_id"][i], v.size))
            continue
        diff = float(np.max(np.abs(v - vec[i])))
        max_diff = max(max_diff, diff)
        if diff != 0.0:
            problems.append("%s: vector differs by up to %g" % (cols["chunk_id"][i], diff))
    cur.close()
    return {"ok": not problems, "rows": count, "docs": docs, "checked": len(picks),
            "vector_max_abs_diff": max_diff, "problems": problems[:20]}


def main(argv=None):
    ap = argparse.ArgumentParser(description="mediatech's psycopg2 executemany upsert load")
    ap.add_argument("--url", required=True, help="postgres://user@host:port/db")
    ap.add_argument("--data", required=True, help="folder holding chunks.parquet (generate.py)")
    ap.add_argument("--batch", type=int, default=10,
                    help="rows per executemany + commit (default 10, mediatech's sheets batch)")
    ap.add_argument("--table", default="service_public", help="table (default service_public)")
    ap.add_argument("--model", default="all-MiniLM-L6-v2",
                    help="names the vector column embeddings_<model> (default all-MiniLM-L6-v2)")
    ap.add_argument("--connect", choices=("pool", "per-batch"), default="pool",
                    help="one reused connection (default), or a new one per batch")
    ap.add_argument("--rebuild-indexes", action="store_true",
                    help="after the load, recreate the HNSW and doc_id indexes and ANALYZE (timed apart)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--verify", action="store_true", help="check the table after the load")
    g.add_argument("--verify-only", action="store_true", help="check the table, load nothing")
    a = ap.parse_args(argv)
    if a.batch < 1:
        ap.error("--batch must be >= 1")
    table = ident(a.table)
    vcol = vector_column(a.model)
    path = os.path.join(a.data, FILE)
    if not os.path.isfile(path):
        log("%s not found (make it with bench/load_postgres/generate.py --out %s)" % (path, a.data))
        return 2

    t0 = time.perf_counter()
    cols, vec, nrows, dim = read_parquet(path)
    read_s = time.perf_counter() - t0
    log("read %s: %d rows, %d-d vectors, %.1f s" % (path, nrows, dim, read_s))
    result = {"method": "psycopg2 executemany INSERT ... ON CONFLICT (chunk_id) DO UPDATE",
              "table": table, "rows": nrows, "docs": len(set(cols["doc_id"])), "dimension": dim,
              "batch": a.batch, "connect": a.connect, "read_parquet_s": round(read_s, 3),
              "psycopg2": psycopg2.__version__.split()[0]}

    conn = psycopg2.connect(a.url)
    try:
        cur = conn.cursor()
        cur.execute("SHOW server_version")
        result["server_version"] = cur.fetchone()[0]
        if a.verify_only:
            cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            row = cur.fetchone()
            result["pgvector"] = row[0] if row else None
            result["verify"] = verify(conn, table, vcol, cols, vec, nrows)
            result.update(table_sizes(cur, table))
            print(json.dumps(result), flush=True)
            return 0 if result["verify"]["ok"] else 1

        # --- setup, not timed: extension, mediatech's table and indexes, then the start of
        # its full rebuild (drop the HNSW and doc_id indexes, TRUNCATE)
        cur.execute("CREATE EXTENSION IF NOT EXISTS vector")
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        result["pgvector"] = cur.fetchone()[0]
        cur.execute("DROP TABLE IF EXISTS %s CASCADE" % table)
        for stmt in ddl(table, vcol, dim):
            cur.execute(stmt)
        conn.commit()
        cur.execute("DROP INDEX IF EXISTS %s_hnsw" % table)
        cur.execute("DROP INDEX IF EXISTS idx_%s_doc_id" % table)
        cur.execute("TRUNCATE TABLE %s RESTART IDENTITY" % table)
        conn.commit()
        cur.close()

        # --- the load: per batch, executemany of the upsert, then commit
        sql = upsert_sql(table, vcol)
        load_s = prepare_s = 0.0
        batches = 0
        live = conn if a.connect == "pool" else None
        wall0 = time.perf_counter()
        next_report = 10_000
        for lo in range(0, nrows, a.batch):
            p0 = time.perf_counter()
            data = rows_of(cols, vec, lo, min(lo + a.batch, nrows))
            p1 = time.perf_counter()
            prepare_s += p1 - p0
            if live is None:
                c = psycopg2.connect(a.url)
            else:
                c = live
            cur = c.cursor()
            cur.executemany(sql, data)
            c.commit()
            cur.close()
            if live is None:
                c.close()
            load_s += time.perf_counter() - p1
            batches += 1
            done = min(lo + a.batch, nrows)
            if done >= next_report:
                log("  %d rows, %.1f s in the database, %.0f rows/s"
                    % (done, load_s, done / load_s if load_s else 0.0))
                next_report += 10_000
        wall_s = time.perf_counter() - wall0
        result.update({"batches": batches, "load_s": round(load_s, 3),
                       "rows_per_s": round(nrows / load_s, 1) if load_s else None,
                       "prepare_s": round(prepare_s, 3), "loop_wall_s": round(wall_s, 3)})

        cur = conn.cursor()
        result["index_s"] = None
        if a.rebuild_indexes:
            log("recreating the HNSW and doc_id indexes, ANALYZE ...")
            i0 = time.perf_counter()
            cur.execute(hnsw_index(table, vcol))
            cur.execute(doc_id_index(table))
            cur.execute("ANALYZE %s" % table)
            conn.commit()
            result["index_s"] = round(time.perf_counter() - i0, 3)
        result.update(table_sizes(cur, table))
        cur.close()
        # the server's notices (e.g. pgvector's "hnsw graph no longer fits into
        # maintenance_work_mem after N tuples")
        result["notices"] = [n.strip() for n in conn.notices][-5:]
        if a.verify:
            result["verify"] = verify(conn, table, vcol, cols, vec, nrows)
    finally:
        conn.close()
    log("loaded %d rows in %.2f s (%s rows/s), batch %d, connect %s"
        % (nrows, result["load_s"], result["rows_per_s"], a.batch, a.connect))
    print(json.dumps(result), flush=True)
    if a.verify and not result["verify"]["ok"]:
        log("verification FAILED: %s" % "; ".join(result["verify"]["problems"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
