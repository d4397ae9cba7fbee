// node-master.js: the post's master.js, with the C worker as its child.
//
//   node node-master.js            fork() the C worker (from this directory, after make)
//   node node-master.js --spawn    the same through spawn() with an 'ipc' stdio entry
//
// child_process.fork(modulePath, args, { execPath }) runs
// `execPath modulePath args...` with an IPC channel: socketpair, the child's
// end as fd 3, NODE_CHANNEL_FD=3, exec. Normally execPath is node and
// modulePath a script; here execPath is ./ipc-worker, which takes its first
// argument as the name to answer with, so the "module" is 'Alice'.
// spawn() with 'ipc' at index 3 of stdio is the general door that fork()
// itself goes through.
'use strict';

const { fork, spawn } = require('child_process');
const path = require('path');

const tag = `[master ${process.pid}]`;
const file = path.join(__dirname, 'ipc-worker');
const useSpawn = process.argv.includes('--spawn');
const work = useSpawn
  ? spawn(file, ['Bob'], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'] })
  : fork('Alice', [], { execPath: file });
console.log(`${tag} ${useSpawn ? 'spawned' : 'forked'} ${file} as pid ${work.pid} ` +
            `with an IPC channel on its fd 3`);

const msgs = ['some msg', { greeting: '你好', list: [1, 2.5, true, null] }];
let replies = 0;
work.on('message', (msg) => {
  console.log(`${tag} got message: ${JSON.stringify(msg)}`);
  if (++replies === msgs.length) {
    console.log(`${tag} both replies are in: disconnect`);
    work.disconnect();
  }
});
work.on('exit', (code, signal) => {
  console.log(`${tag} worker ${work.pid} exited with code ${code}` +
              (signal ? ` (signal ${signal})` : ''));
  process.exitCode = code === 0 && replies === msgs.length ? 0 : 1;
});
for (const m of msgs) {
  console.log(`${tag} send: ${JSON.stringify(m)}`);
  work.send(m);
}
