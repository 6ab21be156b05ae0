// What holds the proxy's memory at 10,000 workers: the proxy's parts composed in this process (no
// HTTP listener), one worker, then --workers unreachable ones added through the control plane as the
// admin API adds them, polled for --poll-sec, then removed. After a full collection at each point:
// RSS, V8 heap used, external memory; at 10,000 workers also a heap snapshot's self sizes by kind of
// object. Run: npm run bench:scale-heap   (node --expose-gc dist/bench/scale-heap.js --help)
// Writes <out>/heap.md and <out>/heap.json.

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import pino from 'pino';
import { parseFlags, parseNumberFlag, UsageError } from '../pipbench/commands/support.js';
import { composeProxy } from '../src/app.js';
import { loadConfig, parseWorkers } from '../src/config.js';
import { readBenchSettings, runBenchmark, tempFolder } from './children.js';
import { snapshotKinds, type Kind } from './heap-kinds.js';

const REPRODUCE = 'npm run bench:scale-heap   # = npx tsc -p tsconfig.json && node --expose-gc dist/bench/scale-heap.js';

const usage = `usage: node --expose-gc dist/bench/scale-heap.js [flags]

Composes warmroute's parts in this process (pkg-aware, default polling) with one worker, adds
--workers unreachable ones (127.0.0.2, refused) as the admin API does, polls them, removes them,
and reports memory after a full collection at each point, with a heap snapshot's breakdown at
--workers workers.

  --workers N      unreachable workers to add (default 10000)
  --poll-sec N     seconds of polling before the snapshot (default 45)
  --out DIR        where heap.md and heap.json go (default results/bench-scale)
  --help           this text
`;

interface Memory { rssMiB: number; heapUsedMiB: number; externalMiB: number; arrayBuffersMiB: number }

function memory(): Memory {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), externalMiB: mib(m.external), arrayBuffersMiB: mib(m.arrayBuffers) };
}

/** Writes a heap snapshot of this process and summarises it by kind of object. */
async function heapKinds(dir: string): Promise<Kind[]> {
  const file = writeHeapSnapshot(join(dir, 'scale.heapsnapshot'));
  try {
    return await snapshotKinds(file);
  } finally {
    await rm(file, { force: true });
  }
}

async function main(argv: string[]): Promise<number> {
  const read = readBenchSettings('bench:scale-heap', usage, () => {
    const values = parseFlags(argv, { workers: { type: 'string' }, 'poll-sec': { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' } });
    if (values.help) return 'help';
    if ((globalThis as { gc?: () => void }).gc === undefined) throw new UsageError('run with node --expose-gc (npm run bench:scale-heap does)');
    return {
      workers: parseNumberFlag('workers', values.workers, { integer: true, min: 1, max: 50_000 }) ?? 10_000,
      pollSec: parseNumberFlag('poll-sec', values['poll-sec'], { integer: true, min: 0, max: 3600 }) ?? 45,
      out: values.out ?? 'results/bench-scale',
    };
  }, { usageAfterError: true });
  if (typeof read === 'number') return read;
  const { workers, pollSec, out } = read;
  const dir = tempFolder('scale-heap');
  try {
    const config = loadConfig({ values: { balancer: 'pkg-aware', workers: [{ id: 'live', url: 'http://127.0.0.1:9' }] }, source: 'bench' });
    const proxy = await composeProxy(config, { logger: pino({ level: 'warn' }) });
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
    await sleep(1000);
    const one = memory();
    const specs = parseWorkers(Array.from({ length: workers }, (_, i) => ({ id: `dead-${i}`, url: `http://127.0.0.2:${20_000 + (i % 40_000)}` })));
    await proxy.plane.prepareWorkers(specs);
    proxy.plane.addWorkers(specs, 'admin');
    const added = memory();
    await sleep(pollSec * 1000);
    const polled = memory();
    const kinds = await heapKinds(dir);
    proxy.plane.removeWorkers(specs.map((s) => s.id));
    await sleep(3000);
    const removed = memory();
    await proxy.plane.abort();
    const result = { command: REPRODUCE + (argv.length > 0 ? ` -- ${argv.join(' ')}` : ''), machine: { cpus: cpus().length, loadAvg: loadavg().map((x) => Math.round(x * 10) / 10) }, workers, pollSec, one, added, polled, removed, kinds: kinds.slice(0, 25) };
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'heap.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(join(out, 'heap.md'), report(result));
    process.stdout.write(report(result));
    return 0;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function report(x: { command: string; machine: { cpus: number; loadAvg: number[] }; workers: number; pollSec: number; one: Memory; added: Memory; polled: Memory; removed: Memory; kinds: Kind[] }): string {
  const n = x.workers.toLocaleString('en');
  const row = (when: string, m: Memory): string => `| ${when} | ${m.rssMiB} MiB | ${m.heapUsedMiB} MiB | ${m.externalMiB} MiB | ${m.arrayBuffersMiB} MiB |`;
  return `# Memory at ${n} workers, and what holds it

Command: \`${x.command}\`
Machine: ${x.machine.cpus} CPUs, load average at the end ${x.machine.loadAvg.join(' / ')}.
The proxy's parts composed in one process (pkg-aware, default polling, no listener); each row after a full collection.

| when | RSS | V8 heap used | external | of which ArrayBuffers |
| --- | ---: | ---: | ---: | ---: |
${row('1 worker', x.one)}
${row(`${n} workers added`, x.added)}
${row(`${n} workers, polled ${x.pollSec} s`, x.polled)}
${row(`${n} removed (3 s later; RSS includes the snapshot's parse)`, x.removed)}

## The heap at ${n} workers, by kind of object (self sizes, largest 25)

| kind | objects | MiB |
| --- | ---: | ---: |
${x.kinds.map((k) => `| ${k.kind === '' ? '(unnamed)' : k.kind.replace(/\|/g, '\\|')} | ${k.count} | ${k.MiB} |`).join('\n')}
`;
}

runBenchmark('scale-heap', main);
