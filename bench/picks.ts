// Pick speed of every routing policy at 10, 100 and 1,000 workers.
// Build and run: npx tsc -p tsconfig.json && node dist/bench/picks.js
// Writes <out>/summary.md and <out>/summary.json and prints the table.

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { balancerNames, createBalancer } from '../balancers/index.js';
import { seededRandom } from '../balancers/seeded-random.js';
import type { Balancer, LambdaInfo, WorkerView } from '../balancers/types.js';

const REPRODUCE = 'npx tsc -p tsconfig.json && node dist/bench/picks.js';
const DEFAULT_OUT = 'results/bench-picks';
const DEFAULT_SIZES = [10, 100, 1000];
const FUNCTION_COUNT = 200;
const LOAD_THRESHOLD = 3;
const BALANCE_FACTOR = 1.25;
/** In-flight counts are drawn from 0..MAX_IN_FLIGHT, so pkg-aware's threshold is sometimes reached. */
const MAX_IN_FLIGHT = 3;

interface Timing {
  /** Wall time of warm-up before measuring, in milliseconds. */
  readonly warmupMs: number;
  /** Target wall time of one measured batch, in milliseconds. */
  readonly batchMs: number;
  /** Measured batches; the median is reported. */
  readonly batches: number;
}

const FULL_TIMING: Timing = { warmupMs: 300, batchMs: 40, batches: 15 };
const QUICK_TIMING: Timing = { warmupMs: 20, batchMs: 5, batches: 3 };

interface Measurement {
  readonly policy: string;
  readonly workers: number;
  readonly nsPerPick: number;
  readonly ratioToRoundRobin: number;
  readonly picksMeasured: number;
}

const usage = `usage: node dist/bench/picks.js [--out DIR] [--sizes 10,100,1000] [--quick]

  --out DIR      where summary.md and summary.json go (default ${DEFAULT_OUT}, relative to the current directory)
  --sizes LIST   comma-separated worker counts (default ${DEFAULT_SIZES.join(',')})
  --quick        short warm-up and batches: checks that the benchmark runs, numbers are rough
  --help         this text
`;

function makeWorkers(count: number, random: () => number): WorkerView[] {
  return Array.from({ length: count }, (_, i) => {
    const host = `10.0.${i >> 8}.${i & 255}`;
    return {
      id: `http://${host}:8080`,
      url: new URL(`http://${host}:8080/`),
      weight: 1,
      inFlight: Math.floor(random() * (MAX_IN_FLIGHT + 1)),
      healthy: true,
      packages: new Set<string>(),
    };
  });
}

function makeFunctions(): LambdaInfo[] {
  return Array.from({ length: FUNCTION_COUNT }, (_, i) => ({
    name: `hdl${i}`,
    packages: [`level${i % 4}pkg${1000 + i}`, `level${(i + 1) % 4}pkg${i % 37}`, 'six'],
  }));
}

/** Runs `count` picks cycling over the functions; returns how many found no worker so the work is observable. */
function runPicks(balancer: Balancer, functions: readonly LambdaInfo[], workers: readonly WorkerView[], count: number): number {
  let misses = 0;
  let f = 0;
  for (let i = 0; i < count; i++) {
    if (balancer.pick(functions[f], workers) === undefined) misses++;
    f = f + 1 === functions.length ? 0 : f + 1;
  }
  return misses;
}

function elapsedNs(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Median ns per pick over timed batches, after a warm-up that also sizes the batches. */
function measure(balancer: Balancer, functions: readonly LambdaInfo[], workers: readonly WorkerView[], timing: Timing): { nsPerPick: number; picks: number } {
  let misses = 0;
  let warmupPicks = 0;
  let chunk = 1000;
  const warmupStart = process.hrtime.bigint();
  while (elapsedNs(warmupStart) < timing.warmupMs * 1e6) {
    misses += runPicks(balancer, functions, workers, chunk);
    warmupPicks += chunk;
    chunk = Math.min(chunk * 2, 100_000);
  }
  const warmupNsPerPick = elapsedNs(warmupStart) / warmupPicks;
  const batchPicks = Math.max(1000, Math.round((timing.batchMs * 1e6) / warmupNsPerPick));
  const samples: number[] = [];
  for (let b = 0; b < timing.batches; b++) {
    const start = process.hrtime.bigint();
    misses += runPicks(balancer, functions, workers, batchPicks);
    samples.push(elapsedNs(start) / batchPicks);
  }
  if (misses > 0) throw new Error(`${balancer.name} found no worker ${misses} times among healthy workers`);
  return { nsPerPick: median(samples), picks: batchPicks * timing.batches };
}

function benchmark(sizes: readonly number[], timing: Timing, log: (line: string) => void): Measurement[] {
  const functions = makeFunctions();
  const results: Measurement[] = [];
  for (const size of sizes) {
    const workers = makeWorkers(size, seededRandom(size));
    const perPolicy = new Map<string, { nsPerPick: number; picks: number }>();
    for (const policy of balancerNames) {
      const balancer = createBalancer(policy, { loadThreshold: LOAD_THRESHOLD, balanceFactor: BALANCE_FACTOR, random: seededRandom(7) });
      for (const w of workers) balancer.added?.(w);
      const result = measure(balancer, functions, workers, timing);
      perPolicy.set(policy, result);
      log(`  ${String(size).padStart(5)} workers  ${policy.padEnd(16)} ${result.nsPerPick.toFixed(1).padStart(9)} ns/pick`);
    }
    const baseline = perPolicy.get('round-robin')?.nsPerPick ?? Number.NaN;
    for (const [policy, result] of perPolicy) {
      results.push({
        policy,
        workers: size,
        nsPerPick: Math.round(result.nsPerPick * 10) / 10,
        ratioToRoundRobin: Math.round((result.nsPerPick / baseline) * 100) / 100,
        picksMeasured: result.picks,
      });
    }
  }
  return results;
}

function formatNs(ns: number): string {
  return ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`;
}

function table(results: readonly Measurement[], sizes: readonly number[]): string {
  const header = `| policy | ${sizes.map((s) => `${s} workers`).join(' | ')} |`;
  const rule = `| --- | ${sizes.map(() => '---:').join(' | ')} |`;
  const rows = balancerNames.map((policy) => {
    const cells = sizes.map((size) => {
      const m = results.find((r) => r.policy === policy && r.workers === size);
      return m === undefined ? '-' : `${formatNs(m.nsPerPick)} (${m.ratioToRoundRobin.toFixed(2)}x)`;
    });
    return `| ${policy} | ${cells.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

function environment(): { node: string; platform: string; cpu: string } {
  return { node: process.version, platform: `${process.platform} ${process.arch}`, cpu: cpus()[0]?.model ?? 'unknown' };
}

function markdown(results: readonly Measurement[], sizes: readonly number[], quick: boolean): string {
  const env = environment();
  return `# Pick speed per routing policy

Reproduce: \`${REPRODUCE}\`

Time one \`pick\` takes, median of ${quick ? QUICK_TIMING.batches : FULL_TIMING.batches} timed batches after a warm-up,
measured with \`process.hrtime.bigint\` in one process; in brackets, the ratio to
round-robin at the same worker count in the same run.${quick ? '\n\n**Quick run: rough numbers, not for comparison.**' : ''}

${table(results, sizes)}

Setup: ${FUNCTION_COUNT} distinct functions picked in turn (3 packages each, distinct
largest packages), all workers healthy with weight 1, in-flight counts drawn at
random from 0..${MAX_IN_FLIGHT} and left fixed while measuring, loadThreshold ${LOAD_THRESHOLD},
balanceFactor ${BALANCE_FACTOR}. Rings are built before timing starts (100 points per
unit of weight). round-robin, random, least-loaded and hashing-bounded scan every
worker on each pick; pkg-aware does two ring lookups and scans the table only when a
candidate has reached the threshold (here for about 1 pick in 16).
Absolute numbers move by tens of percent between runs on a busy machine; the ratios
within one run are the thing to compare.

Machine: ${env.cpu}, ${env.platform}, Node ${env.node}. Generated ${new Date().toISOString()}.
`;
}

function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((s) => Number(s.trim()));
  const bad = sizes.find((n) => !Number.isInteger(n) || n < 1 || n > 100_000);
  if (bad !== undefined || sizes.length === 0) throw new Error(`--sizes must be comma-separated whole numbers from 1 to 100000, got "${text}"`);
  return sizes;
}

async function main(argv: string[]): Promise<number> {
  let values: { out?: string; sizes?: string; quick?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        out: { type: 'string' },
        sizes: { type: 'string' },
        quick: { type: 'boolean' },
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
  try {
    sizes = values.sizes === undefined ? DEFAULT_SIZES : parseSizes(values.sizes);
  } catch (err) {
    process.stderr.write(`bench/picks: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const quick = values.quick === true;
  const out = values.out ?? DEFAULT_OUT;

  process.stdout.write(`measuring ${balancerNames.length} policies at ${sizes.join(', ')} workers${quick ? ' (quick)' : ''}\n`);
  const results = benchmark(sizes, quick ? QUICK_TIMING : FULL_TIMING, (line) => process.stdout.write(`${line}\n`));
  const summary = {
    generatedAt: new Date().toISOString(),
    reproduce: REPRODUCE,
    quick,
    environment: environment(),
    settings: { functions: FUNCTION_COUNT, weight: 1, inFlightRange: [0, MAX_IN_FLIGHT], loadThreshold: LOAD_THRESHOLD, balanceFactor: BALANCE_FACTOR, timing: quick ? QUICK_TIMING : FULL_TIMING },
    results,
  };
  try {
    await mkdir(out, { recursive: true });
    await writeFile(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
    await writeFile(join(out, 'summary.md'), markdown(results, sizes, quick));
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
