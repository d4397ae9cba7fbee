#!/bin/sh
# nginx-respawn.sh: what a real master does when a worker dies, for
# comparison with this chapter's supervisor (exercise 3).
#
#   sh ./nginx-respawn.sh [ROUNDS]     (default 3; skips if nginx is missing)
#
# It starts nginx in the foreground from a config in a temporary directory
# (2 workers, a listener on 127.0.0.1 at a free port, nothing outside the
# directory written), then ROUNDS times kills a worker with SIGKILL and
# waits for the master's new worker, printing the old pid, the new pid and
# how long the worker count stayed short, as the script sees it. What to notice: the new worker
# comes at once every round, with no delay that grows. nginx has no back-off
# and no crash-loop guard: a worker that dies at once forever is respawned
# forever (ngx_reap_children in nginx's src/os/unix/ngx_process_cycle.c).
#
# It needs nothing but nginx and a POSIX shell (and ps off Linux); it gives up after
# 30 seconds and stops the nginx it started.

. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init nginx-respawn
rounds=${1:-3}
case $rounds in '' | *[!0-9]*) echo "nginx-respawn.sh: bad value for ROUNDS: $rounds" >&2; exit 2 ;; esac

nginx=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null) || nginx=
if [ -z "$nginx" ]; then
    echo "nginx-respawn.sh: skipped: nginx is not installed"
    exit 0
fi

master=
# nginx's graceful stop is SIGQUIT (SIGTERM is its fast one).
lib_cleanup() {
    if [ -n "$master" ]; then kill -QUIT "$master" 2>/dev/null; wait "$master" 2>/dev/null; fi
}
watchdog 30

# Milliseconds since the epoch where date has %N (GNU, busybox), else whole
# seconds times 1000.
now_ms() {
    t=$(date +%s%N 2>/dev/null)
    case $t in *N | '') echo $(( $(date +%s) * 1000 )) ;; *) echo $(( t / 1000000 )) ;; esac
}

# The master's live children, one pid per line, sorted. Linux lists them in
# /proc (read with the shell's own `read`, no process started, so polling is
# cheap); elsewhere ps does it.
workers() {
    if [ -r "/proc/$master/task/$master/children" ]; then
        read -r list < "/proc/$master/task/$master/children" || :
        for p in $list; do echo "$p"; done
    else
        ps -A -o pid= -o ppid= | awk -v m="$master" '$2 == m { print $1 }'
    fi
}

# A port nobody listens on: try a few in the dynamic range.
start_nginx() {
    for try in 1 2 3 4 5 6 7 8; do
        port=$(( 49152 + ($$ * 7 + try * 1009) % 16000 ))
        cat > "$tmp/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
pid $tmp/nginx.pid;
error_log $tmp/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $tmp;
    proxy_temp_path $tmp;
    fastcgi_temp_path $tmp;
    uwsgi_temp_path $tmp;
    scgi_temp_path $tmp;
    server { listen 127.0.0.1:$port; return 200 "hello\n"; }
}
EOF
        : > "$tmp/error.log"
        "$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" 2>>"$tmp/error.log" &
        master=$!
        i=0
        while [ $i -lt 100 ]; do
            [ "$(workers | wc -l)" -eq 2 ] && return 0
            kill -0 "$master" 2>/dev/null || break
            sleep 0.05; i=$((i + 1))
        done
        wait "$master" 2>/dev/null
        master=
        grep -q "Address already in use" "$tmp/error.log" || break
    done
    echo "nginx-respawn.sh: nginx did not start:"; sed 's/^/  | /' "$tmp/error.log"
    exit 1
}

start_nginx
echo "$("$nginx" -v 2>&1), master pid $master, listening on 127.0.0.1:$port, workers:" $(workers)
r=1
while [ "$r" -le "$rounds" ]; do
    before=$(workers)
    victim=$(echo "$before" | head -n 1)
    old=" $(echo $before) "
    t0=$(now_ms)
    kill -KILL "$victim"
    # Wait for a worker pid that was not there before. On Linux the loop
    # uses shell builtins only, so the poll itself starts no process.
    new=
    while [ -z "$new" ]; do
        if [ -r "/proc/$master/task/$master/children" ]; then
            read -r list < "/proc/$master/task/$master/children" || :
        else
            list=$(workers); sleep 0.01
        fi
        set -- $list
        [ $# -eq 2 ] || continue
        for p in "$@"; do
            case $old in *" $p "*) ;; *) new=$p ;; esac
        done
    done
    t1=$(now_ms)
    echo "round $r: killed worker $victim, new worker $new after $((t1 - t0)) ms"
    r=$((r + 1))
done
echo "nginx's own log of it:"
grep -E "exited on signal|start worker process" "$tmp/error.log" | sed 's/^.*\] [0-9]*#[0-9]*: /  | /'
echo "What to notice: a new worker at once each round, and no delay that grows."
