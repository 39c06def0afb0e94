#!/usr/bin/env bash
# A PostgreSQL server for passeur's tests, benchmarks and multi-replica runs, on loopback only.
#
#   bash scripts/postgres.sh start   # installs Debian's postgresql if missing, starts the cluster, prints its URL
#   bash scripts/postgres.sh url     # prints the URL of the running cluster
#   bash scripts/postgres.sh stop    # stops it (the data stays for the next start)
#
# The cluster lives in $PASSEUR_PG_DIR (default ~/.cache/passeur-pg, /var/tmp/passeur-pg as root) and listens on 127.0.0.1:$PASSEUR_PG_PORT
# (default 54329), with trust authentication for the local `passeur` role: it is a development and test
# server, never reachable from another machine. As root, the server runs as Debian's `postgres` user.
set -euo pipefail

# As root the server runs as `postgres`, which cannot enter /root: the cluster then lives under /var/tmp.
if [[ $(id -u) -eq 0 ]]; then default_dir=/var/tmp/passeur-pg; else default_dir="$HOME/.cache/passeur-pg"; fi
dir="${PASSEUR_PG_DIR:-$default_dir}"
port="${PASSEUR_PG_PORT:-54329}"
url="postgres://passeur@127.0.0.1:${port}/postgres"

bin_dir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$d" || ! -x "$d/pg_ctl" ]]; then
        echo "postgres.sh: installing Debian's postgresql package" >&2
        if [[ $(id -u) -eq 0 ]]; then
            apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
        else
            sudo apt-get update >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
        fi
        d=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    echo "$d"
}

# Runs a PostgreSQL program as the cluster's owner (the server refuses to run as root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local bin
    bin=$(bin_dir)
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$dir"; fi
    if [[ ! -f "$dir/PG_VERSION" ]]; then
        as_owner "$bin/initdb" -D "$dir" -U passeur -A trust -E UTF8 --locale=C.UTF-8 >&2
        cat >>"$dir/postgresql.conf" <<EOF
# passeur's settings: loopback only, sockets in the data directory, enough connections for several replicas.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
# Bulk imports write gigabytes of WAL: fewer checkpoints during one (the default is 1GB).
max_wal_size = 4GB
EOF
    fi
    if ! as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >&2
    fi
    echo "$url"
}

stop() {
    local bin
    bin=$(bin_dir)
    if [[ -f "$dir/PG_VERSION" ]] && as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$dir" -m fast -w stop >&2
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) echo "$url" ;;
    *)
        echo "usage: bash scripts/postgres.sh start|stop|url" >&2
        exit 2
        ;;
esac
