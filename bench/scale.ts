// Scale: a proxy in front of one live worker and 10,000 unreachable ones. Measures, from outside the
// proxy (a child process), how long each bulk change (admin add, drain, remove; reloads that add,
// re-weight and remove) holds its event loop, the event-loop delay while 10,000 workers are polled,
// the proxy's memory at 10,000 workers, and whether /metrics returns to its size once they are gone.
// Build and run: npm run bench:scale   (node dist/bench/scale.js --help)
// Writes <out>/summary.md and <out>/summary.json.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { balancerNames, isBalancerName } from '../balancers/index.js';
import { parseFlags, parseNumberFlag, UsageError } from '../pipbench/commands/support.js';
import { percentile, sortedAscending } from '../pipbench/stats.js';
import { freePort, readBenchSettings, runBenchmark, stopChild, tempFolder } from './children.js';
import { adminPost, rssMiB, startProxyChild, type ProxyChild } from './proxy-child.js';

const REPRODUCE = 'npm run bench:scale   # = npx tsc -p tsconfig.json && node dist/bench/scale.js';

const usage = `usage: node dist/bench/scale.js [flags]

Starts warmroute (node dist/src/cli.js start, a child process) with one live worker (served by this
process), then adds --workers unreachable workers (127.0.0.2, nothing listens there: connections are
refused) and takes them away again, by the admin API and by reloads. A probe sends GET /healthz every
10 ms and an invocation every 50 ms throughout; the longest /healthz answer during a change is the
longest the change held the proxy's event loop (plus one loopback round trip).

  --workers N           unreachable workers to add (default 10000)
  --poll-sec N          seconds of status polling measured with the workers in the table (default 30)
  --health-interval-ms N  the proxy's healthIntervalMs (default 2000, the default; 0: no polls)
  --max-polls-per-second N  the proxy's healthMaxPollsPerSecond (default 250, the default)
  --repeats N           times the whole set of changes is made, in one proxy (default 3); the table
                        gives each change's median and worst over the repeats (polling is measured once)
  --quick               settle pauses (before and after each change, at start) a fifth as long: a check
                        that the bench runs, not a measurement
  --balancer NAME       the proxy's policy (default pkg-aware: a ring of 100 points per worker)
  --out DIR             where summary.md and summary.json go (default results/bench-scale)
  --cpu-prof DIR        run warmroute under node --cpu-prof, writing scale.cpuprofile to DIR
  --help                this text
`;

interface Settings {
  workers: number;
  pollSec: number;
  repeats: number;
  /** Pauses between steps shortened (a run-through, not a measurement). */
  quick: boolean;
  healthIntervalMs: number;
  maxPollsPerSecond: number;
  balancer: string;
  out: string;
  /** Folder for the proxy's CPU profile (node --cpu-prof), or undefined for none. */
  cpuProfDir: string | undefined;
}

function parseSettings(argv: string[]): Settings | undefined {
  const values = parseFlags(argv, {
    workers: { type: 'string' }, 'poll-sec': { type: 'string' }, repeats: { type: 'string' }, quick: { type: 'boolean' }, 'health-interval-ms': { type: 'string' }, 'max-polls-per-second': { type: 'string' }, balancer: { type: 'string' }, out: { type: 'string' }, 'cpu-prof': { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help) return undefined;
  return {
    workers: parseNumberFlag('workers', values.workers, { integer: true, min: 1, max: 50_000 }) ?? 10_000,
    pollSec: parseNumberFlag('poll-sec', values['poll-sec'], { integer: true, min: 1, max: 3600 }) ?? 30,
    repeats: parseNumberFlag('repeats', values.repeats, { integer: true, min: 1, max: 100 }) ?? 3,
    quick: values.quick === true,
    healthIntervalMs: parseNumberFlag('health-interval-ms', values['health-interval-ms'], { integer: true, min: 0, max: 600_000 }) ?? 2000,
    maxPollsPerSecond: parseNumberFlag('max-polls-per-second', values['max-polls-per-second'], { integer: true, min: 1, max: 100_000 }) ?? 250,
    balancer: parseBalancer(values.balancer),
    out: values.out ?? 'results/bench-scale',
    cpuProfDir: values['cpu-prof'],
  };
}

function parseBalancer(name: string | undefined): string {
  if (name === undefined) return 'pkg-aware';
  if (!isBalancerName(name)) throw new UsageError(`--balancer must be one of ${balancerNames.join(', ')}, got "${name}"`);
  return name;
}

interface Sample { start: number; end: number; ok: boolean }

/** Sends one request after another (`gapMs` apart) until stopped, recording each one's start and end. */
function startProbe(url: string, method: 'GET' | 'POST', gapMs: number): { samples: Sample[]; stop: () => Promise<void> } {
  const samples: Sample[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const start = performance.now();
      let ok = false;
      try {
        const res = await request(url, { method, body: method === 'POST' ? '{}' : undefined, headersTimeout: 60_000, bodyTimeout: 60_000 });
        await res.body.dump();
        ok = res.statusCode === 200;
      } catch {
        ok = false;
      }
      samples.push({ start, end: performance.now(), ok });
      await new Promise((r) => setTimeout(r, gapMs));
    }
  })();
  return { samples, stop: async () => { running = false; await loop; } };
}

/** Longest answer among the samples that overlapped [from, to]. */
function longestDuring(samples: readonly Sample[], from: number, to: number): number {
  let longest = 0;
  for (const s of samples) if (s.end >= from && s.start <= to) longest = Math.max(longest, s.end - s.start);
  return round(longest);
}

function latencies(samples: readonly Sample[], from: number, to: number): { count: number; failed: number; p50Ms: number; p99Ms: number; maxMs: number } {
  const within = samples.filter((s) => s.start >= from && s.end <= to);
  const sorted = sortedAscending(within.map((s) => s.end - s.start));
  return { count: within.length, failed: within.filter((s) => !s.ok).length, p50Ms: round(percentile(sorted, 50) ?? 0), p99Ms: round(percentile(sorted, 99) ?? 0), maxMs: round(sorted.at(-1) ?? 0) };
}

function median(values: readonly number[]): number {
  return round(percentile(sortedAscending(values), 50));
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

async function scrape(url: string): Promise<{ text: string; ms: number }> {
  const start = performance.now();
  const res = await request(`${url}/metrics`, { headersTimeout: 60_000, bodyTimeout: 60_000 });
  const text = await res.body.text();
  return { text, ms: round(performance.now() - start) };
}

function gauge(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function seriesOf(text: string, prefix: string): number {
  return text.split('\n').filter((l) => l.includes(`worker="${prefix}`)).length;
}

async function startLiveWorker(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(req.url === '/status' ? '{}' : '{"ok":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function until(check: () => boolean, what: string, limitMs: number): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (check()) return resolve();
      if (Date.now() - start > limitMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Change { what: string; callMs: number; longestHealthzMs: number; longestInvokeMs: number }

async function main(argv: string[]): Promise<number> {
  const settings = readBenchSettings('bench:scale', usage, () => parseSettings(argv) ?? 'help', { usageAfterError: true });
  if (typeof settings === 'number') return settings;
  const dir = tempFolder('bench-scale');
  const live = await startLiveWorker();
  let proxy: ProxyChild | undefined;
  try {
    const configPath = join(dir, 'config.json');
    const port = await freePort();
    const dead = Array.from({ length: settings.workers }, (_, i) => ({ id: `dead-${i}`, url: `http://127.0.0.2:${20_000 + (i % 40_000)}` }));
    const writeConfig = (workers: readonly unknown[]): Promise<void> => writeFile(configPath, JSON.stringify({
      host: '127.0.0.1', port, balancer: settings.balancer, logLevel: 'info', accessLog: false, healthIntervalMs: settings.healthIntervalMs, healthMaxPollsPerSecond: settings.maxPollsPerSecond, workers,
    }));
    const liveSpec = { id: 'live', url: live.url };
    await writeConfig([liveSpec]);
    const profiling = settings.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', settings.cpuProfDir, '--cpu-prof-name', 'scale.cpuprofile'];
    proxy = await startProxyChild(configPath, undefined, { nodeArgs: profiling });
    const p = proxy;
    const healthz = startProbe(`${p.url}/healthz`, 'GET', 10);
    const invoke = startProbe(`${p.url}/runLambda/f`, 'POST', 50);
    const settle = (ms: number): Promise<void> => sleep(settings.quick ? ms / 5 : ms);
    const changes: Change[] = [];
    const change = async (what: string, act: () => Promise<void>): Promise<void> => {
      await settle(500);
      const from = performance.now();
      await act();
      const to = performance.now();
      await settle(300);
      changes.push({ what, callMs: round(to - from), longestHealthzMs: longestDuring(healthz.samples, from, to), longestInvokeMs: longestDuring(invoke.samples, from, to) });
      process.stderr.write(`${what}: ${JSON.stringify(changes.at(-1))}\n`);
    };
    const reloads = (): number => p.logs.byMessage.get('configuration reloaded') ?? 0;
    const reload = async (workers: readonly unknown[]): Promise<void> => {
      const before = reloads();
      await writeConfig(workers);
      p.child.process.kill('SIGHUP');
      await until(() => reloads() > before, 'the reload', 300_000);
    };
    const admin = async (action: string, body: unknown): Promise<void> => {
      const res = await adminPost(p.url, `/admin/workers/${action}`, body);
      if (res.status !== 200) throw new Error(`admin ${action} answered ${res.status}: ${JSON.stringify(res.json).slice(0, 300)}`);
    };

    await settle(3000);
    await scrape(p.url);
    await settle(5000);
    const baseline = await scrape(p.url);
    const memory = (text: string) => ({ rssMiB: round(rssMiB(p.child.pid) ?? 0), heapUsedMiB: round((gauge(text, 'nodejs_heap_size_used_bytes') ?? 0) / 2 ** 20), externalMiB: round((gauge(text, 'nodejs_external_memory_bytes') ?? 0) / 2 ** 20) });
    const atBaseline = { metricsBytes: baseline.text.length, ...memory(baseline.text), lagP99Ms: round((gauge(baseline.text, 'nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000) };

    const measurePolling = async (): Promise<Polling> => {
      // Polling: the window opens after a scrape (it resets the proxy's event-loop delay histogram) has been answered.
      const scrapeFrom = performance.now();
      const reset = await scrape(p.url);
      await settle(300);
      const scrapeLongestHealthzMs = longestDuring(healthz.samples, scrapeFrom, scrapeFrom + reset.ms);
      const pollFrom = performance.now();
      await sleep(settings.pollSec * 1000);
      const pollTo = performance.now();
      const polled = await scrape(p.url);
      return {
        lagP99Ms: round((gauge(polled.text, 'nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000),
        lagP50Ms: round((gauge(polled.text, 'nodejs_eventloop_lag_p50_seconds') ?? 0) * 1000),
        lagMaxMs: round((gauge(polled.text, 'nodejs_eventloop_lag_max_seconds') ?? 0) * 1000),
        healthz: latencies(healthz.samples, pollFrom, pollTo),
        invoke: latencies(invoke.samples, pollFrom, pollTo),
        metricsScrapeMs: reset.ms,
        metricsScrapeLongestHealthzMs: scrapeLongestHealthzMs,
        metricsBytes: polled.text.length,
        ...memory(polled.text),
      };
    };
    const ids = dead.map((d) => d.id);
    let polling: Polling | undefined;
    let afterAdmin = baseline;
    let afterReloads = baseline;
    for (let repeat = 1; repeat <= settings.repeats; repeat++) {
      await change(`admin add ${settings.workers}`, () => admin('add', { workers: dead }));
      if (polling === undefined) polling = await measurePolling();
      await change(`admin drain ${settings.workers}`, () => admin('drain', { workers: ids }));
      await change(`admin remove ${settings.workers}`, () => admin('remove', { workers: ids }));
      await settle(2000);
      afterAdmin = await scrape(p.url);
      await change(`reload adding ${settings.workers}`, () => reload([liveSpec, ...dead]));
      await change(`reload re-weighting ${settings.workers}`, () => reload([liveSpec, ...dead.map((d) => ({ ...d, weight: 2 }))]));
      await change(`reload removing ${settings.workers}`, () => reload([liveSpec]));
      await settle(2000);
      afterReloads = await scrape(p.url);
    }
    await healthz.stop();
    await invoke.stop();
    const gone = {
      afterAdminRemove: { metricsBytes: afterAdmin.text.length, series: seriesOf(afterAdmin.text, 'dead-'), ...memory(afterAdmin.text) },
      afterReloadRemove: { metricsBytes: afterReloads.text.length, series: seriesOf(afterReloads.text, 'dead-'), ...memory(afterReloads.text) },
    };
    const result = {
      command: REPRODUCE + (argv.length > 0 ? ` -- ${argv.join(' ')}` : ''),
      machine: { cpus: cpus().length, loadAvg: loadavg().map(round) },
      settings,
      baseline: atBaseline,
      changes,
      polling: polling!,
      gone,
    };
    await mkdir(settings.out, { recursive: true });
    await writeFile(join(settings.out, 'summary.json'), `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(join(settings.out, 'summary.md'), report(result));
    process.stdout.write(report(result));
    return 0;
  } finally {
    if (proxy !== undefined) await stopChild(proxy.child);
    await new Promise<void>((resolve) => live.server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
}

type Polling = { lagP99Ms: number; lagP50Ms: number; lagMaxMs: number; healthz: ReturnType<typeof latencies>; invoke: ReturnType<typeof latencies>; metricsScrapeMs: number; metricsScrapeLongestHealthzMs: number; metricsBytes: number; rssMiB: number; heapUsedMiB: number; externalMiB: number };

type Result = {
  command: string; machine: { cpus: number; loadAvg: number[] }; settings: Settings;
  baseline: { metricsBytes: number; rssMiB: number; heapUsedMiB: number; externalMiB: number; lagP99Ms: number };
  changes: Change[];
  polling: Polling;
  gone: Record<'afterAdminRemove' | 'afterReloadRemove', { metricsBytes: number; series: number; rssMiB: number; heapUsedMiB: number; externalMiB: number }>;
};

function report(x: Result): string {
  const n = x.settings.workers.toLocaleString('en');
  return `# Scale: ${n} unreachable workers

Command: \`${x.command}\`
Machine: ${x.machine.cpus} CPUs, load average at the end ${x.machine.loadAvg.join(' / ')} (shared; timings are noisy).${x.settings.quick ? '\n**Run with --quick (shortened pauses): a run-through, not a measurement.**' : ''}
Proxy: ${x.settings.balancer}, healthIntervalMs ${x.settings.healthIntervalMs}, healthMaxPollsPerSecond ${x.settings.maxPollsPerSecond}, one live worker plus ${n} at 127.0.0.2 (refused).

## Bulk changes: how long each held the event loop

Longest GET /healthz answer (sent every 10 ms) and invocation (every 50 ms) while the change ran; the call time is
the admin answer's, or SIGHUP to the "configuration reloaded" log line. Each change was made ${x.settings.repeats} times
(the whole set in turn): median and worst of the ${x.settings.repeats}.

| change | call, median | longest /healthz, median / worst | longest invocation, median / worst |
| --- | ---: | ---: | ---: |
${[...groupBy(x.changes, (c) => c.what)].map(([what, cs]) => `| ${what} | ${median(cs.map((c) => c.callMs))} ms | ${median(cs.map((c) => c.longestHealthzMs))} / ${Math.max(...cs.map((c) => c.longestHealthzMs))} ms | ${median(cs.map((c) => c.longestInvokeMs))} / ${Math.max(...cs.map((c) => c.longestInvokeMs))} ms |`).join('\n')}

## Polling ${n} workers for ${x.settings.pollSec} s

| measure | value |
| --- | ---: |
| event-loop delay p50 / p99 / max (\`nodejs_eventloop_lag_*\`, the proxy's own; each sample includes prom-client's 10 ms sampling interval, so an idle loop reads about 10 ms) | ${x.polling.lagP50Ms} / ${x.polling.lagP99Ms} / ${x.polling.lagMaxMs} ms |
| GET /healthz p50 / p99 / max (${x.polling.healthz.count} sent, ${x.polling.healthz.failed} failed) | ${x.polling.healthz.p50Ms} / ${x.polling.healthz.p99Ms} / ${x.polling.healthz.maxMs} ms |
| invocation p50 / p99 / max (${x.polling.invoke.count} sent, ${x.polling.invoke.failed} failed) | ${x.polling.invoke.p50Ms} / ${x.polling.invoke.p99Ms} / ${x.polling.invoke.maxMs} ms |
| one /metrics scrape (${x.polling.metricsBytes} bytes): answered in / longest /healthz meanwhile | ${x.polling.metricsScrapeMs} / ${x.polling.metricsScrapeLongestHealthzMs} ms |

## Memory and /metrics

| when | RSS | V8 heap used | external | /metrics bytes | series of the ${n} |
| --- | ---: | ---: | ---: | ---: | ---: |
| 1 worker, before (event-loop delay p99 ${x.baseline.lagP99Ms} ms) | ${x.baseline.rssMiB} MiB | ${x.baseline.heapUsedMiB} MiB | ${x.baseline.externalMiB} MiB | ${x.baseline.metricsBytes} | 0 |
| ${n} workers, polled | ${x.polling.rssMiB} MiB | ${x.polling.heapUsedMiB} MiB | ${x.polling.externalMiB} MiB | ${x.polling.metricsBytes} | |
| after the admin remove | ${x.gone.afterAdminRemove.rssMiB} MiB | ${x.gone.afterAdminRemove.heapUsedMiB} MiB | ${x.gone.afterAdminRemove.externalMiB} MiB | ${x.gone.afterAdminRemove.metricsBytes} | ${x.gone.afterAdminRemove.series} |
| after the reload remove | ${x.gone.afterReloadRemove.rssMiB} MiB | ${x.gone.afterReloadRemove.heapUsedMiB} MiB | ${x.gone.afterReloadRemove.externalMiB} MiB | ${x.gone.afterReloadRemove.metricsBytes} | ${x.gone.afterReloadRemove.series} |

/metrics bytes differ from the first row by the counters and histograms of the live worker's invocations in between,
not by series of removed workers (last column).
`;
}

runBenchmark('scale', main);
