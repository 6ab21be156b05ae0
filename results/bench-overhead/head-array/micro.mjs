// Paired micro-measurement of the response head: object (before) vs flat list (after),
// each built from undici's parsed headers and handed to a fresh ServerResponse's writeHead.
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);
const parsed = () => ({ 'content-type': 'application/json', 'content-length': '26', date: 'Sat, 05 Dec 2026 21:05:40 GMT', connection: 'keep-alive', 'keep-alive': 'timeout=120' });
function asObject(headers, id) { const out = {}; for (const n in headers) { if (hopByHop.has(n)) continue; const v = headers[n]; if (v !== undefined) out[n] = v; } out['x-warmroute-worker'] = id; return out; }
function asList(headers, id) { const out = []; for (const n in headers) { if (hopByHop.has(n) || n === 'x-warmroute-worker') continue; const v = headers[n]; if (v !== undefined) out.push(n, v); } out.push('x-warmroute-worker', id); return out; }
const req = new IncomingMessage(new Socket());
function run(build, n) { const t0 = process.hrtime.bigint(); let len = 0; for (let i = 0; i < n; i++) { const res = new ServerResponse(req); res.writeHead(200, build(parsed(), '127.0.0.1:9001')); len += res._header.length; } return [Number(process.hrtime.bigint() - t0) / n, len]; }
const N = 200000;
for (let i = 0; i < 3; i++) { run(asObject, N); run(asList, N); }
const rows = [];
for (let r = 0; r < 10; r++) { const [a, la] = run(asObject, N); const [b, lb] = run(asList, N); if (la !== lb) throw new Error('heads differ in length'); rows.push([a, b]); }
const med = (xs) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
console.log(`per response (ServerResponse + writeHead): object ${med(rows.map((r) => r[0])).toFixed(0)} ns, flat list ${med(rows.map((r) => r[1])).toFixed(0)} ns (medians of 10 alternated rounds of ${N}); paired ratio median ${med(rows.map((r) => r[1] / r[0])).toFixed(3)}`);
