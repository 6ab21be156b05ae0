// calibrate --real: on a synthetic "real" row written by simulate with known
// parameters, the fit finds those parameters, and simulate --fitted runs with them.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { main as calibrateMain } from '../../pipbench/commands/calibrate.js';
import { main as simulateMain } from '../../pipbench/commands/simulate.js';
import { captureIO } from '../fixtures/capture-io.js';
import { writeSmallWorkload } from '../fixtures/small-workload.js';
import { tempDir } from '../fixtures/temp-dir.js';

const TRUTH = { installScale: 0.3, importScale: 0.1, sandboxMs: 100, installCallMs: 500, installSlots: 4 };

async function simulate(dir: string, name: string, cell: string[], fitted: string): Promise<{ rows: { id: string; meanMs: number }[] }> {
  const io = captureIO();
  const code = await simulateMain([...cell, '--name', name, '--out-dir', dir, '--fitted', fitted, '--quiet'], io);
  if (code !== 0) throw new Error(`simulate exited ${code}: ${io.err()}`);
  return JSON.parse(await readFile(join(dir, name, 'summary.json'), 'utf8')) as { rows: { id: string; meanMs: number }[] };
}

t.test('the fit finds the parameters a synthetic round-robin row was made with, and simulate --fitted uses them', async (t) => {
  const dir = await tempDir(t, 'pipbench-real-fit-');
  const { registry, handlers } = await writeSmallWorkload(dir);
  const truth = join(dir, 'truth.json');
  await writeFile(truth, JSON.stringify({ chosen: { params: TRUTH } }));
  const cell = ['--registry', registry, '--handlers', handlers, '--workers', '3', '--cores', '0.5', '--cache-mb', '20', '--policies', 'round-robin',
    '--duration', '60', '--wait', '250', '--drain', '120', '--seeds', '2', '--static-budget', '0'];
  const made = await simulate(dir, 'synthetic', cell, truth);
  const io = captureIO();
  const code = await calibrateMain(['--real', join(dir, 'synthetic'), '--cores', '0.5', '--install-scales', '0.15,0.3,0.6', '--import-scales', '0.1',
    '--sandbox-ms', '0,100,200', '--install-call-ms', '0,500,1000', '--out-dir', dir, '--quiet'], io);
  t.equal(code, 0, io.err());
  const fit = JSON.parse(await readFile(join(dir, 'real-fit.json'), 'utf8')) as { chosen: { params: typeof TRUTH; error: number }; candidates: unknown[]; seeds: number[] };
  t.same(fit.chosen.params, TRUTH, 'the parameters the row was made with');
  t.ok(fit.chosen.error < 1e-6, `error ${fit.chosen.error}: the same simulation (summary.json rounds its figures)`);
  t.equal(fit.candidates.length, 27);
  t.same(fit.seeds, [1, 2], 'the row\'s own request sequences');
  t.match(await readFile(join(dir, 'real-fit.md'), 'utf8'), /\*\*Chosen: installScale 0\.3, importScale 0\.1, sandboxMs 100, installCallMs 500\*\*/);
  const again = await simulate(dir, 'predicted', cell, join(dir, 'real-fit.json'));
  t.equal(again.rows.find((r) => r.id === 'round-robin')?.meanMs, made.rows.find((r) => r.id === 'round-robin')?.meanMs, 'simulate --fitted reproduces the row');
  const without = await simulate(dir, 'no-call', cell, await writeJson(dir, { chosen: { params: { ...TRUTH, installCallMs: 0 } } }));
  t.ok((without.rows[0]?.meanMs ?? 0) < (made.rows[0]?.meanMs ?? 0), 'the start-up of an install process costs time');
});

async function writeJson(dir: string, value: unknown): Promise<string> {
  const path = join(dir, `v${Math.random().toString(36).slice(2)}.json`);
  await writeFile(path, JSON.stringify(value));
  return path;
}

t.test('bad input to --real and --fitted is one line naming it', async (t) => {
  const dir = await tempDir(t, 'pipbench-real-fit-bad-');
  const { registry, handlers } = await writeSmallWorkload(dir);
  const noRow = await writeJson(dir, { params: {}, rows: [{ id: 'least-loaded', meanMs: 1, p50Ms: 1, p80Ms: 1 }] });
  const cases: [string[], RegExp][] = [
    [['--real', dir], /--real needs --cores N/],
    [['--real', join(dir, 'nowhere'), '--cores', '1'], /nowhere\/summary\.json: no such file/],
    [['--real', noRow, '--cores', '1'], /no "round-robin" row to fit to/],
    [['--real', noRow, '--cores', '0'], /--cores/],
    [['--real', noRow, '--cores', '1', '--fit'], /--fit cannot be combined with --real/],
    [['--cores', '1'], /--cores is a flag of --real/],
  ];
  for (const [argv, message] of cases) {
    const io = captureIO();
    t.equal(await calibrateMain([...argv, '--out-dir', dir, '--quiet'], io), 2, argv.join(' '));
    t.match(io.err(), message);
    t.equal(io.err().trim().split('\n').filter((l) => !l.startsWith('(see')).length, 1, 'one line, besides the pointer to --help');
  }
  const io = captureIO();
  const bad = await writeJson(dir, { chosen: { params: { installScale: -1 } } });
  t.not(await simulateMain(['--registry', registry, '--handlers', handlers, '--fitted', bad, '--out-dir', dir, '--quiet'], io), 0);
  t.match(io.err(), /--fitted .*installScale must be a non-negative number/);
  const io2 = captureIO();
  const noSlot = await writeJson(dir, { chosen: { params: { installSlots: 0 } } });
  t.not(await simulateMain(['--registry', registry, '--handlers', handlers, '--fitted', noSlot, '--out-dir', dir, '--quiet'], io2), 0);
  t.match(io2.err(), /installSlots must be a number of at least 1/);
});
