// cost-aware's decisions under reports, for comparing two builds: a seeded stream of the bench's kind (bench-stream.mjs's
// workers and functions) in which the table adds each routed function's packages to its worker's set, as the proxy's
// table does, and every 50 requests a random worker reports: a new set holding what its set had (the packages routed
// there included), less a random third (evictions). Prints, per worker count, a hash of every pick and the
// package lifetime the policy learned from the reports (describe()), so two builds can be compared line by line.
//
// usage: node results/bench-picks/held-table/trace.mjs ROOT   (ROOT: a checkout built with npx tsc -p tsconfig.json)
const root = process.argv[2];
if (root === undefined) {
  process.stderr.write('usage: node results/bench-picks/held-table/trace.mjs ROOT\n');
  process.exit(2);
}
const policies = await import(`${root}/dist/balancers/index.js`);
const { seededRandom } = await import(`${root}/dist/balancers/seeded-random.js`);

for (const size of [50, 1000]) {
  const workers = Array.from({ length: size }, (_, i) => ({ index: i, id: `worker${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 + (i % 3 === 0 ? 1 : 0), limit: 8, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set(), cores: 0 }));
  const functions = Array.from({ length: 200 }, (_, i) => ({ name: `hdl${i}`, packages: [`level${i % 4}pkg${1000 + i}`, `level${(i + 1) % 4}pkg${i % 37}`, 'six'] }));
  const clock = { ms: 0 };
  const balancer = policies.createBalancer('cost-aware', { packageTtlMs: 2000 }, { random: seededRandom(7), now: () => clock.ms });
  balancer.addedMany(workers);
  const rnd = seededRandom(size + 1);
  const open = [];
  let hash = 0;
  for (let i = 0; i < 200 * size; i++) {
    if (open.length >= size * 4) {
      const k = Math.floor(rnd() * open.length);
      const { w, fn } = open[k];
      open[k] = open[open.length - 1];
      open.pop();
      w.inFlight--;
      balancer.dropped(w, fn);
    }
    if (i % 50 === 0) {
      const w = workers[Math.floor(rnd() * size)];
      const next = new Set();
      for (const p of w.packages) if (rnd() > 1 / 3) next.add(p);
      w.packages = next;
    }
    const fn = functions[Math.floor(rnd() * functions.length)];
    const w = balancer.pick(fn, workers);
    hash = (hash * 31 + w.index) | 0;
    clock.ms += 1;
    for (const p of fn.packages) w.packages.add(p);
    w.inFlight++;
    balancer.taken(w, fn);
    open.push({ w, fn });
  }
  const d = balancer.describe();
  console.log(`${size} workers: picks hash ${hash}, package TTL ${d.packageTtlMs} ms from ${d.packageTtlObservations} observations`);
}
