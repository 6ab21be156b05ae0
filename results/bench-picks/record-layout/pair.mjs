// Two builds of a policy, paired in one process: each routes the same seeded request stream as
// bench/picks.ts does (pick, taken or a wait in the picked worker's queue, a random open request
// finishing before each new one once the pool is at its steady load), their timed batches alternating
// (A then B, then B then A) so that a change in the machine's state falls on both alike. Prints each
// build's median CPU ns per routed request (pick, taken and dropped) and the median of the paired
// differences B - A, and whether the two made the same picks.
//
// usage: A=DIR B=DIR node pair.mjs [workers=1000] [batches=30] [requests-per-batch=20000]
//   DIR: a checkout with its build in DIR/dist (npx tsc -p tsconfig.json). POLICY=name (default cost-aware).

import { benchStream } from '../bench-stream.mjs';

const roots = [process.env.A, process.env.B];
if (roots.some((r) => r === undefined || r === '')) {
  process.stderr.write('pair.mjs: set A and B to the two checkouts to compare (each built into its dist/)\n');
  process.exit(2);
}
const size = Number(process.argv[2] ?? 1000);
const batches = Number(process.argv[3] ?? 30);
const perBatch = Number(process.argv[4] ?? 20000);
if (![size, batches, perBatch].every((n) => Number.isInteger(n) && n > 0)) {
  process.stderr.write('pair.mjs: workers, batches and requests per batch must be whole numbers above 0\n');
  process.exit(2);
}
const systems = [];
for (const root of roots) systems.push(await benchStream(root, size, process.env.POLICY ?? 'cost-aware'));
// Warm-up as bench:picks: 200 requests per worker.
for (const s of systems) s.route(200 * size);
const cpuNs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};
const a = [];
const b = [];
const diffs = [];
for (let i = 0; i < batches; i++) {
  const t = [0, 0];
  for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
    const start = cpuNs();
    systems[k].route(perBatch);
    t[k] = (cpuNs() - start) / perBatch;
  }
  a.push(t[0]);
  b.push(t[1]);
  diffs.push(t[1] - t[0]);
}
const sorted = (x) => [...x].sort((p, q) => p - q);
const median = (x) => sorted(x)[Math.floor(x.length / 2)];
const quartiles = sorted(diffs);
console.log(
  `${size} workers: A ${median(a).toFixed(0)} ns/request, B ${median(b).toFixed(0)} ns/request, median B - A ${median(diffs).toFixed(0)} ns ` +
    `(quartiles ${quartiles[Math.floor(batches / 4)].toFixed(0)} to ${quartiles[Math.floor((3 * batches) / 4)].toFixed(0)}), same picks: ${systems[0].hash === systems[1].hash}`,
);
