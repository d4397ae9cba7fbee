// interop-echo.js: a Node master that checks the C worker byte for byte.
//
//   node tests/interop-echo.js echo        (run by tests/test_interop.c)
//   node tests/interop-echo.js surrogate
//   node tests/interop-echo.js oversized
//   node tests/interop-echo.js losses
//
// echo: start ./ipc-worker with the channel on fd 3 as a raw socket (no
// Node IPC on our side, so that we see the bytes the worker writes) and
// send values chosen to be hard for a JSON codec (escapes, U+2028,
// surrogate pairs, NUL, extreme numbers like 1e21 that V8 writes as
// 1e+21, deep nesting, a 600 KiB string that needs many reads), each as
// JSON.stringify(value) + '\n', as Node's channel does. Each reply line
// must be byte for byte JSON.stringify({name, pid, echo: value}): the C
// parser AND the C serializer agree with V8's, down to how a number is
// spelled, which comparing parsed values could not show.
// surrogate: JSON.stringify writes a lone surrogate as "\ud800"; the strict
// C parser drops that message with a report and answers the next one.
// oversized: a message over 1 MiB makes the worker hang up; Node sees the
// disconnect and the worker's exit code 1.
// losses: what the default (JSON) serialization does to a JS object on its
// way to any child: undefined and functions vanish, a Date becomes a string,
// NaN becomes null, a Map becomes {}; a BigInt or a cycle makes send() throw.
// The C worker echoes what it received, so the echo is what arrived.
'use strict';
const { fork, spawn } = require('child_process');
const path = require('path');
const assert = require('assert');

const mode = process.argv[2] || 'echo';
const workerPath = path.join(__dirname, '..', 'ipc-worker');
const tag = `[master ${process.pid}]`;

const deep = [];
let d = deep;
for (let i = 0; i < 40; i++) { const n = []; d.push(i, n); d = n; }
const values = {
  echo: [
    'some msg', 'line\nbreak\r\n', 'tab\t"quote"\\ /slash', '\u2028\u2029', '\u0000\u001f\u007f',
    '😀 你好 é', '', 0, -0, 1, -1.5, 0.1, 1e21, 1e-7, 123456789012345680000, 5e-324,
    1.7976931348623157e308, 2 ** 53, true, false, null, [], {}, { a: undefined, b: 1 },
    new Date(0), { nested: { k: [1, [2, [3, { x: 'y' }]]] } }, deep, 'x'.repeat(600 * 1024),
  ],
  surrogate: ['\ud800', 'after'],
  oversized: ['y'.repeat(1024 * 1024 + 10)],
}[mode];

// The worker logs every message it gets and every reply: for the 600 KiB
// string, two lines of 600 KiB. Show its lines cut at 100 characters (with
// their length), and keep them whole in FILE. Returns FILE.
function relayShort(child, file) {
  const fs = require('fs');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const out = fs.createWriteStream(file);
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      out.write(chunk);
      const lines = (rest + chunk).split('\n');
      rest = lines.pop();
      for (const l of lines)
        console.log(l.length <= 100 ? l : `${l.slice(0, 70)}... (${l.length} characters)`);
    });
    stream.on('end', () => { if (rest !== '') console.log(rest.slice(0, 100)); });
  }
  return file;
}

if (mode === 'echo') {
  // The channel by hand: a socketpair whose far end is the worker's fd 3,
  // and the variable that names it, as fork() would set them.
  const child = spawn(workerPath, ['Echo'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, NODE_CHANNEL_FD: '3', NODE_CHANNEL_SERIALIZATION_MODE: 'json' },
  });
  const log = relayShort(child, path.join(__dirname, '..', 'build', 'interop-echo-worker.log'));
  const chan = child.stdio[3];
  let buf = Buffer.alloc(0);
  let got = 0;
  chan.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    let nl;
    while ((nl = buf.indexOf(10)) !== -1) {
      const line = buf.subarray(0, nl).toString('utf8');
      buf = buf.subarray(nl + 1);
      const want = JSON.stringify({ name: 'Echo', pid: child.pid, echo: values[got] });
      if (line !== want) {
        const at = [...line].findIndex((c, i) => c !== want[i]);
        console.log(`${tag} reply ${got} differs from JSON.stringify at char ${at}:`);
        console.log(`  C:  ${line.slice(Math.max(0, at - 20), at + 40)}`);
        console.log(`  V8: ${want.slice(Math.max(0, at - 20), at + 40)}`);
        process.exit(1);
      }
      got++;
      if (got === values.length) {
        console.log(`${tag} ${got} reply lines byte-identical to JSON.stringify`);
        chan.end();
      }
    }
  });
  child.on('close', (code) => {
    console.log(`${tag} the worker's own lines in full: ${log}`);
    console.log(`${tag} worker exited with code ${code} after ${got} replies`);
    process.exitCode = code === 0 && got === values.length ? 0 : 1;
  });
  for (const v of values) chan.write(JSON.stringify(v) + '\n');
  return;
}

const worker = fork('Echo', [], { execPath: workerPath });

if (mode === 'losses') {
  const sent = { u: undefined, d: new Date(0), f: () => 1, n: NaN, m: new Map([[1, 2]]) };
  const thrown = [];
  for (const [what, v] of [['a BigInt', { b: 1n }], ['a cycle', (() => { const o = {}; o.self = o; return o; })()]]) {
    try {
      worker.send(v);
      thrown.push(`${what}: sent (?)`);
    } catch (e) {
      thrown.push(`${what}: ${e.name}: ${e.message.split('\n')[0]}`);
    }
  }
  worker.send(sent);
  worker.on('message', (msg) => {
    console.log(`${tag} sent {u: undefined, d: new Date(0), f: () => 1, n: NaN, m: new Map([[1, 2]])}`);
    console.log(`${tag} the C worker received ${JSON.stringify(msg.echo)}`);
    for (const t of thrown) console.log(`${tag} send() with ${t}`);
    assert.deepStrictEqual(msg.echo, { d: '1970-01-01T00:00:00.000Z', n: null, m: {} });
    worker.disconnect();
  });
  worker.on('exit', (code) => {
    console.log(`${tag} worker exited with code ${code}`);
    process.exitCode = code === 0 && thrown.every((t) => t.includes('TypeError')) ? 0 : 1;
  });
  return;
}

let got = 0;
const expected = mode === 'surrogate' ? 1 : values.length;
worker.on('message', (msg) => {
  const i = mode === 'surrogate' ? 1 : got;
  assert.strictEqual(JSON.stringify(msg.echo), JSON.stringify(values[i]));
  assert.strictEqual(msg.pid, worker.pid);
  got++;
  if (got === expected) {
    console.log(`${tag} ${got} echoes identical to what JSON.stringify sent`);
    worker.disconnect();
  }
});
worker.on('disconnect', () => console.log(`${tag} channel disconnected`));
worker.on('exit', (code) => {
  console.log(`${tag} worker exited with code ${code} after ${got} replies`);
  const ok = mode === 'oversized' ? code === 1 && got === 0 : code === 0 && got === expected;
  process.exitCode = ok ? 0 : 1;
});
for (const v of values) worker.send(v);
