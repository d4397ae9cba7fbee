#!/bin/sh
# collect.sh: measure every chapter briefly on this machine and write the
# report page (make report, at the top of the tree).
#
#   sh ./collect.sh            (from report/, after make; or: make report)
#   QUICK=1 sh ./collect.sh    the smallest sizes (CI): the same charts, from
#                              fewer runs and smaller sizes
#
# One step per chapter, each a short run of that chapter's own programs or
# bench script, with one progress line: what runs, and how long it took.
# Each step turns the program's output into a chart's data, build/data/
# NAME.tsv, beside NAME.meta (title, axes and units, the exact command, the
# rules of the computed sentence); then ./report draws every chart into
# build/report.html. A peer that is not installed (node, nginx, wrk) is
# skipped, and the page says so. A step that fails leaves its chart "not
# measured" and the run goes on; collect.sh then exits 1.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init report ./report
watchdog 900
quick=${QUICK:-0}
root=$(cd .. && pwd)
data=$PWD/build/data
page=$PWD/build/report.html
rm -rf "$data"
mkdir -p "$data" || exit 1
: >"$data/notes"
steps=7
n=0 # the step counter: a step's own variables have other names

# step_run TEXT FUNCTION: one progress line, TEXT and the seconds the step
# took; its output goes to build/data/FUNCTION.log (kept, to read after a
# failure).
step_run() {
    n=$((n + 1))
    printf '[%d/%d] %s ... ' "$n" "$steps" "$1"
    t0=$(date +%s)
    if "$2" >"$data/$2.log" 2>&1; then
        echo "$(($(date +%s) - t0)) s"
    else
        echo "FAILED after $(($(date +%s) - t0)) s (see $data/$2.log)"
        fail=1
    fi
}

# meta NAME LINE...: the chart's metadata, one key=value LINE each. The
# chapters' meta calls look alike on purpose: each is one chart's data
# (title, axes, command), written out where its measurement is.
meta() {
    _m=$1
    shift
    printf '%s\n' "$@" >"$data/$_m.meta"
}

# note TEXT: a line at the top of the page (a skipped peer).
note() { printf '%s\n' "$*" >>"$data/notes"; }

# kv KEY TEXT: the value of KEY=value in TEXT (the servers' stats lines).
kv() { printf '%s\n' "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# ---- 01-event-loop: RSS and context switches, loop against threads -------
chapter01() {
    el=$root/01-event-loop/event-loop
    sizes="50 200 500 1000"
    [ "$quick" = 1 ] && sizes="20 100 300"
    big=poll
    [ "$(uname -s)" = Linux ] && big=epoll
    cmd="./event-loop --port 0 --tick 0 --backend $big (then --threads); for N in $sizes: ./event-loop load --port PORT --conns N --msgs 0; ./event-loop load --port PORT --conns N --msgs 10 --timeout 120   (in 01-event-loop, a fresh server per N)"
    meta 01-rss "chapter=01-event-loop" "kind=line" "notice=ratio-last,growth" \
        "title=Server RSS with N idle connections, loop against threads" \
        "x=connections" "y=server RSS (MiB)" "command=$cmd"
    meta 01-ctxsw "chapter=01-event-loop" "kind=line" "notice=ratio-last" \
        "title=Context switches of the server for N x 10 round trips" \
        "x=connections" "y=context switches (voluntary + involuntary)" "command=$cmd"
    # 1000 connections need more fds than a soft limit of 1024 leaves (dash,
    # bash and busybox sh all have ulimit -n and -H).
    # shellcheck disable=SC3045
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    for mode in "$big" threads; do
        for c in $sizes; do
            args="--backend $mode"
            [ "$mode" = threads ] && args=--threads
            # shellcheck disable=SC2086
            start_log "$tmp/el.log" "listening on" "$el" --port 0 --tick 0 $args || return 1
            echo "$mode $c: port $port"
            "$el" load --port "$port" --conns "$c" --msgs 0 >"$tmp/idle" 2>&1 || return 1
            idle=$(sed -n 's/.*server: //p' "$tmp/idle")
            "$el" load --port "$port" --conns "$c" --msgs 10 --timeout 120 >"$tmp/echo" 2>&1 || return 1
            after=$(sed -n 's/.*server: //p' "$tmp/echo")
            kill -TERM "$bg_pid"
            wait "$bg_pid"
            cat "$tmp/idle" "$tmp/echo"
            cs=$(($(kv ctxsw_voluntary "$after") + $(kv ctxsw_involuntary "$after") -
                $(kv ctxsw_voluntary "$idle") - $(kv ctxsw_involuntary "$idle")))
            printf '%s %s %s %s\n' "$mode" "$c" "$(kv rss_kib "$idle")" "$cs" >>"$tmp/01"
        done
    done
    # mode conns rss_kib ctxsw -> one row per conns, loop then threads;
    # column 3 (RSS, in MiB) is one chart, column 4 (switches) the other.
    for col_name in 3:01-rss 4:01-ctxsw; do
        awk -v col="${col_name%%:*}" -v big="$big" '
            $1 == big { loop[$2] = $col; order[++n] = $2 }
            $1 == "threads" { thr[$2] = $col }
            END {
                printf "connections\tloop (%s)\tthread per connection\n", big
                for (i = 1; i <= n; i++) {
                    c = order[i]
                    if (col == 3) printf "%s\t%.2f\t%.2f\n", c, loop[c] / 1024, thr[c] / 1024
                    else printf "%s\t%d\t%d\n", c, loop[c], thr[c]
                }
            }' "$tmp/01" >"$data/${col_name#*:}.tsv"
    done
}

# ---- 02-fork: fork, vfork, posix_spawn against the parent's RSS ----------
chapter02() {
    set -- --sizes 1,128,512 --runs 5
    [ "$quick" = 1 ] && set -- --sizes 1,64,256 --runs 3
    meta 02-fork "chapter=02-fork" "kind=line" "notice=growth" \
        "title=What creating a process costs as the parent grows" \
        "x=parent RSS (MiB)" "y=median time per call (ms)" \
        "command=./fork cost $*   (in 02-fork)"
    (cd "$root/02-fork" && ./fork cost "$@") >"$tmp/02" 2>&1 || return 1
    cat "$tmp/02"
    # [cost PID] touched MiB RSS MiB fork ms CPU ms vfork ms spawn ms exec ms
    awk 'BEGIN { print "parent RSS (MiB)\tfork+_exit\tvfork+_exit\tposix_spawn\tfork+exec" }
        $4 == "MiB" && $NF == "ms" && $3 ~ /^[0-9]+$/ {
            printf "%s\t%s\t%s\t%s\t%s\n", $5, $7, $11, $13, $15 }' "$tmp/02" >"$data/02-fork.tsv"
}

# ---- 03-exec-family: exec (a shell first) against exec_file --------------
chapter03() {
    runs=100
    [ "$quick" = 1 ] && runs=30
    meta 03-exec "chapter=03-exec-family" "kind=bar" "notice=ratio" \
        "title=Starting /bin/true: exec (through sh -c) against exec_file" \
        "x=the program started, one call at a time" "y=median time per call (ms)" \
        "command=./exec-family -n $runs cost   (in 03-exec-family)"
    (cd "$root/03-exec-family" && ./exec-family -n "$runs" cost) >"$tmp/03" 2>&1 || return 1
    cat "$tmp/03"
    file=$(sed -n 's/.*cost: exec_file .* \([0-9.]*\) ms per call.*/\1/p' "$tmp/03")
    shell=$(sed -n "s/.*cost: exec '.* \([0-9.]*\) ms per call.*/\1/p" "$tmp/03")
    printf 'program\texec_file (no shell)\texec (sh -c first)\n/bin/true\t%s\t%s\n' \
        "$file" "$shell" >"$data/03-exec.tsv"
}

# ---- 04-ipc: one round trip over the channel, C against Node -------------
chapter04() {
    rounds=200
    [ "$quick" = 1 ] && rounds=50
    meta 04-ipc "chapter=04-ipc" "kind=bar" "notice=ratio" \
        "title=One IPC round trip: a JSON message to the worker and its reply" \
        "x=the worker at the other end of the channel (the master is ./ipc)" \
        "y=median round trip (ms)" \
        "command=./ipc --rounds $rounds; ./ipc --rounds $rounds node node-worker.js   (in 04-ipc)" \
        "note=Start-up is left out; each round trip includes the log lines both sides print."
    (cd "$root/04-ipc" && ./ipc --rounds "$rounds") >"$tmp/04c" 2>&1 || return 1
    : >"$tmp/04n"
    if have node; then
        (cd "$root/04-ipc" && ./ipc --rounds "$rounds" node node-worker.js) >"$tmp/04n" 2>&1 ||
            return 1
    else
        note "node is not installed: 04-ipc shows the C worker only."
        echo "note=node is not installed: the Node.js bar is missing." >>"$data/04-ipc.meta"
    fi
    grep 'round trip' "$tmp/04c" "$tmp/04n"
    rtt() { sed -n 's/.*round trip: median \([0-9.]*\) ms.*/\1/p' "$1"; }
    c_ms=$(rtt "$tmp/04c")
    node_ms=$(rtt "$tmp/04n")
    printf 'round trip\tC worker (ipc-worker)\tNode worker (node-worker.js)\n' >"$data/04-ipc.tsv"
    printf 'one message and its reply\t%s\t%s\n' "$c_ms" "${node_ms:--}" >>"$data/04-ipc.tsv"
}

# ---- 05-handle-passing: the spread over the workers, run after run -------
chapter05() {
    set -- 10 3 100
    [ "$quick" = 1 ] && set -- 5 3 60
    meta 05-spread "chapter=05-handle-passing" "kind=bar" "notice=range" \
        "title=Who accepts: $3 connections over $2 workers sharing one socket, run after run" \
        "x=run (a fresh server each time)" "y=connections served (of $3)" \
        "command=sh ./spread.sh $*   (in 05-handle-passing)"
    (cd "$root/05-handle-passing" && sh ./spread.sh "$@") >"$tmp/05" 2>&1 || return 1
    cat "$tmp/05"
    # run  1:   23   19   18   Jain 0.99 (three workers, largest share first)
    awk 'BEGIN { print "runs\tbusiest worker\tsecond\tleast busy" }
        $1 == "run" { sub(":", "", $2); printf "%s\t%s\t%s\t%s\n", $2, $3, $4, $5 }' \
        "$tmp/05" >"$data/05-spread.tsv"
}

# ---- 06-http-shared-port: ours against nginx and Node under wrk ----------
chapter06() {
    secs=2
    [ "$quick" = 1 ] && secs=1
    cmd="BENCH_SECONDS=$secs BENCH_ROUNDS=1 sh bench.sh   (in 06-http-shared-port)"
    meta 06-reqs "chapter=06-http-shared-port" "kind=bar" "notice=ratio" \
        "title=Requests per second, ours against nginx and Node (wrk -t1)" \
        "x=load" "y=requests per second" "command=$cmd"
    meta 06-cpu "chapter=06-http-shared-port" "kind=bar" "notice=ratio" \
        "title=CPU time per 1000 requests (all the server's processes; lower is better)" \
        "x=load" "y=CPU ms per 1000 requests" "command=$cmd"
    if ! have wrk; then
        note "wrk is not installed: 06-http-shared-port was not measured (apt-get install wrk)."
        for m in 06-reqs 06-cpu; do
            echo "note=wrk is not installed: nothing to measure with." >>"$data/$m.meta"
        done
        return 0
    fi
    for peer in nginx node; do
        have "$peer" || note "$peer is not installed: 06-http-shared-port has no $peer bars."
    done
    (cd "$root/06-http-shared-port" && BENCH_SECONDS=$secs BENCH_ROUNDS=1 sh bench.sh) >"$tmp/06" 2>&1 ||
        return 1
    cat "$tmp/06"
    # load (2-3 words) server req/s range ratio cpu: keep-alive, then close;
    # req/s (column 5) is one chart, CPU ms per 1000 (the last) the other.
    for col_name in 5:06-reqs NF:06-cpu; do
        awk -v col="${col_name%%:*}" '
            ($1 == "keep-alive," || $1 == "Connection:") && $4 ~ /^(ours|nginx|node)$/ {
                row = ($1 == "keep-alive,") ? "keep-alive" : "Connection: close"
                if (!(row in seen)) { seen[row] = 1; rows[++nr] = row }
                if (!($4 in sseen)) { sseen[$4] = 1; servers[++ns] = $4 }
                v[row, $4] = (col == "NF") ? $NF : $5
            }
            END {
                printf "load"; for (s = 1; s <= ns; s++) printf "\t%s", servers[s]; printf "\n"
                for (r = 1; r <= nr; r++) {
                    printf "%s", rows[r]
                    for (s = 1; s <= ns; s++) printf "\t%s", v[rows[r], servers[s]]
                    printf "\n"
                }
            }' "$tmp/06" >"$data/${col_name#*:}.tsv"
    done
}

# ---- 07-thundering-herd: who wakes, and what a stalled worker costs ------
chapter07() {
    conns=400
    [ "$quick" = 1 ] && conns=150
    th=$root/07-thundering-herd/thundering-herd
    meta 07-woken "chapter=07-thundering-herd" "kind=bar" "notice=extremes" \
        "title=Workers woken, and woken workers whose wait returned, per connection" \
        "x=how the workers wait" "y=per connection (3 workers)" \
        "command=./thundering-herd --csv --workers 3 --connections $conns   (in 07-thundering-herd)"
    meta 07-stall "chapter=07-thundering-herd" "kind=bar" "notice=extremes" \
        "title=Round-trip p99 while worker 0 stalls 10 ms on every connection it serves" \
        "x=how the workers wait" "y=p99 of all connections (ms)" \
        "command=./thundering-herd --csv --workers 3 --connections $conns --clients 8 --stall-worker 10   (in 07-thundering-herd)"
    have node || note "node is not installed: 07-thundering-herd has no node-rr and node-none modes."
    "$th" --csv --workers 3 --connections "$conns" >"$tmp/07" 2>&1 || return 1
    "$th" --csv --workers 3 --connections "$conns" --clients 8 --stall-worker 10 >"$tmp/07s" 2>&1 ||
        return 1
    cat "$tmp/07" "$tmp/07s"
    # csv,mode,workers,served,errors,woken_per_conn,wakeups_per_conn,...,p99_ms
    # (-1: the mode cannot count it)
    awk -F, 'BEGIN { print "mode\twoken/conn\tret/conn" }
        $1 == "csv" && $2 != "mode" && $3 != "skipped" {
            printf "%s\t%s\t%s\n", $2, ($6 < 0 ? "-" : $6), ($7 < 0 ? "-" : $7) }' \
        "$tmp/07" >"$data/07-woken.tsv"
    awk -F, 'BEGIN { print "mode\tp99 (ms)" }
        $1 == "csv" && $2 != "mode" && $3 != "skipped" { printf "%s\t%s\n", $2, $13 }' \
        "$tmp/07s" >"$data/07-stall.tsv"
}

echo "report: measuring every chapter on this machine ($(getconf _NPROCESSORS_ONLN) CPUs," \
    "$(uname -sr)$([ "$quick" = 1 ] && echo ', QUICK=1'))"
for d in "$root"/0[1-7]-*/; do
    make -s -C "$d" >/dev/null || { echo "report: could not build $d" >&2; exit 1; }
done
step_run "01-event-loop: RSS and context switches, loop against threads" chapter01
step_run "02-fork: fork, vfork and posix_spawn against the parent's RSS" chapter02
step_run "03-exec-family: exec (shell) against exec_file" chapter03
step_run "04-ipc: one round trip, C against Node" chapter04
step_run "05-handle-passing: the spread over the workers, run after run" chapter05
step_run "06-http-shared-port: req/s and CPU, ours against nginx and Node" chapter06
step_run "07-thundering-herd: wake-ups per strategy, and a stalled worker" chapter07
./report -o "$page" -n "$data/notes" "$data/01-rss" "$data/01-ctxsw" "$data/02-fork" \
    "$data/03-exec" "$data/04-ipc" "$data/05-spread" "$data/06-reqs" "$data/06-cpu" \
    "$data/07-woken" "$data/07-stall" || exit 1
exit "$fail"
