// The worker side end to end: per-worker limits and queues, one lease per
// request released exactly once under every fault, health, drain, removal.
// Real workers and clients on loopback.
import t, { type Test } from 'tap';
import type { RunningProxy } from '../../src/app.js';
import { abandon, until } from '../fixtures/end-to-end.js';
import { startFaultWorker, type FaultWorker } from '../fixtures/fault-worker.js';
import { invoke, startTestProxy, startTestWorker, type TestWorker } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

interface StatusBody {
  queue: { waiting: number; shared: number; inFlight: number };
  workers: { id: string; limit: number; inFlight: number; queued: number; health: string; why: string; packages: number | string[]; packagesReported: boolean }[];
}

async function status(proxy: RunningProxy, verbose = false): Promise<StatusBody> {
  return (await invoke(proxy.url, `/status${verbose ? '?verbose=1' : ''}`, { method: 'GET', body: '' })).json as StatusBody;
}

/** Every count the proxy keeps is back to zero. */
async function expectIdle(t: Test, proxy: RunningProxy): Promise<void> {
  await proxy.scheduler.whenIdle();
  t.equal(proxy.scheduler.running, 0, 'no lease running');
  t.equal(proxy.scheduler.waiting, 0, 'no lease waiting');
  for (const w of proxy.table.workers) {
    t.equal(w.inFlight, 0, `${w.id}: in flight 0`);
    t.equal(w.queued, 0, `${w.id}: queued 0`);
  }
  t.equal(proxy.upstreams.busy, 0, 'no upstream connection in use');
}

for (const balancer of ['round-robin', 'random', 'least-loaded', 'hashing-bounded', 'pkg-aware']) {
  t.test(`${balancer}: 2 workers x 2 connections, weights 1 and 5, 40 concurrent slow requests`, async (t) => {
    const ws = await Promise.all([startTestWorker({ delayMs: 80 }), startTestWorker({ delayMs: 80 })]);
    const proxy = await startTestProxy({
      balancer,
      loadThreshold: 10,
      connectionsPerWorker: 2,
      healthIntervalMs: 0,
      workers: [{ url: ws[0]!.url, weight: 1 }, { url: ws[1]!.url, weight: 5 }],
    });
    t.teardown(async () => {
      await proxy.close();
      await Promise.all(ws.map((w) => w.close()));
    });
    const violations: string[] = [];
    let sawWaiting = 0;
    let samples = 0;
    let watching: Promise<void> = Promise.resolve();
    const watch = setInterval(() => {
      samples++;
      // A worker connection carries one request at a time (it refuses a second), so connections in use are requests running.
      if (proxy.upstreams.busy > 4) violations.push(`${proxy.upstreams.busy} upstream connections in use, more than the 2 x 2 allowed`);
      watching = status(proxy).then((s) => {
        sawWaiting = Math.max(sawWaiting, s.queue.waiting);
        for (const w of s.workers) {
          if (w.inFlight > w.limit) violations.push(`${w.id} ran ${w.inFlight} > ${w.limit}`);
          if (w.queued > 0 && w.inFlight < w.limit) violations.push(`${w.id} idles with ${w.queued} queued`);
          if (s.queue.shared > 0 && w.inFlight < w.limit) violations.push(`${w.id} idles while ${s.queue.shared} wait in the shared queue`);
        }
      });
    }, 10);
    const replies = await Promise.all(Array.from({ length: 40 }, () => invoke(proxy.url, '/runLambda/f')));
    clearInterval(watch);
    await watching;
    t.same(replies.map((r) => r.status).filter((s) => s !== 200), [], 'every request answered 200');
    t.ok(ws.every((w) => w.maxConcurrent <= 2), `no worker saw more than 2 at once (${ws.map((w) => w.maxConcurrent).join(', ')})`);
    t.ok(sawWaiting > 0, `waiting requests showed in /status (up to ${sawWaiting})`);
    t.ok(samples > 5, `sampled while the burst ran (${samples} times)`);
    t.same(violations, [], 'no connection idled while requests waited, no worker over its limit, no more connections in use than the limits allow');
    if (balancer !== 'pkg-aware') {
      // Both workers were kept busy: neither did (much) more than its connections allow over the burst.
      t.ok(Math.min(ws[0]!.count, ws[1]!.count) >= 14, `both workers shared the burst (${ws[0]!.count}/${ws[1]!.count})`);
    }
    await expectIdle(t, proxy);
  });
}

t.test('a client that leaves while waiting frees its place at once and its request is never sent', async (t) => {
  const w = await startFaultWorker();
  w.delayMs = 300;
  const proxy = await startTestProxy({ balancer: 'least-loaded', connectionsPerWorker: 1, healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => {
    await proxy.close();
    await w.close();
  });
  const first = invoke(proxy.url, '/runLambda/f');
  await until(() => w.count === 1, 'first request reached the worker');
  let left!: () => void;
  const leave = new Promise<void>((r) => { left = r; });
  const abandoned = abandon(proxy.url, '/runLambda/f', leave);
  await until(() => proxy.scheduler.waiting === 1, 'second request waits');
  left();
  await abandoned;
  await until(() => proxy.scheduler.waiting === 0, 'the abandoned request left the queue');
  t.equal(proxy.table.workers[0]!.inFlight, 1, 'only the first request holds the connection');
  t.equal((await first).status, 200);
  await expectIdle(t, proxy);
  t.equal(w.count, 1, 'the abandoned request never reached the worker');
});

/**
 * Three workers of one connection each, every one slow, under pkg-aware with a
 * high threshold: a function's two ring candidates fill, and later requests
 * wait in a candidate's own queue while the third worker stays idle — PASch
 * waiting for its warm home.
 */
async function homeQueueSetup(t: Test, extra: Record<string, unknown> = {}): Promise<{ proxy: RunningProxy; ws: FaultWorker[] }> {
  const ws = await Promise.all([startFaultWorker(), startFaultWorker(), startFaultWorker()]);
  for (const w of ws) w.delayMs = 300;
  const proxy = await startTestProxy({
    balancer: 'pkg-aware', loadThreshold: 10, connectionsPerWorker: 1, healthIntervalMs: 0,
    workers: ws.map((w, i) => ({ url: w.url, id: `w${i}` })),
    ...extra,
  });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(ws.map((w) => w.close()));
  });
  return { proxy, ws };
}

t.test('the queue timeout applies to requests waiting in a worker\'s own queue', async (t) => {
  const { proxy } = await homeQueueSetup(t, { queueTimeoutMs: 100 });
  const running = [invoke(proxy.url, '/runLambda/f'), invoke(proxy.url, '/runLambda/f')];
  await until(() => proxy.scheduler.running === 2, 'both candidates busy');
  const waiting = invoke(proxy.url, '/runLambda/f');
  await until(() => proxy.table.workers.some((w) => w.queued === 1), 'a request waits in a candidate\'s queue');
  t.equal(proxy.table.freeCount, 1, 'while the third worker has a free connection');
  const late = await waiting;
  t.equal(late.status, 503);
  t.equal((late.json as { error: { code: string } }).error.code, 'queue_timeout');
  t.same((await Promise.all(running)).map((r) => r.status), [200, 200]);
  await expectIdle(t, proxy);
});

t.test('a lease is released exactly once under every worker fault', async (t) => {
  const cases: { mode: Parameters<typeof setMode>[1]; expect: number; code?: string }[] = [
    { mode: 'hang', expect: 504, code: 'worker_timeout' },
    { mode: 'close', expect: 502, code: 'worker_failed' },
    { mode: 'malformed', expect: 502, code: 'worker_failed' },
    { mode: 'error-500', expect: 500 },
  ];
  function setMode(w: FaultWorker, mode: FaultWorker['mode']): void {
    w.mode = mode;
  }
  for (const c of cases) {
    const w = await startFaultWorker();
    const proxy = await startTestProxy({ connectionsPerWorker: 2, headersTimeoutMs: 200, healthIntervalMs: 0, workers: [w.url] });
    setMode(w, c.mode);
    const reply = await invoke(proxy.url, '/runLambda/f');
    t.equal(reply.status, c.expect, `${c.mode}: answered ${c.expect}`);
    if (c.code) t.equal((reply.json as { error: { code: string } }).error.code, c.code, `${c.mode}: ${c.code}`);
    await expectIdle(t, proxy);
    await proxy.close();
    await w.close();
  }
});

t.test('a response cut mid-body, or stalled past the body timeout, is cut for the client and the lease released', async (t) => {
  for (const mode of ['reset-mid-body', 'stall-body'] as const) {
    const w = await startFaultWorker();
    w.mode = mode;
    const proxy = await startTestProxy({ connectionsPerWorker: 2, bodyTimeoutMs: 200, healthIntervalMs: 0, workers: [w.url] });
    const outcome = await invoke(proxy.url, '/runLambda/f').then((r) => `status ${r.status}`, (err: Error) => `cut (${(err as NodeJS.ErrnoException).code ?? err.message})`);
    t.match(outcome, /^cut/, `${mode}: the client sees a cut response (${outcome})`);
    await expectIdle(t, proxy);
    t.equal(proxy.table.workers[0]!.health.state, 'ejected', `${mode}: the worker is ejected`);
    await proxy.close();
    await w.close();
  }
});

t.test('a client leaving while the worker runs, or mid-response, releases the lease', async (t) => {
  for (const mode of ['hang', 'slow-bytes'] as const) {
    const w = await startFaultWorker();
    w.mode = mode;
    w.slowByteMs = 50;
    const proxy = await startTestProxy({ connectionsPerWorker: 1, healthIntervalMs: 0, workers: [w.url] });
    const reached = until(() => w.current === 1, 'request at the worker');
    await abandon(proxy.url, '/runLambda/f', mode === 'hang' ? reached : reached.then(() => new Promise((r) => setTimeout(r, 120))));
    await expectIdle(t, proxy);
    await until(() => w.current === 0, 'the worker saw the request aborted');
    t.pass(`${mode}: aborted upstream`);
    await proxy.close();
    await w.close();
  }
});

for (const action of ['remove', 'drain'] as const) {
  t.test(`${action} a worker with requests in flight and queued: queued ones go elsewhere, in-flight ones finish`, async (t) => {
    const { proxy, ws } = await homeQueueSetup(t);
    const replies = Array.from({ length: 6 }, () => invoke(proxy.url, '/runLambda/f'));
    await until(() => proxy.table.workers.reduce((n, w) => n + w.queued, 0) === 4, 'four wait in the candidates\' queues');
    const target = proxy.table.workers.find((w) => w.queued === 2)!;
    const idle = proxy.table.workers.find((w) => w.inFlight === 0)!;
    const idleWorker = ws[Number(idle.id.slice(1))]!;
    const res = await invoke(proxy.url, `/admin/workers/${action}?workers=${target.id}`, { body: '' });
    t.equal(res.status, 200, `${action} answers at once`);
    const body = res.json as { removed?: { inFlight: number }[]; drained?: { inFlight: number }[] };
    t.equal((body.removed ?? body.drained)![0]!.inFlight, 1, `${action} reports the request still in flight`);
    const statuses = (await Promise.all(replies)).map((r) => r.status);
    t.same(statuses, [200, 200, 200, 200, 200, 200], 'every request answered');
    t.ok(idleWorker.count >= 1, `the queued requests ran elsewhere (the idle worker took ${idleWorker.count})`);
    t.equal(ws[Number(target.id.slice(1))]!.count, 1, `the ${action === 'remove' ? 'removed' : 'drained'} worker ran only its in-flight request`);
    await expectIdle(t, proxy);
  });
}

t.test('health: a killed worker goes down within interval x fall, gets nothing new, returns after rise; all down is 503 at once', async (t) => {
  const a = await startFaultWorker();
  const b = await startFaultWorker();
  const proxy = await startTestProxy({
    balancer: 'round-robin', connectionsPerWorker: 4, healthIntervalMs: 50, healthTimeoutMs: 200, healthFall: 2, healthRise: 2,
    workers: [{ url: a.url, id: 'a' }, { url: b.url, id: 'b' }],
  });
  t.teardown(async () => {
    await proxy.close();
    await a.close();
    await b.close();
  });
  await a.crash();
  const crashedAt = Date.now();
  await until(() => proxy.table.get('a')!.health.state !== 'up', 'a leaves routing');
  t.ok(Date.now() - crashedAt < 50 * 2 + 400, 'down within about interval x fall');
  const before = b.count;
  const replies = await Promise.all(Array.from({ length: 10 }, () => invoke(proxy.url, '/runLambda/f')));
  t.same(replies.map((r) => r.status), Array(10).fill(200), 'every request answered by the healthy worker');
  t.equal(b.count - before, 10, 'the downed worker got nothing');
  await b.crash();
  await until(() => proxy.table.routableCount === 0, 'both down');
  const down = await invoke(proxy.url, '/runLambda/f');
  t.equal(down.status, 503);
  t.equal((down.json as { error: { code: string } }).error.code, 'no_healthy_worker');
  t.ok(down.headers['retry-after'], 'Retry-After');
  t.equal((await invoke(proxy.url, '/readyz', { method: 'GET', body: '' })).status, 503, '/readyz is 503 with no healthy worker');
  await a.restart();
  await until(() => proxy.table.get('a')!.routable, 'a comes back after rise successes', 5000);
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200);
  t.equal((await invoke(proxy.url, '/readyz', { method: 'GET', body: '' })).status, 200, '/readyz is 200 once a worker is up');
  await b.restart();
});

t.test('live state: a package the worker no longer reports leaves the table, and the next invocation counts as a miss', async (t) => {
  const w = await startFaultWorker();
  w.statusPackages = ['numpy', 'pandas'];
  const dir = await tempDir(t, 'warmroute-test-');
  const registry = `${dir}/registry.json`;
  await import('node:fs/promises').then((fs) => fs.writeFile(registry, JSON.stringify([{ handle: 'f', pkgs: ['numpy', 'pandas'] }])));
  const proxy = await startTestProxy({ registry, connectionsPerWorker: 2, healthIntervalMs: 40, workers: [{ url: w.url, id: 'w' }] });
  t.teardown(async () => {
    await proxy.close();
    await w.close();
  });
  await until(() => proxy.table.get('w')!.reportsPackages, 'first report');
  t.same([...proxy.table.get('w')!.packages].sort(), ['numpy', 'pandas']);
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200);
  w.statusPackages = ['pandas'];
  await until(() => !proxy.table.get('w')!.packages.has('numpy'), 'eviction seen after the next poll');
  const s = await status(proxy, true);
  t.same(s.workers[0]!.packages, ['pandas'], '/status?verbose=1 lists what the worker reports');
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200);
  const metrics = (await invoke(proxy.url, '/metrics', { method: 'GET', body: '' })).text;
  t.match(metrics, /warmroute_package_affinity_total\{held="all"\} 1/, 'the first invocation found every package');
  t.match(metrics, /warmroute_package_affinity_total\{held="miss"\} 1/, 'the one after the eviction is a miss');
});

t.test('drain under load: zero failed requests, nothing new reaches the drained worker', async (t) => {
  const ws = await Promise.all([startFaultWorker(), startFaultWorker(), startFaultWorker()]);
  for (const w of ws) w.delayMs = 20;
  const proxy = await startTestProxy({
    balancer: 'least-loaded', connectionsPerWorker: 2, healthIntervalMs: 0,
    workers: ws.map((w, i) => ({ url: w.url, id: `w${i}` })),
  });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(ws.map((w) => w.close()));
  });
  let drainedAt = -1;
  const load = Array.from({ length: 120 }, async (_, i) => {
    await new Promise((r) => setTimeout(r, i * 3));
    return invoke(proxy.url, '/runLambda/f');
  });
  await until(() => ws[0]!.count >= 5, 'w0 served some');
  const res = await invoke(proxy.url, '/admin/workers/drain?workers=w0', { body: '' });
  t.equal(res.status, 200);
  drainedAt = ws[0]!.count;
  const replies = await Promise.all(load);
  t.same(replies.filter((r) => r.status !== 200).map((r) => r.status), [], 'zero failed requests');
  t.ok(ws[0]!.count - drainedAt <= 2, `nothing new reached the drained worker beyond what was already in flight (${ws[0]!.count - drainedAt})`);
  t.equal(proxy.table.get('w0')!.health.state, 'draining');
  await expectIdle(t, proxy);
});

t.test('the decisions metric: pkg-aware requests on the two homes count as home, the one past the threshold as spill', async (t) => {
  const ws = await Promise.all([0, 1, 2].map(() => startTestWorker({ delayMs: 150 })));
  const proxy = await startTestProxy({ balancer: 'pkg-aware', loadThreshold: 1, connectionsPerWorker: 1, healthIntervalMs: 0, workers: ws.map((w) => w.url) });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(ws.map((w) => w.close()));
  });
  const replies = await Promise.all([0, 1, 2].map(() => invoke(proxy.url, '/runLambda/f')));
  t.same(replies.map((r) => r.status), [200, 200, 200]);
  t.equal(new Set(replies.map((r) => r.headers['x-warmroute-worker'])).size, 3, 'one request on each worker');
  const metrics = (await invoke(proxy.url, '/metrics', { method: 'GET', body: '' })).text;
  t.match(metrics, /warmroute_decisions_total\{outcome="home"\} 2\b/, 'two on the homes');
  t.match(metrics, /warmroute_decisions_total\{outcome="spill"\} 1\b/, 'one spilled');
  for (const outcome of ['wait', 'shared', 'direct']) t.match(metrics, new RegExp(`warmroute_decisions_total\\{outcome="${outcome}"\\} 0\\b`), `${outcome} listed at 0`);
  await expectIdle(t, proxy);
});
