// What a worker says at its status URL can neither stall the proxy nor be believed beyond reason.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import t from 'tap';
import { request } from 'undici';
import * as healthModule from '../../src/health.js';
import { until } from '../fixtures/end-to-end.js';
import { client, closedPort, invoke, startTestProxy } from '../fixtures/servers.js';

// Read through the module, so that this file also loads on code from before these bounds existed
// (test/regressions/run-against.sh runs it there): there the checks below fail on behaviour, not on an import.
const MAX_STATUS_BYTES: number = healthModule.MAX_STATUS_BYTES ?? 1024 * 1024;
const MAX_CONCURRENT_POLLS: number = healthModule.MAX_CONCURRENT_POLLS ?? 32;

interface StatusWorker {
  readonly url: string;
  /** Bytes of status body written to the proxy, over all polls. */
  statusBytes: number;
  statusPolls: number;
  close(): Promise<void>;
}

/** A worker whose status answer is `answer`; invocations get 200 at once. */
async function startStatusWorker(answer: (res: ServerResponse, worker: StatusWorker) => void): Promise<StatusWorker> {
  const worker: StatusWorker = { url: '', statusBytes: 0, statusPolls: 0, close: async () => {} };
  const server: Server = createServer((req, res) => {
    req.resume();
    if (req.url === '/status') {
      worker.statusPolls++;
      answer(res, worker);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  Object.assign(worker, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  });
  return worker;
}

/** Streams `total` bytes of one JSON document chunked (no content-length), honouring back-pressure, until the reader leaves. */
function streamHugeStatus(res: ServerResponse, worker: StatusWorker, total: number): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  const chunk = Buffer.from(`"${'p'.repeat(64 * 1024 - 4)}",`);
  let sent = 0;
  const write = (): void => {
    if (sent === 0) {
      res.write('{"packages":[');
    }
    while (sent < total && !res.destroyed) {
      sent += chunk.length;
      worker.statusBytes += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', write);
    }
    if (!res.destroyed) res.end('"x"]}');
  };
  write();
}

async function get(url: string): Promise<{ status: number; json: unknown }> {
  const res = await request(url, { dispatcher: client });
  return { status: res.statusCode, json: await res.body.json() };
}

interface StatusWorkerView { id: string; health: string; why: string; external: number; packages: number; reported: { why: string | null; inFlight: number | null; cores: number | null } | null }

async function workerStatus(base: string, id: string): Promise<StatusWorkerView> {
  const { json } = await get(`${base}/status`);
  return (json as { workers: StatusWorkerView[] }).workers.find((w) => w.id === id)!;
}

t.test('a 200 MB chunked status body is read only up to the cap; the proxy stays responsive', async (t) => {
  const total = 200 * 1024 * 1024;
  const worker = await startStatusWorker((res, w) => streamHugeStatus(res, w, total));
  const proxy = await startTestProxy({ workers: [{ url: worker.url, id: 'huge' }], healthIntervalMs: 0 });
  t.teardown(async () => {
    await proxy.close();
    await worker.close();
  });
  const w = proxy.table.get('huge')!;
  const rssBefore = process.memoryUsage().rss;
  let healthz = 0;
  for (let i = 0; i < 3; i++) {
    const poll = proxy.health.pollNow(w);
    // While the body streams, the proxy answers its own liveness check.
    const live = await get(`${proxy.url}/healthz`);
    if (live.status === 200) healthz++;
    await poll;
  }
  const growth = process.memoryUsage().rss - rssBefore;
  t.equal(healthz, 3, '/healthz answered during each poll');
  t.ok(worker.statusBytes < 3 * 32 * 1024 * 1024, `the proxy stopped reading: ${(worker.statusBytes / 2 ** 20).toFixed(1)} MiB sent over 3 polls of a 200 MiB body`);
  t.ok(growth < 64 * 1024 * 1024, `RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB (cap ${MAX_STATUS_BYTES / 2 ** 20} MiB)`);
  const view = await workerStatus(proxy.url, 'huge');
  t.equal(view.health, 'up', 'health stays by its own rule: the worker answered');
  t.match(view.reported?.why ?? '', /over 1048576 bytes/, '/status says why the report was ignored');
});

t.test('absurd report fields are ignored, named in /status and logged once per worker', async (t) => {
  const worker = await startStatusWorker((res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"packages":["numpy"],"inFlight":1000000000000,"cores":100000}');
  });
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const proxy = await startTestProxy({ workers: [{ url: worker.url, id: 'liar' }], healthIntervalMs: 0 }, { logger: pino({ level: 'warn' }, sink) });
  t.teardown(async () => {
    await proxy.close();
    await worker.close();
  });
  const w = proxy.table.get('liar')!;
  await proxy.health.pollNow(w);
  await proxy.health.pollNow(w);
  t.equal(w.external, 0, 'an in-flight count of 1e12 is not taken as other proxies\' load');
  t.equal(w.cores, 0, '100,000 cores are not believed');
  t.same([...w.packages], ['numpy'], 'the well-formed field is kept');
  const view = await workerStatus(proxy.url, 'liar');
  t.match(view.reported?.why ?? '', /inFlight 1000000000000 is over 1000 x the connection limit/);
  t.match(view.reported?.why ?? '', /cores 100000 outside/);
  t.equal(lines.filter((l) => l.msg?.toString().startsWith('status report not believed')).length, 1, 'logged once, not per poll');
  const reply = await invoke(proxy.url, '/runLambda/f');
  t.equal(reply.headers['x-warmroute-worker'], 'liar', 'the worker still gets traffic');
});

t.test('a large valid status body is parsed off the event loop and believed', async (t) => {
  const names = Array.from({ length: 8000 }, (_, i) => `package-number-${i}`);
  const body = JSON.stringify({ packages: names, inFlight: 2, cores: 4 });
  t.ok(body.length > 64 * 1024, `the body (${body.length} bytes) is over the in-place parse size`);
  const worker = await startStatusWorker((res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
  const proxy = await startTestProxy({ workers: [{ url: worker.url, id: 'big' }], healthIntervalMs: 0 });
  t.teardown(async () => {
    await proxy.close();
    await worker.close();
  });
  const w = proxy.table.get('big')!;
  await proxy.health.pollNow(w);
  t.equal(w.packages.size, 8000);
  t.ok(w.packages.has('package-number-7999'));
  t.equal(w.reportedInFlight, 2);
  t.equal(w.cores, 4);
  t.equal(w.reportWhy, '');
});

t.test('new workers are routed only after their first status check passes', async (t) => {
  const live = await startStatusWorker((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  const later = await startStatusWorker((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  const dead = await closedPort();
  const proxy = await startTestProxy({ balancer: 'round-robin', workers: [{ url: live.url, id: 'live' }], healthIntervalMs: 60_000, healthTimeoutMs: 500 });
  t.teardown(async () => {
    await proxy.close();
    await live.close();
    await later.close();
  });
  t.equal(proxy.table.get('live')!.routable, true, 'a worker the proxy starts with is trusted');
  proxy.addWorkers([{ id: 'dead', url: `http://127.0.0.1:${dead}`, address: `127.0.0.1:${dead}`, weight: 1 }]);
  const view = await workerStatus(proxy.url, 'dead');
  t.equal(view.health, 'down');
  t.match(view.why, /not routed until its first status check passes/);
  const replies = await Promise.all(Array.from({ length: 20 }, () => invoke(proxy.url, '/runLambda/f')));
  t.same(new Set(replies.map((r) => r.headers['x-warmroute-worker'])), new Set(['live']), 'nothing is sent to the unchecked worker');
  proxy.addWorkers([{ id: 'later', url: later.url, address: later.url.slice(7), weight: 1 }]);
  const w = proxy.table.get('later')!;
  t.equal(w.routable, false, 'out of routing until checked');
  // Its first poll starts as it joins; the one passing answer brings it in.
  await until(() => w.routable, 'the new worker in routing');
  t.equal(w.checkSuccesses, 1, 'one passing check brought it in');
  t.equal(proxy.table.get('dead')!.routable, false, 'the dead one stays out');
});

t.test('healthCheckNewWorkers false routes new workers at once', async (t) => {
  const live = await startStatusWorker((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  const proxy = await startTestProxy({ workers: [], healthCheckNewWorkers: false, healthIntervalMs: 60_000 });
  t.teardown(async () => {
    await proxy.close();
    await live.close();
  });
  proxy.addWorkers([{ id: 'new', url: live.url, address: live.url.slice(7), weight: 1 }]);
  t.equal(proxy.table.get('new')!.routable, true);
});

t.test('polls pass one gate: never more than MAX_CONCURRENT_POLLS at once, however many workers are due', async (t) => {
  const shared = { current: 0, most: 0, total: 0 };
  const workers = await Promise.all(Array.from({ length: MAX_CONCURRENT_POLLS + 8 }, () => startStatusWorker((res) => {
    shared.current++;
    shared.total++;
    shared.most = Math.max(shared.most, shared.current);
    setTimeout(() => {
      shared.current--;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }, 200);
  })));
  const proxy = await startTestProxy({ workers: workers.map((w, i) => ({ url: w.url, id: `w${i}` })), healthIntervalMs: 100, healthTimeoutMs: 2000 });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(workers.map((w) => w.close()));
  });
  await until(() => shared.total >= 2 * workers.length, 'every worker polled twice', 15_000);
  t.ok(shared.most <= MAX_CONCURRENT_POLLS, `at most ${MAX_CONCURRENT_POLLS} polls at once (saw ${shared.most})`);
  t.ok(shared.most >= 2, 'polls do run side by side');
});

t.test('workers waiting for a first check are trusted once a reload turns polls off', async (t) => {
  const live = await startStatusWorker((res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  const dead = await closedPort();
  const proxy = await startTestProxy({ workers: [{ url: live.url, id: 'live' }], healthIntervalMs: 60_000 });
  t.teardown(async () => {
    await proxy.close();
    await live.close();
  });
  proxy.addWorkers([{ id: 'new', url: `http://127.0.0.1:${dead}`, address: `127.0.0.1:${dead}`, weight: 1 }]);
  const w = proxy.table.get('new')!;
  t.equal(w.routable, false);
  proxy.health.setOptions({ intervalMs: 0, timeoutMs: 1000, statusPath: '/status', maxPollsPerSecond: 250 });
  t.equal(w.routable, true, 'without polls nothing would ever check it: it is trusted, as every worker is without polls');
});

t.test('reloads of healthIntervalMs: polls turned off while a worker is down bring it back; toggling them does not pile up poll chains', async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tempDir } = await import('../fixtures/temp-dir.js');
  const { startProxy } = await import('../../src/app.js');
  let failing = true;
  const w = await startStatusWorker((res) => {
    if (failing) res.writeHead(500).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  const dir = await tempDir(t, 'warmroute-polls-');
  const file = join(dir, 'config.json');
  const configWith = (healthIntervalMs: number): Record<string, unknown> => ({
    host: '127.0.0.1', port: 0, logLevel: 'silent', healthIntervalMs, healthFall: 1, healthRise: 1, workers: [{ url: w.url, id: 'w' }],
  });
  await writeFile(file, JSON.stringify(configWith(50)));
  const proxy = await startProxy(configWith(50), { configPath: file });
  t.teardown(async () => {
    await proxy.close();
    await w.close();
  });
  await until(() => proxy.table.get('w')!.routable === false, 'the worker is down');
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 503, 'down: 503');
  const reload = async (ms: number): Promise<void> => {
    await writeFile(file, JSON.stringify(configWith(ms)));
    t.equal((await invoke(proxy.url, '/admin/reload', { body: '' })).status, 200, `reload to healthIntervalMs ${ms}`);
  };
  await reload(0);
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200, 'polls off: nothing would bring it back, so it is trusted again');
  t.equal((await get(`${proxy.url}/readyz`)).status, 200, '/readyz agrees');

  failing = false;
  for (const ms of [200, 0, 200, 0, 200, 0, 200]) await reload(ms);
  const before = w.statusPolls;
  await new Promise((r) => setTimeout(r, 1000));
  const polls = w.statusPolls - before;
  // One chain at 200 ms polls about 5 times a second; the four chains started would poll about 20 times.
  t.ok(polls >= 2 && polls <= 8, `one poll chain: ${polls} polls in 1 s at healthIntervalMs 200`);
});

t.test('reloads toggling healthIntervalMs while a poll is running leave one poll chain', async (t) => {
  const { writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { tempDir } = await import('../fixtures/temp-dir.js');
  const { startProxy } = await import('../../src/app.js');
  // Each status answer takes 400 ms, so the toggles below land while a poll is in flight.
  let open = 0;
  const w = await startStatusWorker((res) => {
    open++;
    setTimeout(() => {
      open--;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    }, 400);
  });
  const dir = await tempDir(t, 'warmroute-poll-chains-');
  const file = join(dir, 'config.json');
  const configWith = (healthIntervalMs: number): Record<string, unknown> => ({
    host: '127.0.0.1', port: 0, logLevel: 'silent', healthIntervalMs, healthTimeoutMs: 2000, workers: [{ url: w.url, id: 'w' }],
  });
  await writeFile(file, JSON.stringify(configWith(800)));
  const proxy = await startProxy(configWith(800), { configPath: file });
  t.teardown(async () => {
    await proxy.close();
    await w.close();
  });
  const reload = async (ms: number): Promise<number> => {
    await writeFile(file, JSON.stringify(configWith(ms)));
    return (await invoke(proxy.url, '/admin/reload', { body: '' })).status;
  };
  for (let i = 0; i < 4; i++) {
    await until(() => open > 0, 'a poll is running');
    t.same([await reload(0), await reload(800)], [200, 200], `toggle ${i + 1}: polls off and on again while a poll runs`);
    await until(() => open === 0, 'that poll has ended', 3000);
  }
  const before = w.statusPolls;
  await new Promise((r) => setTimeout(r, 3000));
  const polls = w.statusPolls - before;
  // One chain polls every 400 + 800 ms: 2 or 3 polls in 3 s. Chains left behind mostly skip (one poll at a time per worker), so the count alone cannot tell.
  t.ok(polls >= 1 && polls <= 4, `${polls} polls in 3 s at healthIntervalMs 800 with 400 ms answers`);
  // Polls off: a chain left behind by a toggle is a timer nobody cancels, and it would still poll.
  await until(() => open === 0, 'no poll running', 3000);
  t.equal(await reload(0), 200, 'polls off');
  const afterOff = w.statusPolls;
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(w.statusPolls - afterOff, 0, 'no poll in the 2 s after polls were turned off: no chain was left behind');
});
