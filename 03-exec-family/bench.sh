#!/bin/sh
# bench.sh: what does the shell in exec cost? Run it with `make bench`.
#
# Times N starts of /bin/true, one after the other, each from start to the
# exec callback: first with exec_file (fork + execve of /bin/true), then with
# exec (fork + execve of /bin/sh, which then execs /bin/true). The ratio is
# the figure to keep; absolute times drift with the machine and its load.
set -u
cd "$(dirname "$0")" || exit 1
runs=${RUNS:-500}
echo "cpus: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')"
echo "kernel: $(uname -sr)"
echo "sh: $(readlink -f /bin/sh)"
echo "libc: $(ldd --version 2>&1 | head -n 1)"
./exec-family -n "$runs" cost
