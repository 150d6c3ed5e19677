#!/usr/bin/env bash
# Installs what makes the build faster, once: the mold linker from Debian (scripts/cc.sh uses it
# when present). Without root or apt it says so and the build goes on with cc's default linker.
set -euo pipefail
if command -v ld.mold >/dev/null; then
    exit 0
fi
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing the mold linker with apt-get" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mold >&2
else
    echo "note: the mold linker is not installed (apt-get install mold); linking will be slower" >&2
fi
