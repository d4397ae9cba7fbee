#!/bin/sh
# demo.sh: the classroom tour of 05-handle-passing. Run it with `make demo`.
#
# It starts ./handle-passing with 3 workers, shows that the master and the
# workers hold ONE socket under different fd numbers, that the master keeps
# no copy after the handoff, that several pids answer on one port, that a
# killed worker does not stop the others, one UDP socket shared the same way,
# why plain curl refuses the answer,
# and, when node is installed, C and Node passing the server to each other.
# It says what to notice before each step, checks afterwards that it really
# happened, and exits non-zero if anything it shows did not happen. Every
# process it starts is stopped and checked gone at the end. nc, curl, strace
# and node are optional: without them those steps say so and are skipped.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init handle-demo ./handle-passing
log=$tmp/master.log
tpid=
# strace ignores SIGTERM: stop the master it traces, and strace ends with it.
lib_cleanup() { if [ -n "$tpid" ]; then kill "$tpid" 2>/dev/null; fi; }

# wait_for FILE TEXT [COUNT]: until COUNT lines (default 1) of FILE hold TEXT
# (at most 20 s).
wait_for() {
    wait_file "$1" "$2" 200 "${3:-1}" || { bad "timed out waiting for: $2"; return 1; }
}
# The lines of FILE that are new since the last call with the same MARK
# (wrapped to 100 columns).
show_new() {
    seen=$tmp/${2##*/}.seen
    n=$(cat "$seen" 2>/dev/null || echo 0)
    tail -n +"$((n + 1))" "$1" | fit
    wc -l <"$1" >"$seen"
}
# start_server LOG CMD...: run a server in the background, wait for its
# `listening on` line and set $port and $mpid.
start_server() {
    f=$1
    shift
    start_shown "$f" "listening on " "$@" || { bad "the server did not start"; return 1; }
    mpid=$bg_pid
}
# stop_server LOG: SIGTERM, wait for it, require exit status 0 and a stop
# without SIGKILL: a master that had to kill a worker after its grace period
# still exits 0, but that stop was not the graceful one this demo promises.
stop_server() {
    run kill -TERM "$mpid"
    wait "$mpid"
    rc=$?
    mpid=
    show_new "$1" "$1"
    [ "$rc" -eq 0 ] || bad "exit status $rc, expected 0"
    if grep -q "did not exit; SIGKILL" "$1"; then
        bad "a worker did not exit when its channel closed; the master killed it"
    fi
}
# client N: the built-in client, N connections; output in $out.
client() { run_check 0 ./handle-passing client -p "$port" -n "$1"; }
# The pids that answered in $out, one per line.
answered() { sed -n 's/.*child data, pid \([0-9]*\).*/\1/p' "$out"; }
# only_from PIDS WHO: every pid that answered in $out is one of PIDS.
only_from() {
    for p in $(answered); do
        echo "$1" | grep -q -x "$p" || bad "pid $p is not one of the $2"
    done
}
# interop LOG READY WORKERS-READY CMD...: start a master of the other
# language's kind, wait for READY and two WORKERS-READY lines, show them,
# and make 4 connections.
interop() {
    f=$1
    ready=$2
    both=$3
    shift 3
    start_server "$f" "$@" || exit 1
    wait_for "$f" "$ready"
    wait_for "$f" "$both" 2
    show_new "$f" "$f"
    client 4
}

step ">>> The post's main.js and sub.js, in C. The master binds ONE socket, starts" \
     "3 workers with a channel on fd 3, sends each of them the server (a" \
     "NODE_HANDLE message with the fd attached), then closes its own copy." \
     "Notice the fd numbers: the master's is not the workers', yet every line" \
     "names the same socket:[inode]."
start_server "$log" ./handle-passing -p 0 -w 3 || exit 1
wait_for "$log" "handoff complete" || exit 1
wait_for "$log" 'the same socket' 3
show_new "$log" "$log"
id=$(sed -n 's/.*the server is fd [0-9]* -> \(.*\)$/\1/p' "$log")
mfd=$(sed -n 's/.*the server is fd \([0-9]*\) .*/\1/p' "$log")
workers=$(sed -n 's/^\[worker \([0-9]*\)\] got the server.*/\1/p' "$log")
[ "$(echo "$workers" | wc -w)" -eq 3 ] || bad "expected 3 workers to get the server"
[ "$(grep -c 'another fd number, the same socket' "$log")" -eq 3 ] ||
    bad "expected 3 workers with another fd number and the same socket"

if [ -d /proc/self/fd ]; then
    step ">>> The same, seen from outside in /proc (Linux): which fd of each process" \
         "is $id? The master's fd $mfd is gone: it closed its copy after the" \
         "handoff. The socket lives on in the workers: close(2) drops one" \
         "reference, and the workers hold the others."
    for p in "$mpid" $workers; do
        hits=
        for f in /proc/"$p"/fd/*; do
            [ "$(readlink "$f" 2>/dev/null)" = "$id" ] && hits="$hits ${f##*/}"
        done
        if [ "$p" = "$mpid" ]; then
            echo "  master $p: fds naming $id:${hits:- none}"
            [ -z "$hits" ] || bad "the master still holds the socket"
        else
            echo "  worker $p: fds naming $id:${hits:- none}"
            [ -n "$hits" ] || bad "worker $p does not hold the socket"
        fi
    done
fi

step ">>> 10 connections, one after the other, to the one port. Several worker pids" \
     "answer. Which one wins each connection is the kernel's choice (chapter 07" \
     "measures it): run it twice and the counts change."
client 10
# The workers log each connection after answering it: wait for all ten and
# show them now, before the kill below, in the order they happened.
wait_for "$log" "served connection" 10
show_new "$log" "$log"
[ "$(answered | wc -l)" -eq 10 ] || bad "expected 10 answers"
only_from "$workers" workers
first=$(answered | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }')
all_pids=$(answered | sort -u)

step ">>> Kill the worker that answered most ($first) with SIGKILL. The master reaps" \
     "it and says so; the other two go on serving the same port, and no answer" \
     "comes from the dead one."
run kill -KILL "$first"
wait_for "$log" "worker $first killed by signal"
wait_for "$log" "2 workers still serve the port"
show_new "$log" "$log"
client 6
wait_for "$log" "served connection" 16
show_new "$log" "$log"
[ "$(answered | wc -l)" -eq 6 ] || bad "expected 6 answers"
answered | grep -q -x "$first" && bad "the killed worker answered"
all_pids=$(printf '%s\n%s\n' "$all_pids" "$(answered)" | sort -u)
[ "$(echo "$all_pids" | wc -w)" -ge 2 ] || bad "expected several pids to answer"
echo "(pids that answered on port $port in this demo: $(echo $all_pids))"

if have nc; then
    step ">>> Any TCP client works, for example nc. The worker writes its line and" \
         "closes the connection, so nc ends by itself."
    run_out nc 127.0.0.1 "$port"
    grep -q "child data, pid " "$out" || bad "nc got no answer"
else
    step ">>> (nc is not installed: skipping the nc step)"
fi

if have curl; then
    step ">>> The post tests with curl. This is not an HTTP server: the answer has no" \
         "status line, which modern curl refuses (it would be HTTP/0.9). It works" \
         "only with --http0.9."
    run_out curl -sS "http://127.0.0.1:$port/"
    echo "(curl exit status $rc)"
    [ "$rc" -ne 0 ] || bad "curl was expected to refuse the answer"
    grep -q "HTTP/0.9" "$out" || bad "expected curl to complain about HTTP/0.9"
    run_out curl -sS --http0.9 "http://127.0.0.1:$port/"
    grep -q "child data, pid " "$out" || bad "curl --http0.9 got no answer"
else
    step ">>> (curl is not installed: skipping the curl step)"
fi

step ">>> SIGTERM stops it gracefully: the master disconnects, the workers exit on" \
     "the channel's EOF, the master reaps them and exits 0."
stop_server "$log"
grep -q "all 3 workers have exited; bye" "$log" || bad "expected the master's goodbye"
for p in $workers; do
    if kill -0 "$p" 2>/dev/null; then bad "worker $p is still there"; fi
done
echo "(workers $(echo $workers) are gone)"

step ">>> The same with UDP (-u): the master binds ONE UDP socket and sends it to" \
     "3 workers as a dgram.Socket. There is no accept and no connection: each" \
     "datagram waits in the socket's one queue until some worker's recvfrom(2)" \
     "takes it. 30 datagrams, one after the other: who got each, counted."
ulog=$tmp/udp.log
start_server "$ulog" ./handle-passing -u -p 0 -w 3 || exit 1
wait_for "$ulog" "handoff complete" || exit 1
wait_for "$ulog" "(dgram.Socket, udp4)" 3
show_new "$ulog" "$ulog"
run_check 0 ./handle-passing client -u -p "$port" -n 30
[ "$(grep -c 'child data, pid ' "$out")" -eq 30 ] || bad "expected 30 answers"
uw=$(sed -n 's/^\[worker \([0-9]*\)\] got the server.*dgram.Socket.*/\1/p' "$ulog")
only_from "$uw" "UDP workers"
stop_server "$ulog"

if have strace &&
    strace -o /dev/null true >/dev/null 2>&1; then
    step ">>> What really travels (strace, one worker). The fd is NOT written into" \
         "the channel as a number: it rides as SCM_RIGHTS ancillary data on the" \
         "sendmsg(2) of the NODE_HANDLE line (cmsg_data names the channel's own dup" \
         "of the server, so the master may close fd 3 at once), and the worker's" \
         "recvmsg(2) gets yet another number for it. Then the ACK comes back."
    strace -f -qq -e trace=sendmsg,recvmsg -e signal=none -s 120 -o "$tmp/trace" \
        ./handle-passing -p 0 -w 1 >"$tmp/s.log" 2>&1 &
    spid=$!
    wait_for "$tmp/s.log" "handoff complete"
    # strace itself ignores SIGTERM: stop the traced master (lib_cleanup
    # too), and strace ends with it.
    tpid=$(sed -n 's/^\[master \([0-9]*\)\] listening on.*/\1/p' "$tmp/s.log")
    [ -n "$tpid" ] && kill -TERM "$tpid"
    wait "$spid"
    tpid=
    # Long lines (the iovec and the cmsg): wrapped at spaces, nothing cut.
    grep -E 'NODE_HANDLE|SCM_RIGHTS' "$tmp/trace" | sed 's/^/  /' | fit
    grep -q 'sendmsg(.*NODE_HANDLE.*SCM_RIGHTS' "$tmp/trace" ||
        bad "expected a sendmsg carrying NODE_HANDLE with SCM_RIGHTS"
    grep -q 'NODE_HANDLE_ACK' "$tmp/trace" || bad "expected the NODE_HANDLE_ACK"
else
    step ">>> (strace is not available: skipping the system-call view)"
fi

if have node; then
    step ">>> Node and C speak the same protocol. First a Node master (node/main.js)" \
         "that sends its net.Server to two C workers: the C workers answer" \
         "NODE_HANDLE_ACK and serve Node's port."
    interop "$tmp/n1" "closed its own copy" 'says {"pid"' \
        node node/main.js ./handle-passing-worker 2
    only_from "$(sed -n 's/^\[worker \([0-9]*\)\] got the server.*/\1/p' "$tmp/n1")" \
        "C workers"
    stop_server "$tmp/n1"

    step ">>> Then the C master sending the server to two Node workers" \
         "(node/sub.js): Node gets a net.Server for the C master's socket."
    interop "$tmp/n2" "handoff complete" 'the same socket' \
        ./handle-passing -p 0 -w 2 -- node node/sub.js
    nw=$(sed -n 's/^\[node-worker \([0-9]*\)\] got the server.*/\1/p' "$tmp/n2")
    only_from "$nw" "Node workers"
    if [ -d /proc/self/fdinfo ]; then
        echo "(the server is non-blocking in each Node worker: its flags include"
        echo " 04000, O_NONBLOCK; handle_send() sets it, because Node never does,"
        echo " and a Node worker left blocked in accept(2) cannot hear a stop)"
        for p in $nw; do
            nfd=$(sed -n "s/^\[node-worker $p\] got the server as fd \([0-9]*\) .*/\1/p" \
                "$tmp/n2")
            fl=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$p/fdinfo/$nfd" 2>/dev/null)
            echo "  node-worker $p, fd $nfd: flags ${fl:-?}"
            [ -n "$fl" ] && [ $((0$fl & 04000)) -ne 0 ] ||
                bad "the server is not non-blocking in Node worker $p"
        done
    fi
    stop_server "$tmp/n2"
    [ "$(grep -c 'the master closed the channel; exiting' "$tmp/n2")" -eq 2 ] ||
        bad "expected both Node workers to exit on the channel's EOF"
else
    step ">>> (node is not installed: skipping the Node interop steps)"
fi

echo
if [ "$fail" -eq 0 ]; then
    echo "demo: everything shown above happened as described"
else
    echo "demo: SOMETHING DID NOT HAPPEN AS DESCRIBED (see !! above)"
fi
exit "$fail"
