// How many installs a cluster of N workers needs when every function runs on
// its key's home and nowhere else (no spill at all): the sum over workers of the
// distinct packages of the functions homed there. The compulsory-install bound
// of the simulator pools every worker into one, so it installs each package
// once; with N separate disks a package needed by functions of different homes
// is installed on each of them, however well a policy routes.
//
// Exact, over every assignment of the registry's routing keys (each function's
// first package) to the N workers, each equally likely: no sampling.
//
//   node results/home-installs.mjs [REGISTRY] [WORKERS]
//   (defaults: pipbench/data/olscheduler-eval/registry_100_5.json, 5)

import { readFileSync } from 'node:fs';

const registryPath = process.argv[2] ?? 'pipbench/data/olscheduler-eval/registry_100_5.json';
const workers = Number(process.argv[3] ?? 5);
if (!Number.isInteger(workers) || workers < 1 || workers > 16) {
  console.error(`WORKERS must be a whole number from 1 to 16, got "${process.argv[3]}"`);
  process.exit(2);
}
let entries;
try {
  entries = JSON.parse(readFileSync(registryPath, 'utf8'));
} catch (err) {
  console.error(`${registryPath}: ${err.code === 'ENOENT' ? 'no such file' : `not a JSON registry (${err.message})`}`);
  process.exit(2);
}
if (!Array.isArray(entries) || !entries.every((e) => e !== null && typeof e === 'object' && Array.isArray(e.pkgs) && e.pkgs.every((p) => typeof p === 'string'))) {
  console.error(`${registryPath}: not an olscheduler registry (a JSON array of {"handle", "pkgs": [names]})`);
  process.exit(2);
}

// Package sets per routing key, as bit sets over the registry's distinct packages.
const index = new Map();
for (const e of entries) for (const p of e.pkgs) if (!index.has(p)) index.set(p, index.size);
const words = Math.ceil(index.size / 32);
const byKey = new Map();
for (const e of entries) {
  if (e.pkgs.length === 0) continue;
  const key = e.pkgs[0];
  let bits = byKey.get(key);
  if (bits === undefined) byKey.set(key, (bits = new Uint32Array(words)));
  for (const p of e.pkgs) {
    const i = index.get(p);
    bits[i >>> 5] |= 1 << (i & 31);
  }
}
const keys = [...byKey.values()];
const assignments = workers ** keys.length;
if (assignments > 5e7) {
  console.error(`${keys.length} keys over ${workers} workers is ${assignments} assignments: too many to enumerate`);
  process.exit(2);
}

function popcount(x) {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

const counts = new Map();
const homes = new Array(keys.length).fill(0);
const disk = Array.from({ length: workers }, () => new Uint32Array(words));
for (let a = 0; a < assignments; a++) {
  for (const d of disk) d.fill(0);
  for (let k = 0; k < keys.length; k++) {
    const d = disk[homes[k]];
    const bits = keys[k];
    for (let i = 0; i < words; i++) d[i] |= bits[i];
  }
  let installs = 0;
  for (const d of disk) for (let i = 0; i < words; i++) installs += popcount(d[i]);
  counts.set(installs, (counts.get(installs) ?? 0) + 1);
  // Next assignment: count in base `workers`.
  for (let k = 0; k < keys.length; k++) {
    if (++homes[k] < workers) break;
    homes[k] = 0;
  }
}

const sorted = [...counts.entries()].sort((x, y) => x[0] - y[0]);
const quantile = (q) => {
  let seen = 0;
  for (const [installs, n] of sorted) {
    seen += n;
    if (seen >= q * assignments) return installs;
  }
  return sorted[sorted.length - 1][0];
};
let sum = 0;
for (const [installs, n] of sorted) sum += installs * n;
console.log(`registry ${registryPath}: ${entries.length} functions, ${index.size} distinct packages, ${keys.length} routing keys, ${workers} workers`);
console.log(`pooled (one worker): ${index.size} installs`);
console.log(`every function on its key's home, over all ${assignments} assignments: mean ${(sum / assignments).toFixed(1)}, min ${sorted[0][0]}, p10 ${quantile(0.1)}, median ${quantile(0.5)}, p90 ${quantile(0.9)}, max ${sorted[sorted.length - 1][0]}`);
