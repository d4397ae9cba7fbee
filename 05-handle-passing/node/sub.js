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
// Two corrections to the post: net.Socket has no send() (use write/end), and
// a child whose master went away should exit ('disconnect'), not serve on.
'use strict';
const fs = require('fs');

process.on('message', (msg, server) => {
  if (msg !== 'server' || !server) return;
  const fd = server._handle.fd; // the number the kernel gave this process
  let id = `fd ${fd}`;
  try {
    id = fs.readlinkSync(`/proc/self/fd/${fd}`); // "socket:[16054]" on Linux
  } catch (e) { /* not Linux: the number alone */ }
  console.log(`[node-worker ${process.pid}] got the server as fd ${fd} -> ${id}`);
  process.send({ pid: process.pid, fd, socket: id });
  let served = 0;
  server.on('connection', (socket) => {
    socket.end(`child data, pid ${process.pid}\n`);
    console.log(`[node-worker ${process.pid}] served connection ${++served}`);
  });
});

process.on('disconnect', () => {
  console.log(`[node-worker ${process.pid}] the master closed the channel; exiting`);
  process.exit(0);
});
