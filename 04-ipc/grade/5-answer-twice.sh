#!/bin/sh
# Exercise 5: ipc-worker --twice answers each message twice, and the master
# disconnects right after the last reply, whatever worker it talks to.
#
# hint: accept --twice in ipc-worker's parse_args and send two replies per message; the
# master cannot count to 2 * sent (a worker started without --twice, or Node's, answers
# once): let a reply say whether another one follows; README exercise 5
#
# timeout: 40
#
# Three runs of ./ipc, each with a 5 s timeout: with `./ipc-worker --twice`
# (4 replies, each message's echo twice, all before the disconnect), with
# the plain ./ipc-worker and with a shell worker that answers once in the
# shipped format, as node-worker.js does (2 replies, no timeout). Each must
# exit 0 with the worker's "exited with code 0".

out=${GRADE_TMP:-/tmp}/ipc.out

# run WANT WORKER...: run ./ipc with WORKER; fail unless it exits 0 with
# WANT replies, each message's echo WANT/2 times, all before the disconnect.
run() {
    want=$1
    shift
    ./ipc --timeout 5000 "$@" >"$out" 2>&1
    rc=$?
    master=$(grep '^\[master [0-9]*\]' "$out")
    got=$(echo "$master" | grep -c '\] got message: ')
    echo "--- ./ipc $*: exit $rc"
    cat "$out"
    # The master's replies before its disconnect line, and after it.
    before=$(echo "$master" | sed -n '/: disconnect$/q; /\] got message: /p')
    after=$(echo "$master" | sed -n '/: disconnect$/,$p' | grep -c '\] got message: ')
    each=$((want / 2))
    some=$(echo "$before" | grep -c '"echo":"some msg"')
    obj=$(echo "$before" | grep -c '"echo":{"greeting"')
    if [ $rc -ne 0 ] || [ "$got" -ne "$want" ] || [ "$after" -ne 0 ] ||
        [ "$some" -ne $each ] || [ "$obj" -ne $each ] ||
        ! grep -q 'exited with code 0$' "$out"; then
        why=$(grep -m 1 -e 'timed out' -e 'went away' -e 'usage' "$out")
        echo "expected ./ipc $* to exit 0 after $want replies ($each per message)," \
            "all before its disconnect, got exit $rc after $got replies" \
            "($((got - after)) before the disconnect)${why:+: $why}"
        exit 1
    fi
}

run 4 ./ipc-worker --twice
run 2 ./ipc-worker
# A worker that cannot be changed: one reply per line, as node-worker.js.
# shellcheck disable=SC2016 # expanded by the worker's shell
run 2 sh -c 'while IFS= read -r l <&3; do
    printf "{\"name\":\"Once\",\"pid\":%d,\"echo\":%s}\n" $$ "$l" >&3; done'
exit 0
