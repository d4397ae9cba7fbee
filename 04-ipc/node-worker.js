// node-worker.js: the post's work.js, speaking to the C master.
//
//   ./ipc node node-worker.js
//
// The C master (ipc.c) creates the socketpair, puts its end on our fd 3 and
// sets NODE_CHANNEL_FD=3 before exec'ing node. Node finds the variable at
// start-up, deletes it, and gives us process.send / process.on('message'):
// the same channel a Node parent's fork() would have made. Every message is
// logged and answered with an object, exactly as ipc-worker does, and when
// the master disconnects Node's event loop has nothing left and we exit.
'use strict';

const tag = `[worker ${process.pid}]`;
console.log(`${tag} node ${process.version}; channel ready, NODE_CHANNEL_FD is now`,
            process.env.NODE_CHANNEL_FD === undefined ? 'unset' : 'still set');

process.on('message', (msg) => {
  console.log(`${tag} got message: ${JSON.stringify(msg)}`);
  const reply = { name: 'Bruce', pid: process.pid, echo: msg };
  console.log(`${tag} reply: ${JSON.stringify(reply)}`);
  process.send(reply);
});

process.on('disconnect', () => {
  console.log(`${tag} the master disconnected: exiting`);
});
