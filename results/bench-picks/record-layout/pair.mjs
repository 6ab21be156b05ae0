// Two builds of a policy, paired in one process: each routes the same seeded request stream as
// bench/picks.ts does (pick, taken or a wait in the picked worker's queue, a random open request
// finishing before each new one once the pool is at its steady load), their timed batches alternating
// (A then B, then B then A) so that a change in the machine's state falls on both alike. Prints each
// build's median CPU ns per routed request (pick, taken and dropped) and the median of the paired
// differences B - A, and whether the two made the same picks.
//
// usage: A=DIR B=DIR node pair.mjs [workers=1000] [batches=30] [requests-per-batch=20000]
//   DIR: a checkout with its build in DIR/dist (npx tsc -p tsconfig.json). POLICY=name (default cost-aware).

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
const LIMIT = 8;
const BUSY_SHARE = 0.6;
const STEP_MS = 0.05;

function system(policies, random) {
  const workers = Array.from({ length: size }, (_, i) => ({ index: i, id: `worker${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 + (i % 3 === 0 ? 1 : 0), limit: LIMIT, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set(), cores: 0 }));
  const functions = Array.from({ length: 200 }, (_, i) => ({ name: `hdl${i}`, packages: [`level${i % 4}pkg${1000 + i}`, `level${(i + 1) % 4}pkg${i % 37}`, 'six'] }));
  const clock = { ms: 0 };
  const balancer = policies.createBalancer(process.env.POLICY ?? 'cost-aware', { balanceFactor: 1.25, loadThreshold: 3 }, { random: random.seededRandom(7), now: () => clock.ms });
  balancer.addedMany(workers);
  const rnd = random.seededRandom(size);
  const steady = Math.round(size * LIMIT * BUSY_SHARE);
  const open = [];
  const lines = workers.map(() => ({ running: [], queued: [] }));
  let hash = 0;
  return {
    get hash() {
      return hash;
    },
    route(n) {
      for (let i = 0; i < n; i++) {
        if (open.length >= steady) {
          const k = Math.floor(rnd() * open.length);
          const w = open[k];
          open[k] = open[open.length - 1];
          open.pop();
          const line = lines[w.index];
          w.inFlight--;
          balancer.dropped(w, line.running.shift());
          const next = line.queued.shift();
          if (next !== undefined) {
            w.queued--;
            w.inFlight++;
            line.running.push(next);
            balancer.taken(w, next);
          }
        }
        const fn = functions[Math.floor(rnd() * functions.length)];
        const w = balancer.pick(fn, workers);
        hash = (hash * 31 + w.index) | 0;
        clock.ms += STEP_MS;
        const line = lines[w.index];
        if (w.inFlight < w.limit) {
          w.inFlight++;
          line.running.push(fn);
          balancer.taken(w, fn);
        } else {
          w.queued++;
          line.queued.push(fn);
        }
        open.push(w);
      }
    },
  };
}

const systems = [];
for (const root of roots) systems.push(system(await import(`${root}/dist/balancers/index.js`), await import(`${root}/dist/balancers/seeded-random.js`)));
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
