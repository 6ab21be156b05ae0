// Paired micro-measurement of the exchange's close listener: once() then off() at the end (before)
// against on() never taken off (after), on a fresh ServerResponse that already has Node's own listeners.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
const req = new IncomingMessage(new Socket());
const timerClose = () => undefined;
function before(n) { const t0 = process.hrtime.bigint(); for (let i = 0; i < n; i++) { const res = new ServerResponse(req); const onClose = () => undefined; res.once('close', timerClose); res.once('close', onClose); res.off('close', onClose); } return Number(process.hrtime.bigint() - t0) / n; }
function after(n) { const t0 = process.hrtime.bigint(); for (let i = 0; i < n; i++) { const res = new ServerResponse(req); const onClose = () => undefined; res.on('close', timerClose); res.on('close', onClose); } return Number(process.hrtime.bigint() - t0) / n; }
const N = 200000;
for (let i = 0; i < 3; i++) { before(N); after(N); }
const rows = [];
for (let r = 0; r < 10; r++) rows.push([before(N), after(N)]);
const med = (xs) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
console.log(`per request (ServerResponse + two close listeners): once/off ${med(rows.map((r) => r[0])).toFixed(0)} ns, on ${med(rows.map((r) => r[1])).toFixed(0)} ns (medians of 10 alternated rounds of ${N}); paired ratio median ${med(rows.map((r) => r[1] / r[0])).toFixed(3)}`);
