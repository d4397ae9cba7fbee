// interop-echo.js: a Node master that checks the C worker byte for byte.
//
//   node tests/interop-echo.js echo        (run by tests/test_interop.c)
//   node tests/interop-echo.js surrogate
//   node tests/interop-echo.js oversized
//
// echo: fork ./ipc-worker and send values chosen to be hard for a JSON
// codec (escapes, U+2028, surrogate pairs, NUL, extreme numbers, deep
// nesting, a 600 KiB string that needs many reads). Each reply echoes the
// value; JSON.stringify of the echo must equal JSON.stringify of what was
// sent, so the C parser AND the C serializer agree with V8's.
// surrogate: JSON.stringify writes a lone surrogate as "\ud800"; the strict
// C parser drops that message with a report and answers the next one.
// oversized: a message over 1 MiB makes the worker hang up; Node sees the
// disconnect and the worker's exit code 1.
'use strict';
const { fork } = require('child_process');
const path = require('path');
const assert = require('assert');

const mode = process.argv[2] || 'echo';
const worker = fork('Echo', [], { execPath: path.join(__dirname, '..', 'ipc-worker') });
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
