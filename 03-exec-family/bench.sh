#!/bin/sh
# bench.sh: what does the shell in exec cost? Run it with `make bench`.
#
# Times N starts of /bin/true, one at a time, each from the call to its
# callback, with exec_file (fork + execve of /bin/true) and exec (fork +
# execve of /bin/sh, which then execs /bin/true) taking turns, so that load
# elsewhere on the machine hits both alike. It prints the median of each and
# their ratio. The ratio is the figure to keep; absolute times drift with the
# machine and its load. RUNS=N sets N (default 500).
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init exec-family-bench ./exec-family
runs=${RUNS:-500}
echo "cpus: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')"
echo "kernel: $(uname -sr)"
echo "sh: $(readlink -f /bin/sh)"
echo "libc: $(ldd --version 2>&1 | head -n 1)"
./exec-family -n "$runs" cost
