#!/bin/sh
# demo.sh: the classroom tour of 03-exec-family. Run it with `make demo`.
#
# It runs ./exec-family one case at a time, says what to notice before each
# case, and checks afterwards that the thing to notice really happened. It
# exits non-zero if anything it shows did not happen. Every child the
# program starts ends within a second (the longest are the 500 ms timeouts;
# a background sleep that outlives its shell is stopped by the program), so
# nothing is left running.
set -u
cd "$(dirname "$0")" || exit 1
out=$(mktemp "${TMPDIR:-/tmp}/exec-family-demo.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
trap 'exit 1' HUP INT TERM
fail=0

note() { printf '\n>>> %s\n' "$*"; }
run() {
    echo "\$ ./exec-family $*"
    ./exec-family "$@" >"$out" 2>&1
    rc=$?
    cat "$out"
    [ "$rc" -eq 0 ] || { echo "!! exec-family exited with status $rc"; fail=1; }
}
expect() {
    grep -F -q -- "$1" "$out" || { echo "!! expected to see: $1"; fail=1; }
}

note "spawn: ls -l runs with no shell. Its output arrives in chunks (one read()" \
     "each); the parent cuts them into lines, and the exit event comes last."
run spawn
expect "exit event: exited with code 0"

note "exec: the command line goes to /bin/sh -c, so \$HOME is expanded and the" \
     "pipe into wc works. wc counts HOME's characters plus the newline."
run exec
home=${HOME:-}
expect "stdout: $(( ${#home} + 1 ))"

note "exec_file: the same words as arguments of echo, no shell: printed as they are."
run exec-file
expect 'stdout: $HOME | wc -c'

note "inject: user input pasted into a command line. Through exec the shell runs" \
     "the second command hidden in the input; exec_file passes it as one argument."
run inject -i 'bob; echo INJECTED: $(id -un) ran this'
expect "stdout: INJECTED: "
expect 'stdout: Hello, bob; echo INJECTED: $(id -un) ran this'

note "shebang: hello.sh starts with #!/bin/sh and has mode 755 (make set it)." \
     "execve runs it directly: the kernel reads the #! line."
run shebang
expect "stdout: hello from ./hello.sh"

note "Failures, each with its real errno, reported by the child over a" \
     "close-on-exec pipe. Watch: EACCES (no execute bit), ENOEXEC (no #! line)," \
     "then glibc's execvp running the very same file with /bin/sh, ENOENT, and" \
     "last the shell's own way of saying ENOENT: exit code 127."
run eacces enoexec enoent
expect "(EACCES)"
expect "(ENOEXEC)"
expect "stdout: no #! line, yet /bin/sh ran me"
expect "(ENOENT)"
expect "exited with code 127"

note "Limits: sleep 10 is killed after 500 ms. Then a shell that exits at once" \
     "but leaves 'sleep 5 &' holding its output pipe: the timeout still fires at" \
     "500 ms, and only when the child leads its own process group does it stop" \
     "the sleep too. yes is killed once stdout passes the default max_buffer of" \
     "1 MiB, and exactly 1048576 bytes are kept."
run timeout maxbuffer
expect "timed out, killed by SIGTERM"
expect "still runs: out of reach without a process group"
expect "is gone: the timeout signalled the whole group"
expect "stdout maxBuffer exceeded, killed by SIGTERM"
expect "(1048576 bytes in all)"

note "Exit code and signal, reported exactly and told apart."
run status
expect "exited with code 3"
expect "killed by signal SIGUSR1 (10)"

echo
if [ "$fail" -eq 0 ]; then
    echo ">>> demo complete: everything above happened as described."
else
    echo ">>> demo FAILED: see the lines marked !! above."
fi
exit "$fail"
