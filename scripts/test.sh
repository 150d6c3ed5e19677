#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test, with the state store suite on
# SQLite and on a real PostgreSQL that this script starts (and stops) itself.
set -euo pipefail
cd "$(dirname "$0")/.."

# The mold linker, when it can be installed: every test binary links faster.
scripts/build-tools.sh
pgdir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-pg.XXXXXX")
cleanup() {
    scripts/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$pgdir"
}
trap cleanup EXIT
SLUICE_TEST_PG_URL=$(scripts/postgres.sh start "$pgdir")
export SLUICE_TEST_PG_URL
echo "PostgreSQL for tests: $SLUICE_TEST_PG_URL"
# The real model all-MiniLM-L6-v2 (its tokenizer counts chunk sizes in tests).
SLUICE_TEST_MODEL=$(scripts/model.sh)
export SLUICE_TEST_MODEL
# Python with pyarrow, to read exported Parquet files back as other tools do.
SLUICE_TEST_PYTHON=$(scripts/python-env.sh)
export SLUICE_TEST_PYTHON
# Tesseract and its English and French data, for the `ocr` op's tests.
scripts/tesseract.sh
# Debian's chromium and playwright-core, for the web UI's browser test.
browser=$(scripts/browser.sh)
SLUICE_TEST_CHROMIUM=$(echo "$browser" | sed -n 1p)
SLUICE_TEST_NODE_PATH=$(echo "$browser" | sed -n 2p)
export SLUICE_TEST_CHROMIUM SLUICE_TEST_NODE_PATH

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace --locked --quiet
log=$(mktemp "${TMPDIR:-/tmp}/sluice-test.XXXXXX")
slow_log=$(mktemp "${TMPDIR:-/tmp}/sluice-test-slow.XXXXXX")
status=0
# The cron test waits for three minute boundaries, mostly idle: it runs beside the others.
slow=the_schedule_survives_a_killed_server_without_repeating_or_skipping_a_slot
cargo test --workspace --locked --no-run
serve=$(cargo test -p sluice --test serve --locked --no-run 2>&1 |
    sed -n 's/.*Executable tests\/serve.rs (\(.*\))$/\1/p')
[ -n "$serve" ] || { echo "test.sh: no tests/serve.rs binary found" >&2; exit 1; }
case "$serve" in /*) ;; *) serve="$PWD/$serve" ;; esac
(cd crates/sluice && "$serve" "$slow" --exact >"$slow_log" 2>&1) &
slow_pid=$!
cargo test --workspace --locked --no-fail-fast -- --skip "$slow" 2>&1 | tee "$log" || status=$?
wait "$slow_pid" || status=1
tee -a "$log" <"$slow_log"
rm -f "$slow_log"
# One closing line for the whole suite (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
