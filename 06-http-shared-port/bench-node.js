// bench-node.js: the post's http example in Node, with its bugs fixed, as
// the Node peer of `make bench`. One file plays both roles, like the post's
// main.js and work.js:
//
//   PORT=8081 WORKERS=2 node bench-node.js
//
// Once every worker has the server it prints `listening on 127.0.0.1:8081
// (pid N)` (bench.sh waits for that line); then
// `curl http://127.0.0.1:8081/` answers {"msg":"Hello World","pid":<a worker>}.
// SIGINT or SIGTERM stops the master and its workers. KEEP_SERVER=1 keeps
// the post's bug (no server.close() in the master): see post-master.js.
//
// The master listens, forks one worker per CPU (WORKERS), sends each the
// server with sub.send('server', server), and then closes its own copy,
// which the post forgets (FACTS 13: without server.close() the master keeps
// accepting connections it has no handler for, and those clients hang).
// The body is real JSON sent as application/json with a Content-Length
// (FACTS 14: the post sends `{ msg: 'Hello World', ... }`, which is not JSON,
// as text/json, which is not a registered type). The worker does not log
// every request (the post's console.log(process.pid) would measure the
// terminal, not the server).
'use strict';
const { fork } = require('child_process');
const http = require('http');
const net = require('net');

if (process.argv[2] !== 'worker') {
  const workers = Number(process.env.WORKERS) || require('os').cpus().length;
  const port = process.env.PORT === undefined ? 8080 : Number(process.env.PORT);
  const host = process.env.HOST || '127.0.0.1';
  const server = net.createServer();
  server.listen(port, host, () => {
    const addr = server.address();
    let ready = 0;
    const subs = [];
    for (let i = 0; i < workers; i++) {
      const sub = fork(__filename, ['worker']);
      subs.push(sub);
      sub.on('message', (m) => {
        if (m === 'ready' && ++ready === workers) {
          // the fix: only the workers hold the socket now. KEEP_SERVER=1
          // leaves the post's bug in, for post-master.js to show.
          if (process.env.KEEP_SERVER !== '1') server.close();
          console.log(`listening on ${addr.address}:${addr.port} (pid ${process.pid})`);
        }
      });
      sub.send('server', server);
    }
    const stop = () => {
      for (const s of subs) s.kill('SIGTERM');
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
} else {
  const body = JSON.stringify({ msg: 'Hello World', pid: process.pid });
  const server = http.createServer((req, res) => {
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
  });
  process.on('message', (type, tcp) => {
    if (type === 'server') {
      tcp.on('connection', (socket) => server.emit('connection', socket));
      process.send('ready');
    }
  });
  process.on('disconnect', () => process.exit(0)); // no orphans
}
