// Fault injection with an account of every socket: for each worker fault and
// for clients that leave at every stage, the client gets one answer of the
// right kind, every count the proxy keeps returns to 0, no file descriptor is
// left behind (each TCP socket of this process is classified by its ports from
// /proc/net/tcp), and the proxy then serves as fast as before.
// Real workers, proxy and clients in this process, on loopback.
import { readdirSync, readlinkSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import t, { type Test } from 'tap';
import { Agent, request } from 'undici';
import type { RunningProxy } from '../../src/app.js';
import { until } from '../fixtures/end-to-end.js';
import { startFaultWorker, type FaultMode, type FaultWorker } from '../fixtures/fault-worker.js';
import { tcpSockets } from '../fixtures/proc-net.js';
import { inBatches, startTestProxy } from '../fixtures/servers.js';

// ---------------------------------------------------------------- the census of descriptors

interface Census {
  /** Every open descriptor of this process. */
  total: number;
  /** Client sockets to the proxy plus the proxy's ends of them. */
  clientLinks: number;
  /** The proxy's ends of its connections to the workers. */
  upstreamEnds: number;
  /** The workers' ends of those connections. */
  workerEnds: number;
  /** Everything else: listeners, the event loop's own descriptors, pipes. Must not grow. */
  other: number;
}

interface TcpEntry { local: number; remote: number; listening: boolean }

/** inode -> ports and state of every TCP socket in this network namespace. */
function tcpTable(): Map<string, TcpEntry> {
  return new Map(tcpSockets().map((s) => [s.inode, { local: s.localPort, remote: s.remotePort, listening: s.listening }]));
}

function census(proxyPort: number, workerPorts: readonly number[]): Census {
  const tcp = tcpTable();
  const workers = new Set(workerPorts);
  const c: Census = { total: 0, clientLinks: 0, upstreamEnds: 0, workerEnds: 0, other: 0 };
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the descriptor readdir itself used, closed by now
    }
    c.total++;
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    const e = inode === undefined ? undefined : tcp.get(inode);
    if (e === undefined || e.listening) c.other++;
    else if (e.local === proxyPort || e.remote === proxyPort) c.clientLinks++;
    else if (workers.has(e.remote)) c.upstreamEnds++;
    else if (workers.has(e.local)) c.workerEnds++;
    else c.other++;
  }
  return c;
}


// ---------------------------------------------------------------- a proxy in front of fault workers

interface Rig {
  proxy: RunningProxy;
  workers: FaultWorker[];
  /** "other" descriptors once everything listens and one round of requests has run. */
  baseline: Census;
  census(): Census;
}

const CONNECTIONS = 4;
const SERVE_DELAY_MS = 20;

async function rig(t: Test, workerCount: number, config: Record<string, unknown> = {}): Promise<Rig> {
  const workers = await Promise.all(Array.from({ length: workerCount }, () => startFaultWorker()));
  const proxy = await startTestProxy({
    balancer: 'least-loaded',
    connectionsPerWorker: CONNECTIONS,
    healthIntervalMs: 0,
    // Short ejections, so that "serving again" is not a wait for a back-off.
    failTimeoutMs: 50,
    ejectionMaxMs: 100,
    headersTimeoutMs: 300,
    bodyTimeoutMs: 300,
    // A lease left open by a broken build must fail the test, not hang its teardown.
    shutdownTimeoutMs: 1000,
    workers: workers.map((w, i) => ({ url: w.url, id: `w${i}` })),
    ...config,
  });
  t.teardown(async () => {
    await proxy.close();
    await Promise.all(workers.map((w) => w.close()));
  });
  const count = (): Census => census(proxy.port, workers.map((w) => w.port));
  // One round first, so descriptors the event loop makes lazily are in the baseline.
  await serve(proxy, 8);
  await settled(proxy, workers, count);
  return { proxy, workers, baseline: count(), census: count };
}

/** Waits until no client link is open and every upstream link has both ends (or neither). */
async function settled(proxy: RunningProxy, workers: readonly FaultWorker[], count: () => Census): Promise<Census> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    proxy.scheduler.whenIdle(),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`a lease is still open (running ${proxy.scheduler.running}, waiting ${proxy.scheduler.waiting})`)), 5000); }),
  ]).finally(() => clearTimeout(timer));
  let last = count();
  await until(() => {
    last = count();
    return last.clientLinks === 0 && last.upstreamEnds === last.workerEnds && last.workerEnds === workers.reduce((n, w) => n + w.openSockets, 0);
  }, 'client links closed and upstream links whole', 5000).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(last)}`);
  });
  return last;
}

/** `n` invocations, 8 at a time, over a client of its own that is closed afterwards. Returns statuses and elapsed ms. */
async function serve(proxy: RunningProxy, n: number): Promise<{ statuses: number[]; ms: number }> {
  const agent = new Agent({ connections: 8 });
  const start = performance.now();
  try {
    const statuses = await inBatches(n, 8, async () => {
      const res = await request(`${proxy.url}/runLambda/f`, { method: 'POST', body: '{}', dispatcher: agent });
      await res.body.text();
      return res.statusCode;
    });
    return { statuses, ms: performance.now() - start };
  } finally {
    await agent.close();
  }
}

/** What the client got for one request: a status and error code, or a response cut after it began. */
interface Outcome { status: number; code: string | undefined; retryAfter: boolean; cut: boolean; text: string }

async function callOnce(proxy: RunningProxy): Promise<Outcome> {
  const agent = new Agent({ connections: 1 });
  try {
    const res = await request(`${proxy.url}/runLambda/f`, { method: 'POST', body: '{}', dispatcher: agent });
    let text = '';
    let cut = false;
    try {
      text = await res.body.text();
    } catch {
      cut = true;
    }
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
    } catch {
      code = undefined;
    }
    return { status: res.statusCode, code, retryAfter: res.headers['retry-after'] !== undefined, cut, text };
  } finally {
    await agent.destroy();
  }
}

/** Every count back to 0, no descriptor left, and then the proxy serves as fast as it did before the fault. */
async function expectRecovered(t: Test, r: Rig, before: { ms: number }, label: string): Promise<void> {
  const { proxy, workers } = r;
  const after = await settled(proxy, workers, r.census);
  t.equal(proxy.scheduler.running, 0, `${label}: no lease running`);
  t.equal(proxy.scheduler.waiting, 0, `${label}: no lease waiting`);
  for (const w of proxy.table.workers) {
    t.equal(w.inFlight, 0, `${label}: ${w.id} in flight 0`);
    t.equal(w.queued, 0, `${label}: ${w.id} queued 0`);
  }
  t.equal(proxy.upstreams.busy, 0, `${label}: no upstream connection in use`);
  t.equal(after.clientLinks, 0, `${label}: no client socket left`);
  t.ok(after.upstreamEnds <= CONNECTIONS * workers.length, `${label}: upstream sockets within the limits (${after.upstreamEnds})`);
  t.equal(after.other, r.baseline.other, `${label}: no other descriptor left behind (${after.other} vs ${r.baseline.other})`);
  for (const w of workers) {
    w.mode = 'ok';
    w.delayMs = SERVE_DELAY_MS;
  }
  await until(() => proxy.table.workers.every((w) => w.routable), 'every worker back in routing');
  const again = await serve(proxy, 40);
  t.same(again.statuses.filter((s) => s !== 200), [], `${label}: 40 requests served afterwards`);
  t.ok(again.ms < before.ms * 2 + 100, `${label}: at full speed (${Math.round(again.ms)} ms against ${Math.round(before.ms)} ms before)`);
  const end = await settled(proxy, workers, r.census);
  t.equal(end.other, r.baseline.other, `${label}: still no descriptor left after serving`);
}

/** Timing of 40 requests on a healthy rig, the yardstick of "full speed". */
async function yardstick(r: Rig): Promise<{ ms: number }> {
  for (const w of r.workers) w.delayMs = SERVE_DELAY_MS;
  const { ms } = await serve(r.proxy, 40);
  for (const w of r.workers) w.delayMs = 0;
  await settled(r.proxy, r.workers, r.census);
  return { ms };
}

// ---------------------------------------------------------------- worker faults

interface WorkerFault {
  mode: FaultMode;
  config?: Record<string, unknown>;
  /** The answer the client must get: a status and error code, or a cut after the worker's status line. */
  expect: { status: number; code?: string; cut?: boolean };
}

const workerFaults: WorkerFault[] = [
  { mode: 'hang', expect: { status: 504, code: 'worker_timeout' } },
  { mode: 'close', expect: { status: 502, code: 'worker_failed' } },
  { mode: 'reset', expect: { status: 502, code: 'worker_failed' } },
  { mode: 'malformed', expect: { status: 502, code: 'worker_failed' } },
  { mode: 'stall-headers', expect: { status: 504, code: 'worker_timeout' } },
  { mode: 'stall-body', expect: { status: 200, cut: true } },
  { mode: 'reset-mid-body', expect: { status: 200, cut: true } },
  { mode: 'slow-bytes', config: { responseTimeoutMs: 300, bodyTimeoutMs: 5000 }, expect: { status: 200, cut: true } },
  { mode: 'error-500', expect: { status: 500 } },
];

for (const f of workerFaults) {
  t.test(`worker fault ${f.mode}: one answer (${f.expect.cut ? 'cut after its status line' : f.expect.status}), counts 0, no descriptor left, full speed after`, async (t) => {
    const r = await rig(t, 1, f.config);
    const before = await yardstick(r);
    const w = r.workers[0]!;
    w.mode = f.mode;
    w.slowByteMs = 50;
    const got = await callOnce(r.proxy);
    t.equal(got.status, f.expect.status, `answered ${f.expect.status} (${got.text.slice(0, 120)})`);
    t.equal(got.cut, f.expect.cut ?? false, f.expect.cut ? 'the begun response was cut' : 'the answer was complete');
    if (f.expect.code !== undefined) t.equal(got.code, f.expect.code, f.expect.code);
    if (f.mode === 'error-500') {
      t.match(got.text, /handler failed/, "the worker's own 500 body is passed through");
      t.equal(r.proxy.table.get('w0')!.health.state, 'up', 'a 5xx answer does not eject the worker');
    } else {
      t.equal(r.proxy.table.get('w0')!.ejections, 1, 'the failing worker was ejected once');
    }
    t.equal(w.count, 1 + 8 + 40, 'the faulty worker saw the request exactly once (no retry after it was sent)');
    await expectRecovered(t, r, before, f.mode);
  });
}

t.test('worker refuses (crashed, nothing listens): the request is retried once on the other worker and served', async (t) => {
  const r = await rig(t, 2);
  const before = await yardstick(r);
  await r.workers[0]!.crash();
  // Idle keep-alive links to the crashed worker close; let the proxy notice before counting.
  await settled(r.proxy, r.workers, r.census);
  const outcomes = [await callOnce(r.proxy), await callOnce(r.proxy)];
  t.same(outcomes.map((o) => o.status), [200, 200], 'both answered by the live worker');
  t.equal(r.proxy.table.get('w0')!.health.state, 'ejected', 'the refusing worker is ejected');
  await r.workers[0]!.restart();
  await expectRecovered(t, r, before, 'refuse');
  t.ok(r.workers[0]!.count > 0, 'the restarted worker serves again');
});

t.test('the only worker refuses: 503 no_healthy_worker with Retry-After, at once', async (t) => {
  const r = await rig(t, 1);
  const before = await yardstick(r);
  await r.workers[0]!.crash();
  await settled(r.proxy, r.workers, r.census);
  const started = performance.now();
  const got = await callOnce(r.proxy);
  t.equal(got.status, 503, got.text);
  t.equal(got.code, 'no_healthy_worker');
  t.ok(got.retryAfter, 'Retry-After');
  t.ok(performance.now() - started < 1000, 'answered at once');
  await r.workers[0]!.restart();
  await expectRecovered(t, r, before, 'refuse (only worker)');
});

t.test('worker crashes while running a request, then restarts: 502, and it serves again', async (t) => {
  const r = await rig(t, 1);
  const before = await yardstick(r);
  const w = r.workers[0]!;
  w.mode = 'hang';
  const pending = callOnce(r.proxy);
  await until(() => w.current === 1, 'the request reached the worker');
  await w.crash();
  const got = await pending;
  t.equal(got.status, 502, got.text);
  t.equal(got.code, 'worker_failed');
  await w.restart();
  await expectRecovered(t, r, before, 'crash mid-request');
});

// ---------------------------------------------------------------- clients that leave

/**
 * Sends a raw request and destroys it at the moment `leave` names:
 * 'body' after part of the announced body; 'sent' once `ready` resolves;
 * 'response' on the first byte of the response body.
 */
function leavingClient(port: number, leave: 'body' | 'sent' | 'response', ready: Promise<unknown> = Promise.resolve()): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/runLambda/f', method: 'POST', agent: false, headers: { 'content-length': '100' } }, (res) => {
      res.once('data', () => {
        if (leave === 'response') {
          req.destroy();
          resolve('left mid-response');
        }
      });
    });
    req.on('error', () => resolve('left'));
    req.on('close', () => resolve('closed'));
    if (leave === 'body') {
      req.write('{"partial":');
      void ready.then(() => req.destroy());
      return;
    }
    req.end('x'.repeat(100));
    if (leave === 'sent') void ready.then(() => req.destroy());
  });
}

t.test('a client that leaves while sending its body: never admitted, nothing reaches the worker', async (t) => {
  const r = await rig(t, 1);
  const before = await yardstick(r);
  const w = r.workers[0]!;
  const seen = w.count;
  // The proxy holds the partial body before taking a lease: leaving then must leave no trace.
  await leavingClient(r.proxy.port, 'body', new Promise((res) => setImmediate(res)));
  t.equal(w.count, seen, 'nothing reached the worker');
  await expectRecovered(t, r, before, 'left while sending');
});

t.test('a client that leaves while waiting in the shared queue frees its place at once; its request is never sent', async (t) => {
  // The first request takes 300 ms: the headers timeout must be longer than that.
  const r = await rig(t, 1, { connectionsPerWorker: 1, headersTimeoutMs: 3000 });
  const before = await yardstick(r);
  const w = r.workers[0]!;
  w.delayMs = 300;
  const seen = w.count;
  const first = callOnce(r.proxy);
  await until(() => w.current === 1, 'the first request runs');
  const waiting = until(() => r.proxy.scheduler.waiting === 1, 'the second request waits');
  await leavingClient(r.proxy.port, 'sent', waiting);
  await until(() => r.proxy.scheduler.waiting === 0, 'its place freed');
  t.equal(r.proxy.scheduler.running, 1, 'the first still runs');
  t.equal((await first).status, 200);
  t.equal(w.count, seen + 1, 'the abandoned request never reached the worker');
  await expectRecovered(t, r, before, 'left while waiting (shared queue)');
});

t.test("a client that leaves while waiting in a worker's own queue frees its place at once", async (t) => {
  // pkg-aware with a high threshold waits for a function's two ring candidates while the third worker idles.
  const r = await rig(t, 3, { balancer: 'pkg-aware', loadThreshold: 10, connectionsPerWorker: 1, headersTimeoutMs: 3000 });
  const before = await yardstick(r);
  for (const w of r.workers) w.delayMs = 300;
  const seen = r.workers.reduce((n, w) => n + w.count, 0);
  const running = [callOnce(r.proxy), callOnce(r.proxy)];
  await until(() => r.proxy.scheduler.running === 2, 'both candidates busy');
  const queued = until(() => r.proxy.table.workers.some((w) => w.queued === 1), "a request waits in a candidate's queue");
  await leavingClient(r.proxy.port, 'sent', queued);
  await until(() => r.proxy.scheduler.waiting === 0, 'its place freed');
  t.equal(r.proxy.table.workers.reduce((n, w) => n + w.queued, 0), 0, 'no worker queue holds it');
  t.same((await Promise.all(running)).map((o) => o.status), [200, 200]);
  t.equal(r.workers.reduce((n, w) => n + w.count, 0), seen + 2, 'the abandoned request never reached a worker');
  await expectRecovered(t, r, before, "left while waiting (worker's queue)");
});

t.test('a client that leaves while its request runs: the worker sees the request aborted', async (t) => {
  const r = await rig(t, 1);
  const before = await yardstick(r);
  const w = r.workers[0]!;
  w.mode = 'hang';
  await leavingClient(r.proxy.port, 'sent', until(() => w.current === 1, 'the request runs'));
  await until(() => w.current === 0, 'the worker saw the abort');
  t.equal(r.proxy.table.get('w0')!.health.state, 'up', 'a client leaving is not held against the worker');
  await expectRecovered(t, r, before, 'left while running');
});

t.test('a client that leaves mid-response: the upstream response is abandoned too', async (t) => {
  const r = await rig(t, 1);
  const before = await yardstick(r);
  const w = r.workers[0]!;
  w.mode = 'slow-bytes';
  w.slowByteMs = 50;
  t.equal(await leavingClient(r.proxy.port, 'response'), 'left mid-response');
  await until(() => w.current === 0, 'the worker saw its response abandoned');
  t.equal(r.proxy.table.get('w0')!.health.state, 'up', 'a client leaving is not held against the worker');
  await expectRecovered(t, r, before, 'left mid-response');
});

t.test('a drained worker added again comes back into routing and takes requests', async (t) => {
  const r = await rig(t, 2);
  const before = await yardstick(r);
  const admin = new Agent({ connections: 1 });
  const drain = await request(`${r.proxy.url}/admin/workers/drain?workers=w0`, { method: 'POST', dispatcher: admin });
  t.equal(drain.statusCode, 200);
  await drain.body.dump();
  t.equal(r.proxy.table.get('w0')!.health.state, 'draining');
  const add = await request(`${r.proxy.url}/admin/workers/add`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ workers: [{ url: r.workers[0]!.url, id: 'w0' }] }), dispatcher: admin,
  });
  t.equal(add.statusCode, 200);
  await add.body.dump();
  await admin.close();
  t.equal(r.proxy.table.get('w0')!.health.state, 'up', 'no longer draining');
  const seen = r.workers[0]!.count;
  await expectRecovered(t, r, before, 'drain and add again');
  t.ok(r.workers[0]!.count > seen, `the re-added worker takes requests again (${r.workers[0]!.count - seen})`);
});
