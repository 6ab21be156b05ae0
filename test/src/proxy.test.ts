// The proxy path: queueing, errors, retries, disconnects, admin; real HTTP on loopback.
import { request as httpRequest } from 'node:http';
import t from 'tap';
import { until } from '../fixtures/end-to-end.js';
import { closedPort, inBatches, invoke, startTestProxy, startTestWorker, type TestWorker } from '../fixtures/servers.js';

function errorOf(json: unknown): { code: string; message: string } {
  return (json as { error: { code: string; message: string } }).error;
}

async function cleanup(t: { teardown(fn: () => Promise<void>): void }, proxy: { close(): Promise<unknown> }, ws: TestWorker[]): Promise<void> {
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(ws.map((w) => w.close()));
  });
}

t.test('queueing: 200 concurrent calls on 2 workers x 2 connections all succeed, never more than 2 per worker', async (t) => {
  const ws = await Promise.all([startTestWorker({ delayMs: 50 }), startTestWorker({ delayMs: 50 })]);
  const proxy = await startTestProxy({ balancer: 'least-loaded', connectionsPerWorker: 2, workers: ws.map((w) => w.url) });
  await cleanup(t, proxy, ws);
  let deepest = 0;
  const sample = setInterval(() => { deepest = Math.max(deepest, proxy.scheduler.waiting); }, 5);
  const replies = await Promise.all(Array.from({ length: 200 }, () => invoke(proxy.url, '/runLambda/f')));
  clearInterval(sample);
  t.equal(replies.filter((r) => r.status === 200).length, 200, 'all 200 answered 200');
  t.equal(ws[0]!.count + ws[1]!.count, 200);
  t.ok(ws.every((w) => w.maxConcurrent <= 2), `most at once per worker: ${ws.map((w) => w.maxConcurrent).join(',')}`);
  t.ok(deepest > 100, `requests waited in the queue (deepest ${deepest})`);
  t.equal(proxy.scheduler.waiting + proxy.scheduler.running, 0, 'queue drained');
});

t.test('a full queue answers 503 JSON with Retry-After', async (t) => {
  const w = await startTestWorker({ delayMs: 300 });
  const proxy = await startTestProxy({ connectionsPerWorker: 1, queueLimit: 1, workers: [w.url] });
  await cleanup(t, proxy, [w]);
  const first = invoke(proxy.url, '/runLambda/f');
  await until(() => w.count === 1, 'the first request at the worker');
  const second = invoke(proxy.url, '/runLambda/f');
  await until(() => proxy.scheduler.waiting === 1, 'the second request waiting');
  const third = await invoke(proxy.url, '/runLambda/f');
  t.equal(third.status, 503);
  t.equal(errorOf(third.json).code, 'queue_full');
  t.match(errorOf(third.json).message, /busy/);
  t.ok(Number(third.headers['retry-after']) >= 1, 'Retry-After is set');
  t.equal((await first).status, 200);
  t.equal((await second).status, 200, 'the one that waited is served');
});

t.test('a wait longer than queueTimeoutMs answers 503 JSON with Retry-After', async (t) => {
  const w = await startTestWorker({ delayMs: 400 });
  const proxy = await startTestProxy({ connectionsPerWorker: 1, queueTimeoutMs: 100, workers: [w.url] });
  await cleanup(t, proxy, [w]);
  const first = invoke(proxy.url, '/runLambda/f');
  await until(() => w.count === 1, 'the first request at the worker');
  const second = await invoke(proxy.url, '/runLambda/f');
  t.equal(second.status, 503);
  t.equal(errorOf(second.json).code, 'queue_timeout');
  t.match(errorOf(second.json).message, /100 ms/);
  t.ok(second.headers['retry-after'], 'Retry-After is set');
  t.equal((await first).status, 200);
  t.equal(w.count, 1, 'the timed-out request never reached a worker');
});

t.test('bad input gets JSON errors that name the problem', async (t) => {
  const w = await startTestWorker();
  const dir = t.testdir({ 'registry.json': JSON.stringify([{ handle: 'known', pkgs: ['a'] }]) });
  const proxy = await startTestProxy({ registry: `${dir}/registry.json`, maxBodyBytes: 1000, workers: [w.url] });
  await cleanup(t, proxy, [w]);

  const unknown = await invoke(proxy.url, '/runLambda/nope');
  t.equal(unknown.status, 404);
  t.same(errorOf(unknown.json).code, 'unknown_function');
  t.match(errorOf(unknown.json).message, /"nope"/);

  for (const path of ['/runLambda/', '/runLambda/a/b', '/runLambda/%00x', '/runLambda']) {
    const r = await invoke(proxy.url, path);
    t.equal(r.status, 400, `${path} is malformed`);
    t.equal(errorOf(r.json).code, 'bad_request');
  }

  const big = await invoke(proxy.url, '/runLambda/known', { body: 'x'.repeat(5000) });
  t.equal(big.status, 413);
  t.equal(errorOf(big.json).code, 'body_too_large');
  t.match(errorOf(big.json).message, /1000 bytes/);
  t.equal(w.count, 0, 'nothing so far reached the worker');

  // A chunked body (no content-length) is cut off at the limit too.
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(`${proxy.url}/runLambda/known`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    for (let i = 0; i < 10; i++) req.write('y'.repeat(500));
    req.end();
  });
  t.equal(chunked.status, 413, 'chunked body over the limit');
  t.match(chunked.body, /body_too_large/);
  t.equal(proxy.table.workers[0]!.inFlight, 0);

  const get = await invoke(proxy.url, '/runLambda/known', { method: 'GET', body: '' });
  t.equal(get.status, 405);
  t.equal(get.headers.allow, 'POST');

  const missing = await invoke(proxy.url, '/nowhere', { method: 'GET', body: '' });
  t.equal(missing.status, 404);
  t.equal(errorOf(missing.json).code, 'not_found');
  t.ok(w.count <= 1, 'nothing but the start of the streamed chunked body reached the worker');
  t.equal((await invoke(proxy.url, '/runLambda/known')).status, 200, 'a good call still works');
});

t.test('a refused connection is retried once on another worker', async (t) => {
  const w = await startTestWorker();
  const dead = await closedPort();
  const proxy = await startTestProxy({ balancer: 'round-robin', workers: [`127.0.0.1:${dead}`, w.url] });
  await cleanup(t, proxy, [w]);
  const r = await invoke(proxy.url, '/runLambda/f', { body: JSON.stringify({ n: 1 }) });
  t.equal(r.status, 200, 'the client sees 200');
  t.equal(r.headers['x-warmroute-worker'], `127.0.0.1:${w.port}`);
  t.equal(w.count, 1);
  const dw = proxy.table.get(`127.0.0.1:${dead}`)!;
  t.equal(dw.routable, false, 'the refusing worker is left out of routing');
  t.equal(dw.inFlight, 0);
  const metrics = await invoke(proxy.url, '/metrics', { method: 'GET', body: '' });
  t.match(metrics.text, /warmroute_retries_total 1/);
});

t.test('all workers down: 502 or 503, never a hang', async (t) => {
  const proxy = await startTestProxy({ workers: [`127.0.0.1:${await closedPort()}`, `127.0.0.1:${await closedPort()}`], connectTimeoutMs: 1000 });
  await cleanup(t, proxy, []);
  const first = await invoke(proxy.url, '/runLambda/f');
  t.ok(first.status === 502 || first.status === 503, `status ${first.status}`);
  t.ok(['worker_failed', 'no_healthy_worker'].includes(errorOf(first.json).code));
  const second = await invoke(proxy.url, '/runLambda/f');
  t.equal(second.status, 503, 'once both are known down, 503 at once');
  t.equal(errorOf(second.json).code, 'no_healthy_worker');
  t.ok(second.headers['retry-after']);
});

t.test('no workers at all: 503 at once, until one is added', async (t) => {
  const w = await startTestWorker();
  const proxy = await startTestProxy({ workers: [] });
  await cleanup(t, proxy, [w]);
  const r = await invoke(proxy.url, '/runLambda/f');
  t.equal(r.status, 503);
  t.match(errorOf(r.json).message, /no workers/);
  const add = await invoke(proxy.url, `/admin/workers/add?workers=${encodeURIComponent(w.url)}`, { body: '' });
  t.equal(add.status, 200);
  // A worker added while running is routed once its first status check passes (healthCheckNewWorkers).
  await until(() => proxy.table.routableCount === 1, 'the added worker in routing');
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200);
});

t.test('a client that disconnects mid-request leaves every in-flight count at 0', async (t) => {
  const ws = await Promise.all([startTestWorker({ delayMs: 500 }), startTestWorker({ delayMs: 500 })]);
  const proxy = await startTestProxy({ balancer: 'least-loaded', connectionsPerWorker: 1, workers: ws.map((w) => w.url) });
  await cleanup(t, proxy, ws);
  // Four requests: two reach workers, two wait in the queue; all four clients leave.
  const reqs = Array.from({ length: 4 }, () => {
    const req = httpRequest(`${proxy.url}/runLambda/f`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => {});
    req.end('{}');
    return req;
  });
  await until(() => proxy.scheduler.waiting === 2 && ws[0]!.count + ws[1]!.count === 2, 'two requests at the workers, two waiting');
  t.equal(proxy.scheduler.waiting, 2, 'two waited');
  for (const req of reqs) req.destroy();
  await until(() => proxy.scheduler.waiting + proxy.scheduler.running === 0 && ws[0]!.aborted + ws[1]!.aborted === 2, 'the queue empty and both upstream requests aborted');
  t.same(proxy.table.workers.map((w) => w.inFlight), [0, 0], 'in-flight back to 0');
  t.equal(proxy.scheduler.waiting + proxy.scheduler.running, 0, 'no slot or queue entry left');
  t.equal(ws[0]!.aborted + ws[1]!.aborted, 2, 'the upstream requests were aborted');
  t.equal(ws[0]!.count + ws[1]!.count, 2, 'the queued ones never reached a worker');
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200, 'the proxy still serves');
});

t.test('request and response headers: hop-by-hop dropped, x-forwarded-for added, worker named', async (t) => {
  let seen: Record<string, string | string[] | undefined> = {};
  const w = await startTestWorker({ onRequest: (req) => { seen = req.headers; } });
  const proxy = await startTestProxy({ workers: [w.url] });
  await cleanup(t, proxy, [w]);
  const r = await invoke(proxy.url, '/runLambda/f?x=1', { headers: { 'x-custom': 'kept', 'x-forwarded-for': '10.1.1.1', 'proxy-authorization': 'secret' } });
  t.equal(r.status, 200);
  t.equal(seen['x-custom'], 'kept');
  t.equal(seen['proxy-authorization'], undefined);
  t.equal(seen['x-forwarded-for'], '10.1.1.1, 127.0.0.1');
  t.equal((r.json as { path: string }).path, '/runLambda/f?x=1', 'path and query forwarded unchanged');
  t.equal(r.headers['x-warmroute-worker'], `127.0.0.1:${w.port}`);
  t.equal(r.headers['x-test-worker'], String(w.port), "the worker's headers pass through");
});

t.test('admin: add (once its first status check passes) and remove take effect on the next request; the token is enforced', async (t) => {
  const [a, b] = await Promise.all([startTestWorker(), startTestWorker()]);
  const proxy = await startTestProxy({ balancer: 'round-robin', adminToken: 's3cret', workers: [a!.url] });
  await cleanup(t, proxy, [a!, b!]);
  const auth = { authorization: 'Bearer s3cret' };

  const denied = await invoke(proxy.url, `/admin/workers/add?workers=127.0.0.1:${b!.port}`, { body: '' });
  t.equal(denied.status, 401);
  t.equal(errorOf(denied.json).code, 'unauthorized');
  const wrong = await invoke(proxy.url, `/admin/workers/add?workers=127.0.0.1:${b!.port}`, { body: '', headers: { authorization: 'Bearer nope' } });
  t.equal(wrong.status, 401);
  t.equal(proxy.table.size, 1, 'nothing changed without the token');

  const added = await invoke(proxy.url, '/admin/workers/add', { body: JSON.stringify({ workers: [{ url: b!.url, weight: 1 }] }), headers: auth });
  t.equal(added.status, 200);
  t.same((added.json as { added: string[] }).added, [`127.0.0.1:${b!.port}`]);
  await until(() => proxy.table.routableCount === 2, 'the added worker in routing after its first status check');
  await invoke(proxy.url, '/runLambda/f');
  await invoke(proxy.url, '/runLambda/f');
  t.equal(b!.count, 1, 'the added worker takes requests at once');

  const removed = await invoke(proxy.url, `/admin/workers/remove?workers=${encodeURIComponent(a!.url)}`, { body: '', headers: auth });
  t.equal(removed.status, 200);
  t.same((removed.json as { workers: string[] }).workers, [`127.0.0.1:${b!.port}`]);
  const before = a!.count;
  for (let i = 0; i < 4; i++) await invoke(proxy.url, '/runLambda/f');
  t.equal(a!.count, before, 'the removed worker gets nothing more');

  const bad = await invoke(proxy.url, '/admin/workers/add', { body: '{"workers": [42]}', headers: auth });
  t.equal(bad.status, 400);
  t.match(errorOf(bad.json).message, /42/);
  const empty = await invoke(proxy.url, '/admin/workers/add', { body: '', headers: auth });
  t.equal(empty.status, 400);
});

t.test('/status, /healthz and /metrics describe the proxy', async (t) => {
  const w = await startTestWorker();
  const proxy = await startTestProxy({ balancer: 'least-loaded', workers: [{ url: w.url, weight: 3 }] });
  await cleanup(t, proxy, [w]);
  await inBatches(5, 5, () => invoke(proxy.url, '/runLambda/f'));
  const status = (await invoke(proxy.url, '/status', { method: 'GET', body: '' })).json as {
    balancer: { name: string }; queue: { waiting: number; inFlight: number }; workers: { id: string; weight: number; limit: number; inFlight: number; health: string; served: number }[];
  };
  t.equal(status.balancer.name, 'least-loaded');
  t.same(status.queue, { ...status.queue, waiting: 0, inFlight: 0 });
  t.same(status.workers.map((x) => [x.weight, x.limit, x.inFlight, x.health, x.served]), [[3, 10, 0, 'up', 5]]);
  t.same((await invoke(proxy.url, '/healthz', { method: 'GET', body: '' })).json, { status: 'ok' });
  const metrics = (await invoke(proxy.url, '/metrics', { method: 'GET', body: '' })).text;
  const id = `127.0.0.1:${w.port}`;
  t.match(metrics, new RegExp(`warmroute_requests_total\\{worker="${id}",code="200"\\} 5`));
  t.match(metrics, new RegExp(`warmroute_request_duration_seconds_count\\{worker="${id}"\\} 5`));
  t.match(metrics, new RegExp(`warmroute_worker_weight\\{worker="${id}"\\} 3`));
  t.match(metrics, /warmroute_queue_waiting 0/);
});

t.test('a worker slower than headersTimeoutMs gets 504 worker_timeout, and its slot is released', async (t) => {
  const w = await startTestWorker({ delayMs: 1000 });
  const proxy = await startTestProxy({ headersTimeoutMs: 150, workers: [w.url] });
  await cleanup(t, proxy, [w]);
  const r = await invoke(proxy.url, '/runLambda/f');
  t.equal(r.status, 504);
  t.equal(errorOf(r.json).code, 'worker_timeout');
  t.match(errorOf(r.json).message, /timed out/);
  t.equal(proxy.table.workers[0]!.inFlight, 0);
  t.equal(proxy.scheduler.running, 0);
  t.equal(proxy.table.workers[0]!.health.state, 'ejected', 'a worker that times out leaves routing for a while (passive health)');
});

t.test('admin: the registry reloads from its file; a broken file keeps the old one', async (t) => {
  const w = await startTestWorker();
  const dir = t.testdir({ 'registry.json': JSON.stringify([{ handle: 'old', pkgs: ['a'] }]) });
  const path = `${dir}/registry.json`;
  const proxy = await startTestProxy({ registry: path, workers: [w.url] });
  await cleanup(t, proxy, [w]);
  t.equal((await invoke(proxy.url, '/runLambda/new')).status, 404);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(path, JSON.stringify([{ handle: 'old', pkgs: ['a'] }, { handle: 'new', pkgs: ['b'] }]));
  const reloaded = await invoke(proxy.url, '/admin/registry/reload', { body: '' });
  t.equal(reloaded.status, 200);
  t.equal((reloaded.json as { functions: number }).functions, 2);
  t.equal((await invoke(proxy.url, '/runLambda/new')).status, 200, 'the new function is known at once');
  writeFileSync(path, '[{"handle": ');
  const broken = await invoke(proxy.url, '/admin/registry/reload', { body: '' });
  t.equal(broken.status, 400);
  t.match(errorOf(broken.json).message, /not valid JSON/);
  t.equal((await invoke(proxy.url, '/runLambda/new')).status, 200, 'the previous registry stays in force');
});
