// The olscheduler ring's 10,000-worker start-up (create + addedMany of pkg-aware with ring "olscheduler", on
// workers as bench:picks makes them), timed in fresh processes as bench:picks times it (the first build of the
// process, CPU time), two builds alternated: A, B, B, A, A, B, ... Prints each process's time and each build's
// median. One process's measurement: node startup.mjs --one ROOT.
//
// usage: node results/bench-picks/ring-digest/startup.mjs ROOT_A ROOT_B [pairs=10]
//   ROOT: a checkout built with npx tsc -p tsconfig.json
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
if (args[0] === '--one') {
  const root = args[1];
  if (root === undefined) {
    process.stderr.write('usage: node results/bench-picks/ring-digest/startup.mjs --one ROOT\n');
    process.exit(2);
  }
  const { createBalancer } = await import(`${root}/dist/balancers/index.js`);
  const workers = Array.from({ length: 10_000 }, (_, i) => ({ index: i, id: `worker${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, weight: 1 + (i % 3 === 0 ? 1 : 0), limit: 8, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set(), cores: 0 }));
  const before = process.cpuUsage();
  createBalancer('pkg-aware', { loadThreshold: 3, ring: 'olscheduler' }, { random: Math.random, now: () => 0 }).addedMany?.(workers);
  const used = process.cpuUsage(before);
  console.log(((used.user + used.system) / 1000).toFixed(1));
} else {
  const [a, b] = args;
  const pairs = Number(args[2] ?? 10);
  if (a === undefined || b === undefined || !(Number.isInteger(pairs) && pairs > 0)) {
    process.stderr.write('usage: node results/bench-picks/ring-digest/startup.mjs ROOT_A ROOT_B [pairs]\n');
    process.exit(2);
  }
  const self = fileURLToPath(import.meta.url);
  const times = { A: [], B: [] };
  for (let i = 0; i < pairs; i++) {
    for (const k of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
      const root = k === 'A' ? a : b;
      let ms;
      try {
        ms = Number(execFileSync(process.execPath, [self, '--one', root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim());
      } catch (err) {
        process.stderr.write(`startup: the build in ${root} could not be timed (is it a checkout built into ${root}/dist?): ${String(err.stderr ?? err.message).split('\n').find((l) => l.includes('Error')) ?? 'failed'}\n`);
        process.exit(2);
      }
      times[k].push(ms);
      console.log(`${k} ${ms.toFixed(1)} ms`);
    }
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
  for (const k of ['A', 'B']) console.log(`${k}: median ${median(times[k]).toFixed(1)} ms, range ${Math.min(...times[k]).toFixed(1)} to ${Math.max(...times[k]).toFixed(1)} ms, within 500 ms in ${times[k].filter((x) => x < 500).length} of ${pairs}`);
}
