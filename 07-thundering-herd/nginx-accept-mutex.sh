#!/bin/sh
# nginx-accept-mutex.sh: what nginx's accept_mutex does, in its system calls.
#
#   sh ./nginx-accept-mutex.sh [CONNECTIONS]      (from this directory)
#
# Needs nginx, strace and curl; says so and exits 0 if one is missing.
# Starts the installed nginx with 4 workers and `accept_mutex on` on
# 127.0.0.1 (a temporary directory holds its configuration, pid and logs),
# under `strace -f`, makes CONNECTIONS requests (default 20) one at a
# time, stops it, and counts per process: connections accepted, the
# listener added to and removed from the worker's epoll set, epoll_wait()
# calls that ran out after the 500 ms accept_mutex_delay, and file locks
# (fcntl F_SETLK/F_SETLKW/F_GETLK, flock).
#
# What you should see: one worker adds the listener to its epoll set and
# accepts every connection; the others never add it and wake every 500 ms;
# no process takes a file lock. The lock is a word in the shared memory
# (the master's mmap MAP_SHARED), tried with compare-and-swap: this is what
# the nginx-mutex mode of ./thundering-herd does, and fcntl-lock is not.

. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init nginx-accept-mutex
n=${1:-20}
for tool in nginx strace curl; do
    if ! have $tool; then
        echo "nginx-accept-mutex: $tool is not installed; skipped"
        exit 0
    fi
done
dir=$tmp # KEEP_TMP=1 keeps it
strace_pid=
# nginx's graceful stop is SIGQUIT; strace ends with it.
lib_cleanup() {
    [ -s "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null
    [ -n "$strace_pid" ] && wait "$strace_pid" 2>/dev/null
}

# nginx cannot report a port the kernel picked, so try a few random ones.
for try in 1 2 3 4 5; do
    port=$(awk -v s="$$$try" 'BEGIN { srand(s); print 20000 + int(rand() * 30000) }')
    cat >"$dir/nginx.conf" <<EOF
worker_processes 4;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log;
events {
    accept_mutex on;          # off by default since nginx 1.11.3
    accept_mutex_delay 500ms; # the default
}
http {
    access_log off;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    server {
        listen 127.0.0.1:$port;
        location / { return 200 "ok\n"; }
    }
}
EOF
    rm -f "$dir"/trace.*
    strace -f -ff -qq -o "$dir/trace" -e trace=bind,accept,accept4,epoll_ctl,epoll_wait,fcntl,flock,mmap \
        nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/out" 2>&1 &
    strace_pid=$!
    up=0
    for i in $(seq 50); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/"; then
            up=1
            break
        fi
        kill -0 $strace_pid 2>/dev/null || break
        sleep 0.1
    done
    [ $up = 1 ] && break
    [ -s "$dir/nginx.pid" ] && kill -QUIT "$(cat "$dir/nginx.pid")" 2>/dev/null
    wait $strace_pid 2>/dev/null
    strace_pid=
done
if [ $up = 0 ]; then
    echo "nginx-accept-mutex: nginx did not start:"
    cat "$dir/out" "$dir/error.log" 2>/dev/null
    exit 1
fi
for i in $(seq $((n - 1))); do
    curl -s -o /dev/null "http://127.0.0.1:$port/"
done
sleep 1.2 # let every worker without the lock wait out its delay at least twice
kill -QUIT "$(cat "$dir/nginx.pid")"
wait $strace_pid
strace_pid=

# The listening socket's fd: the master's bind() to our port.
listener=$(grep -h "sin_port=htons($port)" "$dir"/trace.* | sed -n 's/^bind(\([0-9]*\),.*/\1/p' | head -1)
echo "$(nginx -v 2>&1), 4 workers, accept_mutex on, $n requests one at a time"
printf '%-14s %8s %9s %9s %16s %11s\n' process accepted "lsn added" removed "500 ms timeouts" "file locks"
for f in "$dir"/trace.*; do
    pid=${f##*.}
    who=worker
    grep -q 'epoll_wait' "$f" || who=master
    accepted=$(grep -c 'accept4\{0,1\}(.*) *= [0-9]' "$f")
    added=$(grep -c "EPOLL_CTL_ADD, $listener," "$f")
    removed=$(grep -c "EPOLL_CTL_DEL, $listener," "$f")
    timeouts=$(grep -c 'epoll_wait(.*, 500) *= 0' "$f")
    locks=$(grep -cE 'fcntl\(.*(F_SETLK|F_GETLK)|flock\(' "$f")
    printf '%-14s %8s %9s %9s %16s %11s\n' "$who $pid" "$accepted" "$added" "$removed" "$timeouts" "$locks"
done | sort -k1,1 -k2n
shared=$(grep -h 'MAP_SHARED|MAP_ANONYMOUS' "$dir"/trace.* | head -1)
echo "the shared memory the lock lives in: ${shared:-none seen}"
locks_total=$(grep -chE 'fcntl\(.*(F_SETLK|F_GETLK)|flock\(' "$dir"/trace.* | awk '{ s += $1 } END { print s }')
echo "file locks taken by any nginx process: $locks_total"
