// Regression tests for what a hostile probe found: each failed on the build before the fix.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import { startFaultWorker } from '../fixtures/fault-worker.js';
import { invoke, startTestProxy } from '../fixtures/servers.js';

/** Writes raw bytes to the proxy and collects everything it answers until it closes the connection. */
function raw(port: number, bytes: string, endAfterWrite = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(bytes);
      if (endAfterWrite) socket.end();
    });
    let text = '';
    socket.on('data', (c: Buffer) => { text += c.toString('latin1'); });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error(`no close; got ${JSON.stringify(text)}`)));
  });
}

t.test('Expect: 100-continue with a 2 MB body reaches the worker (as curl sends it)', async (t) => {
  const w = await startFaultWorker();
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  const body = Buffer.alloc(2 * 1024 * 1024, 'a');
  const reply = await new Promise<{ status: number; text: string; continued: boolean }>((resolve, reject) => {
    let continued = false;
    const req = httpRequest(`${proxy.url}/runLambda/f`, { method: 'POST', headers: { expect: '100-continue', 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, text, continued }));
    });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('error', reject);
  });
  t.ok(reply.continued, 'the client was told to continue');
  t.equal(reply.status, 200, reply.text);
  t.equal((JSON.parse(reply.text) as { bytes: number }).bytes, body.length, 'the worker received the whole body');
});

t.test('slow request bodies cannot take every worker connection', async (t) => {
  const w = await startFaultWorker();
  // The queue timeout is shorter than the body timeout: were the slow bodies holding both connections,
  // the good request would get 503 queue_timeout before any slow body timed out and freed one.
  const proxy = await startTestProxy({ connectionsPerWorker: 2, queueTimeoutMs: 800, clientBodyTimeoutMs: 3000, healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  // Four clients announce a small body and send its first byte, then nothing.
  const slow = await Promise.all(Array.from({ length: 4 }, () => new Promise<ReturnType<typeof httpRequest>>((resolve) => {
    const req = httpRequest(`${proxy.url}/runLambda/f`, { method: 'POST', headers: { 'content-length': '100' } });
    req.on('error', () => undefined);
    req.write('x', () => resolve(req));
  })));
  // Their headers are on the proxy's side of loopback; give it a moment to parse them (nothing to await
  // there: with the fix, a request still receiving its body is not visible in any count).
  await new Promise((r) => setTimeout(r, 100));
  const start = performance.now();
  const ok = await invoke(proxy.url, '/runLambda/f');
  const ms = performance.now() - start;
  t.equal(ok.status, 200, `another caller is served while slow bodies trickle in (${ok.text})`);
  t.ok(ms < 1500, `in ${Math.round(ms)} ms, well under the 3000 ms body timeout`);
  t.equal(proxy.scheduler.running, 0, 'no slow body holds a worker connection');
  for (const req of slow) req.destroy();
});

t.test('a large body that does not arrive in time is answered 408 and frees its connection', async (t) => {
  const w = await startFaultWorker();
  const proxy = await startTestProxy({ connectionsPerWorker: 1, clientBodyTimeoutMs: 300, healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  const reply = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = httpRequest(`${proxy.url}/runLambda/f`, { method: 'POST', headers: { 'content-length': String(1024 * 1024) } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode!, text }));
      res.on('error', reject);
    });
    req.on('error', () => undefined);
    req.write(Buffer.alloc(100 * 1024, 'b')); // more than is held before admission, far less than announced
  });
  t.equal(reply.status, 408, reply.text);
  t.match(reply.text, /body_timeout/);
  await proxy.scheduler.whenIdle();
  t.equal(proxy.scheduler.running, 0);
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200, 'the connection serves the next caller');
});

t.test('a malformed request pipelined behind a valid one: the valid answer comes first, then 400 and a close', async (t) => {
  const w = await startFaultWorker();
  w.delayMs = 100;
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  const text = await raw(proxy.port, 'POST /runLambda/f HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}GARBAGE / HTTP/1.1\r\n\x01\r\n\r\n');
  const first = text.indexOf('HTTP/1.1 200');
  const second = text.indexOf('HTTP/1.1 400');
  t.ok(first >= 0, 'the valid request is answered');
  t.ok(second > first, 'the 400 follows it');
  t.equal(w.count, 1);
});

t.test('Content-Length after the 1,000th header line: the body is forwarded, never dropped', async (t) => {
  const w = await startFaultWorker();
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  const filler = Array.from({ length: 1100 }, (_, i) => `x-h${i}: v\r\n`).join('');
  const text = await raw(proxy.port, `POST /runLambda/f HTTP/1.1\r\nhost: x\r\nconnection: close\r\n${filler}content-length: 5\r\n\r\nhello`);
  t.match(text, /^HTTP\/1\.1 200/, text.slice(0, 200));
  t.match(text, /"bytes":5/, 'the worker received the 5-byte body');
});

t.test('CONNECT is answered 405, not dropped', async (t) => {
  const w = await startFaultWorker();
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  const text = await raw(proxy.port, 'CONNECT example.test:443 HTTP/1.1\r\nhost: example.test:443\r\n\r\n');
  t.match(text, /^HTTP\/1\.1 405/);
  t.match(text, /method_not_allowed/);
});

t.test('dot-segment names are refused even without a registry', async (t) => {
  const w = await startFaultWorker();
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  for (const path of ['/runLambda/..', '/runLambda/.', '/run/..']) {
    const text = await raw(proxy.port, `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    t.match(text, /^HTTP\/1\.1 400/, `${path} refused`);
  }
  t.equal(w.count, 0, 'nothing reached the worker');
});

t.test('a worker that closes or resets every request is ejected, so requests stop failing', async (t) => {
  const bad = await startFaultWorker();
  const good = await startFaultWorker();
  bad.mode = 'close';
  const proxy = await startTestProxy({
    balancer: 'round-robin', failTimeoutMs: 60_000, healthIntervalMs: 0,
    workers: [{ url: bad.url, id: 'bad' }, { url: good.url, id: 'good' }],
  });
  t.teardown(async () => { await proxy.close(); await bad.close(); await good.close(); });
  const statuses: number[] = [];
  for (let i = 0; i < 10; i++) statuses.push((await invoke(proxy.url, '/runLambda/f')).status);
  t.ok(statuses.filter((s) => s !== 200).length <= 1, `at most the first request fails (${statuses.join(',')})`);
  t.equal(proxy.table.get('bad')!.health.state, 'ejected');
  t.equal(bad.count, 1, 'the closing worker got one request, then none');
});

t.test('a worker dribbling its answer past responseTimeoutMs is cut: the whole response has a deadline', async (t) => {
  const w = await startFaultWorker();
  w.mode = 'slow-bytes';
  w.slowByteMs = 100;
  const proxy = await startTestProxy({ responseTimeoutMs: 300, bodyTimeoutMs: 1000, healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  const outcome = await invoke(proxy.url, '/runLambda/f').then((r) => `status ${r.status} ${r.text}`, (err: Error) => `cut (${(err as NodeJS.ErrnoException).code ?? err.message})`);
  t.match(outcome, /^cut/, `the response was cut (${outcome})`);
  await proxy.scheduler.whenIdle();
  t.equal(proxy.table.workers[0]!.inFlight, 0);
});

t.test('request smuggling attempts are refused with 400 and never forwarded', async (t) => {
  const w = await startFaultWorker();
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [w.url] });
  t.teardown(async () => { await proxy.close(); await w.close(); });
  const attempts: Record<string, string> = {
    'Content-Length and Transfer-Encoding together': 'POST /runLambda/f HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n',
    'two different Content-Lengths': 'POST /runLambda/f HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 7\r\n\r\n{}',
    'an obs-folded Transfer-Encoding': 'POST /runLambda/f HTTP/1.1\r\nhost: x\r\ntransfer-encoding:\r\n chunked\r\n\r\n0\r\n\r\n',
    'a bare CR in a header': 'POST /runLambda/f HTTP/1.1\r\nhost: x\rcontent-length: 2\r\n\r\n{}',
    'a NUL in a header value': 'POST /runLambda/f HTTP/1.1\r\nhost: x\r\nx-a: b\u0000c\r\ncontent-length: 2\r\n\r\n{}',
  };
  for (const [what, bytes] of Object.entries(attempts)) {
    const text = await raw(proxy.port, bytes);
    t.match(text, /^HTTP\/1\.1 400/, `${what}: 400`);
    t.notMatch(text, /HTTP\/1\.1 200/, `${what}: no second request answered`);
  }
  t.equal(w.count, 0, 'nothing reached the worker');
});
