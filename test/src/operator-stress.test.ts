// Regression tests of the operator's stress report: head-of-line blocking in
// the shared queue, reloads that act on what the proxy then does, queued
// requests when nothing is left to serve, admin input limits, overlapping
// reloads and connect retries. Real proxies and workers on loopback.
import { execFileSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startProxy } from '../../src/app.js';
import { startDnsServer } from '../fixtures/dns-server.js';
import { until } from '../fixtures/end-to-end.js';
import { closedPort, invoke, startTestProxy, startTestWorker, type Reply } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

function codeOf(reply: Reply): string {
  return (reply.json as { error?: { code: string } }).error?.code ?? '';
}

const timed = async (url: string, path: string): Promise<{ reply: Reply; ms: number }> => {
  const start = performance.now();
  const reply = await invoke(url, path);
  return { reply, ms: performance.now() - start };
};

/** Replaces a file in one step (write beside it, then rename), as an operator's deploy does, so a reload never reads it half written. */
async function replaceFile(path: string, text: string): Promise<void> {
  await writeFile(`${path}.next`, text);
  await rename(`${path}.next`, path);
}

async function balancerName(url: string): Promise<string> {
  return ((await invoke(url, '/status', { method: 'GET', body: '' })).json as { balancer: { name: string } }).balancer.name;
}

const SLOW_MS = 5000;
const slowPath = (path: string): number | undefined => (path.startsWith('/runLambda/slow') ? SLOW_MS : undefined);

for (const limits of [{}, { connectionsPerWorker: 2, workerQueueLimit: 2 }]) {
  t.test(`head-of-line: while a 5 s function overflows into the shared queue, fast functions whose homes are idle are served at once (${JSON.stringify(limits)})`, async (t) => {
    const ws = await Promise.all(Array.from({ length: 4 }, () => startTestWorker({ delayFor: slowPath, delayMs: 10 })));
    const proxy = await startTestProxy({ balancer: 'pkg-aware', loadThreshold: 300, healthIntervalMs: 0, shutdownTimeoutMs: 200, workers: ws.map((w) => w.url), ...limits });
    t.teardown(async () => {
      await proxy.close(true);
      await Promise.all(ws.map((w) => w.close()));
    });
    // Where each fast function lives while everything is idle.
    const names = Array.from({ length: 16 }, (_, i) => `fast${i}`);
    const homeOf = new Map<string, string>();
    for (const name of names) homeOf.set(name, String((await invoke(proxy.url, `/runLambda/${name}`)).headers['x-warmroute-worker']));
    // Enough to fill both homes' connections and own queues (2 x (10 + 100) by default) and spill into the shared queue.
    const slow = Array.from({ length: 240 }, () => invoke(proxy.url, '/runLambda/slow').catch(() => undefined));
    await until(() => proxy.scheduler.waiting >= 200, 'the slow function overflows into the shared queue');
    // The proxy's own view: a slow request on its way to a worker has not reached it yet.
    const busy = new Set(proxy.table.workers.filter((w) => w.inFlight > 0).map((w) => w.id));
    t.ok(busy.size < ws.length, `some workers run none of the slow function (busy: ${busy.size} of ${ws.length})`);
    const idleHomed = names.filter((n) => !busy.has(homeOf.get(n)!));
    t.ok(idleHomed.length > 0, `fast functions whose homes are idle: ${idleHomed.join(', ')}`);
    t.ok(idleHomed.every((n) => ws.some((w) => homeOf.get(n) === `127.0.0.1:${w.port}`)), 'homes are named by worker id');
    const results = await Promise.all(idleHomed.map((n) => timed(proxy.url, `/runLambda/${n}`)));
    for (const [i, { reply, ms }] of results.entries()) {
      t.equal(reply.status, 200, `${idleHomed[i]} answered 200`);
      // Blocked behind the slow function's head it would wait the full 5 s.
      t.ok(ms < 1000, `${idleHomed[i]} answered in ${Math.round(ms)} ms, not after the slow function`);
    }
    t.ok(proxy.scheduler.waiting > 0, 'the slow function still waits: the fast ones went past it');
    void slow;
  });
}

t.test('a reload acts on what the proxy does: registry, removed function, limit, policy; /admin/registry/reload acts on the same registry', async (t) => {
  const ws = await Promise.all([startTestWorker({ delayMs: 100 }), startTestWorker({ delayMs: 100 })]);
  const dir = await tempDir(t, 'warmroute-reload-keys-');
  const config = join(dir, 'config.json');
  const registry = join(dir, 'registry.json');
  const base = { host: '127.0.0.1', port: 0, logLevel: 'silent', healthIntervalMs: 0, workers: ws.map((w) => w.url) };
  await writeFile(registry, JSON.stringify([{ handle: 'old', pkgs: ['a'] }, { handle: 'gone', pkgs: ['b'] }]));
  await writeFile(config, JSON.stringify({ ...base, registry: 'registry.json', balancer: 'pkg-aware', connectionsPerWorker: 4 }));
  const proxy = await startProxy(JSON.parse(await readFile(config, 'utf8')) as Record<string, unknown>, { configPath: config, baseDir: dir });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(ws.map((w) => w.close()));
  });
  t.equal((await invoke(proxy.url, '/runLambda/new')).status, 404, 'not yet in the registry');
  t.equal((await invoke(proxy.url, '/runLambda/gone')).status, 200);

  await writeFile(registry, JSON.stringify([{ handle: 'old', pkgs: ['a'] }, { handle: 'new', pkgs: ['c'] }]));
  await writeFile(config, JSON.stringify({ ...base, registry: 'registry.json', balancer: 'round-robin', connectionsPerWorker: 1 }));
  t.equal((await invoke(proxy.url, '/admin/reload', { body: '' })).status, 200);
  t.equal((await invoke(proxy.url, '/runLambda/new')).status, 200, 'a function added to the registry file is invocable after a full reload');
  const gone = await invoke(proxy.url, '/runLambda/gone');
  t.equal(gone.status, 404, 'a removed function 404s');
  t.equal(codeOf(gone), 'unknown_function');
  const burst = await Promise.all(Array.from({ length: 8 }, () => invoke(proxy.url, '/runLambda/old')));
  t.ok(burst.every((r) => r.status === 200), 'all served');
  t.ok(ws.every((w) => w.maxConcurrent <= 4), 'before the reload the limit was 4');
  const seen = burst.map((r) => String(r.headers['x-warmroute-worker']));
  t.equal(new Set(seen).size, 2, 'round-robin spreads one function over both workers (pkg-aware kept it on one)');
  for (const w of ws) w.maxConcurrent = 0;
  await Promise.all(Array.from({ length: 8 }, () => invoke(proxy.url, '/runLambda/old')));
  t.ok(ws.every((w) => w.maxConcurrent === 1), `the new connection limit 1 is enforced: ${ws.map((w) => w.maxConcurrent).join(',')}`);

  await writeFile(registry, JSON.stringify([{ handle: 'old', pkgs: ['a'] }, { handle: 'new', pkgs: ['c'] }, { handle: 'newer', pkgs: ['d'] }]));
  t.equal((await invoke(proxy.url, '/admin/registry/reload', { body: '' })).status, 200);
  t.equal((await invoke(proxy.url, '/runLambda/newer')).status, 200, '/admin/registry/reload reloads the registry the full reload installed');

  const other = join(dir, 'other.json');
  await writeFile(other, JSON.stringify([{ handle: 'elsewhere', pkgs: ['e'] }]));
  await writeFile(config, JSON.stringify({ ...base, registry: 'other.json', balancer: 'round-robin', connectionsPerWorker: 1 }));
  t.equal((await invoke(proxy.url, '/admin/reload', { body: '' })).status, 200);
  t.equal((await invoke(proxy.url, '/runLambda/elsewhere')).status, 200, 'a changed registry path is picked up by reload');
  t.equal((await invoke(proxy.url, '/runLambda/old')).status, 404, 'and the old file is no longer read');
  await writeFile(other, JSON.stringify([{ handle: 'elsewhere', pkgs: ['e'] }, { handle: 'later', pkgs: ['f'] }]));
  t.equal((await invoke(proxy.url, '/admin/registry/reload', { body: '' })).status, 200);
  t.equal((await invoke(proxy.url, '/runLambda/later')).status, 200, '/admin/registry/reload re-reads the new path');
});

/** A proxy started from a config file whose registry, small.json, lists only `v2`; closed with the test. */
async function reloadOrderSetUp(t: Test, prefix: string) {
  const w = await startTestWorker();
  const dir = await tempDir(t, prefix);
  const config = join(dir, 'config.json');
  const base = { host: '127.0.0.1', port: 0, logLevel: 'silent', healthIntervalMs: 0, workers: [w.url] };
  await writeFile(join(dir, 'small.json'), JSON.stringify([{ handle: 'v2', pkgs: [] }]));
  await writeFile(config, JSON.stringify({ ...base, registry: 'small.json' }));
  const proxy = await startProxy(JSON.parse(await readFile(config, 'utf8')) as Record<string, unknown>, { configPath: config, baseDir: dir });
  t.teardown(async () => {
    await proxy.close();
    await w.close();
  });
  return { dir, config, base, proxy };
}

t.test('overlapping reloads: a slow one (large registry) then a fast one 10 ms later end with the fast one running, three times over', async (t) => {
  for (let attempt = 1; attempt <= 3; attempt++) await t.test(`attempt ${attempt}`, async (t) => {
    const { dir, config, base, proxy } = await reloadOrderSetUp(t, 'warmroute-reload-order-');
    await writeFile(join(dir, 'big.json'), JSON.stringify(Array.from({ length: 100_000 }, (_, i) => ({ handle: `f${i}`, pkgs: [`p${i % 500}`] }))));
    await replaceFile(config, JSON.stringify({ ...base, registry: 'big.json', balancer: 'round-robin' }));
    const v1 = invoke(proxy.url, '/admin/reload', { body: '' });
    await new Promise((r) => setTimeout(r, 10));
    await replaceFile(config, JSON.stringify({ ...base, registry: 'small.json', balancer: 'least-loaded' }));
    const v2 = invoke(proxy.url, '/admin/reload', { body: '' });
    t.equal((await v1).status, 200);
    t.equal((await v2).status, 200);
    // The policy shows which reload ran last even where the registry would not (a proxy that never swaps its registry).
    t.equal(await balancerName(proxy.url), 'least-loaded', "v2's policy is running");
    t.equal((await invoke(proxy.url, '/runLambda/v2')).status, 200, 'v2, asked for last, is running');
    t.equal((await invoke(proxy.url, '/runLambda/f1')).status, 404, 'v1 is not');
  });
});

t.test('overlapping reloads: a reload whose registry read is held up, then a fast one, end with the fast one running', async (t) => {
  // The slow reload's registry is a named pipe: its read lasts until the test writes it, so the order of
  // the two reloads' ends is the test's choice, not the machine's (the large-registry test above is a race).
  const { dir, config, base, proxy } = await reloadOrderSetUp(t, 'warmroute-reload-held-');
  const held = join(dir, 'held.json');
  execFileSync('mkfifo', [held]);
  await replaceFile(config, JSON.stringify({ ...base, registry: 'held.json', balancer: 'round-robin' }));
  const v1 = invoke(proxy.url, '/admin/reload', { body: '' });
  // Opening the pipe for writing completes once the v1 reload has opened it to read.
  const writer = await open(held, 'w');
  await replaceFile(config, JSON.stringify({ ...base, registry: 'small.json', balancer: 'least-loaded' }));
  const v2 = invoke(proxy.url, '/admin/reload', { body: '' });
  // Nothing tells when v2 has reached the proxy if it waits its turn: give it 300 ms (it finishes in that time when it does not wait).
  await Promise.race([v2, new Promise((r) => setTimeout(r, 300))]);
  await writer.writeFile(JSON.stringify([{ handle: 'v1', pkgs: [] }]));
  await writer.close();
  t.equal((await v1).status, 200);
  t.equal((await v2).status, 200);
  t.equal(await balancerName(proxy.url), 'least-loaded', "v2's policy is running, not v1's round-robin");
  t.equal((await invoke(proxy.url, '/runLambda/v2')).status, 200, 'v2, asked for last, is running');
  t.equal((await invoke(proxy.url, '/runLambda/v1')).status, 404, 'v1, which ended its read last, is not');
});

t.test('queued requests get 503 no_healthy_worker at once when every worker is drained, not at the queue timeout', async (t) => {
  const ws = await Promise.all([startTestWorker({ delayMs: 1000 }), startTestWorker({ delayMs: 1000 })]);
  const proxy = await startTestProxy({ connectionsPerWorker: 1, queueTimeoutMs: 8000, healthIntervalMs: 0, workers: ws.map((w) => w.url) });
  t.teardown(async () => {
    await proxy.close(true);
    await Promise.all(ws.map((w) => w.close()));
  });
  const running = Array.from({ length: 2 }, () => invoke(proxy.url, '/runLambda/f'));
  await until(() => proxy.scheduler.running === 2, 'both workers busy');
  const queued = Array.from({ length: 6 }, () => timed(proxy.url, '/runLambda/f'));
  await until(() => proxy.scheduler.waiting === 6, 'six requests queued');
  const drained = await invoke(proxy.url, '/admin/workers/drain', { body: JSON.stringify({ workers: ws.map((w) => w.url) }) });
  t.equal(drained.status, 200);
  for (const { reply, ms } of await Promise.all(queued)) {
    t.equal(reply.status, 503);
    t.equal(codeOf(reply), 'no_healthy_worker');
    t.ok(ms < 4000, `answered in ${Math.round(ms)} ms, not after the 8 s queue timeout`);
  }
  t.ok((await Promise.all(running)).every((r) => r.status === 200), 'the running ones finish on the drained workers');
});

t.test('admin input: a body over 1 MB gets 413 JSON; a 70,000-character host is refused as a worker id', async (t) => {
  const w = await startTestWorker();
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => {
    await proxy.close();
    await w.close();
  });
  const big = JSON.stringify({ workers: [w.url], pad: 'x'.repeat(1024 * 1024 + 10) });
  // A cut connection is the defect's own outcome: record it as a failed check so the checks below still run.
  const declared = await invoke(proxy.url, '/admin/workers/add', { body: big }).catch((err: Error) => err);
  if (declared instanceof Error) t.fail(`content-length over the limit: connection cut (${declared.message}), not answered 413`);
  else {
    t.equal(declared.status, 413, 'content-length over the limit');
    t.equal(codeOf(declared), 'body_too_large');
    t.match((declared.json as { error: { message: string } }).error.message, /admin request body exceeds the limit of 1048576 bytes/);
  }
  // Chunked, so only counting the bytes can find it.
  const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(`${proxy.url}/admin/workers/add`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    const piece = 'y'.repeat(64 * 1024);
    let sent = 0;
    const pump = (): void => {
      while (sent < 24) {
        sent++;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  }).catch((err: Error) => err);
  if (chunked instanceof Error) t.fail(`a chunked body over the limit: connection cut (${chunked.message}), not answered 413`);
  else {
    t.equal(chunked.status, 413, 'a chunked body over the limit');
    t.match(chunked.body, /body_too_large/);
  }
  const longHost = await invoke(proxy.url, '/admin/workers/add', { body: JSON.stringify({ workers: [`http://${'a'.repeat(70_000)}:8080`] }) });
  t.equal(longHost.status, 400, 'a 70,000-character host is refused');
  t.match((longHost.json as { error?: { message: string } } | undefined)?.error?.message ?? longHost.text, /253/);
  t.equal(proxy.table.workers.length, 1, 'nothing was added');
});

t.test('a worker removed and added again while its requests run never carries more than its connection limit', async (t) => {
  const w = await startTestWorker({ delayMs: 400 });
  const proxy = await startTestProxy({ connectionsPerWorker: 2, healthIntervalMs: 0, healthCheckNewWorkers: false, workers: [w.url] });
  t.teardown(async () => {
    await proxy.close(true);
    await w.close();
  });
  const first = Array.from({ length: 2 }, () => invoke(proxy.url, '/runLambda/f'));
  await until(() => w.current === 2, 'two requests run on the worker');
  t.equal((await invoke(proxy.url, '/admin/workers/remove', { body: JSON.stringify({ workers: [w.url] }) })).status, 200);
  t.equal((await invoke(proxy.url, '/admin/workers/add', { body: JSON.stringify({ workers: [w.url] }) })).status, 200);
  const second = Array.from({ length: 4 }, () => invoke(proxy.url, '/runLambda/f'));
  const all = await Promise.all([...first, ...second]);
  t.ok(all.every((r) => r.status === 200), 'all served');
  t.equal(w.maxConcurrent, 2, `never more than 2 at once on the worker (most: ${w.maxConcurrent})`);
});

t.test('connect retries: a request whose picks are dead is retried on further untried workers and served by a live one', async (t) => {
  const live = await startTestWorker();
  const dead = await Promise.all(Array.from({ length: 3 }, () => closedPort()));
  const proxy = await startTestProxy({
    balancer: 'round-robin', connectRetries: 3, healthIntervalMs: 0, failTimeoutMs: 1,
    workers: [...dead.map((p) => `http://127.0.0.1:${p}`), live.url],
  });
  t.teardown(async () => {
    await proxy.close();
    await live.close();
  });
  const replies = await Promise.all(Array.from({ length: 8 }, () => invoke(proxy.url, '/runLambda/f')));
  t.ok(replies.every((r) => r.status === 200), `every request served (${replies.map((r) => r.status).join(',')}) with 3 dead workers and 3 retries`);
  t.equal(live.count, 8);
});

t.test('connect retries: never more than connectRetries further workers, never one already tried', async (t) => {
  const dead = await Promise.all(Array.from({ length: 4 }, () => closedPort()));
  const live = await startTestWorker();
  const proxy = await startTestProxy({
    balancer: 'round-robin', connectRetries: 1, healthIntervalMs: 0, failTimeoutMs: 1,
    workers: [...dead.map((p) => `http://127.0.0.1:${p}`), live.url],
  });
  t.teardown(async () => {
    await proxy.close();
    await live.close();
  });
  // Round-robin starts at the first dead worker: with 1 retry, the second pick is dead too.
  const reply = await invoke(proxy.url, '/runLambda/f');
  t.equal(reply.status, 502, 'two dead picks and no more tries: 502');
  t.equal(codeOf(reply), 'worker_failed');
  t.equal(live.count, 0, 'the live worker was not a third try');
});

t.test('a worker table of dead workers only: each tried once, then 503, never a loop', async (t) => {
  const dead = await Promise.all(Array.from({ length: 2 }, () => closedPort()));
  const proxy = await startTestProxy({ connectRetries: 5, healthIntervalMs: 0, workers: dead.map((p) => `http://127.0.0.1:${p}`) });
  t.teardown(() => proxy.close());
  const reply = await invoke(proxy.url, '/runLambda/f');
  t.ok(reply.status === 502 || reply.status === 503, `answered ${reply.status} ${codeOf(reply)} after trying each worker at most once`);
});


t.test('a reload that removes dnsName removes the workers DNS found', async (t) => {
  const w = await startTestWorker();
  const dns = await startDnsServer();
  dns.setRecords('workers.test', [{ type: 'A', address: '127.0.0.1' }]);
  const dir = await tempDir(t, 'warmroute-dns-reload-');
  const config = join(dir, 'config.json');
  const base = { host: '127.0.0.1', port: 0, logLevel: 'silent', healthIntervalMs: 0, dnsType: 'a', dnsPort: w.port, dnsServer: dns.server, dnsIntervalMs: 100 };
  await writeFile(config, JSON.stringify({ ...base, dnsName: 'workers.test' }));
  const proxy = await startProxy(JSON.parse(await readFile(config, 'utf8')) as Record<string, unknown>, { configPath: config, baseDir: dir });
  t.teardown(async () => {
    await proxy.close();
    await w.close();
    await dns.close();
  });
  await until(() => proxy.table.workers.length === 1, 'DNS found the worker');
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200, 'routed to the worker DNS found');
  await writeFile(config, JSON.stringify({ ...base, dnsName: '' }));
  t.equal((await invoke(proxy.url, '/admin/reload', { body: '' })).status, 200);
  t.equal(proxy.table.workers.length, 0, 'the worker DNS found is gone with the DNS source');
  const after = await invoke(proxy.url, '/runLambda/f');
  t.equal(after.status, 503, 'nothing left to route to');
  t.equal(codeOf(after), 'no_healthy_worker');
});
