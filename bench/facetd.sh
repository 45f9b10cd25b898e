# bench/facetd.sh - sourced by the benchmarks that run a real facetd on loopback
# (bench/server/run.sh, bench/watch/run.sh).
#
#   start_facetd BUILD LOG KEY DB [FLAGS...]
#       starts BUILD/tools/facetd on 127.0.0.1 with a free port (port 0), admin key KEY, store
#       DB and its log in LOG; sets $pid and $port once the log says it listens (up to 60 s),
#       else prints the log and exits 1.
#   stop_facetd
#       stops it (SIGTERM) and waits.
start_facetd() {
    _b=$1 _log=$2 _key=$3 _db=$4
    shift 4
    rm -f "$_log"
    FACET_ADMIN_KEY=$_key "$_b/tools/facetd" --listen 127.0.0.1:0 --db "$_db" --log-file "$_log" "$@" \
        >/dev/null 2>&1 &
    pid=$!
    port=
    for _ in $(seq 1 600); do
        port=$(sed -n 's/.*listening on .* (port \([0-9]*\).*/\1/p' "$_log" 2>/dev/null | head -1)
        [ -n "$port" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "facetd did not start:"; cat "$_log"; exit 1; }
}

stop_facetd() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    pid=
    return 0
}
