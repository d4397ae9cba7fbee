// post-ports.js: what the post's `Math.floor(Math.random() * 1000)` port
// choice does, counted and then shown on real sockets.
//
//   node post-ports.js [--workers N] [--trials T]     (defaults 4 and 100000)
//
// Part 1 draws N ports per start the way the post's work.js does, T times,
// and counts the starts where two workers drew the same port (the second
// listen fails with EADDRINUSE and that worker dies), the starts where a
// worker drew 0 (the kernel picks a port, but the post logs 0), and the
// ports below net.ipv4.ip_unprivileged_port_start (1024 unless changed),
// which an ordinary user may not bind (EACCES). It prints the counts next
// to the exact probabilities.
//
// Part 2 listens for real on 127.0.0.1: twice on one drawn port (the
// collision), once on port 0 (what the post would log, and what the kernel
// gave), and once on a port below 1024 as `nobody` if we are root (a child
// process drops to that user), else as ourselves.
//
// What to notice: every drawn port is privileged, a collision is rare per
// start but certain over enough restarts, and a log line that says 0 lies.
// The C workers of this chapter bind port 0 and print what getsockname(2)
// says they got.
'use strict';
const net = require('net');
const fs = require('fs');
const { execFileSync } = require('child_process');

if (process.argv[2] === '--try-bind') {
  // Part 2's child: bind one port, print the outcome, exit.
  const s = net.createServer();
  s.on('error', (e) => { console.log(e.code); process.exit(0); });
  s.listen(Number(process.argv[3]), '127.0.0.1', () => { console.log('bound'); s.close(); });
  return;
}

function flag(name, dflt, min, max) {
  const i = process.argv.indexOf(name);
  if (i === -1) return dflt;
  const v = process.argv[i + 1];
  if (!/^[0-9]+$/.test(v || '') || Number(v) < min || Number(v) > max) {
    console.error(`post-ports.js: bad value for ${name}: ${v} (want ${min}..${max})`);
    process.exit(2);
  }
  return Number(v);
}
const workers = flag('--workers', 4, 2, 1000);
const trials = flag('--trials', 100000, 1, 10000000);
const draw = () => Math.floor(Math.random() * 1000); // the post's work.js

let unpriv = 1024;
try {
  unpriv = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
} catch (e) { /* not Linux: 1024 */ }

let collide = 0, zero = 0, privileged = 0;
for (let t = 0; t < trials; t++) {
  const seen = new Set();
  let c = false, z = false;
  for (let w = 0; w < workers; w++) {
    const p = draw();
    if (seen.has(p)) c = true;
    seen.add(p);
    if (p === 0) z = true;
    if (p < unpriv) privileged++;
  }
  if (c) collide++;
  if (z) zero++;
}
let noCollide = 1;
for (let w = 0; w < workers; w++) noCollide *= (1000 - w) / 1000;
const pct = (n) => (100 * n / trials).toFixed(2) + '%';
console.log(`${trials} starts of ${workers} workers, ports drawn as Math.floor(Math.random() * 1000):`);
console.log(`  starts with two workers on one port (EADDRINUSE): ${collide} (${pct(collide)}; exact ${(100 * (1 - noCollide)).toFixed(2)}%)`);
console.log(`  starts with a worker on port 0 (logs 0, kernel picks): ${zero} (${pct(zero)}; exact ${(100 * (1 - Math.pow(0.999, workers))).toFixed(2)}%)`);
console.log(`  ports below ${unpriv} (EACCES for an ordinary user): ${privileged} of ${trials * workers}`);
console.log(`  restarts until a collision is more likely than not: ${Math.ceil(Math.log(0.5) / Math.log(noCollide))}`);

// Part 2, on real sockets.
function listen(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.on('error', (e) => resolve({ err: e.code }));
    s.listen(port, '127.0.0.1', () => resolve({ server: s, port: s.address().port }));
  });
}
(async () => {
  // A drawn port >= 1 that is free, so that the first listen works as root.
  let a;
  for (let i = 0; i < 50 && !(a && a.server); i++) a = await listen(1 + draw() % 999);
  if (!a || !a.server) { console.log('no free port below 1000 to show the collision'); return; }
  const b = await listen(a.port);
  console.log(`listen twice on drawn port ${a.port}: first ok, second ${b.err || 'ok (?)'}`);
  a.server.close();
  if (b.server) b.server.close();
  const z = await listen(0);
  console.log(`listen on drawn port 0: the post would log "server listening on prot:  0"; the kernel gave ${z.port}`);
  z.server.close();
  const low = 1 + draw() % (Math.min(unpriv, 1000) - 1);
  let who = 'this user', out;
  if (process.getuid && process.getuid() === 0) {
    who = 'user nobody';
    try {
      out = execFileSync(process.execPath, [__filename, '--try-bind', String(low)],
        { uid: 65534, gid: 65534, encoding: 'utf8' }).trim();
    } catch (e) { out = `not run (${e.code || e.message})`; }
  } else {
    const r = await listen(low);
    out = r.err || 'bound';
    if (r.server) r.server.close();
  }
  console.log(`listen on drawn port ${low} as ${who}: ${out}`);
})();
