#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL server: a new cluster in a temporary folder
# (Debian's postgresql, /usr/lib/postgresql/VERSION/bin), listening on a unix socket in that
# folder only (no TCP port, so parallel runs cannot collide), stopped and deleted afterwards.
# The command finds it in VG_TEST_POSTGRES_URL (postgres://USER@/postgres?host=FOLDER); the
# county's PostgreSQL tests fail without it. As root, the server runs as the `postgres` user
# (PostgreSQL refuses to run as root), or `nobody` when there is none.
# Usage: tools/with-postgres.sh COMMAND [ARG...]   Exit status: the command's.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: tools/with-postgres.sh COMMAND [ARG...]" >&2; exit 64; }
BIN=${POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$BIN/initdb" ] || { echo "error: no PostgreSQL server found under /usr/lib/postgresql; run \`make deps\` as root (apt-get install postgresql)" >&2; exit 2; }

DIR=$(mktemp -d /tmp/vg-postgres.XXXXXX)
USER_NAME=county_test
as_server() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    RUN_AS=postgres
    id -u postgres >/dev/null 2>&1 || RUN_AS=nobody
    chown "$RUN_AS" "$DIR"
    as_server() { runuser -u "$RUN_AS" -- "$@"; }
fi
chmod 700 "$DIR"

stop() {
    as_server "$BIN/pg_ctl" -D "$DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$DIR"
}
trap stop EXIT

# trust on the socket only: it is in a folder only the server's user (and root) can open.
as_server "$BIN/initdb" -D "$DIR/data" -U "$USER_NAME" --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; exit 2; }
# A small server: the tests and the fleet benchmark open at most 64 connections at once. fsync
# stays on: the county store refuses a server that would lose commits at a power cut.
as_server "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-k $DIR -c listen_addresses= -c max_connections=100 -c shared_buffers=64MB" start >/dev/null \
    || { cat "$DIR/server.log" >&2; exit 2; }

export VG_TEST_POSTGRES_URL="postgres://$USER_NAME@/postgres?host=$DIR"
status=0
"$@" || status=$?
exit $status
