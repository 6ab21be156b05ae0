// A seeded request stream of the bench's kind, for the scripts of these results folders that time or profile
// one build or two: as bench/picks.ts routes, workers with 8 connections each (every third of weight 2), 200
// functions drawn uniformly, 60% of all connections busy once the pool is at its steady load, a random open
// request finishing before each new one, the policy's clock moving 0.05 ms per routed request. Not the bench's
// own sequence: the open request that finishes is drawn from its own list, kept otherwise than the bench's.
//
// benchStream(root, size, policy): `root` a checkout built with npx tsc -p tsconfig.json; returns
// { route(n), hash }: `hash` folds every pick's worker index, so two builds' picks can be compared.
const LIMIT = 8;
const BUSY_SHARE = 0.6;
const STEP_MS = 0.05;

export async function benchStream(root, size, policy = 'cost-aware') {
  const policies = await import(`${root}/dist/balancers/index.js`);
  const random = await import(`${root}/dist/balancers/seeded-random.js`);
  const workers = Array.from({ length: size }, (_, i) => ({ index: i, id: `worker${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 + (i % 3 === 0 ? 1 : 0), limit: LIMIT, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set(), cores: 0 }));
  const functions = Array.from({ length: 200 }, (_, i) => ({ name: `hdl${i}`, packages: [`level${i % 4}pkg${1000 + i}`, `level${(i + 1) % 4}pkg${i % 37}`, 'six'] }));
  const clock = { ms: 0 };
  const balancer = policies.createBalancer(policy, { balanceFactor: 1.25, loadThreshold: 3 }, { random: random.seededRandom(7), now: () => clock.ms });
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

