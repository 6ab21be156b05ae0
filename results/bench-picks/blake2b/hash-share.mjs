// How much of the olscheduler ring's 10,000-worker start-up is its BLAKE2b hashing, in one process: the CPU
// time of the 100,000 points' hashes alone (olschedulerPoints), then of create + addedMany of the policy, on
// workers as bench:picks makes them; four repetitions.
// usage: node results/bench-picks/blake2b/hash-share.mjs   (from the project root, built)
import { createBalancer } from '../../../dist/balancers/index.js';
import { olschedulerPoints } from '../../../dist/balancers/olscheduler-ring.js';

const makeWorkers = (count) => Array.from({ length: count }, (_, i) => ({ index: i, id: `worker${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 + (i % 3 === 0 ? 1 : 0), limit: 8, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set(), cores: 0 }));
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
for (let r = 0; r < 4; r++) {
  let points = 0;
  let start = cpuMs();
  for (const w of makeWorkers(10_000)) olschedulerPoints(w, () => { points++; });
  const hashing = cpuMs() - start;
  const workers = makeWorkers(10_000);
  start = cpuMs();
  createBalancer('pkg-aware', { loadThreshold: 3, ring: 'olscheduler' }, { random: Math.random, now: () => 0 }).addedMany?.(workers);
  const startup = cpuMs() - start;
  console.log(`${points} points hashed in ${hashing.toFixed(0)} ms (${((hashing * 1000) / points).toFixed(2)} µs each); create + addedMany of 10,000 workers ${startup.toFixed(0)} ms`);
}
