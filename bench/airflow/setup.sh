#!/usr/bin/env bash
# Sets up Apache Airflow for bench/airflow/dag_1000.py (the peer in bench/dag_1000.py --airflow):
#   - a virtualenv at .venv-airflow (git-ignored), with bench/airflow/requirements.txt installed
#     (skipped when the pinned Airflow version is already there),
#   - AIRFLOW_HOME at .venv-airflow/airflow-home (so inside the ignored folder too),
#   - the metadata DB in SQLite there, created or upgraded with `airflow db migrate`.
# Idempotent: a second run only re-checks. Needs python3 (3.9–3.12; or $PYTHON) and PyPI.
# Its last line of output is `AIRFLOW_HOME=...`, for the caller to export.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="$root/.venv-airflow"
req="$root/bench/airflow/requirements.txt"
constraints="$root/bench/airflow/constraints.txt"
export AIRFLOW_HOME="$venv/airflow-home"
python="${PYTHON:-python3}"

# The version pinned in requirements.txt, e.g. 2.11.0.
want="$(sed -n 's/^apache-airflow==\([0-9.]*\).*/\1/p' "$req")"

if [ ! -x "$venv/bin/python" ]; then
    echo "creating $venv" >&2
    "$python" -m venv "$venv"
fi
have="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("apache-airflow"))' 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
    echo "installing apache-airflow $want into $venv (a minute or two)" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    # constraints.txt pins every transitive dependency (Airflow's own "constraints" approach, but a
    # file of ours: Airflow's published constraint files live on GitHub, which is not reachable here).
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" -c "$constraints" >&2
fi

mkdir -p "$AIRFLOW_HOME/dags"
# SQLite metadata DB, no example DAGs; `db migrate` creates it the first time, then is a no-op.
AIRFLOW__CORE__LOAD_EXAMPLES=False "$venv/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 \
    || { cat "$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
echo "AIRFLOW_HOME=$AIRFLOW_HOME"
