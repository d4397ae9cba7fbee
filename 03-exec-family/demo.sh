#!/bin/sh
# demo.sh: the classroom tour of 03-exec-family. Run it with `make demo`.
#
# It runs ./exec-family one case at a time, says what to notice before each
# case, and checks afterwards that the thing to notice really happened. It
# exits non-zero if anything it shows did not happen. Every child the
# program starts ends within a second (the longest are the 500 ms timeouts;
# a background sleep that outlives its shell is stopped by the program), so
# nothing is left running.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init exec-family-demo ./exec-family

# show CASE...: run ./exec-family on the cases, shown as the command it is.
show() { run_check 0 ./exec-family "$@"; }

step ">>> spawn: ls -l runs with no shell. Its output arrives in chunks (one read()" \
     "each); the parent cuts them into lines, and the exit event comes last."
show spawn
expect "exit event: exited with code 0"

step ">>> exec: the command line goes to /bin/sh -c, so \$HOME is expanded and the" \
     "pipe into wc works. wc counts HOME's characters plus the newline."
show exec
home=${HOME:-}
expect "stdout: $(( ${#home} + 1 ))"

step ">>> exec_file: the same words as arguments of echo, no shell: printed as they are."
show exec-file
expect 'stdout: $HOME | wc -c'

step ">>> inject: user input pasted into a command line. Through exec the shell runs" \
     "the second command hidden in the input; exec_file passes it as one argument."
show inject -i 'bob; echo INJECTED: $(id -un) ran this'
expect "stdout: INJECTED: "
expect 'stdout: Hello, bob; echo INJECTED: $(id -un) ran this'

step ">>> shebang: hello.sh starts with #!/bin/sh and has mode 755 (make set it)." \
     "execve runs it directly: the kernel reads the #! line."
show shebang
expect "stdout: hello from ./hello.sh"

step ">>> Failures, each with its real errno, reported by the child over a" \
     "close-on-exec pipe. Watch: EACCES (no execute bit), ENOEXEC (no #! line)," \
     "then glibc's execvp running the very same file with /bin/sh, ENOENT, and" \
     "last the shell's own way of saying ENOENT: exit code 127."
show eacces enoexec enoent
expect "(EACCES)"
expect "(ENOEXEC)"
expect "stdout: no #! line, yet /bin/sh ran me"
expect "(ENOENT)"
expect "exited with code 127"

step ">>> Limits: sleep 10 is killed after 500 ms. Then a shell that exits at once" \
     "but leaves 'sleep 5 &' holding its output pipe: the timeout still fires at" \
     "500 ms, and only when the child leads its own process group does it stop" \
     "the sleep too. yes is killed once stdout passes the default max_buffer of" \
     "1 MiB, and exactly 1048576 bytes are kept."
show timeout maxbuffer
expect "timed out, killed by SIGTERM"
expect "still runs: out of reach without a process group"
expect "is gone: the timeout signalled the whole group"
expect "stdout maxBuffer exceeded, killed by SIGTERM"
expect "(1048576 bytes in all)"

step ">>> Exit code and signal, reported exactly and told apart."
show status
expect "exited with code 3"
expect "killed by signal SIGUSR1 (10)"

echo
if [ "$fail" -eq 0 ]; then
    echo ">>> demo complete: everything above happened as described."
else
    echo ">>> demo FAILED: see the lines marked !! above."
fi
exit "$fail"
