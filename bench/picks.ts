// Pick speed and start-up of every routing policy at 1,000 and 10,000 workers, under routing load.
// Build and run: npm run bench:picks (npx tsc -p tsconfig.json && node dist/bench/picks.js)
// Writes <out>/summary.md and <out>/summary.json and prints the table.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { balancerNames, createBalancer } from '../balancers/index.js';
import { seededRandom } from '../balancers/seeded-random.js';
import { parseChoice, parseNumberFlag, shellQuote } from '../pipbench/commands/support.js';
import { percentile, sortedAscending } from '../pipbench/stats.js';
import type { Balancer, LambdaInfo, WorkerView } from '../balancers/types.js';

const REPRODUCE = 'npm run bench:picks';
const DEFAULT_OUT = 'results/bench-picks';
const DEFAULT_SIZES = [1000, 10000];
const FUNCTION_COUNT = 200;
const LOAD_THRESHOLD = 3;
const BALANCE_FACTOR = 1.25;
/** Connections per worker, and the share of all connections kept busy while measuring. */
const LIMIT = 8;
const BUSY_SHARE = 0.6;
/**
 * Virtual milliseconds that pass per routed request: the policies' clock moves
 * as the proxy's does, so what they learn online (service and work times,
 * package ages) is learned here too. 0.05 ms is 20,000 requests a second.
 */
const STEP_MS = 0.05;
/** Targets from the issue: median ns per pick by worker count, and start-up of 10,000 workers. */
const TARGET_NS: Readonly<Record<number, number>> = { 1000: 1000, 10000: 5000 };
const STARTUP_TARGET_MS = 500;

interface Variant {
  readonly label: string;
  readonly policy: string;
  readonly settings: Readonly<Record<string, unknown>>;
}

const variants: readonly Variant[] = [
  ...balancerNames.map((policy) => ({ label: policy, policy, settings: { loadThreshold: LOAD_THRESHOLD, balanceFactor: BALANCE_FACTOR } })),
  { label: 'pkg-aware (ring olscheduler)', policy: 'pkg-aware', settings: { loadThreshold: LOAD_THRESHOLD, ring: 'olscheduler' } },
];

interface Timing {
  /** Least time of warm-up before measuring, in milliseconds. */
  readonly warmupMs: number;
  /**
   * Least requests routed in warm-up, per worker. The policies' state (what
   * cost-aware believes each worker holds, its learned times) keeps growing
   * long after the pool first reaches its steady load: cost-aware's cost per
   * request at 1,000 workers fell from 73 to 92 µs to 2 to 4 µs by 63,000
   * requests and held there, and its pick timed after a 300 ms warm-up
   * (15,000 to 28,000 requests) read about half its steady pick
   * (`results/bench-picks/warm-up/`).
   */
  readonly warmupPerWorker: number;
  /** Target wall time of one measured batch, in milliseconds. */
  readonly batchMs: number;
  /** Measured batches; the median is reported. */
  readonly batches: number;
}

const FULL_TIMING: Timing = { warmupMs: 300, warmupPerWorker: 200, batchMs: 40, batches: 15 };
// --quick warms up by request count alone (no least time), so its warm-up is the same on any machine.
const QUICK_TIMING: Timing = { warmupMs: 0, warmupPerWorker: 20, batchMs: 5, batches: 3 };

interface Measurement {
  readonly policy: string;
  readonly workers: number;
  /** Median ns per routed request: pick, plus the taken and dropped events it causes. */
  readonly nsPerRequest: number;
  /** Median ns of the picks alone, with the events' share measured apart and taken off. */
  readonly nsPerPick: number;
  readonly startupMs: number;
  readonly waitedShare: number;
  readonly requestsMeasured: number;
  /** The policy's warm-up, chunk by chunk: requests routed by each chunk's end, and its ns per request. */
  readonly warmup: readonly { readonly requests: number; readonly ns: number }[];
}

const usage = `usage: node dist/bench/picks.js [--out DIR] [--sizes 1000,10000] [--policies LIST] [--timer cpu|wall] [--baseline replay|rotate] [--quick] [--rounds N]

  --out DIR      where summary.md and summary.json go (default ${DEFAULT_OUT}, relative to the current directory)
  --sizes LIST   comma-separated worker counts (default ${DEFAULT_SIZES.join(',')})
  --policies L   comma-separated variants to measure (default all: ${variants.map((v) => v.label).join(', ')})
  --timer T      cpu (default): the CPU time the process was given, so waiting for a core on a loaded
                 machine does not count; wall: elapsed time
  --baseline B   what the pick is measured against: replay (default), a twin of the policy whose requests go to
                 the workers the policy picked, so only the pick differs; rotate, a twin that rounds the pool
                 (routes differently, so its events cost differently: the method before replay)
  --quick        short warm-up and batches: checks that the benchmark runs, numbers are rough
  --rounds N     measure N times (1 to 50, default 1), each round a fresh process after the one before,
                 writing <out>/round-K/; <out>/summary.* then give each row's median over the rounds, its
                 range and in how many rounds the target was met (a run's figures move by tens of percent)
  --help         this text
`;

/** A mutable view, as the worker table keeps one per worker, and its place in the bench's list. */
type BenchWorker = { -readonly [K in keyof WorkerView]: WorkerView[K] } & { readonly index: number };

function makeWorkers(count: number): BenchWorker[] {
  return Array.from({ length: count }, (_, i) => {
    const host = `10.0.${i >> 8}.${i & 255}`;
    return { index: i, id: `worker${i}`, url: `http://${host}:8080`, weight: 1 + (i % 3 === 0 ? 1 : 0), limit: LIMIT, inFlight: 0, queued: 0, external: 0, routable: true, packages: new Set<string>(), cores: 0 };
  });
}

function makeFunctions(): LambdaInfo[] {
  return Array.from({ length: FUNCTION_COUNT }, (_, i) => ({
    name: `hdl${i}`,
    packages: [`level${i % 4}pkg${1000 + i}`, `level${(i + 1) % 4}pkg${i % 37}`, 'six'],
  }));
}

/** The bench's virtual clock, read by the policies through their env. */
interface BenchClock {
  ms: number;
}

/**
 * The table's side of routing, reduced to what a policy sees: a request is
 * dispatched to a free pick (taken) or queued at a full one. Once the pool is
 * at its steady load, before each new request a random open request's worker
 * finishes its oldest running request (dropped, with that request's function)
 * and its queue's head takes the connection (taken). The clock advances
 * STEP_MS per routed request. The workers' package sets stay empty: adding
 * each dispatch's packages, as the table does, costs every policy the same
 * (about 0.7 µs a request here, memory-bound) and made the difference between
 * a policy and its baseline noisier than the picks.
 */
class Router {
  /** One entry per open request (running or queued): its worker. */
  private readonly open: BenchWorker[] = [];
  /** Each worker's running and queued functions, oldest first. */
  private readonly lines = new Map<BenchWorker, { running: LambdaInfo[]; queued: LambdaInfo[] }>();
  private head = 0;
  waited = 0;
  routed = 0;

  /** `trace`: where each pick's worker index goes (-1: none), for a twin that replays them. */
  constructor(
    private readonly balancer: Balancer,
    private readonly workers: BenchWorker[],
    private readonly steady: number,
    private readonly random: () => number,
    private readonly clock: BenchClock,
    private readonly trace?: PickTrace,
  ) {
    for (const w of workers) this.lines.set(w, { running: [], queued: [] });
  }

  /** Routes `count` requests; returns how many picks found no worker, so the work is observable. */
  run(functions: readonly LambdaInfo[], count: number): number {
    let misses = 0;
    const balancer = this.balancer;
    for (let i = 0; i < count; i++) {
      if (this.open.length - this.head >= this.steady) this.release();
      const fn = functions[Math.floor(this.random() * functions.length)];
      const w = balancer.pick(fn, this.workers) as BenchWorker | undefined;
      this.trace?.push(w === undefined ? -1 : w.index);
      if (w === undefined) {
        misses++;
        continue;
      }
      this.routed++;
      this.clock.ms += STEP_MS;
      const line = this.lines.get(w) as { running: LambdaInfo[]; queued: LambdaInfo[] };
      if (w.inFlight < w.limit) {
        w.inFlight++;
        line.running.push(fn);
        balancer.taken?.(w, fn);
      } else {
        w.queued++;
        this.waited++;
        line.queued.push(fn);
      }
      this.open.push(w);
    }
    return misses;
  }

  private release(): void {
    // A random open request's worker frees a connection: swap the entry to the head, then advance.
    const span = this.open.length - this.head;
    const pickAt = this.head + Math.floor(this.random() * span);
    const w = this.open[pickAt];
    this.open[pickAt] = this.open[this.head];
    this.head++;
    if (this.head > 65_536) {
      this.open.splice(0, this.head);
      this.head = 0;
    }
    // A worker with open requests has at least one running: queued ones wait only while all its connections are busy.
    const line = this.lines.get(w) as { running: LambdaInfo[]; queued: LambdaInfo[] };
    w.inFlight--;
    this.balancer.dropped?.(w, line.running.shift());
    const next = line.queued.shift();
    if (next !== undefined) {
      w.queued--;
      w.inFlight++;
      line.running.push(next);
      this.balancer.taken?.(w, next);
    }
  }
}

/**
 * What the figures time: `cpu` (default) is the CPU time the process was
 * given (process.cpuUsage, user + system, in microseconds), so the time it
 * waits for a core on a loaded machine does not count; `wall` is elapsed time.
 */
type TimerKind = 'cpu' | 'wall';

/** How summary.md says what was timed. */
const TIMER_TEXT: Readonly<Record<TimerKind, string>> = {
  cpu: 'timed by the CPU time the process was given\n(`process.cpuUsage`), so time spent waiting for a core on a loaded machine does\nnot count',
  wall: 'timed by elapsed (wall) time',
};

/** A reading of the chosen timer, in ns. */
type Timer = () => number;

const timers: Readonly<Record<TimerKind, Timer>> = {
  cpu: () => {
    const usage = process.cpuUsage();
    return (usage.user + usage.system) * 1000;
  },
  wall: () => Number(process.hrtime.bigint()),
};

/** A router warmed up and its batch sized: `batch()` routes one timed batch and returns ns per request. */
interface Timed {
  batch(): number;
  readonly warmupRequests: number;
  /** Each warm-up chunk: requests routed by its end, and ns per request in it. */
  readonly warmupChunks: readonly { readonly requests: number; readonly ns: number }[];
  readonly requestsPerBatch: number;
}

/**
 * Warms the router up until the pool is at its steady load (releases under
 * way, so the policies learn from completions), for at least the warm-up
 * time and the warm-up requests per worker, then sizes its batches to the
 * batch time at the speed of the last warm-up chunk (the whole warm-up's
 * average holds the slow start). `mirror`: route exactly as many requests as
 * that router did, in warm-up and per batch (a replaying twin).
 */
function warmUp(router: Router, functions: readonly LambdaInfo[], timing: Timing, timer: Timer, steady: number, workers: number, name: string, mirror?: Timed): Timed {
  let warmupRequests = 0;
  let chunk = 1000;
  let lastChunkNs = 0;
  const warmupChunks: { requests: number; ns: number }[] = [];
  const least = Math.max(steady, timing.warmupPerWorker * workers);
  const check = (misses: number): void => {
    if (misses > 0) throw new Error(`${name} found no worker ${misses} times while workers were free`);
  };
  const warmupStart = timer();
  if (mirror !== undefined) {
    check(router.run(functions, mirror.warmupRequests));
    warmupRequests = mirror.warmupRequests;
  }
  while (mirror === undefined && (warmupRequests < least || timer() - warmupStart < timing.warmupMs * 1e6)) {
    const chunkStart = timer();
    check(router.run(functions, chunk));
    lastChunkNs = (timer() - chunkStart) / chunk;
    warmupRequests += chunk;
    warmupChunks.push({ requests: warmupRequests, ns: Math.round(lastChunkNs) });
    chunk = Math.min(chunk * 2, 100_000);
  }
  const requestsPerBatch = mirror?.requestsPerBatch ?? Math.max(1000, Math.round((timing.batchMs * 1e6) / Math.max(lastChunkNs, 1)));
  return {
    warmupRequests,
    warmupChunks,
    requestsPerBatch,
    batch() {
      const start = timer();
      check(router.run(functions, requestsPerBatch));
      return (timer() - start) / requestsPerBatch;
    },
  };
}

/** Throws unless every worker of the replaying twin has as many requests running and queued as the policy's. */
function sameState(label: string, workers: readonly BenchWorker[], twinWorkers: readonly BenchWorker[]): void {
  for (let i = 0; i < workers.length; i++) {
    const w = workers[i];
    const twin = twinWorkers[i];
    if (w.inFlight !== twin.inFlight || w.queued !== twin.queued) {
      throw new Error(`${label}: the replay diverged from the policy it replays (${w.id}: ${w.inFlight} running and ${w.queued} queued, against ${twin.inFlight} and ${twin.queued})`);
    }
  }
}

/** The workers a policy picked, in order, as indexes (-1: no worker). */
class PickTrace {
  private readonly picks: number[] = [];
  private next = 0;

  push(index: number): void {
    this.picks.push(index);
  }

  /** The next pick not yet replayed. */
  shift(): number {
    if (this.next === this.picks.length) throw new Error('the replay ran ahead of the policy it replays');
    return this.picks[this.next++];
  }
}

/**
 * How the twin picks, so that the difference from the policy is the pick:
 * `replay` (default) sends each request to the worker the policy picked for
 * it, so routing, queues and events are the policy's own and only the pick
 * differs; `rotate` (the method before) rounds the pool, which routes
 * differently (a package-aware policy queues at its homes, a rotation hardly
 * queues), so the difference also holds the events' costs under each routing.
 */
type BaselineKind = 'replay' | 'rotate';

/** A balancer whose pick is a constant-time step, with the real policy's events: what the router and events cost without a policy's pick. */
function baselineOf(real: Balancer, workers: readonly WorkerView[], kind: BaselineKind, trace: PickTrace): Balancer {
  let at = 0;
  return {
    name: 'baseline',
    pick:
      kind === 'replay'
        ? () => {
            const index = trace.shift();
            return index < 0 ? undefined : workers[index];
          }
        : () => {
            // Round the pool without a policy: the cheapest pick that still spreads requests.
            at = at + 1 === workers.length ? 0 : at + 1;
            return workers[at];
          },
    taken: real.taken?.bind(real),
    dropped: real.dropped?.bind(real),
  };
}

function envOn(clock: BenchClock): { random: () => number; now: () => number } {
  return { random: seededRandom(7), now: () => clock.ms };
}

function benchmark(variants: readonly Variant[], sizes: readonly number[], timing: Timing, timer: Timer, baseline: BaselineKind, log: (line: string) => void): Measurement[] {
  const functions = makeFunctions();
  const results: Measurement[] = [];
  for (const size of sizes) {
    for (const variant of variants) {
      const workers = makeWorkers(size);
      const clock: BenchClock = { ms: 0 };
      const startupStart = timer();
      const balancer = createBalancer(variant.policy, variant.settings, envOn(clock));
      balancer.addedMany?.(workers);
      const startupMs = (timer() - startupStart) / 1e6;
      const steady = Math.round(size * LIMIT * BUSY_SHARE);
      const trace = new PickTrace();
      const router = new Router(balancer, workers, steady, seededRandom(size), clock, baseline === 'replay' ? trace : undefined);
      const full = warmUp(router, functions, timing, timer, steady, size, variant.label);
      // The same requests with a constant-time pick over a twin of the policy's events: the events' and router's share.
      const twinWorkers = makeWorkers(size);
      const twinClock: BenchClock = { ms: 0 };
      const twin = createBalancer(variant.policy, variant.settings, envOn(twinClock));
      twin.addedMany?.(twinWorkers);
      const twinRouter = new Router(baselineOf(twin, twinWorkers, baseline, trace), twinWorkers, steady, seededRandom(size), twinClock);
      const base = warmUp(twinRouter, functions, timing, timer, steady, size, `${variant.label} baseline`, baseline === 'replay' ? full : undefined);
      // Batches of the two alternate, so that a change in the machine's load falls on both alike; the pick's
      // share is the median of the differences of each pair.
      const fullSamples: number[] = [];
      const picks: number[] = [];
      for (let b = 0; b < timing.batches; b++) {
        const ns = full.batch();
        fullSamples.push(ns);
        picks.push(ns - base.batch());
        if (baseline === 'replay') sameState(variant.label, workers, twinWorkers);
      }
      const fullNs = percentile(sortedAscending(fullSamples), 50);
      const nsPerPick = Math.max(0, percentile(sortedAscending(picks), 50));
      const waitedShare = router.routed > 0 ? router.waited / router.routed : 0;
      results.push({
        policy: variant.label,
        workers: size,
        nsPerRequest: Math.round(fullNs),
        nsPerPick: Math.round(nsPerPick),
        startupMs: Math.round(startupMs * 10) / 10,
        waitedShare: Math.round(waitedShare * 1000) / 1000,
        requestsMeasured: full.requestsPerBatch * timing.batches,
        warmup: full.warmupChunks,
      });
      log(`  ${String(size).padStart(5)} workers  ${variant.label.padEnd(30)} pick ${formatNs(nsPerPick).padStart(9)}  request ${formatNs(fullNs).padStart(9)}  start-up ${startupMs.toFixed(1).padStart(7)} ms`);
    }
  }
  return results;
}

function formatNs(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}

function verdict(ok: boolean): string {
  return ok ? 'yes' : '**no**';
}

function table(results: readonly Measurement[], sizes: readonly number[]): string {
  const lines = ['| policy | workers | pick (median) | pick target met | pick + taken + dropped | start-up (addedMany) | requests that waited |', '| --- | ---: | ---: | :---: | ---: | ---: | ---: |'];
  for (const size of sizes) {
    for (const m of results.filter((r) => r.workers === size)) {
      const target = TARGET_NS[size];
      lines.push(`| ${m.policy} | ${size} | ${formatNs(m.nsPerPick)} | ${target === undefined ? '-' : verdict(m.nsPerPick <= target)} | ${formatNs(m.nsPerRequest)} | ${m.startupMs.toFixed(1)} ms${size >= 10_000 ? (m.startupMs < STARTUP_TARGET_MS ? '' : ' (over 0.5 s)') : ''} | ${(m.waitedShare * 100).toFixed(1)}% |`);
    }
  }
  return lines.join('\n');
}

function environment(): { node: string; platform: string; cpu: string; cores: number; loadAverage1m: number } {
  return { node: process.version, platform: `${process.platform} ${process.arch}`, cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, loadAverage1m: Math.round(loadavg()[0] * 10) / 10 };
}

/** How summary.md says what the pick is measured against. */
const BASELINE_TEXT: Readonly<Record<BaselineKind, string>> = {
  replay: 'a twin of the\npolicy that gets the same requests and sends each to the worker the policy picked\n(a replay: same routing, same queues, same events, only the pick differs; a pick that\ncosts no more than reading the replay\'s next index reads 0)',
  rotate: 'a twin of the\npolicy whose pick rounds the pool (`--baseline rotate`: it routes differently, so the\ndifference also holds what the events cost under each routing)',
};

function markdown(results: readonly Measurement[], sizes: readonly number[], quick: boolean, reproduce: string, timerKind: TimerKind, baseline: BaselineKind, loadAtStart: number): string {
  const env = environment();
  return `# Pick speed per routing policy

Reproduce: \`${reproduce}\`

Each row routes requests through a policy as the worker table does: pick, then
\`taken\` (or a wait in the picked worker's queue), and before each new request
once the pool is at its steady load a random open request's worker finishes its
oldest running request (\`dropped\`, with that request's function, and the
worker's next queued request \`taken\`). The policies' clock moves ${STEP_MS} ms per
routed request, so what they learn online (cost-aware's work model) is live. Medians of
${quick ? QUICK_TIMING.batches : FULL_TIMING.batches} timed batches after a warm-up that lasts until the pool is at its steady load and
at least ${quick ? QUICK_TIMING.warmupPerWorker : FULL_TIMING.warmupPerWorker} requests per worker have been routed,
${TIMER_TEXT[timerKind]}. "pick + taken + dropped" is the
whole cost per routed request; "pick" is the median difference from ${BASELINE_TEXT[baseline]}
in the same process, its batches alternating with the policy's. Targets (issues 6 and 15): pick <= 1 µs at 1,000 workers, <= 5 µs at 10,000;
start-up of 10,000 workers (create + \`addedMany\`) < 0.5 s.${quick ? '\n\n**Quick run: rough numbers, not for comparison.**' : ''}

${table(results, sizes)}

Setup: ${FUNCTION_COUNT} functions drawn uniformly (distinct largest packages); workers
with ${LIMIT} connections each, every third of weight 2, the rest weight 1, all routable;
${Math.round(BUSY_SHARE * 100)}% of all connections busy at steady state; loadThreshold ${LOAD_THRESHOLD},
balanceFactor ${BALANCE_FACTOR}; rings of 100 murmur3 points per unit of weight, and
olscheduler's 10 BLAKE2b points per worker for the last row. "requests that waited"
is the share of picks that chose a full worker (package-aware policies only).
Absolute numbers move by tens of percent between runs on a busy machine.

Machine: ${env.cpu} (${env.cores} cores, 1-minute load average ${Math.round(loadAtStart * 10) / 10} at the start of the run and ${env.loadAverage1m} at the end), ${env.platform}, Node ${env.node}. Generated ${new Date().toISOString()}.
`;
}

/** Variants by label, in the order given: `--policies cost-aware,pkg-aware`. */
function parseVariants(text: string): Variant[] {
  const labels = text.split(',').map((label) => label.trim());
  const twice = labels.find((label, i) => labels.indexOf(label) !== i);
  if (twice !== undefined) throw new Error(`--policies names "${twice}" twice`);
  return labels.map((label) => {
    const v = variants.find((x) => x.label === label);
    if (v === undefined) throw new Error(`--policies: unknown variant "${label}"; known: ${variants.map((x) => x.label).join(', ')}`);
    return v;
  });
}

function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((s) => Number(s.trim()));
  const bad = sizes.find((n) => !Number.isInteger(n) || n < 1 || n > 100_000);
  if (bad !== undefined || sizes.length === 0) throw new Error(`--sizes must be comma-separated whole numbers from 1 to 100000, got "${text}"`);
  return sizes;
}

/** One row over the rounds: a figure's median, least and greatest, and every round's value in order. */
interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly rounds: readonly number[];
}

function spreadOf(values: readonly number[]): Spread {
  const sorted = sortedAscending(values);
  return { median: percentile(sorted, 50), min: sorted[0]!, max: sorted[sorted.length - 1]!, rounds: values };
}

function formatSpread(s: Spread, format: (v: number) => string): string {
  return `${format(s.median)} [${format(s.min)}, ${format(s.max)}]`;
}

/**
 * `--rounds N`: the same measurement N times, each in a fresh process started
 * after the one before ends (so a round sees the machine as it is then), each
 * writing `<out>/round-K/`; then each row's median over the rounds, its range,
 * and the rounds in which it met its target.
 */
async function runRounds(rounds: number, args: readonly string[], out: string, reproduce: string, loadAtStart: number): Promise<number> {
  const script = fileURLToPath(import.meta.url);
  const perRound: Measurement[][] = [];
  for (let k = 1; k <= rounds; k++) {
    const dir = join(out, `round-${k}`);
    process.stdout.write(`round ${k} of ${rounds}\n`);
    const child = spawn(process.execPath, [script, ...args, '--out', dir], { stdio: ['ignore', 'inherit', 'inherit'] });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) {
      process.stderr.write(`bench/picks: round ${k} failed (exit ${code ?? 'by signal'})\n`);
      return 1;
    }
    perRound.push((JSON.parse(await readFile(join(dir, 'summary.json'), 'utf8')) as { results: Measurement[] }).results);
  }
  const rows = perRound[0]!.map((first, i) => {
    const each = perRound.map((results) => results[i]!);
    const target = TARGET_NS[first.workers];
    return {
      policy: first.policy,
      workers: first.workers,
      nsPerPick: spreadOf(each.map((m) => m.nsPerPick)),
      nsPerRequest: spreadOf(each.map((m) => m.nsPerRequest)),
      startupMs: spreadOf(each.map((m) => m.startupMs)),
      pickTargetMetRounds: target === undefined ? null : each.filter((m) => m.nsPerPick <= target).length,
    };
  });
  const lines = ['| policy | workers | pick: median of rounds [least, greatest] | pick target met | pick + taken + dropped | start-up (addedMany) |', '| --- | ---: | ---: | :---: | ---: | ---: |'];
  for (const r of rows) {
    const met = r.pickTargetMetRounds === null ? '-' : `${r.pickTargetMetRounds} of ${rounds}${r.nsPerPick.median <= (TARGET_NS[r.workers] ?? Infinity) ? '' : ' (**not** the median)'}`;
    lines.push(`| ${r.policy} | ${r.workers} | ${formatSpread(r.nsPerPick, formatNs)} | ${met} | ${formatSpread(r.nsPerRequest, formatNs)} | ${formatSpread(r.startupMs, (v) => `${v.toFixed(1)} ms`)} |`);
  }
  const env = environment();
  const report = `# Pick speed per routing policy, over ${rounds} rounds

Reproduce: \`${reproduce}\`

The measurement of \`round-1/summary.md\` (its text says how), run ${rounds} times, each
round a fresh process started when the one before ended; each round's own
summary is in \`round-K/\`. Each figure is the median of the rounds' figures
(for an even number of rounds, the lower of the middle two), with the least and
greatest in brackets; "pick target met" counts the rounds
whose pick was within it (<= 1 µs at 1,000 workers, <= 5 µs at 10,000).

${lines.join('\n')}

Machine: ${env.cpu} (${env.cores} cores, 1-minute load average ${Math.round(loadAtStart * 10) / 10} before the first round and ${env.loadAverage1m} after the last), ${env.platform}, Node ${env.node}. Generated ${new Date().toISOString()}.
`;
  const summary = { generatedAt: new Date().toISOString(), reproduce, rounds, environment: { ...env, loadAverage1mAtStart: Math.round(loadAtStart * 10) / 10 }, targets: { pickNs: TARGET_NS }, results: rows };
  try {
    await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await writeFile(join(out, 'summary.md'), report);
  } catch (err) {
    process.stderr.write(`bench/picks: cannot write results to ${out}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`\n${lines.join('\n')}\n\nwrote ${join(out, 'summary.md')} and ${join(out, 'summary.json')}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let values: { out?: string; sizes?: string; policies?: string; timer?: string; baseline?: string; quick?: boolean; rounds?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        sizes: { type: 'string' },
        policies: { type: 'string' },
        timer: { type: 'string' },
        baseline: { type: 'string' },
        quick: { type: 'boolean' },
        rounds: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`bench/picks: ${err instanceof Error ? err.message : String(err)}\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  let sizes: number[];
  let chosen: readonly Variant[];
  let timerKind: TimerKind;
  let baseline: BaselineKind;
  let rounds: number;
  try {
    sizes = values.sizes === undefined ? DEFAULT_SIZES : parseSizes(values.sizes);
    chosen = values.policies === undefined ? variants : parseVariants(values.policies);
    timerKind = parseChoice('timer', values.timer, ['cpu', 'wall'], 'cpu');
    baseline = parseChoice('baseline', values.baseline, ['replay', 'rotate'], 'replay');
    rounds = parseNumberFlag('rounds', values.rounds, { min: 1, max: 50, integer: true }) ?? 1;
  } catch (err) {
    process.stderr.write(`bench/picks: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const quick = values.quick === true;
  const loadAtStart = loadavg()[0];
  const out = values.out ?? DEFAULT_OUT;
  // The command that wrote these numbers, flags and all.
  const reproduce = argv.length === 0 ? REPRODUCE : ['node', 'dist/bench/picks.js', ...argv].map(shellQuote).join(' ');

  if (rounds > 1) {
    const args = ['--sizes', sizes.join(','), '--policies', chosen.map((v) => v.label).join(','), '--timer', timerKind, '--baseline', baseline, ...(quick ? ['--quick'] : [])];
    return runRounds(rounds, args, out, reproduce, loadAtStart);
  }
  process.stdout.write(`measuring ${chosen.length} policy variants at ${sizes.join(', ')} workers${quick ? ' (quick)' : ''}\n`);
  const results = benchmark(chosen, sizes, quick ? QUICK_TIMING : FULL_TIMING, timers[timerKind], baseline, (line) => process.stdout.write(`${line}\n`));
  const summary = {
    generatedAt: new Date().toISOString(),
    reproduce,
    quick,
    environment: { ...environment(), loadAverage1mAtStart: Math.round(loadAtStart * 10) / 10 },
    settings: { functions: FUNCTION_COUNT, connectionsPerWorker: LIMIT, busyShare: BUSY_SHARE, weights: 'every third worker 2, others 1', loadThreshold: LOAD_THRESHOLD, balanceFactor: BALANCE_FACTOR, timing: quick ? QUICK_TIMING : FULL_TIMING, timer: timerKind, baseline },
    targets: { pickNs: TARGET_NS, startupMs: STARTUP_TARGET_MS },
    results,
  };
  try {
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await writeFile(join(out, 'summary.md'), markdown(results, sizes, quick, reproduce, timerKind, baseline, loadAtStart));
  } catch (err) {
    process.stderr.write(`bench/picks: cannot write results to ${out}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  process.stdout.write(`\n${table(results, sizes)}\n\nwrote ${join(out, 'summary.md')} and ${join(out, 'summary.json')}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench/picks: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
