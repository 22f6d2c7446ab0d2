#!/usr/bin/env bash
# Prefect's server on PostgreSQL, on this host, with Debian's `postgresql` package (no Docker).
#
#   ops/prefect-postgres.sh start [DATA_DIR]   # a private cluster in DATA_DIR (default run/prefect-pg),
#                                              # then `prefect server start` in the foreground
#   ops/prefect-postgres.sh db [DATA_DIR]      # only the cluster and the database; prints the URL
#   ops/prefect-postgres.sh stop [DATA_DIR]    # stop the cluster
#
# Environment: PG_PORT (5433), PREFECT_PORT (4200), PG_BIN (the directory of initdb/pg_ctl;
# default: on PATH, else the newest /usr/lib/postgresql/*/bin), PREFECT (the prefect command).
# The cluster listens on 127.0.0.1 only and trusts local connections: a single-host setup.
# For a shared host use docker-compose (ops/docker-compose.yml) or a cluster with a password
# and put it in PREFECT_SERVER_DATABASE_CONNECTION_URL (docs/OPERATIONS.md).
# As root, the cluster runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

cmd=${1:-}
data=${2:-run/prefect-pg}
pg_port=${PG_PORT:-5433}
prefect_port=${PREFECT_PORT:-4200}

usage() { sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ -n "$cmd" ] || usage

if [ -z "${PG_BIN:-}" ]; then
  if command -v initdb >/dev/null; then
    PG_BIN=$(dirname "$(readlink -f "$(command -v initdb)")")
  else
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  echo "PostgreSQL's server programs (initdb, pg_ctl) not found: apt-get install postgresql, or set PG_BIN" >&2
  exit 2
fi

mkdir -p "$data"
data=$(cd "$data" && pwd)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$data"
  as_pg=(runuser -u postgres --)
fi
url="postgresql+asyncpg://prefect@127.0.0.1:${pg_port}/prefect"

start_db() {
  if [ ! -f "$data/PG_VERSION" ]; then
    "${as_pg[@]}" "$PG_BIN/initdb" -D "$data" -U prefect --auth=trust -E UTF8 >"$data.initdb.log"
  fi
  if ! "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # the socket in the data directory: /run/postgresql belongs to the system cluster
    "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -w -t 60 -l "$data/server.log" \
      -o "-p $pg_port -k $data -c listen_addresses=127.0.0.1 -c max_connections=100" start >/dev/null
  fi
  if ! "${as_pg[@]}" "$PG_BIN/psql" -h 127.0.0.1 -p "$pg_port" -U prefect -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'prefect'" | grep -q 1; then
    "${as_pg[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$pg_port" -U prefect prefect
  fi
}

case "$cmd" in
  db)
    start_db
    echo "$url"
    ;;
  start)
    start_db
    echo "PostgreSQL in $data on 127.0.0.1:$pg_port; Prefect on http://127.0.0.1:$prefect_port" >&2
    export PREFECT_SERVER_DATABASE_CONNECTION_URL="$url"
    exec ${PREFECT:-prefect} server start --host 127.0.0.1 --port "$prefect_port"
    ;;
  stop)
    if [ -f "$data/PG_VERSION" ]; then
      "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$data" -m fast stop || true
    fi
    ;;
  *) usage ;;
esac
