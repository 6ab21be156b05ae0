// What holds the resident memory of one warmroute process, and what V8's young generation
// size costs or saves: idle, under the overhead benchmark's load, with 10,000 client
// connections, each broken down by V8 space, external memory and native memory; what each
// top-level dependency and proxy module costs at start-up; heap snapshots by kind of object;
// and a sweep of --max-semi-space-size measuring RSS and CPU per request in the same run.
// Build and run: npm run bench:memory   (node dist/bench/memory.js --help)
// Writes <out>/README.md and <out>/summary.json.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseFlags, parseNumberFlag, parseNumberListFlag, UsageError } from '../pipbench/commands/support.js';
import { burst, BURST_FUNCTION, openFileLimits, reexecWithMoreFiles } from './burst.js';
import { cpuSeconds, peakRssMiB, freePort, readBenchSettings, runBenchmark, stopChild, tempFolder } from './children.js';
import { snapshotKinds, type Kind } from './heap-kinds.js';
import { runLoad, type LoadResult } from './load.js';
import type { MemorySample } from './memory-probe.js';
import { startUpstreams } from './overhead.js';
import { startProxyChild, type ProxyChild } from './proxy-child.js';

const REPRODUCE = 'npm run bench:memory   # = npx tsc -p tsconfig.json && node dist/bench/memory.js';
const REQUEST_BODY = '{"input":{"n":1}}';
const PARTS = ['modules', 'load', 'connections', 'sweep'] as const;
type Part = (typeof PARTS)[number];

const usage = `usage: node dist/bench/memory.js [flags]

Starts warmroute (node dist/src/cli.js start) with a probe (bench/memory-probe.ts) that reports its
memory on SIGUSR2, and measures it idle, under closed-loop load (the overhead benchmark's set-up),
holding --clients idle connections, and under a burst of --clients one-request connections (the
overload benchmark's set-up); heap snapshots (node --heapsnapshot-signal) idle and at --clients
held connections; what importing each dependency costs; and a sweep of --max-semi-space-size.

  --duration SEC        measured seconds per load level (default 10)
  --warmup SEC          unmeasured load before the first level (default 2)
  --connections LIST    load levels, client connections (default 64,256)
  --clients N           connections held, and the burst's size (default 10000)
  --semi-space LIST     --max-semi-space-size values in MB for the sweep; 0 is Node's default (default 0,1,2,4,8,16)
  --rounds N            sweep rounds, each value once per round, order reversed every other round (default 2)
  --sweep-sec SEC       measured seconds of load per sweep run (default 10)
  --node-args ARGS      extra node flags for the proxy in the load and connections parts (space-separated)
  --parts LIST          any of ${PARTS.join(', ')} (default all)
  --out DIR             where README.md and summary.json go (default results/memory)
  --help                this text
`;

interface Settings {
  durationSec: number;
  warmupSec: number;
  connections: number[];
  clients: number;
  semiSpace: number[];
  rounds: number;
  sweepSec: number;
  nodeArgs: string[];
  parts: Set<Part>;
  out: string;
}

function parseSettings(argv: string[]): Settings | undefined {
  const v = parseFlags(argv, {
    duration: { type: 'string' }, warmup: { type: 'string' }, connections: { type: 'string' }, clients: { type: 'string' },
    'semi-space': { type: 'string' }, rounds: { type: 'string' }, 'sweep-sec': { type: 'string' }, 'node-args': { type: 'string' },
    parts: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean' },
  });
  if (v.help) return undefined;
  const parts = v.parts === undefined ? [...PARTS] : v.parts.split(',').map((p) => p.trim());
  const unknown = parts.find((p) => !(PARTS as readonly string[]).includes(p));
  if (unknown !== undefined) throw new UsageError(`unknown part "${unknown}" in --parts (known: ${PARTS.join(', ')})`);
  return {
    durationSec: parseNumberFlag('duration', v.duration, { min: 2, max: 600 }) ?? 10,
    warmupSec: parseNumberFlag('warmup', v.warmup, { min: 0, max: 60 }) ?? 2,
    connections: parseNumberListFlag('connections', v.connections, { integer: true, min: 1, max: 4096 }) ?? [64, 256],
    clients: parseNumberFlag('clients', v.clients, { integer: true, min: 1, max: 60_000 }) ?? 10_000,
    semiSpace: parseNumberListFlag('semi-space', v['semi-space'], { integer: true, min: 0, max: 256 }) ?? [0, 1, 2, 4, 8, 16],
    rounds: parseNumberFlag('rounds', v.rounds, { integer: true, min: 1, max: 20 }) ?? 2,
    sweepSec: parseNumberFlag('sweep-sec', v['sweep-sec'], { min: 2, max: 600 }) ?? 10,
    nodeArgs: (v['node-args'] ?? '').split(' ').filter((a) => a !== ''),
    parts: new Set(parts as Part[]),
    out: v.out ?? 'results/memory',
  };
}

const mib = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const loadAvg = (): string => loadavg().map((x) => x.toFixed(2)).join(' / ');

// ---------------------------------------------------------------- start-up cost of each module

interface ModuleCost { module: string; rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number }

const MODULES: readonly string[] = [
  '', 'undici', 'prom-client', 'pino', 'convict',
  './dist/src/config.js', './dist/src/metrics.js', './dist/src/upstream.js', './dist/src/health.js', './dist/src/discovery.js',
  './dist/src/proxy.js', './dist/src/server.js', './dist/balancers/index.js', './dist/src/control-plane.js', './dist/src/app.js', './dist/src/primary.js',
];

/** A fresh node that imports one module, collects twice and reports its RSS and heap: what the import alone costs. */
function moduleCost(module: string): ModuleCost {
  const script = `
const m = ${JSON.stringify(module)};
if (m !== '') await import(m.startsWith('.') ? ${JSON.stringify(pathToFileURL(resolve('.')).href + '/')} + m.slice(2) : m);
gc(); await new Promise((r) => setTimeout(r, 50)); gc();
const u = process.memoryUsage();
const rss = Number(/VmRSS:\\s+(\\d+)/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
process.stdout.write(JSON.stringify({ rss, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external }));`;
  const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`importing ${module}: ${run.stderr}`);
  const r = JSON.parse(run.stdout) as { rss: number; heapUsed: number; heapTotal: number; external: number };
  return { module: module === '' ? '(node alone)' : module, rssMiB: mib(r.rss), heapUsedMiB: mib(r.heapUsed), heapTotalMiB: mib(r.heapTotal), externalMiB: mib(r.external) };
}

// ---------------------------------------------------------------- a probed proxy

interface ProbedProxy {
  readonly proxy: ProxyChild;
  readonly pid: number;
  readonly url: string;
  readonly port: number;
  /** Asks the probe for a sample and resolves with it. */
  probe(): Promise<MemorySample>;
  /** A heap snapshot (node --heapsnapshot-signal), summarised by kind of object; the file is removed. */
  snapshot(): Promise<Kind[]>;
}

let proxiesStarted = 0;

async function startProbed(dir: string, config: Record<string, unknown>, nodeArgs: readonly string[], openFiles: number): Promise<ProbedProxy> {
  const name = `proxy-${proxiesStarted++}`;
  const port = await freePort();
  const configPath = join(dir, `${name}.json`);
  await writeFile(configPath, JSON.stringify({ host: '127.0.0.1', port, ...config }));
  const probeFile = join(dir, `${name}.probe.jsonl`);
  const snapshotDir = join(dir, `${name}-snapshots`);
  await mkdir(snapshotDir);
  writeFileSync(probeFile, '');
  // SIGWINCH: nothing else in a proxy whose output is a pipe listens to it, and SIGUSR1 is the inspector's.
  const probeArgs = ['--import', pathToFileURL(resolve('dist/bench/memory-probe.js')).href, '--heapsnapshot-signal=SIGWINCH', `--diagnostic-dir=${snapshotDir}`];
  const proxy = await startProxyChild(configPath, openFiles, { nodeArgs: [...probeArgs, ...nodeArgs], env: { MEMORY_PROBE_FILE: probeFile } });
  const pid = proxy.child.pid;
  let samples = 0;
  const probe = async (): Promise<MemorySample> => {
    const want = ++samples;
    process.kill(pid, 'SIGUSR2');
    const deadline = Date.now() + 30_000;
    for (;;) {
      const lines = readFileSync(probeFile, 'utf8').split('\n').filter((l) => l !== '');
      if (lines.length >= want) return JSON.parse(lines[want - 1]!) as MemorySample;
      if (Date.now() > deadline) throw new Error(`${name}: no memory sample within 30 s`);
      await sleep(20);
    }
  };
  const snapshot = async (): Promise<Kind[]> => {
    const before = new Set(readdirSync(snapshotDir));
    process.kill(pid, 'SIGWINCH');
    const file = await finishedSnapshot(snapshotDir, before);
    try {
      return (await snapshotKinds(join(snapshotDir, file))).slice(0, 20);
    } finally {
      await rm(join(snapshotDir, file), { force: true });
    }
  };
  return { proxy, pid, url: proxy.url, port, probe, snapshot };
}

/** The new snapshot file in `dir`, once its size has stopped changing for a second. */
async function finishedSnapshot(dir: string, before: ReadonlySet<string>): Promise<string> {
  const deadline = Date.now() + 120_000;
  let lastSize = -1;
  let stableSince = Date.now();
  for (;;) {
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    const size = file === undefined ? -1 : statSync(join(dir, file)).size;
    if (size !== lastSize) {
      lastSize = size;
      stableSince = Date.now();
    } else if (file !== undefined && size > 0 && Date.now() - stableSince >= 1000) {
      return file;
    }
    if (Date.now() > deadline) throw new Error(`no finished heap snapshot in ${dir} within 120 s`);
    await sleep(100);
  }
}

/** Resets the process's peak RSS (VmHWM) to its current RSS, so that the next peak is the next phase's. */
function clearPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Closed-loop load, with a probe sample taken a second before the end, while the load still runs. */
async function probedLoad(p: ProbedProxy, connections: number, durationSec: number): Promise<{ load: LoadResult; sample: MemorySample; cpuMicros: number; gc: GcPerRequest; peakMiB: number; loadAvg: string }> {
  const before = await p.probe();
  const cpu0 = cpuSeconds(p.pid) ?? 0;
  const sampled = sleep((durationSec - 1) * 1000).then(() => p.probe());
  const load = await runLoad({ url: `${p.url}/runLambda/${BURST_FUNCTION}`, connections, durationSec, body: REQUEST_BODY });
  const cpu1 = cpuSeconds(p.pid) ?? 0;
  const peakMiB = peakRssMiB(p.pid) ?? Number.NaN;
  const sample = await sampled;
  const after = await p.probe();
  const per = (ms: number): number => (load.responses > 0 ? (ms * 1000) / load.responses : Number.NaN);
  const gc = {
    minorMicros: per(after.gc.minorMs - before.gc.minorMs), majorMicros: per(after.gc.majorMs - before.gc.majorMs),
    minorCount: after.gc.minorCount - before.gc.minorCount, majorCount: after.gc.majorCount - before.gc.majorCount,
  };
  return { load, sample, cpuMicros: load.responses > 0 ? ((cpu1 - cpu0) * 1e6) / load.responses : Number.NaN, gc, peakMiB, loadAvg: loadAvg() };
}

/** Garbage collection during a load run: pause time per response (µs) and collections, young generation and the rest. */
interface GcPerRequest { minorMicros: number; majorMicros: number; minorCount: number; majorCount: number }

/** `count` connections to the port, each connected and idle (no request), until closed. */
async function holdConnections(port: number, count: number): Promise<Socket[]> {
  const sockets = await Promise.all(Array.from({ length: count }, () => new Promise<Socket>((done, fail) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => done(socket));
    socket.once('error', fail);
  })));
  for (const s of sockets) s.on('error', () => undefined);
  return sockets;
}

// ---------------------------------------------------------------- the parts

interface Phase { phase: string; sample: MemorySample; peakMiB: number; loadAvg: string; requestsPerSec?: number; cpuMicros?: number; gc?: GcPerRequest; p99Ms?: number }

/** The overhead benchmark's warmroute: round-robin over 2 workers, 32 connections each. */
function overheadConfig(upstreams: readonly string[]): Record<string, unknown> {
  return { balancer: 'round-robin', workers: upstreams.map((url) => ({ url, weight: 1 })), connectionsPerWorker: 32, logLevel: 'info', accessLog: false };
}

/** The overload benchmark's warmroute: least-loaded, 2 workers x 8 connections, a bounded queue of 1000. */
function overloadConfig(upstreams: readonly string[]): Record<string, unknown> {
  return {
    balancer: 'least-loaded', workers: upstreams.map((url, i) => ({ url, id: `w${i + 1}` })), connectionsPerWorker: 8, queueLimit: 1000,
    workerQueueLimit: 100, queueTimeoutMs: 60_000, healthIntervalMs: 1000, accessLog: false, logLevel: 'info',
  };
}

async function loadPart(s: Settings, dir: string, fast: readonly string[], openFiles: number, log: (t: string) => void): Promise<Phase[]> {
  const p = await startProbed(dir, overheadConfig(fast), s.nodeArgs, openFiles);
  try {
    const phases: Phase[] = [];
    await sleep(2000);
    phases.push({ phase: 'idle, 2 s after start', sample: await p.probe(), peakMiB: peakRssMiB(p.pid) ?? Number.NaN, loadAvg: loadAvg() });
    if (s.warmupSec > 0) await runLoad({ url: `${p.url}/runLambda/${BURST_FUNCTION}`, connections: s.connections[0]!, durationSec: s.warmupSec, body: REQUEST_BODY });
    for (const c of s.connections) {
      clearPeak(p.pid);
      log(`load: ${c} connections, ${s.durationSec} s`);
      const r = await probedLoad(p, c, s.durationSec);
      phases.push({ phase: `${c} connections, closed loop`, sample: r.sample, peakMiB: r.peakMiB, loadAvg: r.loadAvg, requestsPerSec: r.load.requestsPerSec, cpuMicros: r.cpuMicros, gc: r.gc, p99Ms: r.load.latencyP99Ms });
    }
    await sleep(2000);
    phases.push({ phase: 'idle, 2 s after the load', sample: await p.probe(), peakMiB: Number.NaN, loadAvg: loadAvg() });
    return phases;
  } finally {
    await stopChild(p.proxy.child);
  }
}

interface ConnectionsResult { phases: Phase[]; idleKinds: Kind[]; heldKinds: Kind[]; burstAnswered: number; burstMs: number }

async function connectionsPart(s: Settings, dir: string, slow: readonly string[], openFiles: number, log: (t: string) => void): Promise<ConnectionsResult> {
  const phases: Phase[] = [];
  const closedLoop = (p: ProbedProxy, sec: number): Promise<LoadResult> => runLoad({ url: `${p.url}/runLambda/${BURST_FUNCTION}`, connections: 64, durationSec: sec, body: '{}' });
  // A snapshot's own allocations raise RSS for the rest of a process's life, so each measurement gets a fresh proxy.
  let idleKinds: Kind[];
  {
    const p = await startProbed(dir, overloadConfig(slow), s.nodeArgs, openFiles);
    try {
      await sleep(2000);
      phases.push({ phase: 'idle, 2 s after start', sample: await p.probe(), peakMiB: peakRssMiB(p.pid) ?? Number.NaN, loadAvg: loadAvg() });
      idleKinds = await p.snapshot();
    } finally {
      await stopChild(p.proxy.child);
    }
  }
  let heldKinds: Kind[];
  {
    const p = await startProbed(dir, overloadConfig(slow), s.nodeArgs, openFiles);
    try {
      await closedLoop(p, 2);
      clearPeak(p.pid);
      log(`connections: holding ${s.clients} idle connections`);
      const sockets = await holdConnections(p.port, s.clients);
      await sleep(1000);
      phases.push({ phase: `${s.clients} idle connections held`, sample: await p.probe(), peakMiB: peakRssMiB(p.pid) ?? Number.NaN, loadAvg: loadAvg() });
      heldKinds = await p.snapshot();
      for (const socket of sockets) socket.destroy();
    } finally {
      await stopChild(p.proxy.child);
    }
  }
  const p = await startProbed(dir, overloadConfig(slow), s.nodeArgs, openFiles);
  try {
    // As the overload benchmark: warm-up and a closed loop, then the burst; the peak covers all of it.
    await closedLoop(p, 2);
    await closedLoop(p, 5);
    log(`connections: a burst of ${s.clients} one-request connections`);
    const samples: MemorySample[] = [];
    let bursting = true;
    const sampling = (async () => {
      while (bursting) {
        samples.push(await p.probe());
        await sleep(250);
      }
    })();
    const b = await burst(p.port, s.clients, p.pid);
    bursting = false;
    await sampling;
    const largest = samples.reduce((a, x) => (x.rss > a.rss ? x : a));
    phases.push({ phase: `burst of ${s.clients} one-request connections (largest sample)`, sample: largest, peakMiB: peakRssMiB(p.pid) ?? Number.NaN, loadAvg: loadAvg() });
    return { phases, idleKinds, heldKinds, burstAnswered: b.answers.filter((a) => a.status !== 0).length, burstMs: Math.round(b.ms) };
  } finally {
    await stopChild(p.proxy.child);
  }
}

interface SweepRun { semiSpaceMB: number; round: number; requestsPerSec: number; cpuMicros: number; gc: GcPerRequest; p99Ms: number; loadPeakMiB: number; newSpaceMiB: number; burstPeakMiB: number; burstAnswered: number; loadAvg: string }

async function sweepPart(s: Settings, dir: string, fast: readonly string[], slow: readonly string[], openFiles: number, log: (t: string) => void): Promise<SweepRun[]> {
  const runs: SweepRun[] = [];
  for (let round = 1; round <= s.rounds; round++) {
    const order = round % 2 === 1 ? s.semiSpace : [...s.semiSpace].reverse();
    for (const mb of order) {
      const flags = mb === 0 ? [] : [`--max-semi-space-size=${mb}`];
      log(`sweep round ${round}: semi-space ${mb === 0 ? 'default' : `${mb} MB`}`);
      const a = await startProbed(dir, overheadConfig(fast), flags, openFiles);
      let r: Awaited<ReturnType<typeof probedLoad>>;
      try {
        await runLoad({ url: `${a.url}/runLambda/${BURST_FUNCTION}`, connections: 64, durationSec: 2, body: REQUEST_BODY });
        clearPeak(a.pid);
        r = await probedLoad(a, 64, s.sweepSec);
      } finally {
        await stopChild(a.proxy.child);
      }
      const b = await startProbed(dir, overloadConfig(slow), flags, openFiles);
      let burstPeak: number;
      let answered: number;
      try {
        await runLoad({ url: `${b.url}/runLambda/${BURST_FUNCTION}`, connections: 64, durationSec: 3, body: '{}' });
        const result = await burst(b.port, s.clients, b.pid);
        burstPeak = peakRssMiB(b.pid) ?? Number.NaN;
        answered = result.answers.filter((x) => x.status !== 0).length;
      } finally {
        await stopChild(b.proxy.child);
      }
      runs.push({
        semiSpaceMB: mb, round, requestsPerSec: r.load.requestsPerSec, cpuMicros: r.cpuMicros, gc: r.gc, p99Ms: r.load.latencyP99Ms, loadPeakMiB: r.peakMiB,
        newSpaceMiB: mib(r.sample.spaces.new_space?.physical ?? 0), burstPeakMiB: burstPeak, burstAnswered: answered, loadAvg: r.loadAvg,
      });
    }
  }
  return runs;
}

// ---------------------------------------------------------------- the report

interface Report {
  command: string;
  settings: Omit<Settings, 'parts'> & { parts: Part[] };
  machine: { cores: number; cpu: string; node: string; loadAvgAtStart: string; loadAvgAtEnd: string };
  modules: ModuleCost[];
  load: Phase[];
  connections: ConnectionsResult | null;
  sweep: SweepRun[];
}

const f1 = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(1));

function breakdownTable(phases: readonly Phase[]): string {
  const rows = phases.map((p) => {
    const x = p.sample;
    const space = (name: string): number => x.spaces[name]?.physical ?? 0;
    const heapPhysical = Object.values(x.spaces).reduce((sum, sp) => sum + sp.physical, 0);
    const other = heapPhysical - space('new_space') - space('old_space') - space('code_space') - space('large_object_space');
    const nativeAnon = x.rssAnon - heapPhysical - x.external;
    return `| ${p.phase} | ${f1(mib(x.rss))} | ${f1(mib(x.pss))} | ${f1(p.peakMiB)} | ${f1(mib(heapPhysical))} (${f1(mib(x.heapUsed))} used) | ${f1(mib(space('new_space')))} | ${f1(mib(space('old_space')))} | ${f1(mib(space('code_space')))} | ${f1(mib(space('large_object_space')))} | ${f1(mib(other))} | ${f1(mib(x.external))} (${f1(mib(x.arrayBuffers))}) | ${f1(mib(x.rssFile))} | ${f1(mib(nativeAnon))} | ${x.threads} |`;
  });
  return `| phase | RSS | PSS | peak RSS (VmHWM) | V8 heap committed (used) | new space | old space | code space | large objects | other spaces | external (of which ArrayBuffers) | file-backed: node binary, libraries | native anonymous: RSS − file − heap − external | threads |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}`;
}

function kindsTable(idle: readonly Kind[], held: readonly Kind[], clients: number): string {
  const names = [...new Set([...idle.slice(0, 15), ...held.slice(0, 15)].map((k) => k.kind))];
  const find = (list: readonly Kind[], name: string): Kind | undefined => list.find((k) => k.kind === name);
  const cell = (k: Kind | undefined): string => (k === undefined ? '- | -' : `${k.count} | ${k.MiB.toFixed(2)}`);
  const rows = names
    .map((n) => ({ n, idle: find(idle, n), held: find(held, n) }))
    .sort((a, b) => (b.held?.MiB ?? 0) - (a.held?.MiB ?? 0))
    .map((r) => `| ${r.n === '' ? '(unnamed)' : r.n.replace(/\|/g, '\\|')} | ${cell(r.idle)} | ${cell(r.held)} |`);
  return `| kind of object | idle: objects | idle: MiB | ${clients} held: objects | ${clients} held: MiB |
| --- | ---: | ---: | ---: | ---: |
${rows.join('\n')}`;
}

function sweepTable(runs: readonly SweepRun[]): string {
  const values = [...new Set(runs.map((r) => r.semiSpaceMB))];
  const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const label = (mb: number): string => (mb === 0 ? 'Node default' : `${mb} MB`);
  const summary = values.map((mb) => {
    const rs = runs.filter((r) => r.semiSpaceMB === mb);
    return `| ${label(mb)} | ${rs.length} | ${meanOf(rs.map((r) => r.requestsPerSec)).toFixed(0)} | ${meanOf(rs.map((r) => r.cpuMicros)).toFixed(1)} | ${meanOf(rs.map((r) => r.gc.minorMicros)).toFixed(2)} / ${meanOf(rs.map((r) => r.gc.majorMicros)).toFixed(2)} | ${meanOf(rs.map((r) => r.gc.minorCount)).toFixed(0)} / ${meanOf(rs.map((r) => r.gc.majorCount)).toFixed(0)} | ${meanOf(rs.map((r) => r.p99Ms)).toFixed(2)} | ${meanOf(rs.map((r) => r.loadPeakMiB)).toFixed(1)} | ${meanOf(rs.map((r) => r.newSpaceMiB)).toFixed(1)} | ${meanOf(rs.map((r) => r.burstPeakMiB)).toFixed(1)} |`;
  });
  const each = runs.map((r) => `| ${label(r.semiSpaceMB)} | ${r.round} | ${r.requestsPerSec.toFixed(0)} | ${r.cpuMicros.toFixed(1)} | ${r.gc.minorMicros.toFixed(2)} / ${r.gc.majorMicros.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.loadPeakMiB.toFixed(1)} | ${r.newSpaceMiB.toFixed(1)} | ${r.burstPeakMiB.toFixed(1)} | ${r.burstAnswered} | ${r.loadAvg} |`);
  return `Means over the rounds:

| --max-semi-space-size | runs | req/s (64 connections) | CPU µs/req | GC pause µs/req: scavenges / other | collections: scavenges / other | p99 ms | peak RSS under load MiB | new space committed MiB | peak RSS, burst MiB |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${summary.join('\n')}

Every run, in the order run:

| --max-semi-space-size | round | req/s | CPU µs/req | GC pause µs/req | p99 ms | peak RSS under load MiB | new space MiB | peak RSS, burst MiB | burst answered | load average (1/5/15 min) |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
${each.join('\n')}`;
}

function markdown(r: Report): string {
  const s = r.settings;
  const bare = r.modules.find((m) => m.module === '(node alone)');
  const modules = r.modules.map((m) => `| ${m.module} | ${f1(m.rssMiB)} | ${bare === undefined || m === bare ? '-' : `+${f1(m.rssMiB - bare.rssMiB)}`} | ${f1(m.heapUsedMiB)} | ${f1(m.heapTotalMiB)} | ${f1(m.externalMiB)} |`);
  const loadRows = r.load.filter((p) => p.requestsPerSec !== undefined).map((p) => `| ${p.phase} | ${p.requestsPerSec!.toFixed(0)} | ${f1(p.cpuMicros)} | ${f1(p.gc?.minorMicros)} / ${f1(p.gc?.majorMicros)} | ${p.p99Ms!.toFixed(2)} | ${f1(p.peakMiB)} | ${p.loadAvg} |`);
  const extra = s.nodeArgs.length === 0 ? 'none' : `\`${s.nodeArgs.join(' ')}\``;
  return `# Memory of one warmroute process

Command: \`${r.command}\`

Machine: ${r.machine.cores} cores (${r.machine.cpu}), shared with other work; Node ${r.machine.node}; load average (1/5/15 min)
${r.machine.loadAvgAtStart} at the start, ${r.machine.loadAvgAtEnd} at the end. Extra node flags for the proxy in the load and
connections parts: ${extra}.

Each proxy is \`node [flags] dist/src/cli.js start -c FILE\` with \`--import dist/bench/memory-probe.js\` (on SIGUSR2 it
appends /proc/self/status, \`process.memoryUsage()\`, \`v8.getHeapSpaceStatistics()\` and V8's code and malloc figures to a
file; nothing is collected first) and \`--heapsnapshot-signal=SIGWINCH\`. Sizes in MiB. Peak RSS is VmHWM, reset
(\`/proc/PID/clear_refs\`) before each phase. V8 heap committed is the sum of the spaces' physical sizes. External is
memory V8 objects hold outside the heap (Buffers and ArrayBuffers among it). File-backed is RssFile: pages of the node
binary (V8, libuv, OpenSSL, ICU data) and shared libraries. Native anonymous is what remains: malloc by Node, libuv,
V8 (compiler zones, ${r.load[0] === undefined ? '' : `${f1(mib(r.load[0].sample.mallocedMemory))} MiB at idle reported by V8 itself, `}tables), HTTP parsers, sockets, thread stacks.
${r.modules.length === 0 ? '' : `
## What each module costs at start-up

A fresh \`node --expose-gc\` imports the one module (and what it imports), collects twice, and reports. The proxy's
own modules include their dependencies: \`dist/src/app.js\` is everything a one-process \`warmroute start\` loads.

| module | RSS | over node alone | heap used | heap total | external |
| --- | ---: | ---: | ---: | ---: | ---: |
${modules.join('\n')}
`}${r.load.length === 0 ? '' : `
## Idle and under the overhead benchmark's load

The overhead benchmark's warmroute (round-robin, 2 trivial workers in another process, connectionsPerWorker 32,
access log off), ${s.warmupSec} s of warm-up, then ${s.durationSec} s of closed-loop load from autocannon at each level
(\`POST /runLambda/fn\`, ${Buffer.byteLength(REQUEST_BODY)}-byte body); the sample is taken 1 s before the end of the level.

${breakdownTable(r.load)}

| level | req/s | CPU µs/req | GC pause µs/req: scavenges / other | p99 ms | peak RSS | load average (1/5/15 min) |
| --- | ---: | ---: | ---: | ---: | ---: | --- |
${loadRows.join('\n')}
`}${r.connections === null ? '' : `
## ${s.clients} client connections

The overload benchmark's warmroute (least-loaded, 2 workers answering after 20 ms, 8 connections each, queueLimit 1000,
workerQueueLimit 100), a fresh process for each row: idle; ${s.clients} connections opened and held idle (connected, no request
sent) after 2 s of closed loop; the overload burst (2 s + 5 s of closed loop at 64 connections, then ${s.clients} connections at
once, each sending one request with \`connection: close\`; ${r.connections.burstAnswered} answered in ${r.connections.burstMs} ms), sampled
every 250 ms, the largest sample shown; its peak covers the closed loops too, as the overload benchmark's does.

${breakdownTable(r.connections.phases)}

### Heap snapshots by kind of object (self sizes)

Idle, and with the ${s.clients} idle connections held (the largest 15 of each).

${kindsTable(r.connections.idleKinds, r.connections.heldKinds, s.clients)}
`}${r.sweep.length === 0 ? '' : `
## --max-semi-space-size: RSS against CPU

Each value: the overhead set-up (2 s warm-up, ${s.sweepSec} s at 64 connections: req/s, CPU µs/req, peak RSS, new space
committed 1 s before the end), then a fresh proxy under the overload burst (3 s closed loop, ${s.clients} connections at
once: peak RSS). ${s.rounds} rounds, the order reversed every other round. A semi-space is half of V8's young generation
(new space = 2 semi-spaces); Node's default lets it grow to 16 MB, 32 MiB of new space. Smaller means less memory and
more frequent scavenges.

${sweepTable(r.sweep)}
`}`;
}

async function main(argv: string[]): Promise<number> {
  const read = readBenchSettings('bench:memory', usage, (): { settings: Settings } | { status: number } | 'help' => {
    const settings = parseSettings(argv);
    if (settings === undefined) return 'help';
    // Too few open files: the run happens in a copy of this process with a raised limit, and its status is ours.
    const again = reexecWithMoreFiles(settings.clients + 1000);
    if (again !== undefined) return { status: again };
    for (const path of ['dist/src/cli.js', 'dist/bench/upstream.js', 'dist/bench/memory-probe.js']) {
      if (!existsSync(path)) throw new UsageError(`${path} does not exist: run from the project folder, after "npx tsc -p tsconfig.json"`);
    }
    return { settings };
  }, { usageAfterError: true });
  if (typeof read === 'number') return read;
  if ('status' in read) return read.status;
  const { settings } = read;
  const log = (text: string): void => void process.stderr.write(`[memory] ${text}\n`);
  const loadAvgAtStart = loadAvg();
  const dir = tempFolder('memory');
  const openFiles = Math.min(openFileLimits().hard, settings.clients * 2 + 1000);
  const modules = settings.parts.has('modules') ? MODULES.map((m) => moduleCost(m)) : [];
  const fast = await startUpstreams(resolve('dist/bench/upstream.js'), 2, undefined, 0);
  const slow = await startUpstreams(resolve('dist/bench/upstream.js'), 2, undefined, 20);
  try {
    const load = settings.parts.has('load') ? await loadPart(settings, dir, fast.urls, openFiles, log) : [];
    const connections = settings.parts.has('connections') ? await connectionsPart(settings, dir, slow.urls, openFiles, log) : null;
    const sweep = settings.parts.has('sweep') ? await sweepPart(settings, dir, fast.urls, slow.urls, openFiles, log) : [];
    const report: Report = {
      command: `${REPRODUCE}${argv.length === 0 ? '' : ` -- ${argv.join(' ')}`}`,
      settings: { ...settings, parts: [...settings.parts] },
      machine: { cores: cpus().length, cpu: cpus()[0]?.model.trim() ?? 'unknown', node: process.version, loadAvgAtStart, loadAvgAtEnd: loadAvg() },
      modules, load, connections, sweep,
    };
    await mkdir(settings.out, { recursive: true });
    await writeFile(join(settings.out, 'summary.json'), `${JSON.stringify(report, null, 2)}\n`);
    const md = markdown(report);
    await writeFile(join(settings.out, 'README.md'), md);
    process.stdout.write(md);
    return 0;
  } finally {
    await stopChild(fast.child);
    await stopChild(slow.child);
  }
}

runBenchmark('bench:memory', main);
