#!/usr/bin/env bash
# A throwaway PostgreSQL 16 (with pgvector) from the `pgserver` PyPI package, for tests.
#
#   scripts/postgres.sh start DIR   starts a server with its data in DIR; prints its URL
#   scripts/postgres.sh stop DIR    stops it
#
# PostgreSQL refuses to run as root, so as root the server runs as the user `sluice-pg`
# (created if missing) from a copy of the binaries inside DIR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
action=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
pg_user=sluice-pg

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

case "$action" in
start)
    python=$("$here/python-env.sh")
    src=$("$python" -c 'import os, pgserver; print(os.path.join(os.path.dirname(pgserver.__file__), "pginstall"))')
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" = 0 ]; then
        id "$pg_user" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$pg_user"
        # Same layout as in site-packages: the binaries find their libraries by a relative rpath.
        mkdir -p "$dir/pkg/pgserver"
        cp -a "$src" "$dir/pkg/pgserver/pginstall"
        cp -a "$(dirname "$(dirname "$src")")/pgserver.libs" "$dir/pkg/pgserver.libs"
        chown -R "$pg_user" "$dir"
        chmod 755 "$dir"
        bin=$dir/pkg/pgserver/pginstall/bin
    else
        bin=$src/bin
    fi
    port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" start >/dev/null \
        || { cat "$dir/postgres.log" >&2; exit 1; }
    echo "$bin" >"$dir/bin.path"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    [ -f "$dir/bin.path" ] || exit 0
    as_pg "$(cat "$dir/bin.path")/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
*)
    echo "usage: postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
