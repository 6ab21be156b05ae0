import t from 'tap';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main as experimentMain } from '../../pipbench/commands/experiment.js';
import { parseComparisonFlags } from '../../pipbench/commands/experiment.js';
import { loadLambdas, simulateExperiment } from '../../pipbench/simulate/index.js';
import { runFigures } from '../../pipbench/experiment/figures.js';
import { loadExperimentWorkload, planRows, POLICIES } from '../../pipbench/experiment/plan.js';
import { MAX_REQUEST_FILE_BYTES, requestFileContent } from '../../pipbench/experiment/report.js';
import { runDataOf } from '../../pipbench/experiment/result.js';
import { rowStats } from '../../pipbench/experiment/rows.js';
import { runExperiment } from '../../pipbench/experiment/run.js';
import type { RequestRecord } from '../../pipbench/stats.js';
import { policyColor } from '../../pipbench/charts.js';
import { SIMULATE_FLAGS } from '../../pipbench/commands/simulate.js';
import { captureIO } from '../fixtures/capture-io.js';

/** A small workload: 8 handlers over 12 packages (costs are filled in from the measured samples). */
async function writeTinyWorkload(dir: string): Promise<{ registry: string; handlers: string }> {
  const pkg = (i: number) => `level${i % 3}pkg${i}`;
  const entries = Array.from({ length: 8 }, (_, h) => ({ handle: `hdl${h}_0`, pkgs: [pkg(h % 4), pkg(4 + (h % 5)), pkg(9 + (h % 3))] }));
  const registry = join(dir, 'registry.json');
  const handlers = join(dir, 'handlers.txt');
  await writeFile(registry, JSON.stringify(entries));
  await writeFile(handlers, entries.flatMap((e) => [e.handle, e.handle]).join('\n') + '\n');
  return { registry, handlers };
}

t.test('planRows: one row per policy, pkg-aware per threshold, the two bounds last', async (t) => {
  const rows = planRows([...POLICIES], [1, 3, 100]);
  t.same(rows.map((r) => r.id), [
    'round-robin', 'random', 'least-loaded', 'pkg-aware-t1', 'pkg-aware-t3', 'pkg-aware-t100',
    'hashing-bounded', 'pkg-aware-ring-t1', 'pkg-aware-ring-t3', 'pkg-aware-ring-t100', 'cost-aware', 'all-warm', 'compulsory-install',
  ], 'every policy of balancers/index.ts, threshold policies once per threshold');
  const auto = planRows(['pkg-aware', 'cost-aware'], [100, 'auto']);
  t.same(auto.map((r) => [r.id, r.label, r.threshold ?? null]), [
    ['pkg-aware-t100', 'pkg-aware t=100', 100], ['pkg-aware-tauto', 'pkg-aware t=auto', 'auto'], ['cost-aware', 'cost-aware', null],
    ['all-warm', 'all-warm (bound)', null], ['compulsory-install', 'compulsory-install (bound)', null],
  ], '"auto" is one more row of a threshold policy; cost-aware has no threshold');
  const warm = rows.find((r) => r.bound === 'all-warm');
  t.equal(warm?.baseline, true);
  t.equal(warm?.balancer, 'least-loaded', 'the all-warm bound routes least-loaded');
  t.equal(rows[rows.length - 1]?.bound, 'pooled');
  t.equal(rows.find((r) => r.id === 'pkg-aware-t3')?.threshold, 3);
  const colours = [...POLICIES, 'pkg-aware auto', 'all-warm', 'compulsory-install'].map(policyColor);
  t.equal(new Set(colours).size, colours.length, 'one distinct colour per policy and bound');
});

t.test('request files stay under the size cap', async (t) => {
  const records: RequestRecord[] = Array.from({ length: 40_000 }, (_, i) => ({
    startEpochMs: 1_700_000_000_000 + i, offsetMs: i * 200.123, handler: `hdl${i % 100}_0`, status: 200,
    latencyMs: 12_345.678 + i, worker: `worker${(i % 5) + 1}`, error: '',
  }));
  const { content, note } = requestFileContent(records);
  t.ok(Buffer.byteLength(content) <= MAX_REQUEST_FILE_BYTES, `${Buffer.byteLength(content)} bytes`);
  t.match(note, /compact/);
  const small = requestFileContent(records.slice(0, 10));
  t.equal(small.note, '');
  t.equal(small.content.split('\n')[0], 'start,offset_ms,handler,status,latency_ms,worker,error');
});

t.test('answers within the duration: what pipbench\'s own runner would have logged', async (t) => {
  const rec = (offsetMs: number, latencyMs: number, status = 200): RequestRecord => ({ startEpochMs: 0, offsetMs, handler: 'h', status, latencyMs, worker: 'w', error: '' });
  const records = [rec(0, 1000), rec(5000, 4000), rec(9000, 2000), rec(9500, 100, 503)];
  const run = runDataOf(records, { placementSeed: 0, seed: 1, durationMs: 10_000, elapsedMs: 11_000, unansweredAtDrain: 0, backlogAtEnd: 1, workers: [], wallSec: 0 });
  const f = runFigures(run, 5000);
  t.equal(f.windowAnswers, 2, 'the answer at 11 s and the failure are not counted');
  t.equal(f.windowMeanMs, 2500);
  t.equal(f.meanMs, 7000 / 3, 'the drained mean counts every answer');
  t.equal(f.steadyMeanMs, 3000, 'the steady mean leaves out requests sent in the warm-up');
  t.equal(f.failures, 1);
});

t.test('pipbench experiment --quick runs every row and writes every file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-exp-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeTinyWorkload(dir);
  const io = captureIO();
  // 20 simulated seconds instead of --quick's 60: every row and every file all the same, in a third of the requests.
  const code = await experimentMain(['--quick', '--duration', '20', '--name', 'smoke', '--registry', registry, '--handlers', handlers, '--out-dir', dir, '--quiet'], io);
  t.equal(code, 0, io.err());
  t.match(io.out(), /wrote \d+ files/);

  const out = join(dir, 'smoke');
  const files = (await readdir(out)).sort();
  const sweep = [1, 2, 3, 5, 10, 100];
  const rowIds = [
    'round-robin', 'random', 'least-loaded', ...sweep.map((x) => `pkg-aware-t${x}`),
    'hashing-bounded', ...sweep.map((x) => `pkg-aware-ring-t${x}`), 'cost-aware', 'all-warm', 'compulsory-install',
  ];
  const expected = [
    'summary.md', 'summary.json',
    'mean-latency.svg', 'threshold-sweep.svg', 'latency-cdf.svg', 'latency-per-handler.svg', 'latency-per-minute.svg',
    ...rowIds.map((id) => `requests-${id}.csv`),
  ].sort();
  t.same(files, expected, 'every file, nothing else');

  const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as {
    command: string; timeUnit: string;
    rows: { id: string; requests: number; failures: number; meanMs: number | null; meanVsAllWarm: number | null; workers: { invocations: number }[]; requestsFile: string }[];
  };
  t.same(summary.rows.map((r) => r.id), rowIds);
  t.match(summary.timeUnit, /simulated/);
  t.match(summary.command, /experiment --quick --duration 20 --name smoke/);
  for (const row of summary.rows) {
    // 20 simulated seconds, one request every 200 ms: 100 requests per row.
    t.equal(row.requests, 100, `${row.id}: requests`);
    t.equal(row.workers.length, row.id === 'compulsory-install' ? 1 : 5, `${row.id}: five workers (the pooled bound: one)`);
    const csv = (await readFile(join(out, row.requestsFile), 'utf8')).trimEnd().split('\n');
    t.equal(csv.length, row.requests + 1, `${row.id}: one CSV line per request`);
    t.ok(row.meanMs !== null && row.meanMs > 0, `${row.id}: mean latency`);
  }
  const warm = summary.rows.find((r) => r.id === 'all-warm');
  t.equal(warm?.meanVsAllWarm, 1);
  t.equal(warm?.failures, 0, 'the baseline answers everything');
  const roundRobin = summary.rows.find((r) => r.id === 'round-robin');
  t.ok((roundRobin?.meanVsAllWarm ?? 0) > 1, 'cold caches cost more than warm ones');

  const md = await readFile(join(out, 'summary.md'), 'utf8');
  t.match(md, /node dist\/pipbench\/cli\.js experiment --quick --duration 20 --name smoke/, 'the exact command');
  t.match(md, /Simulated time at time scale 1/);
  t.match(md, /\| pkg-aware t=100 /);
  t.match(md, /\| all-warm \(bound\) \|/);
  t.match(md, /\| compulsory-install \(bound\) \|/);
  t.match(md, /mean \/ all-warm/);
  t.match(md, /Within the window, the backlog, the cold-start transient/);
  for (const svg of files.filter((f) => f.endsWith('.svg'))) {
    const text = await readFile(join(out, svg), 'utf8');
    t.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, `${svg} is an SVG`);
    t.match(text, /<title>/, `${svg} has a title`);
    t.notMatch(text, /NaN|undefined/, `${svg} has no NaN`);
  }
});

t.test('pipbench experiment: bad input names the problem and exits non-zero', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-exp-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeTinyWorkload(dir);
  const strangers = join(dir, 'strangers.txt');
  await writeFile(strangers, 'hdl0_0\nhdl999_0\n');
  const emptyPkgs = join(dir, 'bad-registry.json');
  await writeFile(emptyPkgs, '[{"handle": "x", "pkgs": "numpy"}]');
  const base = ['--registry', registry, '--out-dir', dir, '--quiet'];
  // Exit 2: bad flags; exit 1: a named file is missing, unreadable or malformed.
  const cases: [string[], RegExp, number?][] = [
    [['--quick'], /--registry FILE is required/],
    [['--registry', join(dir, 'nope.json'), '--out-dir', dir], /nope\.json: no such file/, 1],
    [[...base, '--policies', 'round-robin,fastest'], /unknown policy "fastest"/],
    [[...base, '--thresholds', '1,zero'], /--thresholds: "zero"/],
    [[...base, '--policies', 'random', '--thresholds', '3'], /needs one of pkg-aware, pkg-aware-ring/],
    [[...base, '--handlers', strangers], /not in registry.*"hdl999_0"/, 1],
    [[...base, '--workers', '0'], /--workers must be at least 1/],
    [[...base, '--time-scale', '0'], /--time-scale must be greater than 0/],
    [[...base, '--runners', '4'], /--runners applies to --mode sync/],
    [[...base, '--mode', 'batch'], /--mode must be one of async, sync/],
    [[...base, '--name', '../escape'], /--name must be a plain folder name/],
    [['--registry', registry, '--out-dir', join(dir, 'missing-dir')], /--out-dir .*no such directory/, 1],
    [['--registry', emptyPkgs, '--out-dir', dir], /bad-registry\.json/, 1],
    [[...base, '--frobnicate'], /frobnicate/],
    [[...base, '--rotation-slice', '0.5'], /need --choice rotate/],
    [[...base, '--choice', 'rotate', '--rotation-slice', '7.5'], /--rotation-slice must be/],
  ];
  for (const [argv, message, expectedCode = 2] of cases) {
    const io = captureIO();
    const code = await experimentMain(argv, io);
    t.equal(code, expectedCode, `exit ${expectedCode} for ${argv.join(' ')}`);
    t.match(io.err(), message, `message for ${argv.join(' ')}`);
    t.notMatch(io.err(), /\n\s+at /, 'no stack trace');
  }
  t.same((await readdir(dir)).sort(), ['bad-registry.json', 'handlers.txt', 'registry.json', 'strangers.txt'], 'nothing written on bad input');
  const help = captureIO();
  t.equal(await experimentMain(['--help'], help), 0);
  t.match(help.out(), /--thresholds/);
});

t.test('--compare-to must name a row the chosen engine makes: exit 2, one line naming the flag and that engine\'s rows', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-exp-compare-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry } = await writeTinyWorkload(dir);
  const base = ['--registry', registry, '--out-dir', dir, '--quiet', '--policies', 'round-robin,pkg-aware', '--thresholds', '3'];
  const refusal = async (argv: string[]): Promise<[number, string]> => {
    const io = captureIO();
    const code = await experimentMain(argv, io);
    return [code, io.err().split('\n')[0]!];
  };
  // The worker model in real time makes no one-worker row, with --host-cores (workers sharing a CPU) or not.
  for (const extra of [['--host-cores', '4'], []]) {
    t.same(await refusal([...base, ...extra, '--compare-to', 'one-worker']), [2,
      'pipbench experiment: --compare-to: no row "one-worker" in experiment (the worker model in real time); rows there: round-robin, pkg-aware-t3, all-warm, compulsory-install',
    ], `refused with ${extra.join(' ') || 'no --host-cores'}`);
  }
  // Real workers make one-worker but no compulsory-install row (checked before the wheel repository is looked at).
  const real = [...base, '--engine', 'process', '--repo', join(dir, 'repo'), '--handlers-dir', join(dir, 'handlers')];
  t.same(await refusal([...real, '--compare-to', 'compulsory-install']), [2,
    'pipbench experiment: --compare-to: no row "compulsory-install" in experiment --engine process; rows there: round-robin, pkg-aware-t3, all-warm, one-worker',
  ]);
  t.same((await readdir(dir)).sort(), ['handlers.txt', 'registry.json'], 'nothing written');
  // simulate makes one-worker where the workers share a CPU or where asked, and says so otherwise.
  for (const extra of [['--host-cores', '4'], ['--one-worker']]) {
    t.equal(parseComparisonFlags('simulate', [...base, ...extra, '--compare-to', 'one-worker'], SIMULATE_FLAGS).params.compareTo, 'one-worker', `simulate ${extra.join(' ')} accepts one-worker`);
  }
  t.throws(() => parseComparisonFlags('simulate', [...base, '--compare-to', 'one-worker'], SIMULATE_FLAGS),
    { name: 'UsageError', message: '--compare-to: no row "one-worker" in simulate; rows there: round-robin, pkg-aware-t3, all-warm, compulsory-install, clairvoyant-static' });
});

t.test('validation: one small cell run in real time and in virtual time agrees', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-val-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { registry, handlers } = await writeTinyWorkload(dir);
  const { params } = parseComparisonFlags('experiment', ['--registry', registry, '--handlers', handlers, '--duration', '10', '--wait', '200',
    '--time-scale', '0.5', '--drain', '120', '--policies', 'round-robin,pkg-aware', '--thresholds', '100', '--out-dir', dir], { 'time-scale': { type: 'string' } });
  const workload = await loadExperimentWorkload(params);
  const real = await runExperiment(params, {}, workload);
  const virtual = simulateExperiment({ params, workload, lambdas: await loadLambdas(params.registry, workload) });
  const realStats = rowStats(real);
  const simStats = rowStats(virtual);
  // The real-time side pays what the virtual one does not: two loopback hops per
  // request and late timers (three or four per cold request), each a few wall ms on a
  // busy machine, so several tens of simulated ms at time scale 0.5, against cold
  // means of about two seconds here. Measured on a loaded 2-core machine: all-warm
  // 31 ms against 13 ms at scale 1, and at scale 0.1 or below the real-time side falls
  // behind altogether (results/validation/README.md). 25% holds the hops with room and
  // still fails a simulator that got the model, the queues or the policy wrong.
  for (const [i, s] of simStats.entries()) {
    const r = realStats[i];
    if (s.plan.bound === 'all-warm' || r === undefined) continue; // milliseconds: the socket hops alone exceed it
    const off = s.figures.meanMs / r.figures.meanMs - 1;
    t.ok(Math.abs(off) < 0.25, `${s.plan.label}: simulate ${(s.figures.meanMs / 1000).toFixed(2)} s, experiment ${(r.figures.meanMs / 1000).toFixed(2)} s (${(100 * off).toFixed(1)}%)`);
    t.equal(s.figures.requests, r.figures.requests, `${s.plan.label}: the same number of requests`);
  }
  const order = (stats: typeof simStats): string[] => stats.filter((s) => s.plan.bound === undefined).sort((a, b) => a.figures.meanMs - b.figures.meanMs).map((s) => s.plan.id);
  t.same(order(simStats), order(realStats), 'the same ranking');
});
