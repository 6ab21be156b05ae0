import t from 'tap';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main as simulateMain, SIMULATE_FLAGS } from '../../pipbench/commands/simulate.js';
import { parseComparisonFlags, prepareInputs } from '../../pipbench/commands/experiment.js';
import { runFigures } from '../../pipbench/experiment/figures.js';
import { POLICIES, placementMatters, planRows, proxyConfigFor, simulatedRows, type ExperimentParams, type RowPlan, type Threshold } from '../../pipbench/experiment/plan.js';
import { arrivalTimes, loadLambdas, loadPackageCosts, simulateExperiment, simulateRun, type SimulationSetup } from '../../pipbench/simulate/index.js';
import { loadWorkload } from '../../pipbench/workload.js';
import { captureIO } from '../fixtures/capture-io.js';
import { writeSmallWorkload } from '../fixtures/small-workload.js';

const THESIS = 'pipbench/data/olscheduler-eval';

async function setupFor(argv: string[]): Promise<SimulationSetup> {
  const { params } = parseComparisonFlags('simulate', argv, SIMULATE_FLAGS);
  const workload = await loadWorkload({ registry: params.registry, handlers: params.handlers, seed: params.workloadSeed });
  return { params, workload, lambdas: await loadLambdas(params.registry, workload) };
}

function plan(params: ExperimentParams, id: string): RowPlan {
  const found = simulatedRows(params).find((r) => r.id === id);
  if (!found) throw new Error(`no row ${id}`);
  return found;
}

t.test('the same command twice writes a byte-identical summary.json', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const argv = (name: string): string[] => ['--name', name, '--registry', registry, '--handlers', handlers, '--duration', '60', '--wait', '100',
    '--policies', 'round-robin,random,pkg-aware,hashing-bounded', '--thresholds', '2,50', '--placements', '3', '--seeds', '2', '--static-budget', '6', '--out-dir', dir, '--quiet'];
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
  interface RerunJson { low: number; high: number; rerun: { low: number; high: number } }
  const summary = JSON.parse(a) as { engine: string; repeats: { runsPerRow: number; pairedAgainst: string }; rows: { id: string; repeats: number; intervals: { meanMs: RerunJson } | null; meanMinusCompared: unknown; meanOverCompared: RerunJson | null; bound: string | null; meanMs: number; meanMsGrid: number[][] }[] };
  t.equal(summary.engine, 'simulate');
  t.equal(summary.repeats.runsPerRow, 6);
  t.equal(summary.repeats.pairedAgainst, 'round-robin', 'paired against the first policy row by default');
  t.same(summary.rows.map((r) => r.id), ['round-robin', 'random', 'pkg-aware-t2', 'pkg-aware-t50', 'hashing-bounded', 'all-warm', 'compulsory-install', 'clairvoyant-static']);
  // Rows the placement does not change run once per request sequence; the rest at every placement x sequence.
  const perSequence = new Set(['round-robin', 'all-warm', 'compulsory-install', 'clairvoyant-static']);
  for (const r of summary.rows) {
    t.equal(r.repeats, perSequence.has(r.id) ? 2 : 6, `${r.id}: ${perSequence.has(r.id) ? 'one run per sequence' : 'every repeat'}`);
    t.ok(r.intervals && r.intervals.meanMs.low <= r.meanMs && r.meanMs <= r.intervals.meanMs.high, `${r.id}: the mean lies in its interval`);
    const iv = r.intervals?.meanMs;
    t.ok(iv && iv.rerun.low <= iv.low && iv.high <= iv.rerun.high, `${r.id}: the rerun interval contains the confidence interval`);
    t.same(r.meanMsGrid.map((row) => row.length), [1, 1].map(() => (perSequence.has(r.id) ? 1 : 3)), `${r.id}: a grid of 2 sequences x ${perSequence.has(r.id) ? 1 : 3} placements`);
    const gridMean = r.meanMsGrid.flat().reduce((x, v) => x + v, 0) / r.meanMsGrid.flat().length;
    t.ok(Math.abs(gridMean - r.meanMs) <= 0.05, `${r.id}: the grid's mean ${gridMean} is the row's mean ${r.meanMs}`);
  }
  const ratio = summary.rows[1]?.meanOverCompared;
  t.ok(ratio && ratio.rerun.low < ratio.low && ratio.high < ratio.rerun.high, 'a paired ratio has its rerun interval');
  t.match(a, /"meanMsGrid": \[\n\s+\[[\d.,]+\],\n/, 'one line per request sequence in the file');
  t.equal(summary.rows[0]?.meanMinusCompared, null, 'the reference has no paired difference');
  const clairvoyant = (summary.rows as { id: string; staticSearches?: { evaluations: number; assignment: Record<string, string> }[] }[]).find((r) => r.id === 'clairvoyant-static');
  t.equal(clairvoyant?.staticSearches?.length, 2, 'one static search per request sequence');
  t.ok(clairvoyant?.staticSearches?.every((x) => x.evaluations <= 6 && Object.keys(x.assignment).length === 4), 'within the budget, a worker for each of the 4 keys');
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

t.test('the thesis workload simulates: every policy sends the same 1,500 requests and each succeeds', async (t) => {
  const setup = await setupFor(['--registry', join(THESIS, 'registry_100_5.json'), '--handlers', join(THESIS, 'handlers_1000.txt'), '--policies', 'round-robin,pkg-aware']);
  const runs = ['round-robin', 'pkg-aware-t100'].map((id) => ({ id, run: simulateRun(setup, plan(setup.params, id), 1, 2).run }));
  for (const { id, run } of runs) {
    t.equal(run.sentMs.length, 1500, `${id}: 1,500 requests`);
    t.equal(run.unansweredAtDrain, 0, `${id}: nothing left unanswered`);
    t.equal(runFigures(run, 0).successes, 1500, `${id}: every request succeeded`);
  }
  t.same(runs[0]!.run.handlers, runs[1]!.run.handlers, 'paired: both policies see the same sequence');
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
    [[...base, '--connections-per-worker', '10001'], /--connections-per-worker must be at most 10000/],
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

t.test('more workers than the proxy has connections per worker for in one pool: the compulsory-install row stays within the limit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-many-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  // 12 workers x 1,000 connections (the default) pooled would be 12,000, over the proxy's 10,000 a worker.
  const io = captureIO();
  t.equal(await simulateMain(['--name', 'many', '--registry', registry, '--handlers', handlers, '--workers', '12', '--duration', '20', '--policies', 'round-robin', '--out-dir', dir, '--quiet'], io), 0, io.err());
  const summary = JSON.parse(await readFile(join(dir, 'many', 'summary.json'), 'utf8')) as { rows: { id: string; requests: number; successes: number }[] };
  const pooled = summary.rows.find((r) => r.id === 'compulsory-install');
  t.ok(pooled !== undefined && pooled.requests > 0 && pooled.successes === pooled.requests, 'the pooled row ran and answered every request');
});

/** A package table for the small workload: every name it uses, with install and import costs. */
async function writeSmallPackageTable(dir: string): Promise<string> {
  const names = new Set<string>();
  for (let h = 0; h < 12; h++) for (const p of [`level0pkg${h % 4}`, `level1pkg${10 + (h % 5)}`, `level2pkg${20 + (h % 3)}`]) names.add(p);
  const table = [...names].sort().map((name, i) => ({ name, level: 0, deps: [], popularity: 1, compressedBytes: 1000 * (i + 1), bytes: 3000 * (i + 1), installMs: 500 + 250 * i, importMs: 20 + i, importMem: 1 << 20 }));
  const path = join(dir, 'packages.json');
  await writeFile(path, JSON.stringify(table));
  return path;
}

t.test('cost-aware and pkg-aware at threshold auto run in simulate, deterministically', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-cost-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const packages = await writeSmallPackageTable(dir);
  for (const withTable of [true, false]) {
    const argv = (name: string): string[] => ['--name', name, '--registry', registry, '--handlers', handlers, ...(withTable ? ['--packages', packages] : []),
      '--duration', '60', '--wait', '100', '--policies', 'round-robin,pkg-aware,cost-aware', '--thresholds', 'auto,2,50', '--placements', '2', '--seeds', '2', '--static-budget', '0', '--out-dir', dir, '--quiet'];
    const names = withTable ? ['a', 'b'] : ['c', 'd'];
    for (const name of names) {
      const io = captureIO();
      t.equal(await simulateMain(argv(name), io), 0, io.err());
    }
    const read = (name: string): Promise<string> => readFile(join(dir, name, 'summary.json'), 'utf8');
    const first = await read(names[0] as string);
    const second = (await read(names[1] as string)).replaceAll(`--name ${names[1]}`, `--name ${names[0]}`).replaceAll(`"name": "${names[1]}"`, `"name": "${names[0]}"`);
    t.equal(first, second, `${withTable ? 'with' : 'without'} a package table: byte-identical summary.json`);
    const summary = JSON.parse(first) as { params: { packages?: string }; rows: { id: string; label: string; loadThreshold: number | string | null; meanMs: number; failures: number }[] };
    t.same(summary.rows.map((r) => r.id), ['round-robin', 'pkg-aware-t2', 'pkg-aware-t50', 'pkg-aware-tauto', 'cost-aware', 'all-warm', 'compulsory-install'], 'numbers ascending, auto last, cost-aware one row');
    t.equal(summary.rows.find((r) => r.id === 'pkg-aware-tauto')?.loadThreshold, 'auto');
    t.equal(summary.rows.find((r) => r.id === 'cost-aware')?.loadThreshold, null, 'cost-aware has no threshold');
    for (const r of summary.rows) t.ok(r.meanMs > 0 && r.failures === 0, `${r.id}: answered everything, mean ${r.meanMs} ms`);
    t.equal(summary.params.packages, withTable ? packages : undefined);
    const md = await readFile(join(dir, names[0] as string, 'summary.md'), 'utf8');
    t.match(md, /\| pkg-aware t=auto \|/, 'the auto row is in the table');
    t.notMatch(md, /pkg-aware t=auto \(best\)/, 'auto is never the best hand-tuned threshold');
    const sweep = await readFile(join(dir, names[0] as string, 'threshold-sweep.svg'), 'utf8');
    t.notMatch(sweep, /NaN|undefined/, 'the sweep chart has no NaN');
    t.match(sweep, /pkg-aware auto/, 'the auto row is a reference line (its own series) of the sweep chart');
  }
});

t.test('the policies see the package table of --packages, as the proxy passes it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-pkgs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const packages = await writeSmallPackageTable(dir);
  const flags = ['--registry', registry, '--handlers', handlers, '--packages', packages, '--duration', '30', '--wait', '100', '--policies', 'cost-aware,pkg-aware', '--thresholds', 'auto'];
  const { params } = parseComparisonFlags('simulate', flags, {});
  const config = proxyConfigFor(params, plan(params, 'cost-aware'), [{ id: 'w1', url: 'http://127.0.0.1:1', weight: 1 }], 1);
  t.equal(config.packages, resolve(packages), 'the proxy config names the package table (the real-time engine starts its proxy from it)');
  t.equal(proxyConfigFor({ ...params, packages: undefined }, plan(params, 'cost-aware'), [], 1).packages, undefined, 'no table, no key: equal costs, as the proxy runs without one');
  t.equal(proxyConfigFor(params, plan(params, 'pkg-aware-tauto'), [], 1).loadThreshold, 'auto');
  const workload = await loadWorkload({ registry, handlers, packages, seed: params.workloadSeed });
  const lambdas = await loadLambdas(registry, workload);
  const table = await loadPackageCosts(params);
  t.equal(table?.get('level0pkg0')?.installMs, 500, 'read by the proxy\'s own reader');
  t.throws(() => simulateRun({ params, workload, lambdas }, plan(params, 'cost-aware'), 0, 1), /set up without it/, 'a setup that lost the table fails rather than running with equal costs');
  const withTable = simulateRun({ params, workload, lambdas, packageTable: table }, plan(params, 'cost-aware'), 0, 1);
  t.equal(withTable.run.sentMs.length, 300);
  // A table that makes every load free: the costs the policy weighs come from the table, so its picks change.
  const free = new Map([...(table ?? new Map()).keys()].map((name) => [name, { sizeBytes: 1, installMs: 0, importMs: 0 }]));
  const freeRun = simulateRun({ params, workload, lambdas, packageTable: free }, plan(params, 'cost-aware'), 0, 1);
  t.not(freeRun.records.map((r) => r.worker).join(), withTable.records.map((r) => r.worker).join(), 'other costs, other picks');
});

t.test('--policy-packages: the policies weigh another table, or none, while the workers charge --packages', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-policy-pkgs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const packages = await writeSmallPackageTable(dir);
  const free = join(dir, 'free.json');
  await writeFile(free, JSON.stringify(JSON.parse(await readFile(packages, 'utf8')).map((p: Record<string, unknown>) => ({ ...p, installMs: 0, importMs: 0 }))));
  const flags = (extra: string[]): string[] => ['--registry', registry, '--handlers', handlers, '--packages', packages, ...extra, '--duration', '30', '--wait', '100', '--policies', 'cost-aware'];
  // Set up as the command does (prepareInputs loads the workers' workload), so the test sees which table the workers get.
  const setup = async (extra: string[]): Promise<SimulationSetup> => {
    const { params } = parseComparisonFlags('simulate', [...flags(extra), '--out-dir', dir], {});
    const workload = await prepareInputs(params);
    return { params, workload, lambdas: await loadLambdas(registry, workload), packageTable: await loadPackageCosts(params) };
  };
  const own = await setup([]);
  const none = await setup(['--policy-packages', 'none']);
  const other = await setup(['--policy-packages', free]);
  const row = plan(own.params, 'cost-aware');
  t.equal(proxyConfigFor(none.params, row, [], 1).packages, undefined, 'none: the proxy config has no table');
  t.equal(none.packageTable, undefined, 'none: the policies get no table');
  t.equal(proxyConfigFor(other.params, row, [], 1).packages, resolve(free), 'a file: the proxy config names it');
  t.equal(other.packageTable?.get('level0pkg0')?.installMs, 0, 'a file: the policies read it');
  const runs = [own, none, other].map((s) => simulateRun(s, row, 0, 1));
  t.same(runs.map((r) => r.run.sentMs.length), [300, 300, 300], 'the same requests');
  t.not(runs[1]!.records.map((r) => r.worker).join(), runs[0]!.records.map((r) => r.worker).join(), 'no table: other picks');
  t.not(runs[2]!.records.map((r) => r.worker).join(), runs[0]!.records.map((r) => r.worker).join(), 'a free table: other picks');
  // The workers charge --packages whatever the policies weigh: the first request of each run installs
  // three packages of at least 500 ms each, free table or not.
  for (const [i, r] of runs.entries()) {
    const first = r.records.reduce((a, b) => (b.offsetMs < a.offsetMs ? b : a));
    t.ok(first.latencyMs >= 1500, `run ${i}: the first request paid its installs (${first.latencyMs.toFixed(0)} ms)`);
  }

  const bad = join(dir, 'bad.json');
  await writeFile(bad, '[{"name": "x"}]');
  const foreign = join(dir, 'foreign.json');
  await writeFile(foreign, JSON.stringify([{ name: 'not-in-this-workload', bytes: 1, installMs: 1, importMs: 1 }]));
  for (const [arg, pattern] of [
    [join(dir, 'missing.json'), /--policy-packages .*missing\.json/],
    [bad, /--policy-packages .*bad\.json/],
    [foreign, /--policy-packages .*foreign\.json: names none of the 12 packages/],
  ] as const) {
    const io = captureIO();
    const code = await simulateMain(['--name', 'x', ...flags(['--policy-packages', arg]), '--out-dir', dir, '--quiet'], io);
    t.equal(code, 1, `${arg}: exit 1, as for every input file`);
    t.match(io.err(), pattern, `${arg}: the message names the flag and the file`);
    t.notMatch(io.err(), /\n\s+at /, 'no stack trace');
  }
  const io = captureIO();
  t.equal(await simulateMain(['--name', 'n', ...flags(['--policy-packages', 'none']), '--placements', '1', '--static-budget', '0', '--out-dir', dir, '--quiet'], io), 0, io.err());
  t.match(await readFile(join(dir, 'n', 'summary.md'), 'utf8'), /package table the policies weigh \| none/, 'the summary says what the policies weighed');
});

t.test('--thresholds: auto and positive numbers; anything else names the problem', async (t) => {
  const base = ['--registry', 'r.json', '--policies', 'pkg-aware'];
  const parse = (list: string): readonly Threshold[] => parseComparisonFlags('simulate', [...base, '--thresholds', list], {}).params.thresholds;
  t.same(parse('100,auto'), [100, 'auto']);
  t.same(parse('auto,300,5,5,1e1'), [5, 10, 300, 'auto'], 'sorted, duplicates once, auto last');
  t.same(parse('auto'), ['auto']);
  t.same(planRows(['pkg-aware', 'cost-aware'], parse('100,auto')).map((r) => r.id), ['pkg-aware-t100', 'pkg-aware-tauto', 'cost-aware', 'all-warm', 'compulsory-install']);
  const cases: [string, RegExp][] = [
    ['abc', /--thresholds: "abc" is neither a number nor "auto"/],
    ['0', /--thresholds: 0 is out of range: a load threshold must be greater than 0/],
    ['100,-1', /--thresholds: "-1" is neither/],
    ['2000000', /--thresholds: 2000000 is out of range.*at most 1000000/],
    ['AUTO', /"AUTO" is neither a number nor "auto"/],
    ['0x10', /"0x10" is neither/],
    [',', /--thresholds needs a comma-separated list/],
  ];
  for (const [value, message] of cases) {
    t.throws(() => parseComparisonFlags('simulate', [...base, '--thresholds', value], {}), message, `--thresholds ${value}`);
    const io = captureIO();
    t.equal(await simulateMain([...base, '--thresholds', value, '--quiet'], io), 2, `exit 2 for --thresholds ${value}`);
    t.match(io.err(), message);
  }
});

t.test('--host-cores: workers share one CPU, so a busy worker uses what an idle one leaves; the flag excludes per-worker cores', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-host-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry } = await writeSmallWorkload(dir);
  const one = join(dir, 'one.txt');
  await writeFile(one, 'hdl0_0\n');
  // One hot function, pinned to its home by a bound no load reaches: the other worker idles.
  const common = ['--registry', registry, '--handlers', one, '--workers', '2', '--duration', '30', '--wait', '40', '--policies', 'hashing-bounded', '--balance-factor', '100'];
  const mean = (records: { latencyMs: number }[]): number => records.reduce((a, r) => a + r.latencyMs, 0) / records.length;
  const perWorker = await setupFor([...common, '--cores', '1']);
  const host = await setupFor([...common, '--host-cores', '2']);
  const apart = simulateRun(perWorker, plan(perWorker.params, 'hashing-bounded'), 0, 1).records;
  const together = simulateRun(host, plan(host.params, 'hashing-bounded'), 0, 1).records;
  t.equal(new Set(together.map((r) => r.worker)).size, 1, 'every request ran on the home worker');
  t.ok(mean(together) < 0.75 * mean(apart), `the home ran on both cores of the host: mean ${mean(together).toFixed(0)} ms against ${mean(apart).toFixed(0)} ms on a core of its own`);
  const pooled = planRows(host.params.policies, host.params.thresholds).find((r) => r.bound === 'pooled');
  // The pooled bound is one worker with the host's 2 cores: the same as pooling two workers of 1 core each.
  const pooledHost = mean(simulateRun(host, pooled!, 0, 1).records);
  const pooledApart = mean(simulateRun(perWorker, pooled!, 0, 1).records);
  t.ok(Math.abs(pooledHost - pooledApart) < 1e-6, `the pooled bound has the host's cores: mean ${pooledHost.toFixed(1)} ms against ${pooledApart.toFixed(1)} ms pooled from 2 x 1 core`);
  const io = captureIO();
  t.equal(await simulateMain([...common, '--host-cores', '4', '--cores', '1', '--quiet', '--out-dir', dir], io), 2);
  t.match(io.err(), /--host-cores gives every worker one shared CPU; it cannot be combined with --cores or --worker-cores/);
});

t.test('a row the plan calls placement-free gives the same run at every placement; the others do not', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-placement-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const setup = await setupFor(['--registry', registry, '--handlers', handlers, '--duration', '60', '--wait', '100', '--policies', POLICIES.join(','), '--thresholds', '2', '--one-worker', '--static-budget', '2']);
  const latencies = (p: RowPlan, placementSeed: number): string => [...simulateRun(setup, p, placementSeed, 1).records].map((r) => `${r.worker}:${r.latencyMs.toFixed(3)}`).join();
  for (const p of simulatedRows(setup.params)) {
    if (p.bound === 'clairvoyant-static' || p.bound === 'one-worker') continue;
    const same = latencies(p, 0) === latencies(p, 5);
    if (placementMatters(p)) {
      t.notOk(same, `${p.id}: another placement, another run (so it runs at every placement)`);
    } else {
      t.ok(same, `${p.id}: the same run at placements 0 and 5 (so one run per sequence counts once)`);
    }
  }
  t.ok(placementMatters(plan(setup.params, 'random')), 'random is not placement-free: its draws are seeded with the placement too');
});

t.test('reference rows: one-worker sends everything to one worker; the clairvoyant static row is never worse and stays paired', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-sim-reference-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeSmallWorkload(dir);
  const setup = await setupFor(['--registry', registry, '--handlers', handlers, '--duration', '60', '--wait', '100', '--workers', '3', '--host-cores', '2',
    '--policies', 'round-robin,cost-aware', '--placements', '2', '--seeds', '2', '--static-budget', '12']);
  t.same(simulatedRows(setup.params).map((r) => r.id).slice(-2), ['one-worker', 'clairvoyant-static'], 'with --host-cores one-worker is always there');
  const result = simulateExperiment(setup);
  const row = (id: string): (typeof result.rows)[number] => result.rows.find((r) => r.plan.id === id) as (typeof result.rows)[number];
  for (const run of row('one-worker').runs) {
    t.same(run.workers.map((w) => w.invocations > 0), [true, false, false], `seed ${run.seed}: every request on worker1`);
  }
  const meanOf = (run: { latencyMs: Float64Array }): number => run.latencyMs.reduce((a, v) => a + v, 0) / run.latencyMs.length;
  const best = row('clairvoyant-static');
  t.same(best.runs.map((r) => r.seed), [1, 2], 'one run per request sequence');
  best.runs.forEach((run, i) => {
    const single = row('one-worker').runs[i]!;
    t.ok(meanOf(run) <= meanOf(single) + 1e-9, `seed ${run.seed}: clairvoyant ${meanOf(run).toFixed(0)} ms, one-worker ${meanOf(single).toFixed(0)} ms`);
    t.same(run.handlers, row('cost-aware').runs[i]!.handlers, 'the same request sequence as the policies');
  });
  t.equal(best.staticSearches?.length, 2);
  t.ok(best.staticSearches!.every((x) => x.evaluations >= 2 && x.evaluations <= 12), 'each search within its budget');
  // Without --host-cores one-worker is there only when asked.
  const apart = await setupFor(['--registry', registry, '--handlers', handlers, '--policies', 'round-robin', '--static-budget', '0']);
  t.same(simulatedRows(apart.params).map((r) => r.id), ['round-robin', 'all-warm', 'compulsory-install'], 'no one-worker, no clairvoyant row with budget 0');
  const io = captureIO();
  t.equal(await simulateMain(['--registry', registry, '--static-budget', '1', '--quiet', '--out-dir', dir], io), 2);
  t.match(io.err(), /--static-budget must be 0 .* or at least 2/);
});
