// post-master.js: what happens to clients when the master keeps the server,
// as the post's http example does (it never calls server.close()).
//
//   node post-master.js [REQUESTS]       (default 20)
//
// It runs bench-node.js (the post's design, 2 workers) twice: once with
// KEEP_SERVER=1, the post's master, which keeps watching the listening
// socket and accepts connections it has no 'connection' handler for, and
// once as fixed, with server.close() after the handoff. Each time it sends
// REQUESTS requests at once, each with a 2 s timeout, and counts the answers
// (by the pid that served them) and the timeouts.
//
// What to notice: with the post's master some requests time out (the
// master took them and nobody will ever answer); with close(), none do.
'use strict';
const { spawn } = require('child_process');
const http = require('http');
const path = require('path');

const n = Number(process.argv[2] || 20);
if (!Number.isInteger(n) || n < 1 || n > 1000) {
  console.error(`post-master.js: bad value for REQUESTS: ${process.argv[2]} (want 1..1000)`);
  process.exit(2);
}

function once(keep) {
  return new Promise((resolve, reject) => {
    const srv = spawn(process.execPath, [path.join(__dirname, 'bench-node.js')], {
      env: { ...process.env, PORT: '0', WORKERS: '2', KEEP_SERVER: keep ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    srv.stdout.on('data', (d) => {
      out += d;
      const m = /listening on ([0-9.]+):(\d+) \(pid (\d+)\)/.exec(out);
      if (!m || srv.started) return;
      srv.started = true;
      const master = Number(m[3]);
      const by = new Map();
      let timeouts = 0, done = 0;
      for (let i = 0; i < n; i++) {
        const req = http.get({ host: m[1], port: Number(m[2]), path: '/', agent: false, timeout: 2000 }, (res) => {
          let body = '';
          res.on('data', (c) => { body += c; });
          res.on('end', () => {
            const pid = JSON.parse(body).pid;
            by.set(pid, (by.get(pid) || 0) + 1);
            finish();
          });
        });
        req.on('timeout', () => { timeouts++; req.destroy(); });
        req.on('error', () => finish());
      }
      function finish() {
        if (++done < n) return;
        srv.kill('SIGTERM');
        const served = [...by].map(([pid, c]) => `pid ${pid} x${c}`).join(', ');
        resolve(`${keep ? 'the post\'s master (keeps the server)' : 'server.close() in the master     '}: ` +
          `${n - timeouts} of ${n} answered (${served || 'none'}), ${timeouts} timed out; master pid ${master}`);
      }
    });
    srv.on('error', reject);
  });
}

(async () => {
  console.log(await once(true));
  console.log(await once(false));
})();
