// The simulated worker over real HTTP on loopback: caches, cores, eviction, routes, CLI.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import type { CommandIO } from '../../pipbench/commands/support.js';
import { main as workerMain } from '../../pipbench/commands/worker.js';
import type { PackageInfo } from '../../pipbench/package-info.js';
import type { Workload } from '../../pipbench/workload.js';
import { scaledClock, startSimulatedWorker, type InvocationResult, type SimWorkerOptions, type SimulatedWorker } from '../../pipbench/worker.js';

interface PackageSpec {
  bytes?: number;
  installMs?: number;
  importMs?: number;
}

/** A workload of hand-made packages, so each test states exactly what things cost. */
function makeWorkload(packages: Record<string, PackageSpec>, handlers: Record<string, string[]>): Workload {
  const table = new Map<string, PackageInfo>();
  for (const [name, spec] of Object.entries(packages)) {
    table.set(name, {
      name,
      level: 0,
      deps: [],
      popularity: 1,
      compressedBytes: spec.bytes ?? 100,
      bytes: spec.bytes ?? 100,
      installMs: spec.installMs ?? 1000,
      importMs: spec.importMs ?? 100,
      importMem: 1000,
    });
  }
  return { registry: new Map(Object.entries(handlers)), packages: table, handlers: Object.keys(handlers) };
}

/**
 * Most tests state costs in table terms: scale 1, FCFS cores (2 unless given),
 * an unbounded interpreter cache; the model's calibrated defaults are tested in model.test.ts.
 */
const UNIT_MODEL = { cpu: 'fcfs', cores: 2, model: { installScale: 1, importScale: 1, importCacheBytes: Number.POSITIVE_INFINITY } } as const;

async function start(t: Test, opts: SimWorkerOptions): Promise<SimulatedWorker> {
  const worker = await startSimulatedWorker({ ...UNIT_MODEL, ...opts, model: { ...UNIT_MODEL.model, ...opts.model } });
  t.teardown(() => worker.close());
  return worker;
}

async function call(worker: SimulatedWorker, path: string, init: RequestInit = { method: 'POST' }): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`${worker.url}${path}`, init);
  return { status: res.status, json: (await res.json()) as unknown, headers: res.headers };
}

async function invoke(worker: SimulatedWorker, handler: string): Promise<InvocationResult> {
  const { status, json } = await call(worker, `/runLambda/${handler}`, { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
  if (status !== 200) throw new Error(`invoke ${handler}: ${status} ${JSON.stringify(json)}`);
  return json as InvocationResult;
}

const FAST = 0.001; // 1 simulated second = 1 real millisecond

t.test('the scaled clock never fires a timer before it is due on its own time line', async (t) => {
  const clock = scaledClock(0.05);
  // The clock's timers are unref'd, as the proxy's are: hold the process open while they run.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  // Sub-millisecond real delays set late in a loop turn are where Node's timers fire early.
  const early: number[] = [];
  for (let round = 0; round < 50; round++) {
    await new Promise<void>((resolve) => {
      const set = clock.now();
      clock.setTimer(10, () => {
        const waited = clock.now() - set;
        if (waited < 10) early.push(waited);
        resolve();
      });
      // Busy the rest of this turn so the loop's cached time falls behind the real clock.
      const until = performance.now() + 0.4;
      while (performance.now() < until);
    });
  }
  t.same(early, [], 'every timer waited its 10 model ms');
  let fired = false;
  clock.setTimer(1, () => { fired = true; }).cancel();
  // A later timer that does fire: by then the cancelled one was due.
  await new Promise<void>((resolve) => clock.setTimer(20, resolve));
  t.notOk(fired, 'a cancelled timer does not fire');
});

t.test('second invocation with a large enough cache is warm', async (t) => {
  const workload = makeWorkload({ a: {}, b: {}, c: {} }, { h: ['a', 'b', 'c'] });
  const worker = await start(t, { workload, cacheBytes: 10_000, timeScale: 0.05, name: 'w1' });
  const first = await invoke(worker, 'h');
  t.same(first.coldPackages, ['a', 'b', 'c'], 'all packages cold at first');
  // Times are measured on the scaled real clock: at least the table cost, plus timer lateness.
  t.ok(first.installMs >= 3000 && first.installMs < 6000, `charged each install at its scale-1 cost (${first.installMs})`);
  t.ok(first.importMs >= 300 && first.importMs < 2000, `charged each import (${first.importMs})`);
  t.equal(first.warmPackages, 0);
  t.equal(first.worker, 'w1');
  t.equal(first.handler, 'h');
  t.ok(first.runMs >= 10 && first.runMs < 500, `default handler time (${first.runMs})`);
  const parts = first.queueMs + first.sandboxMs + first.installMs + first.importMs + first.runMs;
  t.ok(Math.abs(first.totalMs - parts) < 0.01, 'total is the sum of the parts');

  const second = await invoke(worker, 'h');
  t.same(second.coldPackages, [], 'no cold packages');
  t.same(second.importedPackages, [], 'import cache hit');
  t.equal(second.installMs, 0);
  t.equal(second.importMs, 0);
  t.equal(second.warmPackages, 3);
  const s = worker.status();
  t.equal(s.invocations, 2);
  t.equal(s.coldInvocations, 1);
  t.equal(s.warmInvocations, 1);
  t.equal(s.usedBytes, 300);
  t.equal(s.cachedPackageCount, 3);
  t.same([...s.cachedPackages].sort(), ['a', 'b', 'c']);
  t.equal(s.installs, 3);
});

t.test('a cache smaller than the handler footprint stays cold on repetition', async (t) => {
  const workload = makeWorkload({ a: {}, b: {}, c: {} }, { h: ['a', 'b', 'c'] });
  const worker = await start(t, { workload, cacheBytes: 150, timeScale: FAST });
  await invoke(worker, 'h');
  t.ok(worker.status().usedBytes <= 150, 'trimmed back under the bound once the invocation released its packages');
  for (let i = 0; i < 3; i++) {
    const again = await invoke(worker, 'h');
    t.ok(again.coldPackages.length > 0, `repetition ${i + 1} still has cold packages (${again.coldPackages.join(',')})`);
    t.ok(again.installMs > 0);
  }
  t.equal(worker.status().warmInvocations, 0);
});

t.test('cores bound concurrency; the rest wait in line', async (t) => {
  const workload = makeWorkload({}, { slow: [] });
  const worker = await start(t, { workload, cores: 2, handlerMs: 60, timeScale: 1 });
  let mostRunning = 0;
  const sampler = setInterval(() => { mostRunning = Math.max(mostRunning, worker.status().running); }, 2);
  t.teardown(() => clearInterval(sampler));
  const results = await Promise.all(Array.from({ length: 6 }, () => invoke(worker, 'slow')));
  clearInterval(sampler);
  t.ok(mostRunning <= 2, `never more than 2 running (sampled ${mostRunning})`);
  t.equal(worker.status().peakRunning, 2, 'peak running is the core count');
  const waited = results.map((r) => r.queueMs).sort((a, b) => a - b);
  // Four calls found both cores busy and can only start once a 60 ms run has ended.
  t.ok(waited.slice(2).every((q) => q >= 30), `four calls queued behind a running one: ${waited.join(', ')}`);
  t.equal(worker.status().inFlight, 0, 'all answered');
});

t.test('LRU eviction evicts the least recently used package', async (t) => {
  const workload = makeWorkload({ a: {}, b: {}, c: {} }, { ha: ['a'], hb: ['b'], hc: ['c'] });
  const worker = await start(t, { workload, cacheBytes: 200, timeScale: FAST });
  await invoke(worker, 'ha');
  await invoke(worker, 'hb');
  t.equal((await invoke(worker, 'ha')).installMs, 0, 'a is warm and now most recent');
  await invoke(worker, 'hc'); // needs room: b is least recent
  t.same(worker.status().cachedPackages, ['a', 'c'], 'b evicted, a kept');
  t.equal(worker.status().evictions, 1);
  t.equal((await invoke(worker, 'ha')).installMs, 0, 'a still warm');
  const b = await invoke(worker, 'hb');
  t.same(b.coldPackages, ['b'], 'evicted b must be installed again');
  t.same(b.importedPackages, ['b'], 'and imported again: eviction left the import cache too');
  t.same(worker.status().cachedPackages, ['a', 'b'], 'c was least recent this time');
});

t.test('packages in use are pinned: not evicted mid-invocation', async (t) => {
  const workload = makeWorkload(
    { a: { installMs: 1 }, b: { installMs: 800 }, c: { installMs: 1 } },
    { hab: ['a', 'b'], hc: ['c'] },
  );
  const worker = await start(t, { workload, cacheBytes: 100, timeScale: 1, handlerMs: 0 });
  const long = invoke(worker, 'hab');
  while (!worker.status().cachedPackages.includes('a')) await sleep(2);
  const other = await invoke(worker, 'hc');
  t.same(other.coldPackages, ['c']);
  t.ok(worker.status().cachedPackages.includes('a'), 'a stays while hab uses it, though the cache is over its bound');
  t.notOk(worker.status().cachedPackages.includes('c'), 'the unpinned newcomer went instead');
  const done = await long;
  t.same(done.coldPackages, ['a', 'b']);
  t.same(done.importedPackages, ['a', 'b']);
  t.ok(worker.status().usedBytes <= 100, 'back under the bound once released');
});

t.test('concurrent invocations share one install of a package', async (t) => {
  const workload = makeWorkload({ big: { installMs: 200, importMs: 50 } }, { h1: ['big'], h2: ['big'] });
  const worker = await start(t, { workload, cores: 2, timeScale: 1, handlerMs: 0 });
  const [r1, r2] = await Promise.all([invoke(worker, 'h1'), invoke(worker, 'h2')]);
  t.equal(worker.status().installs, 1, 'installed once');
  t.equal(worker.status().imports, 2, 'each sandbox imports for itself (no interpreter to fork yet)');
  t.same(r1.coldPackages, ['big']);
  t.same(r2.coldPackages, ['big'], 'the waiting invocation also saw the package cold');
  t.ok(r1.installMs > 0 && r2.installMs > 0, 'both charged for the install (one did it, one waited for it)');
});

t.test('all-warm never charges install or import', async (t) => {
  const workload = makeWorkload({ a: { bytes: 5000 }, b: { bytes: 7000 } }, { h: ['a', 'b'], g: ['b'] });
  const worker = await start(t, { workload, allWarm: true, timeScale: FAST });
  t.equal(worker.status().usedBytes, 12000, 'starts holding everything');
  for (const h of ['h', 'g', 'h']) {
    const r = await invoke(worker, h);
    t.equal(r.installMs, 0);
    t.equal(r.importMs, 0);
    t.same(r.coldPackages, []);
  }
  t.equal(worker.status().coldInvocations, 0);
  t.equal(worker.status().evictions, 0);
});

t.test('routes: unknown handler 404, other paths 404, wrong method 405, health, status, /run alias', async (t) => {
  const workload = makeWorkload({ a: {} }, { h: ['a'] });
  const worker = await start(t, { workload, cacheBytes: 1000, timeScale: FAST, name: 'route-test' });

  const unknown = await call(worker, '/runLambda/nope');
  t.equal(unknown.status, 404);
  t.equal((unknown.json as { error: { code: string } }).error.code, 'unknown_function');
  t.match((unknown.json as { error: { message: string } }).error.message, /nope/);

  const run = await call(worker, '/run/h');
  t.equal(run.status, 200, '/run/:name works too');
  t.equal((run.json as InvocationResult).handler, 'h');

  const empty = await call(worker, '/runLambda/h', { method: 'POST' });
  t.equal(empty.status, 200, 'empty body accepted');

  const getRun = await call(worker, '/runLambda/h', { method: 'GET' });
  t.equal(getRun.status, 405);
  t.equal(getRun.headers.get('allow'), 'POST');

  const postStatus = await call(worker, '/status', { method: 'POST' });
  t.equal(postStatus.status, 405);

  const other = await call(worker, '/elsewhere', { method: 'GET' });
  t.equal(other.status, 404);
  t.equal((other.json as { error: { code: string } }).error.code, 'not_found');

  const bad = await call(worker, '/runLambda/%E0%A4%A', { method: 'POST' });
  t.equal(bad.status, 400);

  const health = await call(worker, '/', { method: 'GET' });
  t.equal(health.status, 200);
  t.equal((health.json as { name: string }).name, 'route-test');

  const status = await call(worker, '/status', { method: 'GET' });
  t.equal(status.status, 200);
  const s = status.json as ReturnType<SimulatedWorker['status']>;
  t.equal(s.name, 'route-test');
  t.equal(s.invocations, 2);
  t.equal(s.cachedPackageCount, 1);
  t.same(s.cachedPackages, ['a']);
  t.equal(s.cores, 2);
  t.equal(s.url, worker.url);
});

t.test('default name and disk bound; --cache-fraction of the footprint', async (t) => {
  const workload = makeWorkload({ a: { bytes: 1000 }, b: { bytes: 3000 } }, { h: ['a', 'b'] });
  const worker = await startSimulatedWorker({ workload });
  t.teardown(() => worker.close());
  t.equal(worker.name, `worker-${worker.port}`);
  t.equal(worker.status().cacheBytes, Number.POSITIVE_INFINITY, 'installed packages stay on disk by default');
  const status = (await call(worker, '/status', { method: 'GET' })).json as Record<string, unknown>;
  t.equal(status.cacheBytes, null, 'unbounded shows as null in JSON');
  const half = await start(t, { workload, cacheFraction: 0.5 });
  t.equal(half.status().cacheBytes, 2000, 'half the workload footprint');
});

t.test('bad options and incomplete workloads are refused', async (t) => {
  const workload = makeWorkload({ a: {} }, { h: ['a', 'ghost'] });
  await t.rejects(startSimulatedWorker({ workload }), /ghost/);
  const ok = makeWorkload({ a: {} }, { h: ['a'] });
  await t.rejects(startSimulatedWorker({ workload: ok, cores: 0 }), /cores/);
  await t.rejects(startSimulatedWorker({ workload: ok, timeScale: 0 }), /timeScale/);
});

t.test('close() ends in-flight invocations instead of hanging', async (t) => {
  const workload = makeWorkload({ huge: { installMs: 3_600_000 } }, { h: ['huge'] });
  const worker = await startSimulatedWorker({ workload, timeScale: 1 });
  const pending = fetch(`${worker.url}/runLambda/h`, { method: 'POST' }).then(
    (res) => res.status,
    () => 'connection closed',
  );
  while (worker.status().running === 0) await sleep(2);
  await worker.close();
  const outcome = await pending;
  t.ok(outcome === 503 || outcome === 'connection closed', `in-flight call ended (${outcome})`);
});

interface Captured {
  out: string;
  err: string;
  io: CommandIO;
}

function capture(stop?: AbortSignal): Captured {
  const c: Captured = {
    out: '',
    err: '',
    io: { stdout: { write: (s: string) => void (c.out += s) }, stderr: { write: (s: string) => void (c.err += s) }, ...(stop ? { stop } : {}) },
  };
  return c;
}

t.test('CLI: bad flags and missing files exit non-zero with a message naming the problem', async (t) => {
  const dir = t.testdir({ 'registry.json': JSON.stringify([{ handle: 'h', pkgs: ['a'] }]), 'broken.json': '[{' });
  const cases: [string[], number, RegExp][] = [
    [['--bogus'], 2, /bogus/],
    [[], 2, /--registry/],
    [['--registry', join(dir, 'missing.json')], 1, /missing\.json.*no such file/],
    [['--registry', join(dir, 'broken.json')], 1, /broken\.json.*not valid JSON/],
    [['--registry', join(dir, 'registry.json'), '--cores', 'two'], 2, /--cores/],
    [['--registry', join(dir, 'registry.json'), '--time-scale', '0'], 2, /--time-scale/],
    [['--registry', join(dir, 'registry.json'), '--port', '70000'], 2, /--port/],
    [['--registry', join(dir, 'registry.json'), '--cache-mb', '-1'], 2, /--cache-mb/],
    [['--registry', join(dir, 'registry.json'), '--all-warm', '--cache-mb', '5'], 2, /--all-warm/],
    [['--registry', join(dir, 'registry.json'), '--packages', join(dir, 'nope.json')], 1, /nope\.json/],
    [['--registry', join(dir, 'registry.json'), 'extra'], 2, /extra/],
  ];
  for (const [argv, code, message] of cases) {
    const c = capture();
    t.equal(await workerMain(argv, c.io), code, `exit ${code}: ${argv.join(' ')}`);
    t.match(c.err, message, `message for ${argv.join(' ')}`);
  }
  const help = capture();
  t.equal(await workerMain(['--help'], help.io), 0);
  t.match(help.out, /--cache-mb/);
});

t.test('CLI: starts, serves, and stops when asked', async (t) => {
  const dir = t.testdir({});
  const registry = join(dir, 'registry.json');
  await writeFile(registry, JSON.stringify([{ handle: 'h', pkgs: ['level0pkg1', 'level1pkg2'] }]));
  const stop = new AbortController();
  const c = capture(stop.signal);
  let exited = false;
  const exit = workerMain(['--registry', registry, '--port', '0', '--time-scale', '0.0001', '--name', 'cli-w', '--cores', '3'], c.io).finally(() => {
    exited = true;
  });
  while (!c.out.includes('listening') && !exited) await sleep(5);
  t.notOk(exited, `still running after start (${c.err})`);
  const url = /listening on (http:\/\/\S+)/.exec(c.out)?.[1] as string;
  t.match(c.out, /cli-w/);
  const unknown = await fetch(`${url}/runLambda/nope`, { method: 'POST' });
  t.equal(unknown.status, 404, 'unknown handler 404 through the CLI worker');
  await unknown.body?.cancel();
  const ok = await fetch(`${url}/runLambda/h`, { method: 'POST' });
  const result = (await ok.json()) as InvocationResult;
  t.same(result.coldPackages, ['level0pkg1', 'level1pkg2'], 'packages filled in and charged');
  t.ok(result.installMs > 0);
  const status = (await (await fetch(`${url}/status`)).json()) as { cores: number };
  t.equal(status.cores, 3);
  stop.abort();
  t.equal(await exit, 0, 'exit 0 after stop');
  t.match(c.out, /stopped after 1 invocations/);
});
