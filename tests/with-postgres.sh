#!/bin/sh
# with-postgres.sh PROGRAM [ARGS...] - runs a TAP test program against a real, throw-away
# PostgreSQL server: initdb in a temporary directory owned by the `postgres` user (the server
# refuses to run as root), start it on a free loopback port with its socket in that directory,
# export FACET_TEST_PG as a libpq keyword string, run the program, stop and delete the server.
# FACET_TEST_PG_STOP and FACET_TEST_PG_START are shell commands that stop (fast shutdown: the
# clients' connections are cut) and start that same server again, for reconnection tests.
# Without the server binaries it prints a TAP skip (not a pass).
set -u
PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && PGBIN=$d; done
fi
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
    echo "1..0 # SKIP PostgreSQL server binaries not found (apt-get install postgresql)"
    exit 0
fi
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "1..0 # SKIP running as root and there is no 'postgres' user to run the server"
    exit 0
fi
DIR=$(mktemp -d /tmp/facet-pg-XXXXXX) || exit 1
chmod 755 "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
cleanup() {
    as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
if ! as_pg "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >"$DIR/initdb.log" 2>&1; then
    echo "Bail out! initdb failed:"; sed 's/^/# /' "$DIR/initdb.log"; exit 1
fi
port=$((54320 + $$ % 2000))
started=0
for try in 1 2 3 4 5 6 7 8 9 10; do
    opts="-c listen_addresses=127.0.0.1 -p $port -k $DIR -c fsync=on"
    if as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 30 -o "$opts" start \
        >/dev/null 2>&1; then
        started=1
        break
    fi
    port=$((port + 1 + try * 7))
done
if [ $started = 0 ]; then
    echo "Bail out! PostgreSQL did not start:"; sed 's/^/# /' "$DIR/server.log"; exit 1
fi
export FACET_TEST_PG="host=127.0.0.1 port=$port user=postgres dbname=postgres"
runas=""
[ "$(id -u)" = 0 ] && runas="runuser -u postgres --"
export FACET_TEST_PG_STOP="$runas $PGBIN/pg_ctl -D $DIR/data -m fast -w stop >/dev/null 2>&1"
export FACET_TEST_PG_START="$runas $PGBIN/pg_ctl -D $DIR/data -l $DIR/server.log -w -t 30 -o '$opts' start >/dev/null 2>&1"
"$@"
