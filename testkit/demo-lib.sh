# shellcheck shell=sh disable=SC2034 # its variables are for the scripts that source it
# demo-lib.sh: what every chapter's shell scripts (demo.sh, bench.sh and the
# small measuring scripts) share, sourced as their first command:
#
#   . "$(dirname "$0")/../testkit/demo-lib.sh"
#   lib_init fork-demo ./fork     # set -u, cd to the script's folder, $tmp
#
# It lives in testkit/ beside interrupt-check, which checks what it promises
# (Ctrl-C stops a demo within a second and leaves nothing behind), and the
# harness of the black-box tests: one folder for what the chapters' checks
# stand on. POSIX sh only, so that a demo needs nothing but /bin/sh.
#
# What it offers, in the order a script uses it:
#   lib_init TAG [PROG]  the preamble: set -u, cd to the script's folder, build
#                        PROG with make if it is missing, a temp folder $tmp,
#                        and traps so that nothing is left behind (below)
#   watchdog SECS        end the script (failed) if it still runs after SECS
#   start_fifo CMD...    run CMD in the background, its output readable on fd 3
#   read_until TEXT...   read fd 3 until a line contains one of the TEXTs
#   wait_file FILE TEXT [TENTHS [COUNT]]  poll FILE until TEXT shows up
#   start_log LOG READY CMD...  run CMD in the background, output in LOG,
#                        wait for READY, set $port
#   start_shown LOG READY CMD...  the same, after printing `$ CMD &`
#   port_in TEXT         the PORT of a `listening on HOST:PORT (pid N)` line
#   step TEXT...         a new step: pause (PAUSE=1), a blank line, the text
#   say TEXT...          narration, wrapped to fit $LIB_WIDTH (100) columns
#   fit [KEEP]           a filter: wrap long lines, but those matching KEEP
#   show_cmd CMD...      print `$ CMD`, quoted (for a command run with
#                        redirections: set -- CMD...; show_cmd "$@"; "$@" >F)
#   run CMD...           print `$ CMD`, quoted so that pasting it does the same,
#                        then run exactly that
#   run_indent CMD...    run, with CMD's output indented
#   run_out CMD...       run CMD with its output in $out, then show it; $rc
#   run_check WANT CMD...  run_out, and note a failure unless $rc is WANT
#   have TOOL            true if the optional TOOL is on PATH
#   expect TEXT, expect_re ERE  note a failure unless $out holds it
#   bad TEXT             print `!! TEXT` and note a failure ($fail=1)
#
# Cleanup: the EXIT trap runs the script's own lib_cleanup if it defines
# one (nginx wants SIGQUIT, say), then stops every background job the
# script still has (SIGTERM, then waits for them) and removes $tmp (KEEP_TMP=1
# keeps it, to read the logs). It needs no pid variable: a Ctrl-C that
# lands between `cmd &` and `pid=$!` would leave that unset. HUP, INT and
# TERM exit 1, which runs the EXIT trap.
#
# PAUSE=1 stops before each new step, and after the last one, until Enter is
# read on stdin, so that a teacher can talk about what is on the screen; the
# watchdog then stays off (someone is watching). Without PAUSE it runs straight through, as CI needs.
# `set -e` is left out on purpose: the scripts check each status themselves,
# and a demo that failed says what did not happen instead of stopping mute.

# Its functions' own variables start with _l, so that they cannot clobber a
# script's.
LIB_WIDTH=${LIB_WIDTH:-100}
fail=0
lib_steps=0

lib_init() {
    set -u
    cd "$(dirname "$0")" || exit 1
    if [ -n "${2:-}" ] && [ ! -x "$2" ]; then
        make -s >&2 || { echo "${0##*/}: could not build $2: run make" >&2; exit 1; }
    fi
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 1
    out=$tmp/out
    trap lib_exit EXIT
    trap 'lib_stopped=1; exit 1' HUP INT TERM
}

# lib_exit: the EXIT trap. `jobs -p` goes through a file: in a command
# substitution some shells list the subshell's (empty) jobs.
lib_exit() {
    if command -v lib_cleanup >/dev/null 2>&1; then lib_cleanup; fi
    jobs -p >"$tmp/.jobs" 2>/dev/null
    while read -r _lj; do kill -TERM "$_lj" 2>/dev/null; done <"$tmp/.jobs"
    wait 2>/dev/null
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
    # PAUSE=1: the last step gets its pause too (before `make demo` starts
    # the next chapter), unless the script was stopped (Ctrl-C).
    if [ -z "${lib_stopped:-}" ] && [ "$lib_steps" -gt 0 ]; then pause; fi
}

# watchdog SECS: if the script still runs after SECS, say so and stop it
# (exit 1), rather than hang a classroom or a CI run. Its sleep is killed
# with it, so nothing is left.
watchdog() {
    [ "${PAUSE:-}" = 1 ] && return 0
    (
        trap 'kill "$s" 2>/dev/null; exit 0' TERM
        sleep "$1" &
        s=$!
        wait "$s" && echo "${0##*/}: FAILED: still running after $1 s" && kill -TERM $$
    ) &
}

# start_fifo CMD...: run CMD in the background with its stdout and stderr on
# a FIFO that the script reads on fd 3 (read_until), so that it waits for
# the program's own lines and never sleeps. Sets $bg_pid.
start_fifo() {
    rm -f "$tmp/fifo"
    mkfifo "$tmp/fifo" || exit 1
    "$@" >"$tmp/fifo" 2>&1 &
    bg_pid=$!
    exec 3<"$tmp/fifo"
}

# read_until TEXT...: read fd 3 until a line contains one of the TEXTs
# (plain text, no pattern); that line is left in $line. Every line read is
# shown behind "    | " when $show_output is 1, else appended to
# $tmp/server.log. Returns 1 if the output ends first.
read_until() {
    while IFS= read -r line <&3; do
        if [ "${show_output:-0}" = 1 ]; then
            printf '    | %s\n' "$line"
        else
            printf '%s\n' "$line" >>"$tmp/server.log"
        fi
        for _lt in "$@"; do
            case $line in *"$_lt"*) return 0 ;; esac
        done
    done
    return 1
}

# wait_file FILE TEXT [TENTHS [COUNT]]: poll FILE (every 0.1 s, at most
# TENTHS tenths of a second, default 200) until COUNT lines (default 1) match
# TEXT (a grep basic regular expression). This waits for a line the program
# prints once it is ready; it guesses no delay. Returns 1 on timeout.
wait_file() {
    _li=0
    while _lc=$(grep -c -- "$2" "$1" 2>/dev/null) || :; [ "${_lc:-0}" -lt "${4:-1}" ]; do
        _li=$((_li + 1))
        [ "$_li" -le "${3:-200}" ] || return 1
        sleep 0.1
    done
}

# start_log LOG READY CMD...: run CMD in the background with its output in
# LOG (bg_pid), wait (at most 20 s) for a line matching READY, and set $port
# from its `listening on` line. Returns 1 if READY never came, after
# showing the log.
start_log() {
    _lf=$1
    _lr=$2
    shift 2
    : >"$_lf"
    "$@" >"$_lf" 2>&1 &
    bg_pid=$!
    if ! wait_file "$_lf" "$_lr" 200; then
        echo "${0##*/}: $1 did not start:"
        sed 's/^/  | /' "$_lf"
        return 1
    fi
    port=$(port_in "$(cat "$_lf")")
}

# start_shown LOG READY CMD...: print `$ CMD &`, then start_log.
start_shown() {
    printf '$ %s &\n' "$(shift 2 && quote "$@")"
    start_log "$@"
}

# port_in TEXT: the PORT in the first `listening on HOST:PORT ...` of TEXT.
port_in() {
    printf '%s\n' "$1" | sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' | head -n 1
}

# say TEXT...: the words, one line if they fit in $LIB_WIDTH columns, else
# wrapped at spaces (fit).
say() { printf '%s\n' "$*" | fit ''; }

# fit [KEEP]: a filter that wraps at spaces each line longer than
# $LIB_WIDTH columns, except lines that match the extended regular
# expression KEEP (a table's rows: wrapped, they would say less). The next
# lines of a wrapped one are indented as it is, two more after a "- "; a
# word longer than a line is cut where the line ends.
fit() {
    awk -v w="$LIB_WIDTH" -v keep="${1:-}" '
    length($0) <= w || (keep != "" && $0 ~ keep) { print; next }
    {
        match($0, /^ *(- )?/)
        ind = sprintf("%" RLENGTH "s", "")
        n = split(substr($0, RLENGTH + 1), word, " ")
        s = substr($0, 1, RLENGTH) word[1]
        for (i = 2; i <= n; i++) {
            if (length(s) + 1 + length(word[i]) > w) { s = cut(s); print s; s = ind word[i] }
            else s = s " " word[i]
        }
        print cut(s)
    }
    # A word longer than a line (a quoted string in strace output) is cut
    # into pieces that fit, the next ones on lines of their own.
    function cut(t) {
        while (length(t) > w) {
            print substr(t, 1, w)
            t = ind substr(t, w + 1)
        }
        return t
    }'
}

# step TEXT...: a new step. With PAUSE=1, first wait for Enter (from the
# second step on: the pause comes after each step). Then a blank line and
# the text, wrapped.
step() {
    if [ "$lib_steps" -gt 0 ]; then pause; fi
    lib_steps=$((lib_steps + 1))
    echo
    say "$@"
}

# pause: with PAUSE=1, wait for Enter on stdin; else nothing.
pause() {
    [ "${PAUSE:-}" = 1 ] || return 0
    printf '%s' "-- press Enter to go on -- "
    read -r _ || :
}

# quote WORD...: the words as a shell would need them typed: a word of
# plain characters as it is, any other in single quotes ('\'' for a ').
quote() {
    _lq=
    for _la in "$@"; do
        case $_la in
        '' | *[!A-Za-z0-9_./:=,+@%-]*)
            _la="'$(printf '%s' "$_la" | sed "s/'/'\\\\''/g")'" ;;
        esac
        _lq="$_lq${_lq:+ }$_la"
    done
    printf '%s\n' "$_lq"
}

# show_cmd CMD...: print `$ CMD`, quoted. For a command whose output the
# script redirects: `set -- CMD...; show_cmd "$@"; "$@" >FILE`.
show_cmd() { printf '$ %s\n' "$(quote "$@")"; }

# run CMD...: print `$ CMD`, quoted, then run exactly that; its status.
run() {
    show_cmd "$@"
    "$@"
}

# run_indent CMD...: run's `$ CMD`, then CMD with its output indented by
# four spaces, apart from the command line.
run_indent() {
    show_cmd "$@"
    "$@" | sed 's/^/    /'
}

# run_out CMD...: run CMD (shown as run does) with its output in $out and
# stdin from /dev/null (so that it cannot eat the Enter that PAUSE=1 waits
# for), then show the output, its long lines wrapped (fit). Sets $rc and
# returns it.
run_out() {
    show_cmd "$@"
    "$@" >"$out" 2>&1 </dev/null
    rc=$?
    fit <"$out" # a long line wrapped at spaces, nothing left out
    return "$rc"
}

# run_check WANT CMD...: run_out CMD, and note a failure unless it exited
# with WANT.
run_check() {
    _lwant=$1
    shift
    run_out "$@"
    [ "$rc" -eq "$_lwant" ] || bad "exit status $rc, expected $_lwant"
}

# have TOOL: true if TOOL is on PATH (an optional tool: a step without it
# says so and is skipped).
have() { command -v "$1" >/dev/null 2>&1; }

# bad TEXT: say what did not happen, and remember it: the script ends with
# `exit "$fail"`, after showing everything else.
bad() {
    echo "!! $*"
    fail=1
}
# expect TEXT / expect_re ERE: the output of the last run_out holds it.
expect() {
    grep -F -q -- "$1" "$out" || bad "expected to see: $1"
}
expect_re() {
    grep -E -q -- "$1" "$out" || bad "expected to see a line matching: $1"
}
