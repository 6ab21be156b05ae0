// The fast invocation path (src/raw-ingress.ts) on real sockets: what it takes,
// what it hands to node:http (at a connection's start and mid-connection),
// pipelining, its timeouts, chunked answers, a client that leaves, shutdown.
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { until } from '../fixtures/end-to-end.js';
import { startTestProxy, startTestWorker, type TestWorker } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';
import type { RunningProxy } from '../../src/app.js';
import { ingressTimeouts } from '../../src/control-plane.js';
import type { ProxyServer } from '../../src/raw-ingress.js';
import { createProxyServer } from '../../src/server.js';

interface Setup {
  readonly proxy: RunningProxy;
  readonly worker: TestWorker;
  /** A second server on the proxy's parts, with its client timeouts, whose connections the test can count. */
  readonly server: ProxyServer;
  readonly port: number;
}

async function setup(t: Test, config: Record<string, unknown> = {}, echo = false): Promise<Setup> {
  const worker = await startTestWorker({ echo });
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [worker.url], ...config });
  const server = createProxyServer(proxy, ingressTimeouts(proxy.config()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await proxy.close();
    await worker.close();
  });
  return { proxy, worker, server, port: (server.address() as AddressInfo).port };
}

/** One client connection: what it has received so far, and whether it closed. */
class Conversation {
  text = '';
  closed = false;
  readonly socket: Socket;
  /** Settles on the socket's close event. */
  private readonly closing: Promise<void>;
  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.on('data', (c: Buffer) => { this.text += c.toString('latin1'); });
    this.closing = new Promise((resolve) => this.socket.on('close', () => {
      this.closed = true;
      resolve();
    }));
    this.socket.on('error', () => undefined);
  }

  /** Resolves on the close event; rejects if it has not come within `limitMs`. */
  async whenClosed(what: string, limitMs = 5000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`not closed within ${limitMs} ms: ${what}`)), limitMs); });
    try {
      await Promise.race([this.closing, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once `n` answers (status lines) have arrived. */
  answers(n: number, what: string, limitMs = 5000): Promise<void> {
    return until(() => (this.text.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= n, what, limitMs);
  }

  statuses(): string[] {
    return (this.text.match(/HTTP\/1\.1 \d{3}/g) ?? []).map((s) => s.slice(9));
  }
}

const invocation = (name = 'f', body = '{}', extra = ''): string => `POST /runLambda/${name} HTTP/1.1\r\nHost: x\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

t.test('an invocation is answered on the fast path, and the connection stays there for the next', async (t) => {
  const s = await setup(t);
  const c = new Conversation(s.port);
  c.socket.write(invocation());
  await c.answers(1, 'first answer');
  t.equal(s.server.fastConnectionCount, 1, 'the connection is on the fast path');
  c.socket.write(invocation('g'));
  await c.answers(2, 'second answer');
  t.same(c.statuses(), ['200', '200']);
  t.match(c.text, /x-warmroute-worker: /, 'the worker is named');
  t.match(c.text, /\r\nConnection: keep-alive\r\nKeep-Alive: timeout=65\r\n/, 'kept alive, as node:http says it');
  t.match(c.text, /"forwardedFor":"127\.0\.0\.1"/, 'x-forwarded-for added');
  t.equal(s.worker.count, 2);
  t.equal(s.server.fastConnectionCount, 1, 'still on the fast path');
  c.socket.destroy();
});

t.test('every other kind of request is handed to node:http, first on a connection or after a fast-path request', async (t) => {
  const s = await setup(t, { maxBodyBytes: 1024 * 1024 });
  const big = 'b'.repeat(70 * 1024);
  const kinds: Record<string, { bytes: string; status: string; text?: RegExp }> = {
    'GET /healthz': { bytes: 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', status: '200', text: /"status":"ok"/ },
    'GET /status': { bytes: 'GET /status HTTP/1.1\r\nHost: x\r\n\r\n', status: '200', text: /"workers"/ },
    'GET /metrics': { bytes: 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n', status: '200', text: /warmroute_/ },
    'an admin request': { bytes: 'GET /admin/workers HTTP/1.1\r\nHost: x\r\n\r\n', status: '\\d{3}' },
    'a chunked body': { bytes: 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n', status: '200' },
    'a body above the buffered size': { bytes: invocation('f', big), status: '200' },
    'POST to another route': { bytes: invocation('f').replace('/runLambda/f', '/nowhere'), status: '405' },
    'a malformed name': { bytes: invocation('f').replace('/runLambda/f', '/runLambda/..'), status: '400' },
    'GET on the invocation route': { bytes: 'GET /runLambda/f HTTP/1.1\r\nHost: x\r\n\r\n', status: '405' },
  };
  for (const [what, kind] of Object.entries(kinds)) {
    for (const after of [false, true]) {
      const c = new Conversation(s.port);
      if (after) {
        c.socket.write(invocation());
        await c.answers(1, `${what}: the fast-path request`);
        t.equal(s.server.fastConnectionCount, 1, `${what}: on the fast path first`);
      }
      c.socket.write(kind.bytes);
      await c.answers(after ? 2 : 1, `${what}: answered`);
      t.match(c.statuses().at(-1)!, new RegExp(`^${kind.status}$`), `${what}${after ? ' after a fast-path request' : ''}: ${c.statuses().join(',')}`);
      if (kind.text) t.match(c.text, kind.text, `${what}: node:http's answer`);
      t.equal(s.server.fastConnectionCount, 0, `${what}: the connection is node:http's now`);
      // node:http keeps serving the connection, fast-path invocations included.
      c.socket.write(invocation());
      await c.answers(after ? 3 : 2, `${what}: the next invocation on the handed-over connection`);
      t.equal(c.statuses().at(-1), '200');
      c.socket.destroy();
      await until(() => s.server.fastConnectionCount === 0, 'closed');
    }
  }
  const c = new Conversation(s.port);
  c.socket.write('POST /runLambda/f HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
  await c.answers(1, 'HTTP/1.0');
  t.match(c.text, /^HTTP\/1\.1 200/, 'HTTP/1.0 is node:http\'s, and served');
  await until(() => c.closed, 'HTTP/1.0 closes after its answer');
});

t.test('pipelined requests are answered in order, one at a time, and a hand-over among them keeps the order', async (t) => {
  const s = await setup(t);
  const c = new Conversation(s.port);
  c.socket.write(invocation('a') + invocation('b') + 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' + invocation('c'));
  await c.answers(4, 'four answers');
  t.same(c.statuses(), ['200', '200', '200', '200']);
  const order = [...c.text.matchAll(/"path":"\/runLambda\/(\w)"|"status":"ok"/g)].map((m) => m[1] ?? 'healthz');
  t.same(order, ['a', 'b', 'healthz', 'c'], 'in the order sent');
  t.equal(s.worker.maxConcurrent, 1, 'one at a time');
  c.socket.destroy();
});

t.test('smuggling shapes and malformed heads get node:http\'s answers and reach no worker', async (t) => {
  const s = await setup(t);
  const cases: Record<string, [string, string]> = {
    'two Content-Lengths': ['POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}', '400'],
    'Content-Length and Transfer-Encoding': ['POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', '400'],
    'obs-fold': ['POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-A: b\r\n c\r\n\r\n{}', '400'],
    'bare LF': ['POST /runLambda/f HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}', '400'],
    'a space before the colon': ['POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\n{}', '400'],
    'no Host': ['POST /runLambda/f HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}', '400'],
    'a head over 16 KiB': [`POST /runLambda/f HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\nContent-Length: 2\r\n\r\n{}`, '431'],
  };
  for (const [what, [bytes, status]] of Object.entries(cases)) {
    for (const after of [false, true]) {
      const c = new Conversation(s.port);
      if (after) c.socket.write(invocation());
      c.socket.write(bytes);
      await until(() => c.closed, `${what}: closed`);
      t.same(c.statuses(), after ? ['200', status] : [status], `${what}${after ? ' after a fast-path request' : ''}`);
    }
  }
  t.equal(s.worker.count, Object.keys(cases).length, 'only the valid requests reached the worker');
});

const partialHead = 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-';

// The defaults (60 s and 65 s) would not fire within these tests' 5 s bounds: a close within them is the configured value's.
t.test('clientHeadersTimeoutMs: a head that does not arrive in time is answered 400 (as node:http answers it) and closed, on the fast path and on node:http', async (t) => {
  const s = await setup(t, { clientHeadersTimeoutMs: 300 });
  const c = new Conversation(s.port);
  c.socket.write(partialHead);
  await c.whenClosed('a slow head on the fast path');
  t.match(c.text, /^HTTP\/1\.1 400/);
  t.match(c.text, /ERR_HTTP_REQUEST_TIMEOUT/);
  t.equal(s.worker.count, 0);
  const silent = new Conversation(s.port);
  await silent.whenClosed('a connection that sends nothing');

  // A connection node:http serves (it took /healthz): the next head sent in part.
  const handed = new Conversation(s.port);
  handed.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await handed.answers(1, '/healthz answered');
  t.equal(s.server.fastConnectionCount, 0, 'the connection is node:http\'s');
  handed.socket.write(partialHead);
  await handed.whenClosed('a slow head on node:http');
  t.same(handed.statuses(), ['200', '400']);
  t.match(handed.text, /ERR_HTTP_REQUEST_TIMEOUT/);
  t.equal(s.worker.count, 0, 'nothing reached the worker');
});

t.test('clientKeepAliveTimeoutMs: an idle kept-alive connection is closed after it (and its grace second), on the fast path and on node:http', async (t) => {
  const s = await setup(t, { clientKeepAliveTimeoutMs: 200 });
  const fast = new Conversation(s.port);
  fast.socket.write(invocation());
  await fast.answers(1, 'answered on the fast path');
  t.equal(s.server.fastConnectionCount, 1, 'on the fast path');
  t.match(fast.text, /Keep-Alive: timeout=0\r\n/, 'the keep-alive advertised in whole seconds, as node:http does');
  const handed = new Conversation(s.port);
  handed.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await handed.answers(1, 'answered by node:http');
  t.match(handed.text, /Keep-Alive: timeout=0\r\n/, 'node:http advertises the same');
  const answeredAt = Date.now();
  await fast.whenClosed('the idle fast-path connection');
  t.ok(Date.now() - answeredAt >= 1000, 'not before the keep-alive time and its grace second');
  await handed.whenClosed('the idle node:http connection');
  t.same([fast.statuses(), handed.statuses()], [['200'], ['200']], 'closed without another answer');
  // The server's side of the close may be seen a turn after the client's.
  await until(() => s.server.fastConnectionCount === 0, 'the fast path forgets the connection');
});

t.test('a reload applies new client timeouts to the proxy\'s own server, to connections already open too', async (t) => {
  const worker = await startTestWorker();
  t.teardown(() => worker.close());
  const dir = await tempDir(t, 'warmroute-client-timeouts-');
  const configPath = `${dir}/config.json`;
  const values = { host: '127.0.0.1', port: 0, logLevel: 'silent', healthIntervalMs: 0, workers: [worker.url] };
  await writeFile(configPath, JSON.stringify(values));
  const proxy = await startTestProxy(values, { configPath });
  t.teardown(() => proxy.close(true));
  const open = new Conversation(proxy.port);
  open.socket.write(invocation());
  await open.answers(1, 'answered before the reload');
  t.match(open.text, /Keep-Alive: timeout=65\r\n/, 'the default');

  await writeFile(configPath, JSON.stringify({ ...values, clientKeepAliveTimeoutMs: 200, clientHeadersTimeoutMs: 300 }));
  await proxy.reload();
  await open.whenClosed('the fast-path connection idle since before the reload');
  const fresh = new Conversation(proxy.port);
  fresh.socket.write(invocation());
  await fresh.answers(1, 'answered after the reload');
  t.match(fresh.text, /Keep-Alive: timeout=0\r\n/, 'the new keep-alive advertised');
  const handed = new Conversation(proxy.port);
  handed.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
  await handed.answers(1, '/healthz');
  handed.socket.write(partialHead);
  await handed.whenClosed('a slow head on node:http after the reload');
  t.same(handed.statuses(), ['200', '400'], 'node:http holds heads to the new clientHeadersTimeoutMs');
  await fresh.whenClosed('idle after the reload');
});

t.test('a body that does not arrive in time: 408 body_timeout and a close; a client that leaves mid-body: nothing sent', async (t) => {
  const s = await setup(t, { clientBodyTimeoutMs: 300 });
  const c = new Conversation(s.port);
  c.socket.write('POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"a"');
  await until(() => c.closed, 'closed for a slow body');
  t.match(c.text, /^HTTP\/1\.1 408/);
  t.match(c.text, /body_timeout/);
  t.match(c.text, /Connection: close|connection: close/);
  const leaving = new Conversation(s.port);
  leaving.socket.write('POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"a"');
  await new Promise((r) => setTimeout(r, 50));
  leaving.socket.destroy();
  await until(() => s.server.fastConnectionCount === 0, 'forgotten');
  t.equal(s.worker.count, 0, 'nothing reached the worker');
  t.equal(s.proxy.scheduler.running + s.proxy.scheduler.waiting, 0);
});

t.test('a worker answer without a length is re-framed chunked; Connection: close is honoured', async (t) => {
  const s = await setup(t, {}, true);
  const c = new Conversation(s.port);
  c.socket.write(invocation('f', 'hello world', 'Connection: close\r\n'));
  await until(() => c.closed, 'closed after the answer');
  t.match(c.text, /^HTTP\/1\.1 200 OK\r\n/);
  t.match(c.text, /\r\nConnection: close\r\n/);
  t.match(c.text, /\r\nTransfer-Encoding: chunked\r\n\r\n/);
  t.match(c.text, /\r\n\r\nb\r\nhello world\r\n0\r\n\r\n$/, 'one chunk and the last-chunk');
});

t.test('shutdown: the running answer says Connection: close, idle fast-path connections are closed', async (t) => {
  const worker = await startTestWorker({ delayMs: 300 });
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [worker.url] });
  t.teardown(() => worker.close());
  const idle = new Conversation(proxy.port);
  idle.socket.write(invocation());
  await idle.answers(1, 'idle one answered');
  const running = new Conversation(proxy.port);
  running.socket.write(invocation());
  await until(() => worker.current === 1, 'running at the worker');
  const closing = proxy.close();
  await until(() => idle.closed, 'the idle connection is closed at once', 1000);
  await running.answers(1, 'the running request is answered');
  t.match(running.text, /^HTTP\/1\.1 200/);
  t.match(running.text, /\r\nConnection: close\r\n/);
  await until(() => running.closed, 'and its connection closed');
  t.same(await closing, { cut: 0, refused: 0, forced: false });
});

t.test('a large answer to a slow reader: the worker is paused while the client is behind, and every byte arrives', async (t) => {
  const size = 64 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 'z');
  let paused = 0;
  let written = 0;
  const worker = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-length': String(size) });
      let sent = 0;
      const more = (): void => {
        while (sent < size) {
          sent += chunk.length;
          written = sent;
          if (!res.write(chunk)) {
            paused++;
            return void res.once('drain', more);
          }
        }
        res.end();
      };
      more();
    });
  });
  await new Promise<void>((resolve) => worker.listen(0, '127.0.0.1', resolve));
  const proxy = await startTestProxy({ healthIntervalMs: 0, workers: [`http://127.0.0.1:${(worker.address() as AddressInfo).port}`] });
  t.teardown(async () => {
    await proxy.close();
    worker.closeAllConnections();
    await new Promise((resolve) => worker.close(resolve));
  });
  const socket = connect(proxy.port, '127.0.0.1');
  let received = 0;
  let head = '';
  socket.on('data', (c: Buffer) => {
    if (head === '') head = c.toString('latin1', 0, 200);
    received += c.length;
  });
  socket.write(invocation('f', '{}', 'Connection: close\r\n'));
  socket.pause();
  // The client reads nothing for a while: the proxy's socket buffer fills and it must hold the worker back.
  await until(() => paused > 0, 'the worker was held back');
  await new Promise((r) => setTimeout(r, 300));
  t.ok(written < size / 2, `while the client reads nothing the worker stays held back (${written} bytes written)`);
  socket.resume();
  await new Promise((resolve) => socket.on('close', resolve));
  t.match(head, /^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 67108864\r\n/);
  t.ok(received > size && received < size + 1024, `every body byte arrived (${received} bytes with the head)`);
});
