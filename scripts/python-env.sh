#!/usr/bin/env bash
# Creates (once) the project's Python environment with scripts/requirements-dev.txt and
# prints the path of its python. Location: $SLUICE_VENV, default .venv in the repository.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
venv=${SLUICE_VENV:-$repo/.venv}
req=$here/requirements-dev.txt

if [ ! -x "$venv/bin/python" ]; then
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        # Debian's python3 ships venv separately.
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            echo "installing python3-venv with apt-get" >&2
            apt-get update -qq >&2 && apt-get install -y -qq python3-venv >&2
            rm -rf "$venv"
            python3 -m venv "$venv" >&2
        else
            echo "error: \`python3 -m venv\` failed; install python3-venv (apt-get install python3-venv)" >&2
            exit 1
        fi
    fi
fi
stamp="$venv/.installed-$(sha256sum "$req" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "installing Python packages from $req into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    touch "$stamp"
fi
echo "$venv/bin/python"
