// Bytes a cost-aware pick allocates, in the bench's seeded stream at 1,000 workers (as bench/picks.ts and
// ../record-layout/pair.mjs route it): after the bench's warm-up (200 requests per worker), V8's sampling
// heap profiler, told to keep objects that minor and major GCs collected, records 200,000 routed requests;
// the bytes sampled in frames under the policy's pick, per pick. Sampling: one sample per 256 bytes.
//
// usage: ROOT=DIR node allocation.mjs   (DIR: a checkout built with npx tsc -p tsconfig.json)
import { Session } from 'node:inspector/promises';

const root = process.env.ROOT;
if (root === undefined || root === '') {
  process.stderr.write('allocation.mjs: set ROOT to the checkout to measure (built into its dist/)\n');
  process.exit(2);
}
const policies = await import(`${root}/dist/balancers/index.js`);
const { seededRandom } = await import(`${root}/dist/balancers/seeded-random.js`);
const size = 1000;
const workers = Array.from({ length: size }, (_, i) => ({ index: i, id: `worker${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 + (i % 3 === 0 ? 1 : 0), limit: 8, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set(), cores: 0 }));
const functions = Array.from({ length: 200 }, (_, i) => ({ name: `hdl${i}`, packages: [`level${i % 4}pkg${1000 + i}`, `level${(i + 1) % 4}pkg${i % 37}`, 'six'] }));
const clock = { ms: 0 };
const balancer = policies.createBalancer('cost-aware', { balanceFactor: 1.25, loadThreshold: 3 }, { random: seededRandom(7), now: () => clock.ms });
balancer.addedMany(workers);
const rnd = seededRandom(size);
const steady = Math.round(size * 8 * 0.6);
const open = [];
const lines = workers.map(() => ({ running: [], queued: [] }));
function route(n) {
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
    clock.ms += 0.05;
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
}
route(200 * size);
const requests = 200_000;
const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
route(requests);
const { profile } = await session.post('HeapProfiler.stopSampling');
let underPick = 0;
let all = 0;
const byFrame = new Map();
(function walk(node, inPick, path) {
  const name = node.callFrame.functionName;
  const here = inPick || name === 'pick';
  const label = here ? `${path} > ${name}` : '';
  all += node.selfSize;
  if (here) {
    underPick += node.selfSize;
    if (node.selfSize > 0) byFrame.set(label, (byFrame.get(label) ?? 0) + node.selfSize);
  }
  for (const child of node.children) walk(child, here, here ? label : '');
})(profile.head, false, '');
console.log(`${root}: ${(underPick / requests).toFixed(0)} bytes per pick (of ${(all / requests).toFixed(0)} bytes per routed request)`);
for (const [frame, bytes] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`  ${(bytes / requests).toFixed(0).padStart(4)} B  ${frame.replace(/^ > /, '')}`);
