// Soak: pipbench load through warmroute for minutes while workers are killed and
// restarted, drained and re-added, and the proxy's config is changed under it
// with SIGHUP. Every request must be answered, the proxy must never restart,
// and its memory must not drift.
// Build and run: npm run soak [-- --minutes 10]   (node dist/bench/soak.js --help)
// Writes <out>/summary.md and <out>/summary.json.

import { existsSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseFlags, parseNumberFlag, UsageError } from '../pipbench/commands/support.js';
import { runWorkload } from '../pipbench/runner.js';
import { parseRegistryText } from '../src/registry.js';
import type { RequestRecord } from '../pipbench/stats.js';
import { freePort, runBenchmark, startChild, stopChild, tempFolder, waitForPort, type Child } from './children.js';
import { adminPost, proxyStatus, rssMiB, startProxyChild, type ProxyChild } from './proxy-child.js';

const REPRODUCE = 'npm run soak   # = npx tsc -p tsconfig.json && node dist/bench/soak.js --minutes 10';
const REGISTRY = 'config/registry-thesis.json';

const usage = `usage: node dist/bench/soak.js [flags]

Runs pipbench's closed-loop load through warmroute (a child process) in front of
simulated pipbench workers (one child process each), while every --every seconds
one of these happens in turn: a worker is killed (SIGKILL) and restarted on its port;
a worker is drained, then re-added; the proxy's config file is rewritten (weights,
policy, workers added and removed) and the proxy gets SIGHUP.

  --minutes N       length of the load (default 10)
  --workers N       simulated workers, 4 to 8 (default 4)
  --runners N       closed-loop clients (default 16)
  --time-scale F    pipbench time scale of the workers (default 0.01: a 30 s cold start takes 0.3 s)
  --every SEC       seconds between two disruptions (default 15)
  --heap-probe      a diagnosis run: the proxy makes a full collection every 30 s and the report
                    adds the heap left after each (flat: no leak); its RSS figures then are not
                    the soak's (the collections change them)
  --out DIR         where summary.md and summary.json go (default results/soak)
  --help            this text
`;

interface Settings {
  minutes: number;
  workers: number;
  runners: number;
  timeScale: number;
  everySec: number;
  heapProbe: boolean;
  out: string;
}


function parseSettings(argv: string[]): Settings | undefined {
  const values = parseFlags(argv, {
    minutes: { type: 'string' }, workers: { type: 'string' }, runners: { type: 'string' },
    'time-scale': { type: 'string' }, every: { type: 'string' }, 'heap-probe': { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help) return undefined;
  return {
    minutes: parseNumberFlag('minutes', values.minutes, { min: 0.25, max: 1440 }) ?? 10,
    workers: parseNumberFlag('workers', values.workers, { integer: true, min: 4, max: 8 }) ?? 4,
    runners: parseNumberFlag('runners', values.runners, { integer: true, min: 1, max: 1000 }) ?? 16,
    timeScale: parseNumberFlag('time-scale', values['time-scale'], { min: 0.0001, max: 1 }) ?? 0.01,
    everySec: parseNumberFlag('every', values.every, { min: 2, max: 3600 }) ?? 15,
    heapProbe: values['heap-probe'] === true,
    out: values.out ?? 'results/soak',
  };
}

// ---------------------------------------------------------------- workers

interface SimWorker {
  readonly id: string;
  readonly port: number;
  readonly url: string;
  child: Child;
  restarts: number;
}

async function startWorker(id: string, port: number, timeScale: number): Promise<Child> {
  const child = startChild(id, process.execPath, [
    resolve('dist/pipbench/cli.js'), 'worker', '--registry', resolve(REGISTRY), '--port', String(port), '--name', id,
    '--time-scale', String(timeScale), '--cache-fraction', '0.3',
  ]);
  child.process.stdout?.resume();
  await waitForPort(child, port, 15_000);
  return child;
}

// ---------------------------------------------------------------- configs the proxy is switched between

interface Variant {
  readonly name: string;
  readonly balancer: string;
  /** Worker index -> weight; workers not listed are not in this config. */
  readonly weights: ReadonlyMap<number, number>;
}

function variants(n: number): Variant[] {
  const all = (w: (i: number) => number): Map<number, number> => new Map(Array.from({ length: n }, (_, i) => [i, w(i)]));
  return [
    { name: 'A: pkg-aware, all but the last worker', balancer: 'pkg-aware', weights: new Map([...all(() => 1)].slice(0, n - 1)) },
    { name: 'B: least-loaded, every worker, first weighted 2', balancer: 'least-loaded', weights: all((i) => (i === 0 ? 2 : 1)) },
    { name: 'C: round-robin, the third removed, second weighted 3', balancer: 'round-robin', weights: new Map([...all((i) => (i === 1 ? 3 : 1))].filter(([i]) => i !== 2)) },
    { name: 'D: hashing-bounded, every worker', balancer: 'hashing-bounded', weights: all(() => 1) },
  ];
}

function configFor(v: Variant, workers: readonly SimWorker[], proxyPort: number): Record<string, unknown> {
  return {
    host: '127.0.0.1',
    port: proxyPort,
    balancer: v.balancer,
    loadThreshold: 3,
    registry: resolve(REGISTRY),
    workers: [...v.weights].map(([i, weight]) => ({ url: workers[i]!.url, id: workers[i]!.id, weight })),
    connectionsPerWorker: 4,
    queueLimit: 1000,
    queueTimeoutMs: 30_000,
    healthIntervalMs: 500,
    healthTimeoutMs: 500,
    healthFall: 2,
    healthRise: 2,
    failTimeoutMs: 1000,
    ejectionMaxMs: 10_000,
    shutdownTimeoutMs: 30_000,
    accessLog: false,
    logLevel: 'info',
  };
}

// ---------------------------------------------------------------- the run

interface Sample {
  sec: number;
  rssMiB: number | null;
  answeredPerSec: number;
  waiting: number | null;
  inFlight: number | null;
}

/** One line of bench/heap-probe.ts: what was left right after a full collection. */
interface HeapSample { sec: number; rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number }

interface Disruption {
  sec: number;
  kind: 'kill' | 'drain-readd' | 'reload';
  detail: string;
  ok: boolean;
}

/** Load averages (1, 5, 15 min), 2 decimals: the machine is shared, so the report says how busy it was. */
function loadAverages(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

/** Mean RSS of the samples from `fromSec` up to `toSec`, or null if none. */
function meanRss(samples: readonly { sec: number; rssMiB: number }[], fromSec: number, toSec: number): number | null {
  const inside = samples.filter((x) => x.sec >= fromSec && x.sec <= toSec);
  return inside.length === 0 ? null : inside.reduce((n, x) => n + x.rssMiB, 0) / inside.length;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => Promise<boolean>, limitMs: number): Promise<boolean> {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    if (await check().catch(() => false)) return true;
    await sleep(100);
  }
  return false;
}

async function main(argv: string[]): Promise<number> {
  let settings: Settings | undefined;
  try {
    settings = parseSettings(argv);
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  if (settings === undefined) {
    process.stdout.write(usage);
    return 0;
  }
  for (const path of ['dist/src/cli.js', 'dist/pipbench/cli.js', REGISTRY]) {
    if (!existsSync(path)) {
      process.stderr.write(`soak: ${path} does not exist: run from the project folder, after "npx tsc -p tsconfig.json"\n`);
      return 2;
    }
  }
  const s = settings;
  const loadAvgAtStart = loadAverages();
  const durationMs = s.minutes * 60_000;
  const warmupSec = Math.min(60, Math.max(5, (durationMs / 1000) * 0.1));
  const handlers = [...parseRegistryText(readFileSync(REGISTRY, 'utf8'), REGISTRY).keys()];
  const dir = tempFolder('soak');
  const configPath = join(dir, 'warmroute.json');
  const log = (text: string): void => void process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${text}\n`);

  const workers: SimWorker[] = [];
  for (let i = 0; i < s.workers; i++) {
    const port = await freePort();
    const id = `w${i + 1}`;
    workers.push({ id, port, url: `http://127.0.0.1:${port}`, child: await startWorker(id, port, s.timeScale), restarts: 0 });
  }
  const proxyPort = await freePort();
  const configs = variants(s.workers);
  let current = configs[0]!;
  await writeFile(configPath, JSON.stringify(configFor(current, workers, proxyPort), null, 2));
  const probeFile = join(dir, 'heap-probe.jsonl');
  const proxy: ProxyChild = s.heapProbe
    ? await startProxyChild(configPath, undefined, {
      nodeArgs: ['--expose-gc', '--import', pathToFileURL(resolve('dist/bench/heap-probe.js')).href],
      env: { HEAP_PROBE_FILE: probeFile, HEAP_PROBE_MS: '30000' },
    })
    : await startProxyChild(configPath);
  const proxyPid = proxy.child.pid;
  let proxyExits = 0;
  let stopping = false;
  proxy.child.process.once('exit', (code, signal) => {
    if (stopping) return;
    proxyExits++;
    log(`the proxy exited (${code ?? signal}) during the soak`);
  });
  log(`proxy ${proxy.url} (pid ${proxyPid}) in front of ${workers.map((w) => `${w.id} ${w.url}`).join(', ')}; ${s.minutes} min`);

  // Counters fed as records arrive.
  const byStatus = new Map<string, number>();
  let answered = 0;
  let lastAnswered = 0;
  const t0 = Date.now();
  const onRecord = (r: RequestRecord): void => {
    const key = r.status === 0 ? `unanswered (${r.error.slice(0, 60)})` : r.status >= 200 && r.status < 300 ? String(r.status) : `${r.status} ${r.error.replace(/^HTTP \d+: ?/, '')}`;
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    if (r.status !== 0) answered++;
  };

  const samples: Sample[] = [];
  let lastSampleAt = t0;
  const sampler = setInterval(() => {
    const now = Date.now();
    const rate = (answered - lastAnswered) / ((now - lastSampleAt) / 1000);
    lastAnswered = answered;
    lastSampleAt = now;
    const rss = rssMiB(proxyPid);
    void proxyStatus(proxy.url).then(
      (st) => samples.push({ sec: Math.round((now - t0) / 1000), rssMiB: rss ?? null, answeredPerSec: Math.round(rate), waiting: st.queue.waiting, inFlight: st.queue.inFlight }),
      () => samples.push({ sec: Math.round((now - t0) / 1000), rssMiB: rss ?? null, answeredPerSec: Math.round(rate), waiting: null, inFlight: null }),
    );
  }, 5000);

  const load = runWorkload({ target: proxy.url, handlers, mode: 'sync', runners: s.runners, durationMs, drainMs: 60_000, seed: 1, onRecord });

  const disruptions: Disruption[] = [];
  let loadDone = false;
  void load.finally(() => { loadDone = true; });
  const note = (kind: Disruption['kind'], detail: string, ok: boolean): void => {
    disruptions.push({ sec: Math.round((Date.now() - t0) / 1000), kind, detail, ok });
    log(`${kind}: ${detail}`);
  };
  const inConfig = (): SimWorker[] => [...current.weights.keys()].map((i) => workers[i]!);
  let turn = 0;
  const chaos = (async () => {
    const random = (n: number): number => (turn * 7 + 3) % n; // spreads the choices over the workers, same every run
    while (!loadDone) {
      await sleep(s.everySec * 1000);
      if (loadDone || Date.now() - t0 > durationMs - 5000) break;
      const kind = (['kill', 'drain-readd', 'reload'] as const)[turn % 3]!;
      turn++;
      try {
        if (kind === 'kill') {
          const candidates = inConfig();
          const w = candidates[random(candidates.length)]!;
          w.child.process.kill('SIGKILL');
          await new Promise((r) => w.child.process.once('exit', r));
          const down = await until(async () => (await proxyStatus(proxy.url)).workers.find((x) => x.id === w.id)?.health !== 'up', 5000);
          await sleep(3000);
          w.child = await startWorker(w.id, w.port, s.timeScale);
          w.restarts++;
          const back = await until(async () => (await proxyStatus(proxy.url)).workers.find((x) => x.id === w.id)?.health === 'up', 15_000);
          note('kill', `${w.id} killed (SIGKILL); ${down ? 'marked out of routing' : 'NOT marked out of routing within 5 s'}; restarted after 3 s; ${back ? 'back in routing' : 'NOT back in routing within 15 s'}`, down && back);
        } else if (kind === 'drain-readd') {
          const candidates = inConfig();
          const w = candidates[random(candidates.length)]!;
          const weight = current.weights.get(workers.indexOf(w)) ?? 1;
          const drained = await adminPost(proxy.url, '/admin/workers/drain', { workers: [w.id] });
          await sleep(5000);
          const added = await adminPost(proxy.url, '/admin/workers/add', { workers: [{ url: w.url, id: w.id, weight }] });
          const state = (await proxyStatus(proxy.url)).workers.find((x) => x.id === w.id)?.health;
          let detail = `${w.id} drained (${drained.status}), re-added by id (${added.status} ${JSON.stringify(added.json).slice(0, 120)}): now ${state}`;
          let ok = state === 'up';
          if (state === 'draining') {
            // Re-adding a drained worker leaves it drained; removing and adding it again brings it back.
            await adminPost(proxy.url, '/admin/workers/remove', { workers: [w.id] });
            await adminPost(proxy.url, '/admin/workers/add', { workers: [{ url: w.url, id: w.id, weight }] });
            const after = (await proxyStatus(proxy.url)).workers.find((x) => x.id === w.id)?.health;
            detail += `; after remove + add: ${after}`;
            ok = false;
          }
          note('drain-readd', detail, ok);
        } else {
          const next = configs[(configs.indexOf(current) + 1) % configs.length]!;
          await writeFile(configPath, JSON.stringify(configFor(next, workers, proxyPort), null, 2));
          current = next;
          proxy.child.process.kill('SIGHUP');
          const wanted = inConfig().map((w) => w.id);
          let seen = '';
          const followed = await until(async () => {
            const st = await proxyStatus(proxy.url);
            const ids = st.workers.map((w) => w.id);
            seen = `${st.balancer.name} [${ids.join(',')}]`;
            return st.balancer.name === next.balancer && wanted.every((id) => ids.includes(id)) && ids.every((id) => wanted.includes(id));
          }, 5000);
          note('reload', `SIGHUP to "${next.name}": ${followed ? 'followed' : 'NOT followed'} (proxy shows ${seen})`, followed);
        }
      } catch (err) {
        note(kind, `failed: ${(err as Error).message}`, false);
      }
    }
  })();

  const result = await load;
  await chaos;
  clearInterval(sampler);
  await sleep(200);
  const endedSec = Math.round((Date.now() - t0) / 1000);
  // The proxy is never restarted by this script: any exit before the end is a crash.
  const proxyRestarts = proxyExits;
  stopping = true;
  await stopChild(proxy.child, 40_000);
  const shutdownExit = proxy.child.process.exitCode;
  for (const w of workers) await stopChild(w.child);
  const heapAfterGc: HeapSample[] = s.heapProbe && existsSync(probeFile)
    ? readFileSync(probeFile, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as HeapSample)
    : [];
  await rm(dir, { recursive: true, force: true });

  const records = result.records;
  const unanswered = records.filter((r) => r.status === 0).length;
  const rssSamples = samples.filter((x) => x.rssMiB !== null) as (Sample & { rssMiB: number })[];
  const warm = rssSamples.find((x) => x.sec >= warmupSec);
  const loadEndSec = durationMs / 1000;
  const end = [...rssSamples].reverse().find((x) => x.sec <= loadEndSec);
  const driftPct = warm && end ? ((end.rssMiB - warm.rssMiB) / warm.rssMiB) * 100 : Number.NaN;
  const peak = Math.max(...rssSamples.map((x) => x.rssMiB));
  // Single samples land anywhere on the sawtooth of V8's heap (it grows, then a full collection returns it);
  // the mean over the minute after warm-up against the mean over the last minute is steadier.
  const warmMean = meanRss(rssSamples, warmupSec, warmupSec + 60);
  const endMean = meanRss(rssSamples, loadEndSec - 60, loadEndSec);
  const meanDriftPct = warmMean !== null && endMean !== null ? ((endMean - warmMean) / warmMean) * 100 : Number.NaN;
  const summary = {
    command: REPRODUCE,
    settings: { ...s, warmupSec, registry: REGISTRY, handlers: handlers.length, cores: cpus().length },
    machine: { cores: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, loadAvgAtStart, loadAvgAtEnd: loadAverages() },
    requestsSent: records.length,
    answered: records.length - unanswered,
    unanswered,
    unansweredAtDrain: result.unansweredAtDrain,
    byStatus: Object.fromEntries([...byStatus].sort((a, b) => b[1] - a[1])),
    throughputPerSec: Math.round((records.length / (durationMs / 1000)) * 10) / 10,
    successLatencyMs: { mean: result.summary.meanMs, p50: result.summary.p50Ms, p95: result.summary.p95Ms, p99: result.summary.p99Ms, max: result.summary.maxMs },
    proxyRestarts,
    proxyExitOnShutdown: shutdownExit,
    rss: {
      warmupMiB: warm?.rssMiB ?? null, warmupAtSec: warm?.sec ?? null, endMiB: end?.rssMiB ?? null, endAtSec: end?.sec ?? null, driftPct, peakMiB: peak,
      warmupMinuteMeanMiB: warmMean, lastMinuteMeanMiB: endMean, meanDriftPct,
    },
    workerRestarts: Object.fromEntries(workers.map((w) => [w.id, w.restarts])),
    disruptions,
    proxyLog: { byMessage: Object.fromEntries(proxy.logs.byMessage), lastProblems: proxy.logs.problems.slice(-15) },
    samples,
    heapAfterGc,
    endedSec,
  };
  await mkdir(s.out, { recursive: true });
  await writeFile(join(s.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFile(join(s.out, 'summary.md'), markdown(summary));
  process.stdout.write(markdown(summary));
  // A probed run's RSS is shaped by its forced collections: only its answers and restarts count.
  const pass = unanswered === 0 && summary.proxyRestarts === 0 && (s.heapProbe || Math.abs(driftPct) <= 10);
  return pass ? 0 : 1;
}

type Summary = {
  command: string;
  settings: Settings & { warmupSec: number; registry: string; handlers: number; cores: number };
  requestsSent: number; answered: number; unanswered: number; unansweredAtDrain: number;
  byStatus: Record<string, number>;
  throughputPerSec: number;
  successLatencyMs: Record<string, number>;
  proxyRestarts: number;
  proxyExitOnShutdown: number | null;
  machine: { cores: number; cpuModel: string; node: string; loadAvgAtStart: number[]; loadAvgAtEnd: number[] };
  rss: { warmupMiB: number | null; warmupAtSec: number | null; endMiB: number | null; endAtSec: number | null; driftPct: number; peakMiB: number; warmupMinuteMeanMiB: number | null; lastMinuteMeanMiB: number | null; meanDriftPct: number };
  workerRestarts: Record<string, number>;
  disruptions: Disruption[];
  proxyLog: { byMessage: Record<string, number>; lastProblems: string[] };
  samples: Sample[];
  heapAfterGc: HeapSample[];
};

function markdown(x: Summary): string {
  const f1 = (n: number | null): string => (n === null || Number.isNaN(n) ? '-' : n.toFixed(1));
  const counts = (kind: Disruption['kind']): string => {
    const d = x.disruptions.filter((e) => e.kind === kind);
    return `${d.length} (${d.filter((e) => e.ok).length} as expected)`;
  };
  return `# Soak: ${x.settings.minutes} minutes of pipbench load under disruption

Command: \`${x.command}\` (this run: \`node dist/bench/soak.js --minutes ${x.settings.minutes} --workers ${x.settings.workers} --runners ${x.settings.runners} --time-scale ${x.settings.timeScale} --every ${x.settings.everySec}${x.settings.heapProbe ? ' --heap-probe' : ''}\`)

warmroute (child process) in front of ${x.settings.workers} simulated pipbench workers (one process each, registry \`${x.settings.registry}\`,
${x.settings.handlers} handlers, time scale ${x.settings.timeScale}, disk cache 30% of the footprint), ${x.settings.runners} closed-loop clients,
one disruption every ${x.settings.everySec} s in turn: SIGKILL a worker and restart it 3 s later; drain a worker and re-add it;
rewrite the config and SIGHUP (policy and weights changed, a worker added or removed).

Machine: ${x.machine.cores} cores (${x.machine.cpuModel}), shared with other work; load average (1/5/15 min) ${x.machine.loadAvgAtStart.join(' / ')} at the start,
${x.machine.loadAvgAtEnd.join(' / ')} at the end; Node ${x.machine.node}.

| measure | value |
| --- | --- |
| requests sent | ${x.requestsSent} |
| answered | ${x.answered} |
| **unanswered** (goal 0) | **${x.unanswered}** |
| proxy restarts (goal 0) | ${x.proxyRestarts} |
| proxy exit status on SIGTERM at the end | ${x.proxyExitOnShutdown ?? '-'} |
| RSS after warm-up (${x.rss.warmupAtSec ?? '-'} s) | ${f1(x.rss.warmupMiB)} MiB |
| RSS at the end (${x.rss.endAtSec ?? '-'} s) | ${f1(x.rss.endMiB)} MiB |
| **RSS drift** (goal within 10%) | **${f1(x.rss.driftPct)}%** |
| RSS mean over the minute after warm-up / over the last minute | ${f1(x.rss.warmupMinuteMeanMiB)} / ${f1(x.rss.lastMinuteMeanMiB)} MiB |
| RSS drift of those means | ${f1(x.rss.meanDriftPct)}% |
| peak RSS sampled | ${f1(x.rss.peakMiB)} MiB |
| throughput | ${x.throughputPerSec} requests/s |
| latency of 2xx, mean / p50 / p95 / p99 / max | ${f1(x.successLatencyMs.mean ?? null)} / ${f1(x.successLatencyMs.p50 ?? null)} / ${f1(x.successLatencyMs.p95 ?? null)} / ${f1(x.successLatencyMs.p99 ?? null)} / ${f1(x.successLatencyMs.max ?? null)} ms |
| worker kills | ${counts('kill')} |
| drain + re-add | ${counts('drain-readd')} |
| SIGHUP reloads | ${counts('reload')} |

## Answers by status

| status | count |
| --- | --- |
${Object.entries(x.byStatus).map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

## Disruptions

| at s | kind | what happened |
| --- | --- | --- |
${x.disruptions.map((d) => `| ${d.sec} | ${d.kind} | ${d.ok ? '' : '**'}${d.detail.replace(/\|/g, '\\|')}${d.ok ? '' : '**'} |`).join('\n')}

## RSS and throughput over time (every 5 s)

| s | RSS MiB | answered/s | waiting | in flight |
| --- | --- | --- | --- | --- |
${x.samples.filter((_, i) => i % 6 === 0).map((m) => `| ${m.sec} | ${f1(m.rssMiB)} | ${m.answeredPerSec} | ${m.waiting ?? '-'} | ${m.inFlight ?? '-'} |`).join('\n')}

${x.settings.heapProbe ? `## Heap left after a full collection (--heap-probe, every 30 s)

This run's proxy made a full collection every 30 s, so its RSS figures above are not the soak's. What is left after each
collection is what the proxy holds on to: flat means no leak.

| s since the proxy started | heap used MiB | heap total MiB | external MiB | RSS MiB |
| --- | --- | --- | --- | --- |
${x.heapAfterGc.map((h) => `| ${h.sec} | ${h.heapUsedMiB} | ${h.heapTotalMiB} | ${h.externalMiB} | ${h.rssMiB} |`).join('\n')}

` : ''}Proxy log lines by message: ${Object.entries(x.proxyLog.byMessage).map(([k, v]) => `${k || '(none)'}: ${v}`).join('; ')}.
`;
}

runBenchmark('soak', main);
