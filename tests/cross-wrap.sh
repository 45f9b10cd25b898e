#!/bin/sh
# cross-wrap.sh OUT PROGRAM RUNNER... - writes OUT, a script that runs PROGRAM (built for another
# machine) through RUNNER (the cross file's qemu-user command) with the arguments it is given.
# Cross builds hand it to the test scripts that start a built program themselves (the CLI,
# facetd, a test program under with-postgres.sh): meson runs only test programs through the
# exe_wrapper, and containers have no binfmt_misc to run a foreign binary directly. `exec`
# keeps the process id, so the scripts' signals (SIGTERM, SIGHUP, kill -9) reach the program.
set -eu
out=$1 prog=$2
shift 2
{
    echo '#!/bin/sh'
    printf 'exec'
    for word in "$@" "$prog"; do printf " '%s'" "$word"; done
    echo ' "$@"'
} >"$out.tmp"
chmod +x "$out.tmp"
mv "$out.tmp" "$out"
