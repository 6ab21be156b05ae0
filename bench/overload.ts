// Overload: thousands of clients at once against a proxy whose workers can run
// 16 requests at a time. Every request must be answered (served, or 503 when
// the queue is full, at once), the queues must stay within their bounds, the
// proxy's memory must stay small, and service must be back at full speed when
// the load stops.
// Build and run: npm run bench:overload   (node dist/bench/overload.js --help)
// Writes <out>/summary.md and <out>/summary.json.

import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseFlags, parseNumberFlag, UsageError } from '../pipbench/commands/support.js';
import { mean, percentile, sortedAscending } from '../pipbench/stats.js';
import { freePort, peakRssMiB, runBenchmark, startChild, stopChild, tempFolder, waitForLine } from './children.js';
import { burst, openFileLimits, reexecWithMoreFiles } from './burst.js';
import { runLoad, type LoadResult } from './load.js';
import { proxyStatus, rssMiB, startProxyChild } from './proxy-child.js';

const REPRODUCE = 'npm run bench:overload   # = npx tsc -p tsconfig.json && node dist/bench/overload.js';
const FUNCTION_NAME = 'fn';

const usage = `usage: node dist/bench/overload.js [flags]

Starts warmroute (node dist/src/cli.js start, a child process) in front of workers in
another child, measures a closed-loop run, then opens --clients connections at once,
each sending one invocation, samples /status while they are answered, and measures
the closed-loop run again. Then the same burst against a bare node:http server that
answers every request 503 at once (the floor: what Node can do on this machine now).

  --clients N                 concurrent client connections (default 10000)
  --workers N                 workers (default 2)
  --connections-per-worker N  the proxy's connection limit per worker (default 8)
  --queue-limit N             the proxy's queueLimit (default 1000)
  --worker-queue-limit N      the proxy's workerQueueLimit (default 100)
  --delay-ms N                each invocation's time at the worker (default 20)
  --closed-sec N              length of the closed-loop runs before and after (default 5)
  --no-floor                  skip the burst against the bare server
  --out DIR                   where summary.md and summary.json go (default results/bench-overload)
  --help                      this text
`;

interface Settings {
  clients: number;
  workers: number;
  connectionsPerWorker: number;
  queueLimit: number;
  workerQueueLimit: number;
  delayMs: number;
  closedSec: number;
  floor: boolean;
  out: string;
}


function parseSettings(argv: string[]): Settings | undefined {
  const values = parseFlags(argv, {
    clients: { type: 'string' }, workers: { type: 'string' }, 'connections-per-worker': { type: 'string' },
    'queue-limit': { type: 'string' }, 'worker-queue-limit': { type: 'string' }, 'delay-ms': { type: 'string' },
    'closed-sec': { type: 'string' }, 'no-floor': { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean' },
  });
  if (values.help) return undefined;
  return {
    clients: parseNumberFlag('clients', values.clients, { integer: true, min: 1, max: 60_000 }) ?? 10_000,
    workers: parseNumberFlag('workers', values.workers, { integer: true, min: 1, max: 64 }) ?? 2,
    connectionsPerWorker: parseNumberFlag('connections-per-worker', values['connections-per-worker'], { integer: true, min: 1, max: 1000 }) ?? 8,
    queueLimit: parseNumberFlag('queue-limit', values['queue-limit'], { integer: true, min: 0, max: 1_000_000 }) ?? 1000,
    workerQueueLimit: parseNumberFlag('worker-queue-limit', values['worker-queue-limit'], { integer: true, min: 0, max: 1_000_000 }) ?? 100,
    delayMs: parseNumberFlag('delay-ms', values['delay-ms'], { integer: true, min: 0, max: 60_000 }) ?? 20,
    closedSec: parseNumberFlag('closed-sec', values['closed-sec'], { integer: true, min: 1, max: 600 }) ?? 5,
    floor: values['no-floor'] !== true,
    out: values.out ?? 'results/bench-overload',
  };
}

interface QueueWatch {
  samples: number;
  failedSamples: number;
  maxWaiting: number;
  maxShared: number;
  maxWorkerQueued: number;
  maxWorkerInFlight: number;
  violations: string[];
}

/** Samples /status over its own connection until `stop` resolves. */
async function watchQueues(url: string, settings: Settings, stop: Promise<unknown>): Promise<QueueWatch> {
  const w: QueueWatch = { samples: 0, failedSamples: 0, maxWaiting: 0, maxShared: 0, maxWorkerQueued: 0, maxWorkerInFlight: 0, violations: [] };
  let stopped = false;
  void stop.then(() => { stopped = true; });
  while (!stopped) {
    try {
      const st = await proxyStatus(url);
      w.samples++;
      w.maxWaiting = Math.max(w.maxWaiting, st.queue.waiting);
      w.maxShared = Math.max(w.maxShared, st.queue.shared);
      if (st.queue.waiting > settings.queueLimit) w.violations.push(`${st.queue.waiting} waiting > queueLimit ${settings.queueLimit}`);
      for (const worker of st.workers) {
        w.maxWorkerQueued = Math.max(w.maxWorkerQueued, worker.queued);
        w.maxWorkerInFlight = Math.max(w.maxWorkerInFlight, worker.inFlight);
        if (worker.queued > settings.workerQueueLimit) w.violations.push(`${worker.id}: ${worker.queued} queued > ${settings.workerQueueLimit}`);
        if (worker.inFlight > worker.limit) w.violations.push(`${worker.id}: ${worker.inFlight} in flight > limit ${worker.limit}`);
      }
    } catch {
      w.failedSamples++;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return w;
}

interface Dist { count: number; meanMs: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number }

function dist(values: number[]): Dist {
  const v = sortedAscending(values.filter((x) => Number.isFinite(x)));
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { count: v.length, meanMs: r(mean(v)), p50Ms: r(percentile(v, 50)), p90Ms: r(percentile(v, 90)), p99Ms: r(percentile(v, 99)), maxMs: r(v.length === 0 ? Number.NaN : v[v.length - 1]!) };
}

/** The kernel's cap on a listen backlog, or undefined when it cannot be read. */
function somaxconn(): number | undefined {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Load averages (1, 5, 15 min) rounded to 2 decimals: the machine is shared, so each run says how busy it was. */
function load(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

async function closedLoop(url: string, seconds: number): Promise<LoadResult> {
  return runLoad({ url: `${url}/runLambda/${FUNCTION_NAME}`, connections: 64, durationSec: seconds, body: '{}' });
}

async function main(argv: string[]): Promise<number> {
  let settings: Settings | undefined;
  try {
    settings = parseSettings(argv);
    if (settings === undefined) {
      process.stdout.write(usage);
      return 0;
    }
    const again = reexecWithMoreFiles(settings.clients + 1000);
    if (again !== undefined) return again;
  } catch (err) {
    process.stderr.write(`overload: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  const s = settings;
  const loadAvgAtStart = load();
  for (const path of ['dist/src/cli.js', 'dist/bench/upstream.js']) {
    if (!existsSync(path)) {
      process.stderr.write(`overload: ${path} does not exist: run from the project folder, after "npx tsc -p tsconfig.json"\n`);
      return 2;
    }
  }
  const log = (text: string): void => void process.stderr.write(`[overload] ${text}\n`);
  const workersChild = startChild('workers', process.execPath, [resolve('dist/bench/upstream.js'), '--count', String(s.workers), '--delay-ms', String(s.delayMs)]);
  const urls = await waitForLine(workersChild, (line) => {
    try {
      return (JSON.parse(line) as { upstreams?: string[] }).upstreams;
    } catch {
      return undefined;
    }
  }, 15_000);
  const dir = tempFolder('overload');
  const configPath = join(dir, 'warmroute.json');
  const port = await freePort();
  await writeFile(configPath, JSON.stringify({
    host: '127.0.0.1', port, balancer: 'least-loaded',
    workers: urls.map((url, i) => ({ url, id: `w${i + 1}` })),
    connectionsPerWorker: s.connectionsPerWorker, queueLimit: s.queueLimit, workerQueueLimit: s.workerQueueLimit,
    queueTimeoutMs: 60_000, healthIntervalMs: 1000, accessLog: false, logLevel: 'info',
  }));
  const { hard } = openFileLimits();
  const proxy = await startProxyChild(configPath, Math.min(hard, s.clients * 2 + 1000));
  const pid = proxy.child.pid;
  log(`proxy ${proxy.url} (pid ${pid}) in front of ${urls.join(', ')}`);

  // Unmeasured first, so that "before" is a warm proxy (compiled code, open upstream connections), as "after" is.
  log('warm-up, 2 s');
  await closedLoop(proxy.url, 2);
  log(`closed loop before, ${s.closedSec} s`);
  const before = await closedLoop(proxy.url, s.closedSec);
  const rssBeforeMiB = rssMiB(pid);

  log(`${s.clients} clients at once`);
  const loadAvgAtBurst = load();
  let burstDone: () => void = () => undefined;
  const watch = watchQueues(proxy.url, s, new Promise<void>((r) => { burstDone = r; }));
  const { answers, ms: burstMs, cpuMsPerRequest } = await burst(port, s.clients, pid);
  burstDone();
  const queues = await watch;
  const rssAfterBurstMiB = rssMiB(pid);
  const peakMiB = peakRssMiB(pid);

  // Service is back once nothing waits or runs; then the same closed loop again.
  const idleAt = performance.now();
  for (;;) {
    const st = await proxyStatus(proxy.url);
    if (st.queue.waiting === 0 && st.queue.inFlight === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const idleAfterMs = performance.now() - idleAt;
  log(`closed loop after, ${s.closedSec} s`);
  const after = await closedLoop(proxy.url, s.closedSec);
  const proxyAlive = proxy.child.process.exitCode === null && proxy.child.process.signalCode === null;
  await stopChild(proxy.child);
  await stopChild(workersChild);
  await rm(dir, { recursive: true, force: true });

  // The floor: the same burst against a bare server that answers 503 at once, with the proxy's backlog.
  let floor: { answered: number; unanswered: number; burstMs: number; answerMs: Dist; totalMs: Dist; peakRssMiB: number | null; cpuMsPerRequest: number | null; loadAvg: number[] } | null = null;
  if (s.floor) {
    log(`floor: ${s.clients} clients at once against a bare node:http server answering 503`);
    const bare = startChild('floor', '/bin/sh', ['-c', `ulimit -n ${Math.min(hard, s.clients * 2 + 1000)} && exec "$0" "$@"`, process.execPath, resolve('dist/bench/floor-server.js'), '--backlog', '65535']);
    const floorPort = await waitForLine(bare, (line) => {
      try {
        return (JSON.parse(line) as { port?: number }).port;
      } catch {
        return undefined;
      }
    }, 15_000);
    const floorLoad = load();
    const f = await burst(floorPort, s.clients, bare.pid);
    const floorPeak = peakRssMiB(bare.pid);
    await stopChild(bare);
    const ok = f.answers.filter((a) => a.status === 503);
    floor = {
      answered: f.answers.filter((a) => a.status !== 0).length,
      unanswered: f.answers.filter((a) => a.status === 0).length,
      burstMs: Math.round(f.ms),
      answerMs: dist(ok.map((a) => a.answerMs)),
      totalMs: dist(ok.map((a) => a.totalMs)),
      peakRssMiB: floorPeak ?? null,
      cpuMsPerRequest: f.cpuMsPerRequest,
      loadAvg: floorLoad,
    };
  }

  const byStatus = new Map<string, number>();
  for (const a of answers) {
    const key = a.status === 0 ? `unanswered (${a.error})` : `${a.status}${a.code === '' ? '' : ` ${a.code}`}`;
    byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
  }
  const served = answers.filter((a) => a.status === 200);
  const full = answers.filter((a) => a.status === 503 && a.code === 'queue_full');
  const unanswered = answers.filter((a) => a.status === 0).length;
  const summary = {
    command: REPRODUCE,
    settings: { ...s, cores: cpus().length, openFilesHard: hard },
    machine: { cores: cpus().length, cpuModel: cpus()[0]?.model ?? '', node: process.version, somaxconn: somaxconn() ?? null, loadAvgAtStart, loadAvgAtBurst, loadAvgAtEnd: load() },
    clients: s.clients,
    byStatus: Object.fromEntries([...byStatus].sort((a, b) => b[1] - a[1])),
    answered: s.clients - unanswered,
    unanswered,
    burstMs: Math.round(burstMs),
    connectMs: dist(answers.map((a) => a.connectMs)),
    queueFullAnswerMs: dist(full.map((a) => a.answerMs)),
    queueFullTotalMs: dist(full.map((a) => a.totalMs)),
    proxyCpuMsPerRequest: cpuMsPerRequest,
    servedAnswerMs: dist(served.map((a) => a.answerMs)),
    queues,
    rssMiB: { beforeBurst: rssBeforeMiB ?? null, afterBurst: rssAfterBurstMiB ?? null, peak: peakMiB ?? null },
    idleAfterBurstMs: Math.round(idleAfterMs),
    closedLoop: {
      before: { requestsPerSec: Math.round(before.requestsPerSec), p50Ms: before.latencyP50Ms, p99Ms: before.latencyP99Ms, non2xx: before.non2xx, errors: before.errors },
      after: { requestsPerSec: Math.round(after.requestsPerSec), p50Ms: after.latencyP50Ms, p99Ms: after.latencyP99Ms, non2xx: after.non2xx, errors: after.errors },
      ratio: Math.round((after.requestsPerSec / before.requestsPerSec) * 1000) / 1000,
    },
    proxyAliveAtEnd: proxyAlive,
    floor,
    proxyProblems: proxy.logs.problems.slice(-10),
  };
  await mkdir(s.out, { recursive: true });
  await writeFile(join(s.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  const md = markdown(summary);
  await writeFile(join(s.out, 'summary.md'), md);
  process.stdout.write(md);
  const pass = unanswered === 0 && queues.violations.length === 0 && proxyAlive;
  return pass ? 0 : 1;
}

type Floor = { answered: number; unanswered: number; burstMs: number; answerMs: Dist; totalMs: Dist; peakRssMiB: number | null; cpuMsPerRequest: number | null; loadAvg: number[] };

function markdown(x: {
  command: string; settings: Settings & { cores: number; openFilesHard: number }; clients: number; byStatus: Record<string, number>;
  machine: { cores: number; cpuModel: string; node: string; somaxconn: number | null; loadAvgAtStart: number[]; loadAvgAtBurst: number[]; loadAvgAtEnd: number[] };
  answered: number; unanswered: number; burstMs: number; connectMs: Dist; queueFullAnswerMs: Dist; queueFullTotalMs: Dist; servedAnswerMs: Dist; queues: QueueWatch;
  proxyCpuMsPerRequest: number | null; floor: Floor | null;
  rssMiB: { beforeBurst: number | null; afterBurst: number | null; peak: number | null }; idleAfterBurstMs: number;
  closedLoop: { before: { requestsPerSec: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number }; after: { requestsPerSec: number; p50Ms: number; p99Ms: number; non2xx: number; errors: number }; ratio: number };
  proxyAliveAtEnd: boolean;
}): string {
  const f = (n: number | null): string => (n === null || Number.isNaN(n) ? '-' : n.toFixed(1));
  const row = (name: string, d: Dist): string => `| ${name} | ${d.count} | ${f(d.meanMs)} | ${f(d.p50Ms)} | ${f(d.p90Ms)} | ${f(d.p99Ms)} | ${f(d.maxMs)} |`;
  const s = x.settings;
  return `# Overload: ${x.clients} concurrent clients, ${s.workers} workers x ${s.connectionsPerWorker} connections

Command: \`${x.command}\` (this run: \`node dist/bench/overload.js --clients ${x.clients} --workers ${s.workers} --connections-per-worker ${s.connectionsPerWorker} --queue-limit ${s.queueLimit} --worker-queue-limit ${s.workerQueueLimit} --delay-ms ${s.delayMs} --closed-sec ${s.closedSec}\`)

warmroute (\`node dist/src/cli.js start\`, least-loaded, queueLimit ${s.queueLimit}, workerQueueLimit ${s.workerQueueLimit}, queueTimeoutMs 60000) in one
child process, ${s.workers} workers answering after ${s.delayMs} ms in another, the clients in this one: each of ${x.clients} connections is
opened at once and sends one \`POST /runLambda/fn\` with \`connection: close\`.

Machine: ${x.machine.cores} cores (${x.machine.cpuModel}), shared with other work; load average (1/5/15 min) ${x.machine.loadAvgAtStart.join(' / ')} at the start,
${x.machine.loadAvgAtBurst.join(' / ')} at the burst, ${x.machine.loadAvgAtEnd.join(' / ')} at the end; Node ${x.machine.node}; net.core.somaxconn ${x.machine.somaxconn ?? '-'}.

| measure | value |
| --- | --- |
| answered | ${x.answered} of ${x.clients} |
| **unanswered** (goal 0) | **${x.unanswered}** |
| all answered after | ${x.burstMs} ms |
| most waiting seen in /status (bound ${s.queueLimit}) | ${x.queues.maxWaiting} (${x.queues.samples} samples, ${x.queues.failedSamples} failed) |
| most in one worker's queue (bound ${s.workerQueueLimit}) | ${x.queues.maxWorkerQueued} |
| most in flight on one worker (limit ${s.connectionsPerWorker}) | ${x.queues.maxWorkerInFlight} |
| bound violations | ${x.queues.violations.length === 0 ? 'none' : x.queues.violations.slice(0, 5).join('; ')} |
| proxy RSS before the burst | ${f(x.rssMiB.beforeBurst)} MiB |
| proxy RSS right after it | ${f(x.rssMiB.afterBurst)} MiB |
| **proxy peak RSS** (VmHWM, goal 150 MB = 143 MiB) | **${f(x.rssMiB.peak)} MiB** |
| proxy CPU per burst request | ${x.proxyCpuMsPerRequest ?? '-'} ms |
| **503 queue_full answered**, p50 / p99 / max | **${f(x.queueFullAnswerMs.p50Ms)} / ${f(x.queueFullAnswerMs.p99Ms)} / ${f(x.queueFullAnswerMs.maxMs)} ms** |
| closed loop (64 connections, ${s.closedSec} s) before | ${x.closedLoop.before.requestsPerSec} requests/s, p50 ${f(x.closedLoop.before.p50Ms)} ms, p99 ${f(x.closedLoop.before.p99Ms)} ms |
| closed loop after | ${x.closedLoop.after.requestsPerSec} requests/s, p50 ${f(x.closedLoop.after.p50Ms)} ms, p99 ${f(x.closedLoop.after.p99Ms)} ms |
| **after / before** | **${x.closedLoop.ratio}** |
| proxy still running at the end | ${x.proxyAliveAtEnd ? 'yes' : 'NO'} |

## Answers

| status | count |
| --- | --- |
${Object.entries(x.byStatus).map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

## Latency (ms)

Answer time: from the request written to the first byte of the answer, as this client sees it (its own event loop, busy with
${x.clients} sockets, adds to it). Connect: from the start of the burst to the connection being accepted by the kernel (the kernel's
accept queue, net.core.somaxconn, and this client opening ${x.clients} sockets set most of it, not the proxy's code).

Total: from the start of the burst to the answer (connect + answer), what a client waits in all.

| what | count | mean | p50 | p90 | p99 | max |
| --- | --- | --- | --- | --- | --- | --- |
${row('503 queue_full: answer', x.queueFullAnswerMs)}
${row('503 queue_full: total', x.queueFullTotalMs)}
${row('200 served: answer', x.servedAnswerMs)}
${row('connect (every client)', x.connectMs)}
${x.floor === null ? '' : `
## The floor: a bare node:http server under the same burst

\`dist/bench/floor-server.js\`: every request answered 503 at once (the same JSON body), same listen backlog, no queue, no workers;
run right after the proxy (load average ${x.floor.loadAvg.join(' / ')}). What Node itself does on this machine under ${x.clients} connections at once.

| measure | bare server | warmroute |
| --- | --- | --- |
| answered | ${x.floor.answered} of ${x.clients} | ${x.answered} of ${x.clients} |
| all answered after | ${x.floor.burstMs} ms | ${x.burstMs} ms |
| 503 answer p50 / p99 / max | ${f(x.floor.answerMs.p50Ms)} / ${f(x.floor.answerMs.p99Ms)} / ${f(x.floor.answerMs.maxMs)} ms | ${f(x.queueFullAnswerMs.p50Ms)} / ${f(x.queueFullAnswerMs.p99Ms)} / ${f(x.queueFullAnswerMs.maxMs)} ms |
| 503 total p50 / p99 / max | ${f(x.floor.totalMs.p50Ms)} / ${f(x.floor.totalMs.p99Ms)} / ${f(x.floor.totalMs.maxMs)} ms | ${f(x.queueFullTotalMs.p50Ms)} / ${f(x.queueFullTotalMs.p99Ms)} / ${f(x.queueFullTotalMs.maxMs)} ms |
| CPU per request | ${x.floor.cpuMsPerRequest ?? '-'} ms | ${x.proxyCpuMsPerRequest ?? '-'} ms |
| peak RSS | ${f(x.floor.peakRssMiB)} MiB | ${f(x.rssMiB.peak)} MiB |
`}`;
}

runBenchmark('overload', main);
