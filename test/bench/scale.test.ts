// bench:scale run for real but small: every change is measured each repeat, a removed
// worker's series leave /metrics, and neither its proxy nor its folder outlives the run,
// interrupted or not.
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { noneAlive, runBenchScript } from '../fixtures/bench-run.js';

const script = resolve('dist/bench/scale.js');

// Each subtest runs its own benchmark with its own proxy, port and temporary directory: side by side.
t.jobs = 3;

/** A temporary directory for one run (its TMPDIR), so that no other run's folders show in it. */
function runTemp(dir: string): { env: NodeJS.ProcessEnv; scaleFolders: () => string[] } {
  const temp = join(dir, 'tmp');
  mkdirSync(temp);
  return { env: { TMPDIR: temp }, scaleFolders: () => readdirSync(temp).filter((f) => f.startsWith('warmroute-bench-scale-')) };
}

interface Summary {
  settings: { workers: number; repeats: number };
  changes: { what: string; callMs: number; longestHealthzMs: number }[];
  polling: { healthz: { count: number; failed: number } };
  gone: Record<'afterAdminRemove' | 'afterReloadRemove', { series: number }>;
}

t.test('each change is measured every repeat, and removed workers leave no series', async (t) => {
  const out = t.testdir();
  const { env, scaleFolders } = runTemp(out);
  const run = await runBenchScript(script, ['--quick', '--workers', '300', '--poll-sec', '1', '--repeats', '2', '--health-interval-ms', '500', '--out', out], { timeoutMs: 120_000, env });
  t.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
  t.equal(summary.changes.length, 12, 'six changes, twice');
  const kinds = new Set(summary.changes.map((c) => c.what));
  t.same([...kinds], ['admin add 300', 'admin drain 300', 'admin remove 300', 'reload adding 300', 'reload re-weighting 300', 'reload removing 300']);
  t.ok(summary.changes.every((c) => c.callMs > 0 && Number.isFinite(c.longestHealthzMs) && c.longestHealthzMs >= 0), 'each change timed, with its longest /healthz (0 when none overlapped it)');
  t.ok(summary.polling.healthz.count > 0, '/healthz probed while polling');
  t.equal(summary.polling.healthz.failed, 0);
  t.equal(summary.gone.afterAdminRemove.series, 0, 'no series of the removed workers after the admin remove');
  t.equal(summary.gone.afterReloadRemove.series, 0, 'nor after the reload that removed them');
  const report = readFileSync(join(out, 'summary.md'), 'utf8');
  t.match(report, /\| admin add 300 \| [\d.]+ ms \| [\d.]+ \/ [\d.]+ ms \|/);
  t.match(report, /--quick .*not a measurement/, 'a quick run says it is not a measurement');
  t.same(await noneAlive(run.descendants), [], 'the proxy is gone');
  t.same(scaleFolders(), [], 'its temporary folder is gone');
});

t.test('an interrupted run stops the proxy and removes its folder', async (t) => {
  const out = t.testdir();
  const { env, scaleFolders } = runTemp(out);
  const run = await runBenchScript(script, ['--workers', '100', '--poll-sec', '30', '--out', out], { interruptAt: 1, env });
  t.equal(run.code, 130, 'exit 130 after SIGINT');
  t.ok(run.descendants.length > 0, 'the proxy had started');
  t.same(await noneAlive(run.descendants), [], 'the proxy is gone');
  t.same(scaleFolders(), [], 'its temporary folder is gone');
});

/** Runs node with `args`; its exit status and standard error. */
function node(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, args, (_err, _stdout, stderr) => done({ status: child.exitCode, stderr }));
  });
}

t.test('bad flags get a usage error', async (t) => {
  const [run, heap, noGc] = await Promise.all([
    runBenchScript(script, ['--repeats', '0']),
    node(['--expose-gc', resolve('dist/bench/scale-heap.js'), '--workers', '0']),
    node([resolve('dist/bench/scale-heap.js')]),
  ]);
  t.equal(run.code, 2);
  t.match(run.stderr, /^bench:scale: --repeats must be at least 1, got 0\nusage: node dist\/bench\/scale\.js/, 'the error, then the usage');
  // bench:scale-heap reads its flags the same way: a bad value is the same kind of error, never a stack trace.
  t.equal(heap.status, 2);
  t.match(heap.stderr, /^bench:scale-heap: --workers must be at least 1, got 0\nusage: node --expose-gc dist\/bench\/scale-heap\.js/);
  t.notMatch(heap.stderr, /\n\s+at /, 'no stack trace');
  t.equal(noGc.status, 2);
  t.match(noGc.stderr, /^bench:scale-heap: run with node --expose-gc/);
});
