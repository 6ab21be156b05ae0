// Calibration: the thesis set-up runs through simulate's engine, and the fit that chose MODEL_DEFAULTS can be rerun.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { calibrate, figures, logFigures, thesisCases, thesisDataDir, thesisSetup, withinRun } from '../../pipbench/calibrate/index.js';
import { fitModel, MODEL_FITTED } from '../../pipbench/calibrate/fit.js';
import { simulateRun } from '../../pipbench/simulate/index.js';
import { main } from '../../pipbench/commands/calibrate.js';

/** Seeds per candidate in the reduced-grid fit: enough that seed noise does not move the choice (as fit.md's run). */
const FIT_TEST_SEEDS = 10;

t.test('the thesis logs read as their README states', async (t) => {
  const rr = logFigures(await readFile(join(thesisDataDir(), 'logs', 'round-robin.1000handlers.log'), 'utf8'));
  t.equal(rr.answers, 1433);
  t.equal(Math.round(rr.meanMs), 34653, 'the log\'s own aggregate, 34653 ms');
  t.equal(rr.p50Ms, 1851);
  t.ok(Math.abs(rr.under1s - 0.46) < 0.005);
  t.throws(() => logFigures('[not a time] handler: h status: 200 in: 5 ms\n\nAggregate: \n\tAvg latency: 5\n\tThroughput: 1\n\tFailed requests: 0\n'), /time/);
});

t.test('calibrate runs the thesis set-up through simulate\'s engine, and the defaults reproduce round-robin', async (t) => {
  const result = await calibrate({ seeds: 2, cases: ['round-robin', 'least-loaded, list-order ties'] });
  const rr = result.cases.find((c) => c.name === 'round-robin')!;
  // The same figures from simulate's own run of the same row, placement and seed: there is one simulator.
  const setup = await thesisSetup();
  const plan = thesisCases().find((c) => c.name === 'round-robin')!.plan;
  t.same(rr.runs[0], figures(withinRun(simulateRun(setup, plan, 1, 1).records, 300_000), 300_000), 'seed 1 is simulate\'s run at placement 1, seed 1');
  t.equal(setup.params.hostCores, 4, 'the thesis host: 5 workers sharing 4 cores');
  t.equal(setup.params.waitMs, 200);
  const log = rr.logFigures!;
  const within = (model: number, real: number): boolean => Math.abs(model / real - 1) <= 0.25;
  t.ok(within(rr.model.meanMs.estimate, log.meanMs), `mean ${rr.model.meanMs.estimate} vs ${log.meanMs}`);
  t.ok(within(rr.model.p80Ms, log.p80Ms), `p80 ${rr.model.p80Ms} vs ${log.p80Ms}`);
  const ll = result.cases.find((c) => c.name === 'least-loaded, list-order ties')!;
  t.equal(ll.log, 'least-loaded', 'the olscheduler tie rule is compared with the least-loaded log');
  t.ok(ll.logFigures!.p50Ms < 400, 'the real least-loaded answers its median request warm');
  t.equal(thesisCases().filter((c) => c.set === 'calibration').map((c) => c.name).join(','), 'round-robin,random', 'only round-robin and random are fitted');
  t.rejects(calibrate({ seeds: 0 }), /seeds/);
});

t.test('the fit on a reduced grid around MODEL_DEFAULTS lands on them', async (t) => {
  const d = MODEL_FITTED;
  const step = (x: number, by: number): number[] => [Math.round((x - by) * 100) / 100, x, Math.round((x + by) * 100) / 100].filter((v) => v >= 0);
  const grid = { installScale: step(d.installScale, 0.05), importScale: step(d.importScale, 0.05), sandboxMs: [d.sandboxMs] };
  const fit = await fitModel({ grid, seeds: FIT_TEST_SEEDS });
  t.equal(fit.candidates.length, grid.installScale.length * grid.importScale.length);
  t.same(fit.chosen.params, d, `chosen ${JSON.stringify(fit.chosen.params)}, error ${fit.chosen.error.toFixed(3)}`);
  t.ok(fit.landsOnDefaults);
  t.ok(fit.candidates.every((c) => c.error >= fit.chosen.error), 'nothing on the grid scores better');
  t.rejects(fitModel({ grid: { ...grid, importScale: [] }, seeds: 1 }), /importScale list is empty/);
});

t.test('pipbench calibrate: bad flags are one-line usage errors; --fit writes its table', async (t) => {
  const out: string[] = [];
  const err: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
  t.equal(await main(['--install-scales', '0.5'], io), 2);
  t.match(err.join(''), /--install-scales sets the grid of --fit; add --fit/);
  err.length = 0;
  t.equal(await main(['--fit', '--import-scales', '0.2,x'], io), 2);
  t.match(err.join(''), /--import-scales must be a number, got "x"/);
  err.length = 0;
  t.equal(await main(['--fit', '--per-worker-cpu'], io), 2);
  t.match(err.join(''), /cannot be combined/);
  const dir = await mkdtemp(join(tmpdir(), 'calibrate-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.equal(await main(['--fit', '--seeds', '1', '--install-scales', '0.6,0.65', '--import-scales', '0.2', '--sandbox-ms', '0', '--out-dir', dir, '--quiet'], io), 0);
  const md = await readFile(join(dir, 'fit.md'), 'utf8');
  t.match(md, /\| 1 \| 0\.6(5)? \| 0\.2 \| 0 \|/, 'the best candidate ranked first');
  t.equal(md.split('\n').filter((l) => /^\| [12] \|/.test(l)).length, 2, 'one row per candidate');
  const json = JSON.parse(await readFile(join(dir, 'fit.json'), 'utf8')) as { candidates: unknown[]; chosen: { error: number } };
  t.equal(json.candidates.length, 2);
  t.match(await readFile(join(dir, 'fit-error.svg'), 'utf8'), /<title>Fit error by installScale<\/title>/);
});
