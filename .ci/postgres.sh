#!/usr/bin/env bash
# A private PostgreSQL cluster for segkit's database tests (tests/engines/test_postgres.py).
#
#   eval "$(.ci/postgres.sh start)"     # starts one; prints SEGKIT_POSTGRES=... and SEGKIT_POSTGRES_DIR=...
#   .ci/postgres.sh stop "$SEGKIT_POSTGRES_DIR"   # stops it and removes its folder
#
# The cluster lives in a new temporary folder, listens on 127.0.0.1 only (port: PGPORT, else
# the first free one from 54329) with its socket in that folder, and holds one database,
# `segkit`, owned by the user that runs the server. initdb refuses to run as root: as root the
# server runs as the `postgres` system user (created when missing). PostgreSQL 15 or newer:
# initdb from PATH, else from /usr/lib/postgresql/*/bin (Debian's `postgresql` package);
# install that package when neither has it.
set -euo pipefail

find_bin() {
    local name=$1
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
    local candidate
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/$name" ]; then echo "$candidate/$name"; return; fi
    done
    return 1
}

start() {
    local initdb pg_ctl createdb bindir
    initdb=$(find_bin initdb) || { echo "postgres.sh: initdb not found; install PostgreSQL 15+ (apt-get install postgresql)" >&2; exit 1; }
    bindir=$(dirname "$(readlink -f "$initdb")")
    pg_ctl="$bindir/pg_ctl"
    createdb="$bindir/createdb"
    [ -x "$createdb" ] || createdb=$(find_bin createdb)
    local version
    version=$("$bindir/postgres" --version | sed -E 's/[^0-9]*([0-9]+).*/\1/')
    if [ "$version" -lt 15 ]; then
        echo "postgres.sh: PostgreSQL $version found; segkit needs 15 or newer" >&2; exit 1
    fi

    local run_as=() owner
    owner=$(id -un)
    if [ "$(id -u)" = 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --user-group --home-dir /nonexistent --shell /usr/sbin/nologin postgres
        fi
        run_as=(runuser -u postgres --)
        owner=postgres
    fi

    local dir port
    dir=$(mktemp -d "${TMPDIR:-/tmp}/segkit-postgres.XXXXXX")
    chmod 755 "$dir"
    [ "$owner" = "$(id -un)" ] || chown "$owner" "$dir"
    port=${PGPORT:-}
    if [ -z "$port" ]; then
        port=54329
        while (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    fi

    "${run_as[@]}" "$initdb" -D "$dir/data" -U "$owner" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    "${run_as[@]}" "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=off -c synchronous_commit=off" start \
        >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    "${run_as[@]}" "$createdb" -h 127.0.0.1 -p "$port" -U "$owner" segkit
    echo "SEGKIT_POSTGRES=postgresql://$owner@127.0.0.1:$port/segkit"
    echo "SEGKIT_POSTGRES_DIR=$dir"
}

stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    [ -d "$dir/data" ] || return 0
    local initdb bindir run_as=()
    initdb=$(find_bin initdb)
    bindir=$(dirname "$(readlink -f "$initdb")")
    if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi
    "${run_as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
