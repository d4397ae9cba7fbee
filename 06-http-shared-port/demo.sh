#!/bin/sh
# demo.sh: a classroom tour of http-shared-port, about 5 seconds.
#
#   make demo                      (or: sh ./demo.sh)
#
# It starts the master with 2 workers on a free port, and then shows, step
# by step, with a line saying what to notice:
#   1. one listening socket, held by the master and by both workers;
#   2. GET / answered by the workers (their pid is in the JSON), HTTP/1.0
#      closing, a refused method;
#   3. bad requests refused with their status: the smuggling guard (400),
#      a bad Host (400), an unknown method (501), a long request line (414),
#      big headers (431); a well-formed chunked body is read (200);
#   4. load (wrk, else ab, else curl), then SIGUSR1: requests per worker;
#   5. kill -9 of a worker: the master replaces it and passes it the socket;
#   6. SIGHUP: every worker replaced, one at a time;
#   7. SIGTERM: graceful stop, the final table, exit status 0, nothing left;
#   8. kill -9 of the master: its workers exit by themselves (no orphans);
#   9. a worker that cannot run: the crash-loop guard gives up, exit 1.
# It exits non-zero if any of it does not happen.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init demo-06 ./http-shared-port
LOG=$tmp/server.log
MASTER=

fail() {
    echo "DEMO FAILED: $*"
    echo "--- server output:"
    cat "$LOG"
    exit 1
}

# Wait (up to $2 tenths of a second) until the server printed $1 at least
# $3 times (default once).
wait_for() {
    wait_file "$LOG" "$1" "$2" "${3:-1}" || fail "no line matching '$1' after $(($2 / 10)) s"
}

workers() {
    for c in /proc/[0-9]*; do
        if [ "$(awk '/^PPid:/ {print $2}' "$c/status" 2>/dev/null)" = "$MASTER" ]; then
            echo "${c#/proc/}"
        fi
    done | sort -n | tr '\n' ' ' | sed 's/ $//'
}

have curl || { echo "this demo needs curl"; exit 1; }

step "=== 1. The master binds one socket, starts 2 workers and passes it to each"
start_shown "$LOG" "^listening on" ./http-shared-port -p 0 -w 2 || fail "no master"
MASTER=$bg_pid
cat "$LOG"
PORT=$port
URL=http://127.0.0.1:$PORT/
W=$(workers)
echo
echo "The listening socket in each process (ls -l /proc/PID/fd, Linux):"
HEXPORT=$(printf '%04X' "$PORT")
INODE=$(awk -v p=":$HEXPORT" '$2 ~ p"$" && $4 == "0A" {print $10}' /proc/net/tcp 2>/dev/null | head -1)
for p in $MASTER $W; do
    fd=$(ls -l "/proc/$p/fd" 2>/dev/null | awk -v s="socket:[$INODE]" '$NF == s {print $(NF-2)}' | head -1)
    role=worker
    [ "$p" = "$MASTER" ] && role=master
    echo "  $role $p: fd ${fd:-?} -> socket:[${INODE:-?}]"
done
echo "Notice: the same socket:[inode] in all three. The workers never bound"
echo "anything; the master keeps its reference (to hand to replacements) but"
echo "never accepts on it, unlike the post's master."

step "=== 2. Requests: which process answers?"
for i in 1 2 3; do
    body=$(curl -s "$URL") || fail "curl $URL"
    echo "  curl $URL -> $body"
    echo "$body" | grep -q '"msg":"Hello World","pid":' || fail "unexpected body $body"
    pid=$(echo "$body" | sed 's/.*"pid":\([0-9]*\).*/\1/')
    case " $W " in *" $pid "*) ;; *) fail "pid $pid is not a worker's ($W)" ;; esac
done
echo "Notice: the pid in the JSON is a worker's ($W), never the master's ($MASTER)."
echo
run_indent curl -si --http1.0 "$URL"
echo
curl -si --http1.0 "$URL" | grep -q "Connection: close" || fail "HTTP/1.0 was not closed"
echo "Notice: HTTP/1.0 without keep-alive gets 'Connection: close'; the JSON is"
echo "real JSON, as application/json (the post sent text/json and not-JSON)."
echo
run_indent curl -si -X DELETE "$URL"
echo "Notice: a method other than GET or HEAD is refused with 405 and Allow."
curl -si -X DELETE "$URL" | grep -q "^Allow: GET, HEAD" || fail "no 405 with Allow"

step "=== 3. Bad requests: each refused with its status"
# refuse STATUS WHAT CURL-ARGS...: the request curl makes must get STATUS.
refuse() {
    want=$1
    what=$2
    shift 2
    got=$(curl -s -o /dev/null -w '%{http_code}' "$@")
    echo "  $want <- $what"
    [ "$got" = "$want" ] || fail "$what: got $got, expected $want"
}
LONG=$(printf '%9000s' '' | tr ' ' a)
BIG=$(printf '%17000s' '' | tr ' ' b)
refuse 400 "Content-Length and Transfer-Encoding together (smuggling guard)" \
    -H 'Content-Length: 5' -H 'Transfer-Encoding: chunked' --data-binary hello "$URL"
refuse 400 "Content-Length: -1" -H 'Content-Length: -1' "$URL"
refuse 400 "Transfer-Encoding: chunked, identity (chunked not last: smuggling guard)" \
    -X GET -H 'Transfer-Encoding: chunked, identity' --data-binary hello "$URL"
refuse 400 "Host: a b (not a host)" -H 'Host: a b' "$URL"
refuse 501 "a method no server knows (BREW)" -X BREW "$URL"
refuse 414 "a request line of 9,000 bytes" "$URL$LONG"
refuse 431 "a header of 17,000 bytes" -H "X-Big: $BIG" "$URL"
curl -s "$URL" | grep -q "Hello World" || fail "no answer after the refusals"
got=$(curl -s -o /dev/null -w '%{http_code}' -X GET -H 'Transfer-Encoding: chunked' \
    --data-binary hello "$URL")
echo "  $got <- a chunked body, well formed: read and discarded"
[ "$got" = 200 ] || fail "a chunked body: got $got, expected 200"
echo "Notice: the workers went on serving; tests/test_http_shared_port.c sends"
echo "the rest of the battery (NUL bytes, no Host, 405, 413, 505, slowloris)."

step "=== 4. Load, then SIGUSR1: how many requests did each worker serve?"
if have wrk; then
    set -- wrk -t1 -c32 -d2s "$URL"
    show_cmd "$@"
    "$@" | grep -E "Requests/sec|requests in" | sed 's/^/    /'
elif have ab; then
    set -- ab -q -k -n 20000 -c 32 "$URL"
    show_cmd "$@"
    "$@" | grep -E "Requests per second|Complete" | sed 's/^/    /'
else
    echo "  (no wrk or ab: 200 requests with curl)"
    i=0
    while [ $i -lt 200 ]; do
        curl -s -o /dev/null "$URL"
        i=$((i + 1))
    done
fi
run kill -USR1 "$MASTER"
wait_for "requests per worker (SIGUSR1)" 50
wait_for "   total " 50
sed -n '/requests per worker (SIGUSR1)/,/ total /p' "$LOG"
echo "Notice: the master decides nothing here. Both workers wait on one socket;"
echo "a new connection wakes both and the first to run accepts. wrk and ab -k open"
echo "their keep-alive connections in one burst, so one worker often takes most of"
echo "them; one connection per request (curl) splits closer to even. Chapter 07"
echo "measures every way of waiting on one socket."

step "=== 5. kill -9 one worker: the master replaces it and passes it the socket"
VICTIM=${W%% *}
run kill -KILL "$VICTIM"
wait_for "worker $VICTIM ended: killed by signal 9" 50
wait_for " serving (slot" 100 3
grep -E "worker $VICTIM killed|replacing $VICTIM" "$LOG"
curl -s "$URL" | grep -q "Hello World" || fail "no answer after the kill"
echo "  curl $URL -> $(curl -s "$URL")"
echo "Notice: the master kept its reference to the socket, so the port stayed"
echo "open; the new worker said 'serving' only once it had the socket from"
echo "its channel. Workers now: $(workers)"

step "=== 6. SIGHUP: rolling restart, one worker at a time"
BEFORE=$(workers)
run kill -HUP "$MASTER"
wait_for "rolling restart done" 150
sed -n '/SIGHUP/,/rolling restart done/p' "$LOG" | grep -v "^\[worker"
AFTER=$(workers)
for p in $BEFORE; do
    case " $AFTER " in *" $p "*) fail "worker $p was not replaced" ;; esac
done
echo "Notice: each old worker was asked to stop only after its replacement said"
echo "it was serving. Workers before: $BEFORE; after: $AFTER"

step "=== 7. SIGTERM: graceful stop"
run kill -TERM "$MASTER"
wait "$MASTER"
status=$?
MASTER_WAS=$MASTER
MASTER=
sed -n '/SIGTERM/,$p' "$LOG"
[ "$status" -eq 0 ] || fail "the master exited with status $status"
left=$(for p in $AFTER; do kill -0 "$p" 2>/dev/null && echo "$p"; done)
[ -z "$left" ] || fail "workers still running: $left"
echo "Notice: exit status $status; the workers got {\"cmd\":\"shutdown\"}, finished"
echo "what was in flight, sent their last counts and exited; nothing of"
echo "master $MASTER_WAS is left running."

step "=== 8. kill -9 the master: the workers notice and exit (no orphans)"
start_log "$LOG" "^listening on" ./http-shared-port -p 0 -w 2 || fail "no second master"
MASTER=$bg_pid
W=$(workers)
echo "(workers: $W)"
run kill -KILL "$MASTER"
wait "$MASTER" 2>/dev/null
MASTER=
i=0
left=$W
while [ -n "$left" ] && [ $i -lt 50 ]; do
    sleep 0.1
    left=$(for p in $W; do kill -0 "$p" 2>/dev/null && echo "$p"; done)
    i=$((i + 1))
done
grep "^\[worker" "$LOG" | grep -v "serving on" | sed 's/^/  /' | fit
[ -z "$left" ] || fail "workers still running after the master died: $left"
echo "Notice: nobody sent the workers anything: the channel and the lifeline"
echo "pipe reached EOF (and, on Linux, PR_SET_PDEATHSIG sent SIGTERM), so they"
echo "drained and exited. None of $W is left."

step "=== 9. A worker that cannot run: the crash-loop guard"
set -- ./http-shared-port -p 0 -w 1 --worker /bin/false
show_cmd "$@"
"$@" >"$LOG" 2>&1
status=$?
grep -E "crash loop|exiting with status" "$LOG"
[ "$status" -eq 1 ] || fail "the crash loop exited with status $status, not 1"
echo "Notice: each death was followed by a respawn until too many came within"
echo "10 s; then the master gave up and exited 1 instead of forking forever."
echo
echo "demo done"
