#!/bin/sh
# bench.sh: what creating a process costs, side by side in one run.
#
#   make bench        (or: sh ./bench.sh, from this directory, after make)
#
# 1. `./fork cost` at 1 MiB, 100 MiB and 1 GiB (the defaults): fork, vfork,
#    posix_spawn and fork+exec of /bin/true, and copy-on-write. Then each
#    figure as a ratio to its own 1 MiB figure: fork grows with the parent,
#    vfork and posix_spawn do not.
# 2. If node is installed: what the post's fork() really costs, a Node
#    child_process.fork() of a module that sends one message. The median
#    time from fork() to that message and the child's RSS (FACTS item 2).
#
# Figures, never pass/fail. Absolute numbers drift with the machine and its
# load; compare within one run.

. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init fork-bench ./fork

echo "machine: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs online," \
    "kernel $(uname -sr)"
echo "compiler: $(${CC:-cc} --version 2>/dev/null | sed -n 1p)"
echo

./fork cost "$@" | tee "$out"
echo
echo "ratios to the first size (how each method scales with the parent's RSS):"
awk '$4 == "MiB" && $NF == "ms" && $3 ~ /^[0-9]+$/ {
        n++; size[n] = $3; f[n] = $7; c[n] = $9; v[n] = $11; s[n] = $13; e[n] = $15
    }
    END {
        printf "  %8s  %11s  %13s  %11s  %11s  %11s\n", "size", "fork+_exit",
            "CPU in fork()", "vfork", "posix_spawn", "fork+exec"
        for (i = 1; i <= n; i++)
            printf "  %4d MiB  %10.1fx  %12.1fx  %10.1fx  %10.1fx  %10.1fx\n", size[i],
                f[i] / f[1], c[i] / c[1], (v[1] > 0 ? v[i] / v[1] : 0), s[i] / s[1],
                e[i] / e[1]
    }' "$out"

echo
if ! have node; then
    echo "node: not installed, so no Node child_process.fork() figure (skipped)"
    exit 0
fi
mkdir "$tmp/node" || exit 1
cat >"$tmp/node/child.js" <<'EOF'
// The child: report its resident size as soon as it runs, then wait.
process.send({ rss: process.memoryUsage().rss });
process.on('message', () => process.exit(0));
EOF
cat >"$tmp/node/parent.js" <<'EOF'
// child_process.fork() N times, one after the other; the median time from
// fork() to the child's first message, and the median child RSS.
const { fork } = require('child_process');
const path = require('path');
const runs = 9, times = [], rss = [];
function once(i) {
  if (i === runs) {
    const med = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
    console.log(`node ${process.version} child_process.fork(): ` +
      `${med(times).toFixed(1)} ms to the first message, ` +
      `child RSS ${(med(rss) / 1048576).toFixed(1)} MiB (median of ${runs})`);
    return;
  }
  const t0 = process.hrtime.bigint();
  const c = fork(path.join(__dirname, 'child.js'));
  c.once('message', (msg) => {
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    rss.push(msg.rss);
    c.once('exit', () => once(i + 1));
    c.send('bye');
  });
}
once(0);
EOF
node "$tmp/node/parent.js"
