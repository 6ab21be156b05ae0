import t from 'tap';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main as simulateMain } from '../../pipbench/commands/simulate.js';
import { parseComparisonFlags } from '../../pipbench/commands/experiment.js';
import { planRows, runFigures, type ExperimentParams, type RowPlan } from '../../pipbench/experiment.js';
import { arrivalTimes, loadLambdas, simulateRun, type SimulationSetup } from '../../pipbench/simulate.js';
import { loadWorkload } from '../../pipbench/workload.js';
import { captureIO } from '../fixtures/capture-io.js';

const THESIS = 'pipbench/data/olscheduler-eval';

/** 12 handlers over 4 routing keys; costs filled in from the measured samples. */
async function writeSmallWorkload(dir: string): Promise<{ registry: string; handlers: string }> {
  const entries = Array.from({ length: 12 }, (_, h) => ({ handle: `hdl${h}_0`, pkgs: [`level0pkg${h % 4}`, `level1pkg${10 + (h % 5)}`, `level2pkg${20 + (h % 3)}`] }));
  const registry = join(dir, 'registry.json');
  const handlers = join(dir, 'handlers.txt');
  await writeFile(registry, JSON.stringify(entries));
  await writeFile(handlers, entries.map((e) => e.handle).join('\n') + '\n');
  return { registry, handlers };
}

async function setupFor(argv: string[]): Promise<SimulationSetup> {
  const { params } = parseComparisonFlags('simulate', argv, { placements: { type: 'string' }, seeds: { type: 'string' }, arrivals: { type: 'string' }, burst: { type: 'string' } });
  const workload = await loadWorkload({ registry: params.registry, handlers: params.handlers, seed: params.workloadSeed });
  return { params, workload, lambdas: await loadLambdas(params.registry, workload) };
}

function plan(params: ExperimentParams, id: string): RowPlan {
  const found = planRows(params.policies, params.thresholds).find((r) => r.id === id);
  if (!found) throw new Error(`no row ${id}`);
  return found;
}

t.test('the same command twice writes a byte-identical summary.json', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const argv = (name: string): string[] => ['--name', name, '--registry', registry, '--handlers', handlers, '--duration', '60', '--wait', '100',
    '--policies', 'round-robin,random,pkg-aware,hashing-bounded', '--thresholds', '2,50', '--placements', '3', '--seeds', '2', '--out-dir', dir, '--quiet'];
  for (const name of ['a', 'b']) {
    const io = captureIO();
    t.equal(await simulateMain(argv(name), io), 0, io.err());
  }
  const a = await readFile(join(dir, 'a', 'summary.json'), 'utf8');
  const b = (await readFile(join(dir, 'b', 'summary.json'), 'utf8')).replaceAll('--name b', '--name a').replaceAll('"name": "b"', '"name": "a"');
  t.equal(a, b, 'byte-identical apart from the folder name');
  for (const svg of (await readdir(join(dir, 'a'))).filter((f) => f.endsWith('.svg'))) {
    t.equal(await readFile(join(dir, 'a', svg), 'utf8'), await readFile(join(dir, 'b', svg), 'utf8'), `${svg} is deterministic`);
  }
  const summary = JSON.parse(a) as { engine: string; repeats: { runsPerRow: number; pairedAgainst: string }; rows: { id: string; repeats: number; intervals: { meanMs: { low: number; high: number } } | null; meanMinusCompared: unknown; bound: string | null; meanMs: number }[] };
  t.equal(summary.engine, 'simulate');
  t.equal(summary.repeats.runsPerRow, 6);
  t.equal(summary.repeats.pairedAgainst, 'round-robin', 'paired against the first policy row by default');
  t.same(summary.rows.map((r) => r.id), ['round-robin', 'random', 'pkg-aware-t2', 'pkg-aware-t50', 'hashing-bounded', 'all-warm', 'compulsory-install']);
  for (const r of summary.rows) {
    t.equal(r.repeats, 6, `${r.id}: every repeat`);
    t.ok(r.intervals && r.intervals.meanMs.low <= r.meanMs && r.meanMs <= r.intervals.meanMs.high, `${r.id}: the mean lies in its interval`);
  }
  t.equal(summary.rows[0]?.meanMinusCompared, null, 'the reference has no paired difference');
  t.ok(summary.rows[1]?.meanMinusCompared, 'the others do');
  const warm = summary.rows.find((r) => r.bound === 'all-warm');
  for (const r of summary.rows.filter((x) => x.bound === null)) t.ok((warm?.meanMs ?? Infinity) < r.meanMs, `all-warm is below ${r.id}`);
});

t.test('rows run the real policies through the proxy\'s table and queues', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const setup = await setupFor(['--registry', registry, '--handlers', handlers, '--duration', '120', '--wait', '100', '--policies', 'round-robin,pkg-aware', '--thresholds', '1000']);
  const keyOf = (h: string): string => setup.workload.registry.get(h)?.[0] ?? h;

  const rr = simulateRun(setup, plan(setup.params, 'round-robin'), 0, 1).records;
  const perWorker = new Map<string, number>();
  for (const r of rr) perWorker.set(r.worker, (perWorker.get(r.worker) ?? 0) + 1);
  t.equal(perWorker.size, 5, 'round-robin uses every worker');
  t.ok(Math.max(...perWorker.values()) - Math.min(...perWorker.values()) <= 1, `round-robin shares requests evenly: ${[...perWorker.values()].join(', ')}`);

  // A threshold no worker reaches: every request of a key goes to one of its two ring candidates.
  const homes = (placementSeed: number): Map<string, Set<string>> => {
    const out = new Map<string, Set<string>>();
    for (const r of simulateRun(setup, plan(setup.params, 'pkg-aware-t1000'), placementSeed, 1).records) {
      const set = out.get(keyOf(r.handler)) ?? new Set<string>();
      set.add(r.worker);
      out.set(keyOf(r.handler), set);
    }
    return out;
  };
  const at0 = homes(0);
  for (const [key, set] of at0) t.ok(set.size <= 2, `${key} stays on its ring candidates (${[...set].join(', ')})`);
  const describe = (m: Map<string, Set<string>>): string => [...m].sort().map(([k, s]) => `${k}:${[...s].sort().join('+')}`).join(' ');
  const placements = new Set([0, 1, 2, 3].map((p) => describe(homes(p))));
  t.ok(placements.size > 1, 'placement seeds move the keys to other workers');
  t.equal(describe(homes(2)), describe(homes(2)), 'and a placement seed always gives the same placement');
});

t.test('paired rows see the same request sequence; the runs account for every request', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const setup = await setupFor(['--registry', registry, '--handlers', handlers, '--duration', '60', '--wait', '50', '--drain', '0', '--cores', '0.05', '--policies', 'round-robin,least-loaded']);
  const a = simulateRun(setup, plan(setup.params, 'round-robin'), 0, 7);
  const b = simulateRun(setup, plan(setup.params, 'least-loaded'), 3, 7);
  t.same(a.run.handlers, b.run.handlers, 'same handlers in the same order');
  t.same([...a.run.sentMs], [...b.run.sentMs], 'at the same times');
  const c = simulateRun(setup, plan(setup.params, 'round-robin'), 0, 8);
  t.not(c.run.handlers.join(), a.run.handlers.join(), 'another seed, another sequence');
  // No drain, and workers too slow for 20 requests/s: some are still unanswered at the end.
  const f = runFigures(a.run, 0);
  t.equal(f.requests, 1200);
  t.equal(f.successes + f.failures, f.requests, 'every request is answered or counted as a failure');
  t.ok(a.run.unansweredAtDrain > 0, `unanswered at the end: ${a.run.unansweredAtDrain}`);
  t.equal(a.run.backlogAtEnd, a.run.unansweredAtDrain, 'without a drain, the backlog at the end is what stays unanswered');
  t.ok(a.records.filter((r) => r.status === 0).every((r) => r.error !== ''), 'unanswered requests carry an error');
});

t.test('the thesis workload simulates in well under a second', async (t) => {
  const setup = await setupFor(['--registry', join(THESIS, 'registry_100_5.json'), '--handlers', join(THESIS, 'handlers_1000.txt'), '--policies', 'round-robin,pkg-aware']);
  simulateRun(setup, plan(setup.params, 'round-robin'), 0, 1); // compile the code paths first
  for (const id of ['round-robin', 'pkg-aware-t100']) {
    const t0 = performance.now();
    const { run } = simulateRun(setup, plan(setup.params, id), 1, 2);
    const ms = performance.now() - t0;
    t.equal(run.sentMs.length, 1500, `${id}: 1,500 requests`);
    t.ok(ms < 800, `${id}: ${ms.toFixed(0)} ms`);
  }
});

t.test('arrival patterns keep their mean rate; bursty arrivals bunch up', async (t) => {
  const fixed = arrivalTimes({ kind: 'fixed' }, 200, 60_000, 1);
  t.equal(fixed.length, 300);
  const poisson = arrivalTimes({ kind: 'poisson' }, 200, 600_000, 1);
  t.ok(Math.abs(poisson.length - 3000) < 3 * Math.sqrt(3000), `poisson: ${poisson.length} of about 3000`);
  const bursty = arrivalTimes({ kind: 'bursty', periodSec: 60, burstSec: 10, factor: 4 }, 200, 600_000, 1);
  t.ok(Math.abs(bursty.length - 3000) < 4 * Math.sqrt(3000), `bursty: ${bursty.length} of about 3000`);
  const inBursts = bursty.filter((x) => x % 60_000 < 10_000).length;
  t.ok(Math.abs(inBursts / bursty.length - 4 / 6) < 0.05, `two thirds arrive in the bursts: ${(inBursts / bursty.length).toFixed(2)}`);
  t.same(arrivalTimes({ kind: 'poisson' }, 200, 60_000, 5), arrivalTimes({ kind: 'poisson' }, 200, 60_000, 5), 'seeded');
  t.throws(() => arrivalTimes({ kind: 'bursty', periodSec: 60, burstSec: 30, factor: 4 }, 200, 60_000, 1), /rate between bursts is not negative/);
});

t.test('pipbench simulate: bad input names the problem and exits non-zero', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const base = ['--registry', registry, '--handlers', handlers, '--out-dir', dir, '--quiet'];
  const cases: [string[], RegExp, number?][] = [
    [['--placements', '3'], /--registry FILE is required/],
    [[...base, '--placements', '0'], /--placements must be at least 1/],
    [[...base, '--seeds', 'many'], /--seeds must be a number/],
    [[...base, '--arrivals', 'bursty', '--burst', '60,30,4'], /FACTOR x BURST \/ PERIOD <= 1/],
    [[...base, '--arrivals', 'sometimes'], /--arrivals must be one of fixed, poisson, bursty/],
    [[...base, '--burst', '60,10,4'], /--burst needs --arrivals bursty/],
    [[...base, '--compare-to', 'fastest'], /--compare-to: no row "fastest"/],
    [[...base, '--worker-cores', '1,2'], /--worker-cores needs one value per worker \(5\)/],
    [[...base, '--time-scale', '0.1'], /time-scale/],
    [['--registry', join(dir, 'nope.json'), '--out-dir', dir], /nope\.json: no such file/, 1],
  ];
  for (const [argv, message, expected = 2] of cases) {
    const io = captureIO();
    t.equal(await simulateMain(argv, io), expected, `exit ${expected} for ${argv.join(' ')}`);
    t.match(io.err(), message, `message for ${argv.join(' ')}`);
    t.notMatch(io.err(), /\n\s+at /, 'no stack trace');
  }
  t.same((await readdir(dir)).sort(), ['handlers.txt', 'registry.json'], 'nothing written on bad input');
  const help = captureIO();
  t.equal(await simulateMain(['--help'], help), 0);
  t.match(help.out(), /--placements N/);
});
