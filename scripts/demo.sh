#!/usr/bin/env bash
# The main job: builds sluice (release) and runs the reference pipeline on its bundled data.
# Extra arguments go to `sluice run` (e.g. --force, --stream).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p sluice
exec target/release/sluice run examples/hello/pipeline.yaml "$@"
