#!/usr/bin/env bash
# Sets up Apache Airflow with the CeleryExecutor for bench/workers/airflow_celery.py:
#   - the base install of bench/airflow/setup.sh first (the .venv-airflow virtualenv with the
#     pinned apache-airflow of bench/airflow/requirements.txt; it also migrates that setup's own
#     SQLite AIRFLOW_HOME, which the Celery peer does not use),
#   - then bench/workers/airflow_requirements.txt into the same virtualenv: the Celery provider,
#     Celery with its Redis transport, the redis client and psycopg2 (PostgreSQL), constrained by
#     bench/airflow/constraints.txt plus bench/workers/airflow_constraints.txt (skipped when every
#     pinned version is already installed).
# The Redis server is not a PyPI package: airflow_celery.py needs Debian's `redis-server`
# (apt-get install -y redis-server); this script only says when it is missing.
# Idempotent: a second run only re-checks. Its last line of output is `AIRFLOW_VENV=...`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv-airflow"
req="$root/bench/workers/airflow_requirements.txt"

"$root/bench/airflow/setup.sh" >/dev/null

# Every `name==version` line of the requirements is installed at that version?
missing="$("$venv/bin/python" - "$req" <<'PY'
import importlib.metadata as m, re, sys
for line in open(sys.argv[1]):
    g = re.match(r"\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;#]+)", line)
    if not g:
        continue
    try:
        ok = m.version(g.group(1)) == g.group(3)
    except m.PackageNotFoundError:
        ok = False
    if not ok:
        print(g.group(1))
PY
)"
if [ -n "$missing" ]; then
    echo "installing into $venv: $(echo $missing)" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" \
        -c "$root/bench/airflow/constraints.txt" -c "$root/bench/workers/airflow_constraints.txt" >&2
fi
# The CeleryExecutor itself must import (it did not with Celery 5.7, see airflow_requirements.txt).
check='import psycopg2, redis; from airflow.providers.celery.executors import celery_executor'
"$venv/bin/python" -c "$check" >/dev/null 2>&1 || {
    echo "error: the CeleryExecutor or psycopg2 does not import in $venv:" >&2
    "$venv/bin/python" -c "$check" 2>&1 | tail -5 >&2
    exit 1
}
command -v redis-server >/dev/null \
    || echo "note: redis-server is missing; install it with: apt-get install -y redis-server" >&2
echo "AIRFLOW_VENV=$venv"
