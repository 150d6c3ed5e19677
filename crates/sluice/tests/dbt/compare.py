"""Compares the tables `dbt build` left in a DuckDB file with sluice's (Parquet files).

    python compare.py DB PARQUET_DIR TABLE[:SCHEMA] ...

Columns must have the same names in the same order; rows are compared as multisets, numbers
rounded to 6 decimals (DuckDB sums integers into HUGEINT, DataFusion into BIGINT), dates and
times as text. Prints one line per table; exits 1 on the first difference, showing the rows
each side has that the other lacks.
"""
import sys

import duckdb

NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER",
           "DOUBLE", "FLOAT", "REAL", "DECIMAL")


def normalised(con, relation):
    cols = con.execute(f"describe select * from {relation}").fetchall()
    exprs = []
    for name, kind, *_ in cols:
        q = '"' + name.replace('"', '""') + '"'
        if kind.startswith(NUMERIC):
            exprs.append(f"round(cast({q} as double), 6) as {q}")
        elif kind.startswith(("TIMESTAMP", "DATE")):
            exprs.append(f"strftime(cast({q} as timestamp), '%Y-%m-%d %H:%M:%S.%f') as {q}")
        else:
            exprs.append(f"cast({q} as varchar) as {q}")
    return [c[0] for c in cols], f"select {', '.join(exprs)} from {relation}"


def main():
    db, parquet_dir, tables = sys.argv[1], sys.argv[2], sys.argv[3:]
    con = duckdb.connect(db, read_only=True)
    failed = False
    for spec in tables:
        table, _, schema = spec.partition(":")
        schema = schema or "main"
        dbt_cols, dbt_q = normalised(con, f'"{schema}"."{table}"')
        ours_cols, ours_q = normalised(con, f"read_parquet('{parquet_dir}/{table}.parquet')")
        if dbt_cols != ours_cols:
            print(f"{table}: columns differ\n  dbt:    {dbt_cols}\n  sluice: {ours_cols}")
            failed = True
            continue
        only_dbt = con.execute(f"{dbt_q} except all {ours_q}").fetchall()
        only_ours = con.execute(f"{ours_q} except all {dbt_q}").fetchall()
        rows = con.execute(f"select count(*) from ({dbt_q})").fetchone()[0]
        if only_dbt or only_ours:
            print(f"{table}: rows differ ({rows} rows in dbt's)")
            for r in only_dbt[:10]:
                print(f"  only dbt:    {r}")
            for r in only_ours[:10]:
                print(f"  only sluice: {r}")
            failed = True
        else:
            print(f"{table}: {rows} rows, the same")
    sys.exit(1 if failed else 0)


main()
