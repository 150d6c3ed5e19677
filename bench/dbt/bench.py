#!/usr/bin/env python3
"""SQL models: `sluice run` against `dbt build` (dbt-core + dbt-duckdb), same project, same
seeds.

    bench.py [--rows 1000000] [--models 200] [--seed 42] [--repeat 3]
             [--sluice /work/target-release/release/sluice] [--workdir DIR] [--keep] [--out F]

1. Creates (once) .venv-bench with bench/dbt/requirements.txt (dbt-core, dbt-duckdb), or
   reuses it.
2. Generates the project with generate.py (seeds of --rows rows in all, --models models:
   views, ephemeral models, tables, incremental tables, marts, 2 tests per table).
3. Measures, alternately (dbt, sluice, dbt, sluice…) --repeat times, each command alone and
   cold (dbt: no target/ and a new DuckDB file; sluice: a new --home):
     dbt parse     dbt parse --no-partial-parse
     dbt compile   dbt compile            (after the parse: its manifest is reused)
     dbt build     dbt build              (cold: end to end, seeds to tests)
     sluice validate  sluice validate DIR (reads, renders and checks the project: both phases)
     sluice run       sluice run DIR      (cold: end to end)
   Wall time (median, fastest, slowest) and peak memory (GNU time).
4. Checks that each table has the same number of rows on both sides (DuckDB reads sluice's
   Parquet files) and prints the ratios of the medians: end to end (dbt build / sluice run)
   and per phase.
Exit 1 when a command failed or a table's row count differs.
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
from benchlib import (ensure_venv, leave_work_folder, measure, say,  # noqa: E402
                      say_load_average, work_folder, write_figures)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sluice", default=os.path.join(REPO, "target", "release", "sluice"))
    ap.add_argument("--workdir")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", help="write every figure as JSON here")
    a = ap.parse_args()
    py = ensure_venv(os.path.join(HERE, "requirements.txt"), "import dbt.adapters.duckdb, duckdb")
    dbt = os.path.join(os.path.dirname(py), "dbt")
    sluice = os.path.abspath(a.sluice)
    if not os.access(sluice, os.X_OK):
        say("no sluice binary at %s: cargo build --release -p sluice" % sluice)
        return 1
    tmp, keep = work_folder(a, "sluice-bench-dbt-")
    project = os.path.join(tmp, "project")
    if not os.path.exists(os.path.join(project, "dbt_project.yml")):
        subprocess.run([sys.executable, os.path.join(HERE, "generate.py"), project, "--rows",
                        str(a.rows), "--models", str(a.models), "--seed", str(a.seed)], check=True)
    db = os.path.join(tmp, "bench.duckdb")
    with open(os.path.join(project, "profiles.yml"), "w") as f:
        f.write("bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
                "      path: %s\n      threads: %d\n" % (db, os.cpu_count()))
    env_dbt = ["env", "DBT_SEND_ANONYMOUS_USAGE_STATS=false", dbt]
    dbt_args = ["--profiles-dir", project, "--project-dir", project]
    home = os.path.join(tmp, "home")

    def dbt_clean():
        shutil.rmtree(os.path.join(project, "target"), ignore_errors=True)
        shutil.rmtree(os.path.join(project, "logs"), ignore_errors=True)
        for f in glob.glob(db + "*"):
            os.remove(f)

    runs = {k: [] for k in ("dbt parse", "dbt compile", "dbt build", "sluice validate", "sluice run")}
    before = os.getloadavg()
    ok = True
    for i in range(a.repeat):
        dbt_clean()
        for name, cmd in (("dbt parse", env_dbt + ["parse", "--no-partial-parse"] + dbt_args),
                          ("dbt compile", env_dbt + ["compile"] + dbt_args)):
            r = measure(name, cmd, os.path.join(tmp, "%s-%d.log" % (name.replace(" ", "-"), i)))
            runs[name].append(r)
            ok &= r["ok"]
        dbt_clean()
        r = measure("dbt build", env_dbt + ["build"] + dbt_args,
                    os.path.join(tmp, "dbt-build-%d.log" % i))
        runs["dbt build"].append(r)
        ok &= r["ok"]
        shutil.rmtree(home, ignore_errors=True)
        r = measure("sluice validate", [sluice, "validate", project],
                    os.path.join(tmp, "sluice-validate-%d.log" % i))
        runs["sluice validate"].append(r)
        ok &= r["ok"]
        r = measure("sluice run", [sluice, "run", project, "--home", home],
                    os.path.join(tmp, "sluice-run-%d.log" % i))
        runs["sluice run"].append(r)
        ok &= r["ok"]
        say("round %d: %s" % (i + 1, ", ".join("%s %.2f s" % (k, v[-1]["wall_s"]) for k, v in runs.items())))
    after = os.getloadavg()

    # The same rows in every table.
    check = subprocess.run([py, "-c", COUNT, db, os.path.join(home, "warehouse", "bench")],
                           capture_output=True, text=True)
    same = check.returncode == 0
    say(check.stdout.strip() or check.stderr.strip()[-2000:])

    med = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items() if v}
    say("")
    say("SQL models: %d models over %d seed rows (%s), %d runs each, %d CPUs"
        % (a.models, a.rows, project, a.repeat, os.cpu_count()))
    say("  %-16s %9s %9s %9s %10s" % ("", "median", "fastest", "slowest", "peak"))
    for k, v in runs.items():
        walls = [r["wall_s"] for r in v]
        peak = max((r["peak_mib"] or 0) for r in v)
        say("  %-16s %8.2fs %8.2fs %8.2fs %7.0f MiB" % (k, med[k], min(walls), max(walls), peak))
    say("  end to end: dbt build / sluice run = %.1fx" % (med["dbt build"] / med["sluice run"]))
    say("  parse + compile: (dbt parse + dbt compile) / sluice validate = %.1fx"
        % ((med["dbt parse"] + med["dbt compile"]) / med["sluice validate"]))
    run_dbt = med["dbt build"] - med["dbt parse"]
    run_sluice = med["sluice run"] - med["sluice validate"]
    say("  running (end to end less parsing): (dbt build - dbt parse) / (sluice run - sluice validate)"
        " = %.2f s / %.2f s = %.1fx" % (run_dbt, run_sluice, run_dbt / max(run_sluice, 1e-9)))
    say("  tables: %s" % ("the same row counts" if same else "ROW COUNTS DIFFER"))
    say_load_average(before, after)
    write_figures({"models": a.models, "rows": a.rows, "runs": runs, "median_s": med,
                   "same_rows": same}, a.out)
    leave_work_folder(tmp, keep)
    return 0 if ok and same else 1


# Row counts of dbt's tables (DuckDB) and sluice's (the Parquet files of each task's only
# version; views have none and are skipped on both sides).
COUNT = r"""
import glob, os, sys
import duckdb
db, warehouse = sys.argv[1], sys.argv[2]
con = duckdb.connect(db, read_only=True)
tables = [r[0] for r in con.execute(
    "select table_name from information_schema.tables where table_type = 'BASE TABLE'").fetchall()]
bad = 0
for t in sorted(tables):
    dbt_rows = con.execute('select count(*) from "%s"' % t).fetchone()[0]
    files = glob.glob(os.path.join(warehouse, t, "*", "*.parquet"))
    ours = con.execute("select count(*) from read_parquet(%r)" % files).fetchone()[0] if files else None
    if ours != dbt_rows:
        print("%s: dbt %s rows, sluice %s" % (t, dbt_rows, ours))
        bad += 1
print("%d tables compared, %d differ" % (len(tables), bad))
sys.exit(1 if bad else 0)
"""

if __name__ == "__main__":
    sys.exit(main())
