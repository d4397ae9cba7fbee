#!/bin/sh
# bench.sh: http-shared-port side by side with nginx and with the post's
# design in Node, under the same wrk load, in one run.
#
#   make bench                     (or: sh ./bench.sh)
#   BENCH_SECONDS=5 BENCH_ROUNDS=3 WORKERS=2 sh ./bench.sh   (the defaults)
#   PINNED_ONLY=1 sh ./bench.sh    (the first table only)
#
# Two tables. The first measures the servers, not the client: ours and nginx
# each run ONE worker, pinned to CPU 0 (taskset -p), and wrk runs pinned to
# CPU 1, so the worker's own CPU time (utime + stime from /proc/PID/stat)
# divided by the requests it answered is the cost of a request in that
# server, whatever the client's speed. Three loads: keep-alive (64
# connections), Connection: close (32), and pipelined (64 connections, 16
# requests per write, from a wrk Lua script). It prints req/s, CPU ms per
# 1000 requests and ours/nginx ratios of both, and each worker's RSS. It
# needs two CPUs and taskset; with one it says so and skips the table.
#
# The second table is the older, unpinned one:
# Every server gets WORKERS worker processes (default: the online CPUs) and
# answers GET / with {"msg":"Hello World","pid":N} as application/json:
#   ours    ./http-shared-port
#   nginx   a config generated here: `return 200` with the same body ($pid),
#           access_log off, keepalive_requests raised so that, like ours, it
#           never closes a busy keep-alive connection; it runs in the
#           foreground (daemon off) from a temporary directory
#   node    bench-node.js: the post's master/worker design with its bugs fixed
# Two loads, wrk -t1 (one client thread, so the client uses one core and the
# servers share the rest):
#   keep-alive         64 connections
#   Connection: close  32 connections (a TCP connection per request)
# The servers take turns over BENCH_ROUNDS rounds; it prints each one's
# median req/s with the range of its rounds, each peer's ratio to ours (of
# the medians), the CPU time each server spent per 1000 requests, the RSS of
# one worker after the runs, the CPU count and the tool versions. These are figures, not a
# test: the machine may be busy, so compare within one run. A missing peer
# (wrk, nginx, node) is skipped with a message.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init bench-06 ./http-shared-port

SECONDS_EACH=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
NPROC=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
WORKERS=${WORKERS:-$NPROC}
TMP=$tmp
PIDS=""

# The servers get SIGTERM, and SIGKILL if one has not exited 6 s later;
# demo-lib.sh then stops any other job and removes $tmp.
lib_cleanup() {
    if [ -n "$PIDS" ]; then
        kill -TERM $PIDS 2>/dev/null
        (sleep 6 && kill -KILL $PIDS 2>/dev/null) &
        killer=$!
        wait $PIDS 2>/dev/null
        kill "$killer" 2>/dev/null
    fi
}

if ! have wrk; then
    echo "wrk is not installed: nothing to measure (apt-get install wrk)"
    exit 0
fi

# Wait (at most 10 s) until file $1 has a "listening on HOST:PORT" line;
# print PORT.
wait_port() {
    wait_file "$1" "^listening on .*:[0-9][0-9]* (pid" 100 || return 1
    port_in "$(cat "$1")"
}

# A free loopback port for nginx (it cannot take port 0 and report it).
free_port() {
    # Below the ephemeral range (32768 and up on Linux), where a client's
    # own connections cannot be holding the port.
    p=$((10000 + ($$ * 7 + $1 * 131) % 20000))
    end=$((p + 50))
    while [ $p -lt $end ]; do
        # curl exits 7 when the connection is refused: nobody listens there.
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/"
        if [ $? -eq 7 ]; then
            echo "$p"
            return 0
        fi
        p=$((p + 1))
    done
    return 1
}

# CPU time (user + system, in clock ticks) used so far by a server: its
# master and the master's children.
tree_ticks() {
    for c in /proc/[0-9]*; do
        pid=${c#/proc/}
        if [ "$pid" = "$1" ] ||
            [ "$(awk '/^PPid:/ {print $2}' "$c/status" 2>/dev/null)" = "$1" ]; then
            # utime and stime are fields 14 and 15; strip "pid (comm) " first
            sed 's/^.*) //' "$c/stat" 2>/dev/null | awk '{print $12 + $13}'
        fi
    done | awk '{s += $1} END {print s + 0}'
}
TICK_MS=$(awk -v t="$(getconf CLK_TCK 2>/dev/null || echo 100)" 'BEGIN {print 1000 / t}')

# One wrk run: url connections master-pid [header]. Prints "req/s cpu", cpu
# being the server's CPU milliseconds per 1000 requests.
run_wrk() {
    before=$(tree_ticks "$3")
    if [ $# -ge 4 ]; then
        wrk -t1 -c"$2" -d"${SECONDS_EACH}s" -H "$4" "$1" >"$TMP/wrk.out" 2>&1
    else
        wrk -t1 -c"$2" -d"${SECONDS_EACH}s" "$1" >"$TMP/wrk.out" 2>&1
    fi
    after=$(tree_ticks "$3")
    wrk_figures "$1 with $2 connections" $((after - before))
}

# What wrk wrote to $TMP/wrk.out, and the server's CPU ticks over the run:
# prints "req/s cpu" (cpu: CPU milliseconds per 1000 requests); errors go
# to stderr, labelled $1.
wrk_figures() {
    rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$TMP/wrk.out")
    total=$(sed -n 's/^ *\([0-9][0-9]*\) requests in.*/\1/p' "$TMP/wrk.out")
    errs=$(sed -n 's/^ *Socket errors: \(.*\)/\1/p; s/^ *Non-2xx or 3xx responses: \(.*\)/non-2xx \1/p' "$TMP/wrk.out" | tr '\n' ' ')
    [ -n "$errs" ] && echo "    ($1: $errs)" >&2
    awk -v r="${rps:-0}" -v n="${total:-0}" -v t="$2" -v ms="$TICK_MS" \
        'BEGIN { printf "%s %.3f\n", r, (n > 0 ? t * ms * 1000 / n : 0) }'
}

first_child() {
    for c in /proc/[0-9]*; do
        pid=${c#/proc/}
        if [ "$(awk '/^PPid:/ {print $2}' "$c/status" 2>/dev/null)" = "$1" ]; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

rss_kb() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null
}

# Pages this process alone has (smaps_rollup: Private_*); RSS also counts
# the shared pages of libc and of the program file.
private_kb() {
    awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup" 2>/dev/null
}

echo "=== machine: $NPROC CPUs, $(uname -sr); load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "=== tools: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" \
    "| nginx: $(nginx -v 2>&1 | sed 's/.*nginx\///' || true)" \
    "| node: $(node --version 2>/dev/null || echo none)"

# start_nginx TRY [WORKERS [DIR]]: nginx with WORKERS workers (default
# $WORKERS) from directory DIR (default $TMP/nginx); sets NGINX (its master's
# pid) and PORT_nginx.
start_nginx() {
    port=$(free_port "$1") || return 1
    nw=${2:-$WORKERS}
    nd=${3:-$TMP/nginx}
    rm -rf "$nd"
    mkdir -p "$nd"
    cat >"$nd/nginx.conf" <<EOF
worker_processes $nw;
daemon off;
pid $nd/nginx.pid;
error_log $nd/error.log;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $nd/body;
    proxy_temp_path $nd/proxy;
    fastcgi_temp_path $nd/fastcgi;
    uwsgi_temp_path $nd/uwsgi;
    scgi_temp_path $nd/scgi;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type application/json;
            return 200 '{"msg":"Hello World","pid":\$pid}';
        }
    }
}
EOF
    nginx -p "$nd" -c "$nd/nginx.conf" >"$TMP/nginx.log" 2>&1 &
    NGINX=$!
    PIDS="$PIDS $NGINX"
    i=0
    while [ $i -lt 50 ] && kill -0 "$NGINX" 2>/dev/null; do
        if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            PORT_nginx=$port
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    kill -TERM "$NGINX" 2>/dev/null
    return 1
}

# The servers take turns, round after round, so that a burst of other
# activity on a shared machine hits all of them alike; each figure is the
# median of its rounds, and the spread (lowest-highest) is printed beside it.
median() {
    tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {
        if (NR == 0) { print 0; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
spread() {
    tr ' ' '\n' | grep . | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.0f-%.0f", lo, hi}'
}

# --- the pinned table: one worker each, the client on the other CPU ---------

# CPU time (utime + stime, in clock ticks) of one process.
ticks_of() {
    sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}'
}

# The Lua script that makes wrk pipeline: each write carries 16 requests,
# and wrk counts every response.
cat >"$TMP/pipeline.lua" <<'LUA'
init = function(args)
    local r = {}
    for i = 1, 16 do r[i] = wrk.format(nil, "/") end
    req = table.concat(r)
end
request = function() return req end
LUA

# One pinned wrk run: load url worker-pid. Prints "req/s cpu", cpu being the
# worker's CPU milliseconds per 1000 requests.
pinned_wrk() {
    pid=$3
    before=$(ticks_of "$pid")
    case $1 in
    keepalive) taskset -c 1 wrk -t1 -c64 -d"${SECONDS_EACH}s" "$2" ;;
    close) taskset -c 1 wrk -t1 -c32 -d"${SECONDS_EACH}s" -H "Connection: close" "$2" ;;
    pipelined) taskset -c 1 wrk -t1 -c64 -d"${SECONDS_EACH}s" -s "$TMP/pipeline.lua" "$2" ;;
    esac >"$TMP/wrk.out" 2>&1
    after=$(ticks_of "$pid")
    wrk_figures "pinned $1" $((after - before))
}

pinned_table() {
    ./http-shared-port -p 0 -w 1 >"$TMP/pinned-ours.log" 2>&1 &
    P_OURS=$!
    PIDS="$PIDS $P_OURS"
    port_ours=$(wait_port "$TMP/pinned-ours.log") || {
        echo "pinned: ours did not start"
        return 1
    }
    W_ours=$(first_child "$P_OURS")
    P_NAMES="ours"
    try=1
    PORT_nginx=""
    while have nginx && [ $try -le 3 ] && ! start_nginx $((try + 10)) 1 "$TMP/nginx1"; do
        try=$((try + 1))
    done
    if [ -n "$PORT_nginx" ]; then
        port_nginx=$PORT_nginx
        W_nginx=$(first_child "$(cat "$TMP/nginx1/nginx.pid")")
        P_NAMES="ours nginx"
    fi
    PORT_nginx=""
    for n in $P_NAMES; do
        eval "w=\$W_$n; port=\$port_$n"
        taskset -p 1 "$w" >/dev/null || return 1 # the worker on CPU 0
        curl -s -o /dev/null "http://127.0.0.1:$port/"
    done
    echo "=== pinned: one worker each on CPU 0 (ours pid $W_ours, nginx pid ${W_nginx:-none}), wrk -t1 on CPU 1"
    for mode in keepalive close pipelined; do
        round=1
        for n in $P_NAMES; do
            eval "R_${mode}_$n=''; C_${mode}_$n=''"
        done
        while [ $round -le "$ROUNDS" ]; do
            for n in $P_NAMES; do
                eval "w=\$W_$n; port=\$port_$n"
                out=$(pinned_wrk $mode "http://127.0.0.1:$port/" "$w")
                eval "R_${mode}_$n=\"\$R_${mode}_$n ${out% *}\"; C_${mode}_$n=\"\$C_${mode}_$n ${out#* }\""
            done
            round=$((round + 1))
        done
    done
    printf '\n%-24s %-6s %10s %17s %12s %17s\n' "pinned load" "server" "req/s" "(rounds: range)" \
        "CPU ms/1000" "(rounds: range)"
    for mode in keepalive close pipelined; do
        case $mode in
        keepalive) label="keep-alive, 64 conns" ;;
        close) label="Connection: close, 32" ;;
        pipelined) label="pipelined 16/write, 64" ;;
        esac
        for n in $P_NAMES; do
            eval "all=\$R_${mode}_$n; cpu=\$C_${mode}_$n"
            printf '%-24s %-6s %10.0f %17s %12.3f %17s\n' "$label" "$n" \
                "$(echo "$all" | median)" "$(echo "$all" | spread)" \
                "$(echo "$cpu" | median)" "$(echo "$cpu" | spread3)"
        done
        if [ "$P_NAMES" = "ours nginx" ]; then
            eval "ro=\$(echo \$R_${mode}_ours | median); rn=\$(echo \$R_${mode}_nginx | median)"
            eval "co=\$(echo \$C_${mode}_ours | median); cn=\$(echo \$C_${mode}_nginx | median)"
            eval "cr=\$(ratios \"\$C_${mode}_ours\" \"\$C_${mode}_nginx\")"
            awk -v ro="$ro" -v rn="$rn" -v co="$co" -v cn="$cn" -v cr="$cr" 'BEGIN {
                printf "%-24s ours/nginx: req/s %.2fx, CPU per request %.2fx (rounds: %s)\n", "",
                    (rn > 0 ? ro / rn : 0), (cn > 0 ? co / cn : 0), cr }'
        fi
    done
    echo "(CPU ms/1000: the pinned worker's own CPU time per 1000 requests, median"
    echo " of the rounds; lower is better. A ratio below 1.00x: ours costs less.)"
    for n in $P_NAMES; do
        eval "w=\$W_$n"
        printf 'pinned %-6s worker after the runs: RSS %6s kB, of it private %6s kB\n' \
            "$n" "$(rss_kb "$w")" "$(private_kb "$w")"
    done
    echo
    # Only the pinned servers go: the master's pid leaves PIDS.
    kill -TERM "$P_OURS" $(cat "$TMP/nginx1/nginx.pid" 2>/dev/null)
    wait "$P_OURS" 2>/dev/null
    PIDS=$(echo "$PIDS" | sed "s/ $P_OURS\b//")
}

# The ours/nginx ratio of each round's CPU figure: "0.71 0.69 0.75".
ratios() {
    echo "$1|$2" | awk -F'|' '{ n = split($1, a, " "); split($2, b, " ")
        for (i = 1; i <= n; i++) printf "%s%.2f", (i > 1 ? " " : ""), (b[i] > 0 ? a[i] / b[i] : 0) }'
}
spread3() {
    tr ' ' '\n' | grep . | sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.3f-%.3f", lo, hi}'
}

if [ "$NPROC" -lt 2 ] || ! have taskset; then
    echo "=== pinned table skipped: it needs 2 CPUs and taskset ($NPROC CPUs here)"
else
    pinned_table || echo "the pinned table could not be measured"
fi
if [ -n "${PINNED_ONLY:-}" ]; then
    exit 0
fi

# --- start the servers ------------------------------------------------------
echo "=== unpinned: $WORKERS workers each; wrk -t1, ${SECONDS_EACH}s per run, $ROUNDS rounds taking turns"
NAMES=""
./http-shared-port -p 0 -w "$WORKERS" >"$TMP/ours.log" 2>&1 &
OURS=$!
PIDS="$PIDS $OURS"
PORT_ours=$(wait_port "$TMP/ours.log") || { echo "ours did not start:"; cat "$TMP/ours.log"; exit 1; }
NAMES="ours"

if have nginx; then
    try=1
    while [ $try -le 3 ] && ! start_nginx $try; do
        try=$((try + 1))
    done
    if [ -n "${PORT_nginx:-}" ]; then
        NAMES="$NAMES nginx"
    else
        echo "nginx did not start, skipping it:"
        cat "$TMP/nginx.log" "$TMP/nginx/error.log" 2>/dev/null
    fi
else
    echo "nginx is not installed: skipping it"
fi

if have node; then
    PORT=0 WORKERS=$WORKERS node bench-node.js >"$TMP/node.log" 2>&1 &
    NODE=$!
    PIDS="$PIDS $NODE"
    if PORT_node=$(wait_port "$TMP/node.log"); then
        NAMES="$NAMES node"
    else
        echo "node did not start, skipping it:"
        cat "$TMP/node.log"
    fi
else
    echo "node is not installed: skipping it"
fi

# --- measure ----------------------------------------------------------------
for n in $NAMES; do
    eval "port=\$PORT_$n"
    curl -s -o /dev/null "http://127.0.0.1:$port/" # warm up
done

MASTER_ours=$OURS
MASTER_nginx=$(cat "$TMP/nginx/nginx.pid" 2>/dev/null)
MASTER_node=${NODE:-}
for mode in keepalive close; do
    for n in $NAMES; do
        eval "ALL_${mode}_$n=''; CPU_${mode}_$n=''"
    done
    round=1
    while [ $round -le "$ROUNDS" ]; do
        for n in $NAMES; do
            eval "port=\$PORT_$n; master=\$MASTER_$n"
            if [ $mode = keepalive ]; then
                out=$(run_wrk "http://127.0.0.1:$port/" 64 "$master")
            else
                out=$(run_wrk "http://127.0.0.1:$port/" 32 "$master" "Connection: close")
            fi
            r=${out% *}
            c=${out#* }
            eval "ALL_${mode}_$n=\"\$ALL_${mode}_$n $r\"; CPU_${mode}_$n=\"\$CPU_${mode}_$n $c\""
        done
        round=$((round + 1))
    done
done

printf '\n%-22s %-7s %10s %17s %13s %13s\n' "load" "server" "req/s" "(rounds: range)" \
    "ours/server" "CPU ms/1000"
for mode in keepalive close; do
    eval "ours=\$(echo \$ALL_${mode}_ours | median)"
    for n in $NAMES; do
        eval "all=\$ALL_${mode}_$n; cpu=\$CPU_${mode}_$n"
        r=$(echo "$all" | median)
        range=$(echo "$all" | spread)
        c=$(echo "$cpu" | median)
        label="keep-alive, 64 conns"
        [ $mode = close ] && label="Connection: close, 32"
        ratio=$(awk -v a="$ours" -v b="$r" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }')
        printf '%-22s %-7s %10.0f %17s %13s %13.1f\n' "$label" "$n" "$r" "$range" "$ratio" "$c"
    done
done
echo "(CPU ms/1000: CPU time of all the server's processes per 1000 requests,"
echo " median of the rounds; lower is better. When the one wrk thread is the"
echo " bottleneck, as it tends to be with a connection per request, req/s are"
echo " alike and this column is what still tells the servers apart.)"

echo
for n in $NAMES; do
    case $n in
    ours) master=$OURS ;;
    nginx) master=$(cat "$TMP/nginx/nginx.pid" 2>/dev/null) ;;
    node) master=$NODE ;;
    esac
    w=$(first_child "$master")
    if [ -n "$w" ]; then
        printf 'one %-6s worker after the runs: RSS %6s kB, of it private %6s kB (pid %s)\n' \
            "$n" "$(rss_kb "$w")" "$(private_kb "$w")" "$w"
    fi
done

# Our own per-worker table: how the kernel spread the connections.
kill -TERM "$OURS"
wait "$OURS" 2>/dev/null
PIDS=$(echo "$PIDS" | sed "s/ $OURS\b//")
echo
echo "ours, at exit (requests per worker over all the runs):"
awk '/requests per worker \(at exit\)/ {on = 1; next} on {sub(/^\[master [0-9]+\] /, "  "); print} /total/ {on = 0}' "$TMP/ours.log"
