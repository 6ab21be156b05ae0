// The proxy's own worker connections (src/worker-connection.ts) against workers that answer
// with raw bytes: every framing a worker may use reaches the client whole, a broken or slow
// answer gets the same error as always, and kept-alive connections are reused only while the
// worker keeps them. Real sockets on loopback, the proxy in this process.
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import type { RunningProxy } from '../../src/app.js';
import { checkParserClass, HTTPParser } from '../../src/http-parser.js';
import { until } from '../fixtures/end-to-end.js';
import { invoke, startTestProxy, startTestWorker } from '../fixtures/servers.js';

/** A request as the raw worker read it. */
interface Seen {
  readonly head: string;
  readonly body: Buffer;
  /** Which of the worker's connections carried it (0, 1, ...). */
  readonly connection: number;
}

interface RawWorker {
  readonly url: string;
  readonly seen: Seen[];
  /** Connections accepted, and those closed (by either end). */
  accepted: number;
  closed: number;
  close(): Promise<void>;
}

/**
 * A worker that reads each request (head, then a Content-Length or chunked body) and answers
 * with what `answer` writes on the socket itself, so any framing, right or wrong, can be sent.
 */
async function startRawWorker(t: Test, answer: (socket: Socket, seen: Seen, index: number) => void): Promise<RawWorker> {
  const sockets = new Set<Socket>();
  const state = { seen: [] as Seen[], accepted: 0, closed: 0 };
  const server = createServer((socket) => {
    const connection = state.accepted++;
    sockets.add(socket);
    socket.on('close', () => {
      state.closed++;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        const rest = buffered.subarray(end + 4);
        const length = /\r\ncontent-length: *(\d+)/i.exec(head);
        let body: Buffer;
        let used: number;
        if (length !== null) {
          if (rest.length < Number(length[1])) return;
          body = rest.subarray(0, Number(length[1]));
          used = body.length;
        } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          const decoded = dechunk(rest);
          if (decoded === undefined) return;
          ({ body, used } = decoded);
        } else {
          body = Buffer.alloc(0);
          used = 0;
        }
        buffered = rest.subarray(used);
        const seen = { head, body: Buffer.from(body), connection };
        state.seen.push(seen);
        answer(socket, seen, state.seen.length - 1);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const worker = Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  });
  t.teardown(() => worker.close());
  return worker;
}

/** A whole chunked body decoded, and the bytes it took; undefined while incomplete. */
function dechunk(data: Buffer): { body: Buffer; used: number } | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const line = data.indexOf('\r\n', at);
    if (line < 0) return undefined;
    const size = parseInt(data.subarray(at, line).toString('latin1'), 16);
    if (data.length < line + 2 + size + 2) return undefined;
    if (size === 0) return { body: Buffer.concat(parts), used: line + 4 };
    parts.push(data.subarray(line + 2, line + 2 + size));
    at = line + 2 + size + 2;
  }
}

async function proxyFor(t: Test, worker: { url: string }, config: Record<string, unknown> = {}): Promise<RunningProxy> {
  const proxy = await startTestProxy({ healthIntervalMs: 0, connectionsPerWorker: 2, failTimeoutMs: 50, ejectionMaxMs: 100, workers: [{ url: worker.url, id: 'w' }], ...config });
  t.teardown(() => proxy.close());
  return proxy;
}


function errorsOf(proxy: RunningProxy): Record<string, number> {
  return Object.fromEntries(proxy.table.get('w')!.errors);
}

t.test("Node's internal parser has the shape the proxy relies on, and a changed one is refused by name", async (t) => {
  t.equal(checkParserClass(HTTPParser), HTTPParser, "Node's own parser passes");
  t.throws(() => checkParserClass(undefined), /_http_common.*HTTPParser.*the class itself/);
  class Changed {
    static RESPONSE = 2;
    execute(): void {}
  }
  t.throws(() => checkParserClass(Changed), /kOnHeadersComplete.*kOnBody.*initialize\(\).*finish\(\)/);
  // The right shape, but body chunks handed over as views of the bytes parsed: refused too.
  class Viewing {
    static RESPONSE = 2;
    static kOnHeaders = 1;
    static kOnHeadersComplete = 2;
    static kOnBody = 3;
    static kOnMessageComplete = 4;
    [slot: number]: ((chunk: Buffer) => unknown) | undefined;
    initialize(): void {}
    execute(data: Buffer): number {
      this[Viewing.kOnBody]!(data.subarray(data.length - 1));
      return data.length;
    }
    finish(): undefined {
      return undefined;
    }
    close(): void {}
  }
  t.throws(() => checkParserClass(Viewing), /body chunks copied out of the bytes parsed/);
});

t.test('a chunked answer reaches the client whole, and the connection is reused after it', async (t) => {
  const worker = await startRawWorker(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n');
    socket.write('5\r\nhello\r\n');
    setImmediate(() => socket.write('1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: t\r\n\r\n'));
  });
  const proxy = await proxyFor(t, worker);
  for (let i = 0; i < 3; i++) {
    const r = await invoke(proxy.url, '/runLambda/f');
    t.equal(r.status, 200);
    t.equal(r.text, 'hello world!', 'the decoded chunks, in order');
    t.equal(r.headers['x-warmroute-worker'], 'w');
  }
  t.equal(worker.accepted, 1, 'one kept-alive connection carried all three');
});

t.test('an answer without length ends when the worker closes; the next request takes a new connection', async (t) => {
  const worker = await startRawWorker(t, (socket, _seen, i) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n${i === 0 ? '' : 'Connection: close\r\n'}\r\nread until the end ${i}`);
    setImmediate(() => socket.end());
  });
  const proxy = await proxyFor(t, worker);
  const first = await invoke(proxy.url, '/runLambda/f');
  const second = await invoke(proxy.url, '/runLambda/f');
  t.same([first.status, first.text], [200, 'read until the end 0']);
  t.same([second.status, second.text], [200, 'read until the end 1']);
  t.equal(worker.accepted, 2, 'a connection read to its close is not reused');
  t.same(errorsOf(proxy), {}, 'no error counted');
});

t.test('an answer with more header fields than the parser hands over at once keeps them all', async (t) => {
  const names = Array.from({ length: 80 }, (_, i) => `x-h${i}`);
  const worker = await startRawWorker(t, (socket) => {
    socket.write(`HTTP/1.1 200 OK\r\n${names.map((n, i) => `${n}: v${i}\r\n`).join('')}Content-Length: 2\r\n\r\nok`);
  });
  const proxy = await proxyFor(t, worker);
  const r = await invoke(proxy.url, '/runLambda/f');
  t.equal(r.status, 200);
  t.same(names.map((n) => r.headers[n]), names.map((_, i) => `v${i}`), 'all 80 headers, in order of name');
  t.equal(r.text, 'ok');
});

t.test('1xx answers are skipped: the client gets the final answer only', async (t) => {
  const worker = await startRawWorker(t, (socket) => {
    socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n');
    setImmediate(() => socket.write('HTTP/1.1 201 Created\r\nContent-Length: 4\r\nX-Final: yes\r\n\r\ndone'));
  });
  const proxy = await proxyFor(t, worker);
  const r = await invoke(proxy.url, '/runLambda/f');
  t.equal(r.status, 201);
  t.equal(r.text, 'done');
  t.equal(r.headers['x-final'], 'yes');
  t.equal(r.headers.link, undefined, "the interim answer's headers are not the final ones");
});

t.test('204 and 304 carry no body, whatever their headers say, and the connection stays in step', async (t) => {
  const answers = [
    'HTTP/1.1 204 No Content\r\nX-N: 0\r\n\r\n',
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "e"\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter',
  ];
  const worker = await startRawWorker(t, (socket, _seen, i) => socket.write(answers[i]!));
  const proxy = await proxyFor(t, worker);
  const replies = [];
  // node:http as the client: it reads a 304's Content-Length as the length the full answer would have had.
  for (let i = 0; i < answers.length; i++) replies.push(await post(proxy.url, Buffer.from('{}'), false));
  t.same(replies.map((r) => [r.status, r.reply.toString()]), [[204, ''], [304, ''], [200, 'after']]);
  t.equal(replies[1]!.headers.etag, '"e"');
  t.equal(worker.accepted, 1, 'the same connection answered all three: no body was expected where none came');
});

t.test('a malformed answer is 502 worker_failed, counted as protocol_error', async (t) => {
  const worker = await startRawWorker(t, (socket, _seen, i) => {
    // Two Content-Length values: llhttp refuses it (a response-splitting shape), as node:http and undici do.
    if (i === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc');
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const proxy = await proxyFor(t, worker);
  const bad = await invoke(proxy.url, '/runLambda/f');
  t.equal(bad.status, 502);
  t.match(bad.json, { error: { code: 'worker_failed', message: /HPE_UNEXPECTED_CONTENT_LENGTH/ } });
  t.same(errorsOf(proxy), { protocol_error: 1 });
  await until(() => proxy.table.get('w')!.routable, 'the ejection to end');
  const good = await invoke(proxy.url, '/runLambda/f');
  t.same([good.status, good.text], [200, 'ok'], 'served again on a fresh connection');
  t.equal(worker.accepted, 2);
});

t.test('a worker that closes an idle kept-alive connection: the next request is served on a fresh one', async (t) => {
  const worker = await startRawWorker(t, (socket) => {
    // No Keep-Alive hint, so the proxy would keep the connection 30 s; the worker closes it first.
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    setTimeout(() => socket.end(), 20);
  });
  const proxy = await proxyFor(t, worker, { connectionsPerWorker: 1 });
  for (let i = 1; i <= 4; i++) {
    const r = await invoke(proxy.url, '/runLambda/f');
    t.same([r.status, r.text], [200, 'ok'], `request ${i} served`);
    await until(() => worker.closed === i, `the worker to close connection ${i}`);
  }
  t.equal(worker.accepted, 4, 'each request on a new connection: none was sent on a closed one');
  t.same(errorsOf(proxy), {}, 'no error counted');
  t.equal(proxy.upstreams.busy, 0);
});

t.test("the worker's Keep-Alive hint: a connection it keeps under 2 s is not reused, a longer one is", async (t) => {
  const short = await startRawWorker(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'));
  const long = await startRawWorker(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=60\r\nContent-Length: 2\r\n\r\nok'));
  for (const [worker, connections] of [[short, 3], [long, 1]] as const) {
    const proxy = await proxyFor(t, worker, { connectionsPerWorker: 1 });
    for (let i = 0; i < 3; i++) t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200);
    t.equal(worker.accepted, connections, `${connections} connection(s) for three requests`);
  }
});

t.test('no headers within headersTimeoutMs, or a body that stalls past bodyTimeoutMs: 504 worker_timeout', async (t) => {
  const worker = await startRawWorker(t, (socket, _seen, i) => {
    // 0: nothing at all; 1: the head, then silence.
    if (i === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n');
  });
  const proxy = await proxyFor(t, worker, { headersTimeoutMs: 200, bodyTimeoutMs: 200 });
  const noHead = await invoke(proxy.url, '/runLambda/f');
  t.equal(noHead.status, 504);
  t.match(noHead.json, { error: { code: 'worker_timeout', message: /WR_HEADERS_TIMEOUT/ } });
  await until(() => proxy.table.get('w')!.routable, 'the ejection to end');
  const stalled = await invoke(proxy.url, '/runLambda/f');
  t.equal(stalled.status, 504, 'the head was held back, so the client still gets a whole error answer');
  t.match(stalled.json, { error: { code: 'worker_timeout', message: /WR_BODY_TIMEOUT/ } });
  t.same(errorsOf(proxy), { headers_timeout: 1, body_timeout: 1 });
  t.equal(proxy.upstreams.busy, 0);
});

t.test('a connection refused before anything was sent is retried on the other worker', async (t) => {
  const live = await startRawWorker(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlive'));
  const dead = await startRawWorker(t, () => undefined);
  await dead.close();
  const proxy = await startTestProxy({ healthIntervalMs: 0, balancer: 'round-robin', workers: [{ url: dead.url, id: 'dead' }, { url: live.url, id: 'live' }] });
  t.teardown(() => proxy.close());
  const replies = [await invoke(proxy.url, '/runLambda/f'), await invoke(proxy.url, '/runLambda/f')];
  t.same(replies.map((r) => [r.status, r.text]), [[200, 'live'], [200, 'live']]);
  t.same(Object.fromEntries(proxy.table.get('dead')!.errors), { connect_failed: 1 });
});

/** POSTs `body` to the proxy, chunked when `chunked`, else with its Content-Length; resolves with status, headers and reply. */
/**
 * Posts `body` to function `name` in 64 KiB pieces, so that the proxy streams a large one rather
 * than receiving it at once. `slowly`: the answer is read a turn of the timers after every chunk,
 * so the proxy's writes to this client back up.
 */
function post(url: string, body: Buffer, chunked: boolean, name = 'f', slowly = false): Promise<{ status: number; headers: IncomingHttpHeaders; reply: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = chunked ? {} : { 'content-length': String(body.length) };
    const req = httpRequest(`${url}/runLambda/${name}`, { method: 'POST', headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        parts.push(c);
        if (!slowly) return;
        res.pause();
        setTimeout(() => res.resume(), 1);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, reply: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (let at = 0; at < body.length; at += 64 * 1024) req.write(body.subarray(at, at + 64 * 1024));
    req.end();
  });
}

t.test('a request body over the buffered limit streams to the worker intact, with its length or chunked', async (t) => {
  const raw = await startRawWorker(t, (socket, seen) => {
    const digest = createHash('sha256').update(seen.body).digest('hex');
    const framing = /content-length/i.test(seen.head) ? 'length' : /transfer-encoding: chunked/i.test(seen.head) ? 'chunked' : 'none';
    const reply = `${framing} ${seen.body.length} ${digest}`;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${reply.length}\r\n\r\n${reply}`);
  });
  const proxy = await proxyFor(t, raw);
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const digest = createHash('sha256').update(body).digest('hex');
  const withLength = await post(proxy.url, body, false);
  t.same([withLength.status, withLength.reply.toString()], [200, `length ${body.length} ${digest}`], "sent with the client's Content-Length");
  const chunked = await post(proxy.url, body, true);
  t.same([chunked.status, chunked.reply.toString()], [200, `chunked ${body.length} ${digest}`], 'sent chunked when the client gave no length');

  // And back: an echoing worker returns the same bytes through the proxy.
  const echo = await startTestWorker({ echo: true });
  t.teardown(() => echo.close());
  const proxyEcho = await proxyFor(t, echo);
  const echoed = await post(proxyEcho.url, body, true);
  t.equal(echoed.status, 200);
  t.equal(createHash('sha256').update(echoed.reply).digest('hex'), digest, 'the echo is the body, byte for byte');
});

t.test('requests carry host, the framing of their body, and keep-alive', async (t) => {
  const worker = await startRawWorker(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
  const proxy = await proxyFor(t, worker);
  await invoke(proxy.url, '/runLambda/f?x=1', { body: '{"a":1}', headers: { 'x-custom': 'v' } });
  await invoke(proxy.url, '/run/g', { body: '' });
  const [a, b] = worker.seen;
  const host = new URL(worker.url).host;
  t.match(a!.head, new RegExp(`^POST /runLambda/f\\?x=1 HTTP/1\\.1\\r\\n`));
  t.match(a!.head, new RegExp(`\\r\\nhost: ${host}\\r\\n`, 'i'));
  t.match(a!.head, /\r\nconnection: keep-alive\r\n/);
  t.match(a!.head, /\r\nx-custom: v\r\n/);
  t.equal((a!.head.match(/content-length/gi) ?? []).length, 1, 'one Content-Length, the body\'s own');
  t.equal(a!.body.toString(), '{"a":1}');
  t.match(b!.head, /\r\ncontent-length: 0(\r\n|$)/, 'an empty POST says so');
});

t.test('large answers to several slow clients at once reach each of them byte for byte, on the fast path and through node:http', async (t) => {
  // Each function's answer is its own random bytes, so bytes of one answer in another's place would show.
  const answers = new Map<string, Buffer>();
  for (let i = 0; i < 4; i++) answers.set(`f${i}`, randomBytes(16 * 1024 * 1024 + 1000 * i));
  const raw = await startRawWorker(t, (socket, seen) => {
    const answer = answers.get(/^POST \/runLambda\/(\w+)/.exec(seen.head)![1]!)!;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${answer.length}\r\n\r\n`);
    socket.write(answer);
  });
  const proxy = await proxyFor(t, raw, { connectionsPerWorker: 4 });
  // Chunked requests (no Content-Length) are handed to node:http; the others take the fast path.
  const replies = await Promise.all([...answers.keys()].map((name, i) => post(proxy.url, Buffer.from('{}'), i % 2 === 1, name, true)));
  replies.forEach(({ status, reply }, i) => {
    const expected = answers.get(`f${i}`)!;
    t.equal(status, 200, `f${i}: 200`);
    t.equal(reply.length, expected.length, `f${i}: every byte arrived`);
    t.ok(reply.equals(expected), `f${i}: the answer is its own, byte for byte (${i % 2 === 1 ? 'node:http' : 'fast path'})`);
  });
});
