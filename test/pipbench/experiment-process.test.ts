import t, { type Test } from 'tap';
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseComparisonFlags } from '../../pipbench/commands/experiment.js';
import { loadExperimentWorkload } from '../../pipbench/experiment/plan.js';
import { writeExperimentResults } from '../../pipbench/experiment/report.js';
import { ProcessExperiment } from '../../pipbench/experiment/run-process.js';
import { pythonAbsence, writeTinyRepo, type TinyRepo } from '../fixtures/python-repo.js';
import { alive } from '../fixtures/alive.js';
import { until } from '../fixtures/end-to-end.js';

const absent = pythonAbsence();

/** Every process descending from `root` (this one by default), now. */
function descendants(root = process.pid): number[] {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid='], { encoding: 'utf8' }).trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const found = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of rows) {
      if (pid !== undefined && ppid !== undefined && found.has(ppid) && !found.has(pid)) {
        found.add(pid);
        grew = true;
      }
    }
  }
  found.delete(root);
  return [...found];
}

/** The row folders real runs make in temporary directory `dir`. */
async function rowFolders(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.startsWith('pipbench-real-'));
}

/** What process `pid` runs, for a message. */
function commandOf(pid: number): string {
  try {
    return execFileSync('ps', ['-ww', '-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
  } catch {
    return '(gone)';
  }
}

/**
 * A tiny repository and an experiment's input files for it in a fresh folder (prefix `prefix`), both removed when
 * `t` ends: only handlers that succeed, each needing packages, so a cold call installs.
 */
async function experimentInputs(t: Test, prefix: string): Promise<{ tiny: TinyRepo; out: string; registry: string; packagesFile: string; list: string }> {
  const tiny = await writeTinyRepo();
  const out = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(async () => {
    await tiny.remove();
    await rm(out, { recursive: true, force: true });
  });
  const handlers = ['g1', 'g2', 'big1', 'probe'];
  const registry = join(out, 'registry.json');
  const packagesFile = join(out, 'packages.json');
  const list = join(out, 'handlers.txt');
  await writeFile(registry, JSON.stringify(handlers.map((h) => ({ handle: h, pkgs: tiny.workload.registry.get(h) ?? [] }))));
  await writeFile(packagesFile, JSON.stringify([...tiny.workload.packages.values()]));
  await writeFile(list, handlers.join('\n') + '\n');
  return { tiny, out, registry, packagesFile, list };
}

t.test('experiment --engine process: real workers, cold rows install, all-warm is faster, every sequence\'s requests kept, no child outlives the run', { skip: absent ?? false, timeout: 120_000 }, async (t) => {
  const { tiny, out, registry, packagesFile, list } = await experimentInputs(t, 'warmroute-realexp-');
  const { params } = parseComparisonFlags('experiment', [
    '--registry', registry, '--packages', packagesFile, '--handlers', list, '--workers', '2', '--policies', 'round-robin',
    '--duration', '3', '--rate', '4', '--drain', '60', '--warmup', '0', '--name', 'real', '--out-dir', out,
  ], {});
  const workload = await loadExperimentWorkload(params);
  const seen = new Set<number>();
  const run = new ProcessExperiment({ ...params, timeScale: 1 }, { repo: tiny.repo, handlersDir: tiny.handlers, repeats: 2 });
  const result = await run.run({ onRecord: () => { for (const pid of descendants()) seen.add(pid); } }, workload);
  await writeExperimentResults(result);

  const summary = JSON.parse(await readFile(join(out, 'real', 'summary.json'), 'utf8')) as { workerEngine: string; rows: { id: string; requestsFile: string; laterRequestsFiles: string[] }[] };
  t.equal(summary.workerEngine, 'process');
  t.same(summary.rows.map((r) => r.id), ['round-robin', 'all-warm', 'one-worker']);
  // Two request sequences: the first's requests in requests-<row>.csv, the second's in requests-<row>-seq<seed + 1>.csv.
  const second = params.seed + 1;
  for (const [k, row] of summary.rows.entries()) {
    t.same(row.laterRequestsFiles, [`requests-${row.id}-seq${second}.csv`], `${row.id}: the second sequence's file is named`);
    const files = [row.requestsFile, ...row.laterRequestsFiles];
    for (const [r, file] of files.entries()) {
      const lines = (await readFile(join(out, 'real', file), 'utf8')).trimEnd().split('\n');
      t.equal(lines.length - 1, result.rows[k]?.runs[r]?.sentMs.length, `${file}: one line per request that sequence sent`);
    }
  }
  const markdown = await readFile(join(out, 'real', 'summary.md'), 'utf8');
  t.match(markdown, /requests-<row>-seq<N>\.csv/, 'summary.md names the later sequences\' files');

  const byId = new Map(result.rows.map((r) => [r.plan.id, r.runs[0]]));
  for (const [id, data] of byId) {
    t.ok(data && data.sentMs.length >= 10, `${id}: requests were sent`);
    t.equal(data?.unansweredAtDrain, 0, `${id}: every request was answered`);
    t.equal(data?.ok.every((v) => v === 1), true, `${id}: every answer a success`);
  }
  const rr = byId.get('round-robin');
  const warm = byId.get('all-warm');
  t.ok((rr?.workers.reduce((n, w) => n + w.installs, 0) ?? 0) >= 3, 'the cold row installed packages on disk');
  t.equal(warm?.workers.reduce((n, w) => n + w.installs, 0), 0, 'all-warm installed nothing while measured');
  const meanOf = (a: Float64Array | undefined): number => (a ? a.reduce((s, v) => s + v, 0) / a.length : Number.NaN);
  t.ok(meanOf(warm?.latencyMs) < meanOf(rr?.latencyMs), `warm calls are faster: ${meanOf(warm?.latencyMs).toFixed(0)} ms against cold-start ${meanOf(rr?.latencyMs).toFixed(0)} ms`);

  t.ok(seen.size > 0, 'child processes ran during the run');
  t.same([...seen].filter((pid) => alive(pid) && descendants().includes(pid)), [], 'no child process outlives the run');
});

t.test('the built CLI: SIGTERM during a real row closes its workers, leaves no child process and no row folder, and exits 143', { skip: absent ?? false, timeout: 120_000 }, async (t) => {
  const { tiny, out, registry, packagesFile, list } = await experimentInputs(t, 'warmroute-realexp-term-');
  // The run's own temporary directory, where its row folder goes.
  const tmp = join(out, 'tmp');
  await mkdir(tmp);
  // A row long enough to be stopped in the middle.
  const child = spawn(process.execPath, [
    resolve('dist/pipbench/cli.js'), 'experiment', '--engine', 'process', '--repo', tiny.repo, '--handlers-dir', tiny.handlers,
    '--registry', registry, '--packages', packagesFile, '--handlers', list, '--workers', '2', '--policies', 'round-robin',
    '--duration', '60', '--rate', '4', '--drain', '60', '--warmup', '0', '--repeat', '1', '--name', 'term', '--out-dir', out,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TMPDIR: tmp } });
  t.teardown(() => { child.kill('SIGKILL'); });
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  child.stdout.resume();
  const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown')));
  let ended = false;
  void exited.then(() => { ended = true; });
  // Under way: requests reach the row's workers, which install packages and run interpreters (children of the
  // run; a worker's start-up probe of Python, also a child, is over by then).
  const seen = new Set<number>();
  await until(() => {
    const now = descendants(child.pid);
    for (const pid of now) seen.add(pid);
    return ended || now.some((pid) => /-m pip install|lambda_func/.test(commandOf(pid)));
  }, 'the real row to install or run a handler', 60_000);
  t.notOk(ended, `the run was still going when stopped (${err.trim().split('\n').pop() ?? ''})`);
  const running = descendants(child.pid);
  child.kill('SIGTERM');
  t.equal(await exited, 143, 'SIGTERM: exit 143');
  t.same(running.filter((pid) => alive(pid)).map((pid) => commandOf(pid).slice(0, 120)), [], `none of the ${running.length} processes under the run outlives it`);
  t.ok(seen.size > 0 && running.length > 0, 'the run had started child processes');
  t.same(await rowFolders(tmp), [], 'the row\'s folder is removed');
});
