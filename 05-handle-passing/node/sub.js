// node/sub.js: the post's sub.js, corrected, as a Node worker for the C master.
//
//   ./handle-passing -w 2 -- node node/sub.js
//
// The C master starts `node node/sub.js` with the channel as fd 3 and
// NODE_CHANNEL_FD=3, exactly as Node's fork() would, and sends it the server
// as {"cmd":"NODE_HANDLE","type":"net.Server","msg":"server"} with the fd
// attached. Node answers NODE_HANDLE_ACK and emits 'message' with a
// net.Server that is already listening on the master's socket.
//
// A connection comes too (./handle-passing --rr): a net.Socket arrives as a
// socket, a net.Native as a bare TCP handle. Each gets `child data, pid N`.
//
// Two corrections to the post: net.Socket has no send() (use write/end), and
// a child whose master went away should exit ('disconnect'), not serve on.
'use strict';
const fs = require('fs');
const dgram = require('dgram');
const net = require('net');

// The libuv handle under a net.Server or a dgram.Socket (a dgram.Socket
// keeps it under a symbol; its _handle getter is deprecated).
function handleOf(obj) {
  if (!(obj instanceof dgram.Socket)) return obj._handle;
  const state = Object.getOwnPropertySymbols(obj).find((s) => String(s) === 'Symbol(state symbol)');
  return state && obj[state].handle;
}

// A dgram.Socket (./handle-passing -u) arrives already bound: Node built it
// from the envelope's "dgramType" and started reading the fd. Each datagram
// is answered to its sender. A dgram.Native or net.Native (--native) arrives
// as a bare libuv handle, UDP or TCP: this script wraps it in a dgram.Socket
// or a net.Server itself, which is what Node's own receiver does for the
// wrapped types.
//
// A bare TCP handle may be a listener or a connection: getpeername() tells
// them apart, as the C worker's SO_ACCEPTCONN does. It fills in the peer
// and returns 0 on a connection, and returns -ENOTCONN (-107 on Linux) on
// a listener (checked with Node v20).
process.on('message', (msg, server) => {
  if (!server) return;
  if (server instanceof net.Socket) {
    answer(server, 'net.Socket');
    return;
  }
  const bare = server.constructor.name; // 'UDP' or 'TCP'
  if (bare === 'TCP' && server.getpeername({}) === 0) {
    answer(new net.Socket({ handle: server }), 'net.Native, a bare TCP handle');
    return;
  }
  if (msg !== 'server') return;
  if (handleOf(server)) {
    serve(server);
    return;
  }
  console.log(`[node-worker ${process.pid}] got a bare ${bare} handle (a Native type)`);
  if (bare === 'UDP') {
    const sock = dgram.createSocket('udp4');
    sock.bind(server, () => serve(sock));
  } else {
    const srv = require('net').createServer();
    srv.listen(server, () => serve(srv));
  }
});

// A connection of its own: answer, then end (a half-close; the socket
// closes when the client's end arrives).
let answered = 0;
function answer(socket, how) {
  console.log(`[node-worker ${process.pid}] got a connection as fd ${socket._handle.fd} (${how})`);
  socket.on('error', () => {}); // a client that reset: nothing to answer
  socket.end(`child data, pid ${process.pid}\n`);
  console.log(`[node-worker ${process.pid}] served connection ${++answered}`);
}

function serve(server) {
  const fd = handleOf(server).fd; // the number the kernel gave this process
  let id = `fd ${fd}`;
  try {
    id = fs.readlinkSync(`/proc/self/fd/${fd}`); // "socket:[16054]" on Linux
  } catch (e) { /* not Linux: the number alone */ }
  console.log(`[node-worker ${process.pid}] got the server as fd ${fd} -> ${id}`);
  process.send({ pid: process.pid, fd, socket: id });
  let served = 0;
  if (server instanceof dgram.Socket) {
    server.on('message', (m, rinfo) => {
      server.send(`child data, pid ${process.pid}\n`, rinfo.port, rinfo.address);
      console.log(`[node-worker ${process.pid}] answered datagram ${++served}`);
    });
    return;
  }
  server.on('connection', (socket) => {
    socket.end(`child data, pid ${process.pid}\n`);
    console.log(`[node-worker ${process.pid}] served connection ${++served}`);
  });
}

process.on('disconnect', () => {
  console.log(`[node-worker ${process.pid}] the master closed the channel; exiting`);
  process.exit(0);
});
