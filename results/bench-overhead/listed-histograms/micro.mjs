// Paired micro-measurement of the two histogram observations per request (wait, and duration by worker):
// prom-client's Histogram (before) against ListedHistogram's series (after), alternating in one process.
// Run from the project root after a build: nice -n -10 node results/bench-overhead/listed-histograms/micro.mjs
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const { Histogram, Registry } = (await import(pathToFileURL(resolve('node_modules/prom-client/index.js')).href)).default;
const { ListedHistogram } = await import(pathToFileURL(resolve('dist/src/worker-series.js')).href);
const { DURATION_BUCKETS } = await import(pathToFileURL(resolve('dist/src/metrics.js')).href);
const r = new Registry();
const wait = new Histogram({ name: 'w1', help: 'h', buckets: DURATION_BUCKETS, registers: [r] });
const child = new Histogram({ name: 'd1', help: 'h', labelNames: ['worker'], buckets: DURATION_BUCKETS, registers: [r] }).labels('127.0.0.1:9001');
const wait2 = new ListedHistogram({ name: 'w2', help: 'h', buckets: DURATION_BUCKETS, registers: [r] }).seriesFor({});
const child2 = new ListedHistogram({ name: 'd2', help: 'h', labelNames: ['worker'], buckets: DURATION_BUCKETS, registers: [r] }).seriesFor({ worker: '127.0.0.1:9001' });
const values = Float64Array.from({ length: 1024 }, (_, i) => (i % 7) * 0.0004 + 0.0001);
function run(w, d, n) { const t0 = process.hrtime.bigint(); for (let i = 0; i < n; i++) { w.observe(0); d.observe(values[i & 1023]); } return Number(process.hrtime.bigint() - t0) / n; }
const N = 500000;
for (let i = 0; i < 3; i++) { run(wait, child, N); run(wait2, child2, N); }
const rows = [];
for (let k = 0; k < 10; k++) rows.push([run(wait, child, N), run(wait2, child2, N)]);
const med = (xs) => xs.slice().sort((x, y) => x - y)[xs.length >> 1];
console.log(`per request (two observations): prom-client ${med(rows.map((x) => x[0])).toFixed(0)} ns, ListedHistogram ${med(rows.map((x) => x[1])).toFixed(0)} ns (medians of 10 alternated rounds of ${N})`);
