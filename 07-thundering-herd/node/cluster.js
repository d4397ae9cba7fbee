// node/cluster.js: Node's own cluster, for ./thundering-herd to measure.
//
// The chapter's C modes are models; this is the real thing. A primary forks
// N cluster workers; each listens on the same HOST:PORT and answers every
// connection exactly as the C workers do: one line naming itself, "served
// by worker PID", then close. Node's scheduling comes from the environment,
// as Node reads it when the cluster module loads:
//
//   NODE_CLUSTER_SCHED_POLICY=rr    the primary accepts and hands each
//                                   connection to a worker (the default on
//                                   every platform but Windows)
//   NODE_CLUSTER_SCHED_POLICY=none  every worker accepts on the shared
//                                   listener, from its own libuv epoll set
//
// ./thundering-herd runs it for the node-rr and node-none rows (modes.c).
// By hand, from this chapter's directory:
//
//   NODE_CLUSTER_SCHED_POLICY=rr node node/cluster.js --workers 4 --port 7007
//   nc 127.0.0.1 7007            (in a second terminal: a worker names itself)
//   Ctrl-D in the first terminal: each worker's counts, and everything stops.
//
// The conversation with whoever started it, on stdin and stdout:
//   once every worker listens, the primary prints
//     [primary PID] POLICY: listening on HOST:PORT (pid PID); workers P1 P2 ...
//   at EOF on stdin it asks each worker for its counts and prints
//     [primary PID] worker P: accepts A served S naps N
//   one line per worker, in the order of the first line, stops the workers
//   and exits 0. (EOF is also what it gets when its parent dies.)
//
// Options: --workers N (default 2), --host ADDR (127.0.0.1), --port PORT
// (0: the kernel picks; every worker gets the same one), --stall-worker MS
// (the first worker sleeps MS ms on every connection before it answers, in
// the middle of its event loop, as a long synchronous computation would
// keep it; 0: none).
'use strict';

const cluster = require('node:cluster');
const net = require('node:net');

function usage(code) {
  const out = code === 0 ? process.stdout : process.stderr;
  out.write('usage: [NODE_CLUSTER_SCHED_POLICY=rr|none] node node/cluster.js ' +
            '[--workers N] [--host ADDR] [--port PORT] [--stall-worker MS]\n');
  process.exit(code);
}

function parseArgs(argv) {
  const opt = { workers: 2, host: '127.0.0.1', port: 0, stall: 0 };
  const ints = { '--workers': ['workers', 1, 1024], '--port': ['port', 0, 65535],
                 '--stall-worker': ['stall', 0, 60000] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '-h' || flag === '--help')
      usage(0);
    if (flag !== '--host' && !(flag in ints)) {
      process.stderr.write(`cluster.js: unknown option: ${flag}\n`);
      usage(2);
    }
    const value = argv[++i];
    if (value === undefined) {
      process.stderr.write(`cluster.js: ${flag} needs a value\n`);
      usage(2);
    }
    if (flag === '--host') {
      opt.host = value;
      continue;
    }
    const [key, min, max] = ints[flag];
    const n = Number(value);
    if (!/^[0-9]+$/.test(value) || n < min || n > max) {
      process.stderr.write(`cluster.js: bad value for ${flag}: ${value} ` +
                           `(${min}..${max})\n`);
      usage(2);
    }
    opt[key] = n;
  }
  return opt;
}

const opt = parseArgs(process.argv.slice(2));

// Ctrl-C in a terminal reaches every process of the group; the one that
// started us decides when we stop (EOF on stdin), as the C workers leave
// it to their master.
process.on('SIGINT', () => {});

if (cluster.isPrimary)
  primary();
else
  worker();

function primary() {
  const policy = cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none';
  const tag = `[primary ${process.pid}]`;
  const workers = [];
  let listening = 0;
  let stopping = false;

  for (let i = 0; i < opt.workers; i++)
    workers.push(cluster.fork({ HERD_WORKER: String(i) }));

  cluster.on('listening', (w, address) => {
    if (++listening < workers.length)
      return;
    const pids = workers.map((x) => x.process.pid).join(' ');
    console.log(`${tag} ${policy}: listening on ${opt.host}:${address.port} ` +
                `(pid ${process.pid}); workers ${pids}`);
  });

  cluster.on('exit', (w, code, signal) => {
    if (stopping)
      return;
    console.error(`${tag} worker ${w.process.pid} died (${signal || code}); giving up`);
    process.exit(1);
  });

  // EOF on stdin: collect every worker's counts, print them in order, stop.
  process.stdin.on('data', () => {});
  process.stdin.on('end', () => {
    const counts = new Map();
    for (const w of workers) {
      w.on('message', (m) => {
        if (m.counts === undefined)
          return;
        counts.set(w, m.counts);
        if (counts.size < workers.length)
          return;
        stopping = true;
        for (const x of workers) {
          const c = counts.get(x);
          console.log(`${tag} worker ${x.process.pid}: accepts ${c.accepts} ` +
                      `served ${c.served} naps ${c.naps}`);
        }
        let left = workers.length;
        for (const x of workers) {
          x.process.once('exit', () => { if (--left === 0) process.exit(0); });
          x.process.kill('SIGTERM');
        }
      });
      w.send('counts');
    }
  });
}

function worker() {
  const index = Number(process.env.HERD_WORKER);
  const stallMs = index === 0 ? opt.stall : 0;
  const counts = { accepts: 0, served: 0, naps: 0 };
  // Atomics.wait blocks this thread as nanosleep() blocks a C worker: the
  // event loop does not run meanwhile, and the kernel sees one sleep, which
  // the driver leaves out of the wakeups (naps).
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const reply = `served by worker ${process.pid}\n`;

  const server = net.createServer((socket) => {
    counts.accepts++;
    if (stallMs > 0) {
      counts.naps++;
      Atomics.wait(nap, 0, 0, stallMs);
    }
    socket.on('error', () => {}); // the client went away: nothing to do
    // Write the line and close, as the C worker's write() and close() do;
    // without destroy() the socket would wait for the client's FIN.
    socket.end(reply, () => {
      counts.served++;
      socket.destroy();
    });
  });
  server.listen({ host: opt.host, port: opt.port });

  process.on('message', (m) => {
    if (m === 'counts')
      process.send({ counts });
  });
}
