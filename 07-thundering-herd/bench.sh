#!/bin/sh
# bench.sh: throughput and latency of every mode, side by side, in one run.
#
#   make bench       (or: sh ./bench.sh, from this directory)
#
# Figures, never pass/fail. Absolute numbers drift with the machine and
# whatever else runs on it, so each mode's conns/s is also printed as a
# ratio to blocking accept() measured in the same run. The program prints
# the kernel and the CPU count itself.

. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init herd-bench ./thundering-herd
WORKERS=${WORKERS:-4}

bench() {
    echo "=== $*"
    out=$(./thundering-herd --workers "$WORKERS" --csv "$@") || exit 1
    printf '%s\n' "$out" | grep -v '^csv,' | grep -v 'listening on' | sed -n '/^system/,/^what to notice/p' |
        sed '$d'
    printf '%s\n' "$out" | awk -F, '
        $1 == "csv" && $2 == "accept" { base = $11 }
        $1 == "csv" && $2 != "mode" && $3 != "skipped" { m[++n] = $2; r[n] = $11 }
        END {
            printf "conns/s relative to accept:"
            for (i = 1; i <= n; i++)
                printf " %s %.2f", m[i], (base > 0 ? r[i] / base : 0)
            printf "\n\n"
        }'
}

bench --connections 2000
bench --connections 4000 --clients 16
bench --connections 1000 --clients 16 --stall-worker 10
