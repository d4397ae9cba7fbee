#!/bin/sh
# demo.sh: the classroom tour of 04-ipc. Run it with `make demo`.
#
# It runs ./ipc (which starts ./ipc-worker) in a few ways, says what to
# notice before each run, and checks afterwards that the thing to notice
# really happened. It exits non-zero if anything it shows did not happen.
# Every run ends by itself: the master disconnects, the worker exits on the
# disconnect, the master reaps it. The demo checks that each worker pid is
# gone afterwards. strace and node are optional: without them those parts
# say so and are skipped.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init ipc-demo ./ipc

# The worker's pid, from the master's "started ... as pid N" line (or the
# Node master's "forked ... as pid N"), must be gone: reaped, not a zombie.
worker_gone() {
    pid=$(sed -n 's/.* as pid \([0-9]*\).*/\1/p' "$out" | head -n 1)
    if [ -z "$pid" ]; then
        bad "no worker pid in the output"
    elif kill -0 "$pid" 2>/dev/null; then
        bad "worker $pid is still there"
    else
        echo "(worker $pid is gone: nobody hangs around)"
    fi
}

step ">>> The post's master.js and work.js, in C. Notice the order: the socketpair" \
     "exists BEFORE the worker does; the worker finds its end on fd 3 through" \
     "NODE_CHANNEL_FD=3 and deletes the variable, as Node does. Each message is" \
     "answered; after both replies the master disconnects, the worker exits on" \
     "the disconnect, and the master reaps it."
run_check 0 ./ipc
expect "socketpair(AF_UNIX, SOCK_STREAM)"
expect "its end became fd 3, NODE_CHANNEL_FD=3"
expect "NODE_CHANNEL_SERIALIZATION_MODE are now unset"
expect '] got message: "some msg"'
expect 'got message: {"name":"Bruce"'
expect "the master disconnected: exiting"
expect "exited with code 0"
worker_gone

step ">>> A line that is not JSON. The master sends one on purpose (--raw) before" \
     "the real messages. The worker names the byte where parsing failed and why," \
     "drops the line, and goes on: both real messages are still answered."
run_check 0 ./ipc --raw '{"a":1,}'
expect "malformed message at byte 7 of the line at stream byte 0: expected a string key in object"
expect '"echo":{"greeting"'
worker_gone

step ">>> A message larger than the limit (1 MiB by default; IPC_MAX_MESSAGE=32 here)." \
     "The worker does not wait for the end of the line: past 32 bytes it reports" \
     "the error and closes the channel. The master sees the disconnect and reaps" \
     "a worker that exited with code 1."
run_check 1 env IPC_MAX_MESSAGE=32 ./ipc --raw '"this line is longer than thirty-two bytes"'
expect "is larger than the maximum of 32 bytes"
expect "the worker went away after 0 of 2 replies"
expect "exited with code 1"
worker_gone

if command -v strace >/dev/null 2>&1 && strace -qq -o /dev/null true 2>/dev/null; then
    step ">>> The same run under strace: the system calls behind the story." \
         "socketpair, then in the child dup2(X, 3) and execve; then each message" \
         "is one JSON text and one \\n on the wire (the worker may well find both" \
         "messages in a single read: that is why the receiver must split lines)."
    set -- strace -f -qq -s 80 -e trace=socketpair,dup2,execve,sendto,read -e signal=none ./ipc
    show_cmd "$@"
    "$@" 2>"$out" >/dev/null
    echo "(the lines of strace's output that tell the story:)"
    grep -E 'socketpair|dup2\([0-9]+, 3\)|execve\("\./ipc-worker|sendto\(|read\([0-9]+, "(\\"|\{)' \
        "$out" | sed 's/^\[pid *\([0-9]*\)\]/[\1]/' | fit
    expect "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0,"
    expect_re 'dup2\([0-9]+, 3\) += 3'
    expect 'sendto('
    expect '"\"some msg\"\n", 11, MSG_NOSIGNAL'
else
    step ">>> (strace is not available here: skipping the system-call view)"
fi

if command -v node >/dev/null 2>&1; then
    step ">>> Interop 1: the C master with a Node.js worker ($(node --version))." \
         "node finds NODE_CHANNEL_FD=3 and gives node-worker.js process.send and" \
         "process.on('message') on the socket the C program made."
    run_check 0 ./ipc node node-worker.js
    expect "[worker"
    expect "NODE_CHANNEL_FD is now unset"
    expect 'got message: {"name":"Bruce"'
    expect "exited with code 0"
    worker_gone

    step ">>> Interop 2: a Node.js master forks the C worker: child_process.fork with" \
         "execPath set to ./ipc-worker. fork() passes the module name 'Alice' as" \
         "the first argument, and the worker answers in that name."
    run_check 0 node node-master.js
    expect 'got message: {"name":"Alice"'
    expect "exited with code 0"
    worker_gone
else
    step ">>> (node is not on PATH: skipping the two Node.js interop runs)"
fi

echo
if [ "$fail" -eq 0 ]; then
    echo "demo: everything shown above happened as described."
else
    echo "demo: something above did not happen as described (see !! lines)."
fi
exit "$fail"
