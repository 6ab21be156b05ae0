// Cold against warm on the process engine, and what a CPU quota of 0.5 does to
// a CPU-bound import. Run from the project root after `npm run build`:
//   node results/process-worker/measure.mjs [REPEATS]
// It writes a tiny repository into a temporary folder with pipbench's own
// wheel writer, starts real process workers on it, prints a Markdown report,
// and removes everything it made.
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHandlers, writePackageRepository } from '../../dist/pipbench/generate/wheels.js';
import { startProcessWorker } from '../../dist/pipbench/process-engine/index.js';

const repeats = Number(process.argv[2] ?? 5);
const MIB = 2 ** 20;
const pkg = (name, deps, importMs) => ({
  name, level: deps.length > 0 ? 1 : 0, deps, popularity: 1,
  compressedBytes: 64 * 1024, bytes: 192 * 1024, installMs: 300, importMs, importMem: 2 * MIB,
});
// Three packages of a few hundred ms of import CPU, one depending on another; and one CPU-bound import of 1 s.
const packages = [pkg('numlike', [], 200), pkg('framework', ['numlike'], 300), pkg('utils', [], 100), pkg('heavy', [], 1000)];
const registry = [
  { handle: 'app', pkgs: ['framework', 'numlike', 'utils'] },
  { handle: 'burn', pkgs: ['heavy'] },
];
const workload = { registry: new Map(registry.map((e) => [e.handle, e.pkgs])), packages: new Map(packages.map((p) => [p.name, p])), handlers: ['app', 'burn'] };

const dir = await mkdtemp(join(tmpdir(), 'warmroute-measure-'));
try {
  await writePackageRepository(packages, join(dir, 'repo'), { sizeScale: 1, costScale: 1, seed: 1 });
  await writeHandlers(registry, join(dir, 'handlers'), packages);
  const base = { workload, repo: join(dir, 'repo'), handlers: join(dir, 'handlers'), importCacheBytes: 256 * MIB };
  const call = async (worker, handler) => {
    const started = performance.now();
    const res = await fetch(`${worker.url}/runLambda/${handler}`, { method: 'POST', body: '{"name": "Alice"}' });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`${handler}: ${res.status} ${JSON.stringify(body)}`);
    return { clientMs: performance.now() - started, ...body };
  };
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fmt = (x) => x.toFixed(1);

  console.log(`## Cold against warm (handler \`app\`: 3 packages, one a dependency of another; ${repeats} fresh workers)\n`);
  console.log('| run | cold ms (install, start, import, run) | warm ms, median of 5 | cold / warm |');
  console.log('| --- | --- | --- | --- |');
  const ratios = [];
  for (let r = 1; r <= repeats; r++) {
    const worker = await startProcessWorker({ ...base, cache: join(dir, `cache-${r}`) });
    try {
      const cold = await call(worker, 'app');
      const warm = [];
      for (let i = 0; i < 5; i++) warm.push((await call(worker, 'app')).clientMs);
      const ratio = cold.clientMs / median(warm);
      ratios.push(ratio);
      console.log(`| ${r} | ${fmt(cold.clientMs)} (${fmt(cold.installMs)}, ${fmt(cold.sandboxMs)}, ${fmt(cold.importMs)}, ${fmt(cold.runMs)}) | ${fmt(median(warm))} | ${ratio.toFixed(0)}x |`);
    } finally {
      await worker.close();
    }
  }
  console.log(`\nMedian cold / warm: ${median(ratios).toFixed(0)}x (lowest ${Math.min(...ratios).toFixed(0)}x).\n`);

  console.log(`## A CPU quota on a CPU-bound import (handler \`burn\`: one package burning 1000 ms of process CPU at import; ${repeats} interpreters each)\n`);
  console.log('| --cpus | import wall ms, median | import process CPU ms, median | CPU / wall | periods throttled | load average at the end |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const cpus of [undefined, 0.5, 0.25]) {
    // importCacheBytes 0: every call starts an interpreter, hence imports again.
    const worker = await startProcessWorker({ ...base, importCacheBytes: 0, cache: join(dir, `cache-burn-${cpus ?? 'none'}`), ...(cpus ? { cpus } : {}) });
    try {
      await call(worker, 'burn'); // installs; not counted
      const wall = [];
      const cpu = [];
      for (let i = 0; i < repeats; i++) {
        const r = await call(worker, 'burn');
        wall.push(r.importMs);
        cpu.push(r.importCpuMs);
      }
      // The cgroup's own count of periods in which the quota stopped its processes.
      const cgroup = worker.status().cgroup;
      const stat = cgroup ? readFileSync(join(cgroup, 'cpu.stat'), 'utf8') : '';
      const throttled = /nr_throttled (\d+)/.exec(stat)?.[1] ?? (/nr_periods/.test(stat) ? '0' : '-');
      const periods = /nr_periods (\d+)/.exec(stat)?.[1];
      console.log(`| ${cpus ?? 'none (shared cores)'} | ${fmt(median(wall))} | ${fmt(median(cpu))} | ${(median(cpu) / median(wall)).toFixed(2)} | ${periods ? `${throttled} of ${periods}` : '-'} | ${loadavg()[0].toFixed(1)} |`);
    } finally {
      await worker.close();
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
