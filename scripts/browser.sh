#!/usr/bin/env bash
# Sets up the browser for the web UI's tests (once) and prints two lines: the chromium binary,
# then the node_modules folder holding playwright-core. Debian's chromium comes from apt
# (browser downloads do not work here); playwright-core from npm into $SLUICE_NODE (default
# .node in the repository).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
node_dir=${SLUICE_NODE:-$repo/.node}
version=1.65.1

chromium=$(command -v chromium || true)
if [ -z "$chromium" ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "installing chromium with apt-get" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
        chromium=$(command -v chromium)
    else
        echo "error: chromium is missing; install it (apt-get install chromium)" >&2
        exit 1
    fi
fi
if ! command -v npm >/dev/null; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "installing nodejs and npm with apt-get" >&2
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    else
        echo "error: node and npm are missing; install them (apt-get install nodejs npm)" >&2
        exit 1
    fi
fi
if [ ! -f "$node_dir/node_modules/playwright-core/package.json" ] ||
    ! grep -q "\"version\": \"$version\"" "$node_dir/node_modules/playwright-core/package.json"; then
    echo "installing playwright-core $version into $node_dir" >&2
    mkdir -p "$node_dir"
    (cd "$node_dir" && npm install --silent --no-audit --no-fund --prefix . "playwright-core@$version" >&2)
fi
echo "$chromium"
echo "$node_dir/node_modules"
