// node/main.js: the post's main.js, corrected, with C workers: a Node master
// that sends its net.Server to ./handle-passing-worker.
//
//   node node/main.js [WORKER] [N] [KIND]  (defaults: ../handle-passing-worker, 2, tcp)
//
// KIND: tcp (a net.Server), udp (a dgram socket, sent as a dgram.Socket: the
// envelope then carries "dgramType":"udp4" and the C worker answers
// datagrams on it), tcp-native or udp-native (the bare libuv handle under
// either, which Node sends as net.Native or dgram.Native), conn or
// conn-native (the master keeps the server, accepts, and sends each
// connection to the next worker in turn: as a net.Socket, or its bare TCP
// handle as a net.Native, as the cluster primary does in round-robin mode).
//
// fork() runs `execPath MODULE` (node unless options.execPath says
// otherwise), so it would hand the C worker a module path it does not take.
// To give a C program a channel Node's way without it we use spawn() with
// an 'ipc' entry in stdio: Node creates the
// socketpair, the child's end becomes fd 3 and NODE_CHANNEL_FD=3 is set,
// as for fork(). Then child.send('server', server) writes the NODE_HANDLE
// envelope with the listening socket attached; the C worker answers
// NODE_HANDLE_ACK and serves the port.
//
// Corrections to the post: fork('sub.js', 'server', server) throws (the
// handle goes in send(), not in fork()); and the master closes its own copy
// of the server once it has been sent, or it would keep accepting
// connections it has no handler for.
'use strict';
const { spawn } = require('child_process');
const net = require('net');
const dgram = require('dgram');
const path = require('path');

const worker = process.argv[2] || path.join(__dirname, '..', 'handle-passing-worker');
const n = Number(process.argv[3] || 2);
const kind = process.argv[4] || 'tcp';
if (!['tcp', 'udp', 'tcp-native', 'udp-native', 'conn', 'conn-native'].includes(kind)) {
  console.error(`main.js: bad KIND ${kind} (want tcp, udp, tcp-native, udp-native, conn or conn-native)`);
  process.exit(2);
}
const udp = kind.startsWith('udp');
const conn = kind.startsWith('conn');
const native = kind.endsWith('-native');
const tag = `[node-master ${process.pid}]`;
const children = [];

// pauseOnConnect: the master must not read what a client sends before the
// connection goes to a worker (Node's docs for child.send() and sockets).
const server = udp ? dgram.createSocket('udp4') : net.createServer({ pauseOnConnect: conn });
const port0 = Number(process.env.PORT || 0);
const host = process.env.HOST || '127.0.0.1';
const start = (fn) => (udp ? server.bind(port0, host, fn) : server.listen(port0, host, fn));
start(() => {
  const { address, port } = server.address();
  console.log(`${tag} listening on ${address}:${port} (pid ${process.pid})${udp ? ' for UDP datagrams' : ''}`);
  // A dgram socket's fd is not on a public property; _handle.fd is the
  // libuv handle's fd for both kinds.
  const state = Object.getOwnPropertySymbols(server).find((s) => String(s) === 'Symbol(state symbol)');
  const handle = udp ? server[state].handle : server._handle;
  const fd = handle.fd;
  let id = `fd ${fd}`;
  try {
    id = require('fs').readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) { /* not Linux */ }
  console.log(`${tag} the server is fd ${fd} -> ${id}`);
  let sent = 0;
  for (let i = 0; i < n; i++) {
    const child = spawn(worker, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.push(child);
    console.log(`${tag} started worker ${child.pid}`);
    child.on('message', (m) => console.log(`${tag} worker ${child.pid} says ${JSON.stringify(m)}`));
    child.on('exit', (code, signal) => {
      console.log(`${tag} worker ${child.pid} exited (${signal || code})`);
      if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(0);
    });
    if (conn) continue; // the connections go out one by one (sendConnections)
    // The callback runs once the envelope and the fd are written; only
    // then is it safe to close the master's copy.
    child.send('server', native ? handle : server, (err) => {
      if (err) throw err;
      if (++sent === n) {
        server.close();
        console.log(`${tag} sent the server to ${n} workers and closed its own copy`);
      }
    });
  }
  if (conn) sendConnections();
});

// conn, conn-native: each connection to the next worker in turn. A
// net.Socket is detached from the master by send() and closed on the
// worker's NODE_HANDLE_ACK. A bare handle (net.Native) is left to us, as
// the cluster primary closes its own when the worker says it took it:
// once send() has written it, the worker's copy is in the kernel's hands,
// so ours can go.
function sendConnections() {
  let next = 0;
  console.log(`${tag} the master accepts; each connection goes to the next worker in turn`);
  server.on('connection', (socket) => {
    const child = children[next++ % n];
    child.send('socket', native ? socket._handle : socket, (err) => {
      if (err) console.error(`${tag} send to worker ${child.pid}: ${err.message}`);
      if (native || err) socket.destroy();
    });
  });
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    console.log(`${tag} ${sig}: disconnecting from the workers`);
    if (conn) server.close();
    for (const c of children) if (c.connected) c.disconnect();
  });
}
