// The primary's hand-off of connections (processes above 1), on real sockets: each
// process holds at most one connection it has not taken, the others wait in order,
// a process that is gone leaves its untaken connection to the next free one, a
// connection that waits too long is answered 503 queue_timeout, and closing answers
// what still waits 503 shutting_down. The processes are stand-ins in this process that
// read what they are handed before they say they took it (the primary then closes
// its copy, here the only one); test/src/processes.test.ts runs the real ones.
import { once } from 'node:events';
import { connect, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { ConnectionHandoff, type HandoffTarget } from '../../src/connection-handoff.js';
import { until } from '../fixtures/end-to-end.js';

class Process implements HandoffTarget {
  readonly got: { id: number; socket: Socket }[] = [];
  reachable = true;
  send(id: number, socket: Socket): boolean {
    if (!this.reachable) return false;
    this.got.push({ id, socket });
    return true;
  }
  get last(): { id: number; socket: Socket } {
    return this.got[this.got.length - 1]!;
  }
}

async function started(t: Test, maxWaitMs = 0): Promise<{ handoff: ConnectionHandoff; port: number; clients: Socket[]; answered: string[] }> {
  const answered: string[] = [];
  const handoff = new ConnectionHandoff(() => maxWaitMs, (code) => answered.push(code));
  handoff.server.listen(0, '127.0.0.1');
  await once(handoff.server, 'listening');
  const clients: Socket[] = [];
  t.teardown(() => {
    for (const c of clients) c.destroy();
    handoff.close();
  });
  return { handoff, port: (handoff.server.address() as AddressInfo).port, clients, answered };
}

function open(port: number, clients: Socket[], text: string): Socket {
  const c = connect(port, '127.0.0.1', () => c.write(text));
  // A connection closed unread ends with a reset: the tests look at 'close'.
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

/** What arrives on `socket` (a handed connection) until `bytes` have come. */
async function read(socket: Socket, bytes: number): Promise<string> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => { text += c; });
  socket.resume();
  await until(() => text.length >= bytes, `${bytes} bytes`);
  return text;
}

t.test('one untaken connection per process; the rest wait, in order', async (t) => {
  const { handoff, port, clients } = await started(t);
  const a = new Process();
  const b = new Process();
  handoff.ready(a);
  handoff.ready(b);
  open(port, clients, 'first');
  open(port, clients, 'second');
  open(port, clients, 'third');
  await until(() => a.got.length + b.got.length === 2 && handoff.held === 3, 'two handed, one waiting');
  t.equal(a.got.length, 1, 'the longest free process got one');
  t.equal(b.got.length, 1, 'the other got one');
  const texts = [await read(a.got[0]!.socket, 5), await read(b.got[0]!.socket, 6)];
  handoff.took(a, a.got[0]!.id);
  t.equal(a.got.length, 2, 'a process that took its connection gets the one waiting');
  t.equal(handoff.held, 2, 'the primary closed its copy of the one taken');
  handoff.took(a, 12345);
  t.equal(handoff.held, 2, 'a receipt for a connection the process was not given changes nothing');
  texts.push(await read(a.got[1]!.socket, 5));
  t.same(texts.sort(), ['first', 'second', 'third'], 'each connection reaches its process unread, every byte');
});

t.test('a process gone before taking its connection leaves it to another, first in line', async (t) => {
  const { handoff, port, clients } = await started(t);
  const dying = new Process();
  const staying = new Process();
  handoff.ready(dying);
  open(port, clients, 'lost?');
  await until(() => dying.got.length === 1, 'handed to the process that will die');
  open(port, clients, 'later');
  await until(() => handoff.held === 2, 'the second waits');
  handoff.gone(dying);
  t.equal(staying.got.length, 0, 'no process free yet');
  handoff.ready(staying);
  t.equal(staying.got.length, 1, 'the next process to be free gets one');
  t.equal(await read(staying.got[0]!.socket, 5), 'lost?', 'the dead process\'s connection first, unread');
  handoff.took(staying, staying.last.id);
  t.equal(staying.got.length, 2, 'then the one that waited');
  t.equal(await read(staying.last.socket, 5), 'later');
  handoff.took(dying, dying.last.id);
  t.equal(staying.got.length, 2, 'a receipt from the process that is gone changes nothing');
});

t.test('a process that cannot be reached is passed over', async (t) => {
  const { handoff, port, clients } = await started(t);
  const closing = new Process();
  const open1 = new Process();
  closing.reachable = false;
  handoff.ready(closing);
  handoff.ready(open1);
  open(port, clients, 'hello');
  await until(() => open1.got.length === 1, 'handed to the reachable process');
  t.equal(closing.got.length, 0);
  open(port, clients, 'again');
  await until(() => handoff.held === 2, 'the next waits for a free process');
  t.equal(open1.got.length, 1, 'the unreachable process is not free again');
});

/** Everything the client reads on `socket` until the primary closes it. */
async function answerOf(socket: Socket): Promise<string> {
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => { text += c; });
  await new Promise((resolve) => socket.on('close', resolve));
  return text;
}

/** Status line, lower-cased headers and parsed JSON body of a whole answer. */
function parsed(text: string): { status: string; headers: Map<string, string>; body: { error: { code: string; message: string } } } {
  const [head, body] = text.split('\r\n\r\n');
  const [status, ...lines] = head!.split('\r\n');
  const headers = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: status!, headers, body: JSON.parse(body!) };
}

t.test('a connection no process takes within the wait limit is answered 503 queue_timeout', async (t) => {
  const { handoff, port, clients, answered } = await started(t, 50);
  const early = open(port, clients, 'POST /runLambda/f HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello');
  // Answered by the primary (with no process ever free) once it has waited 50 ms: nothing else answers it.
  const a = parsed(await answerOf(early));
  t.equal(a.status, 'HTTP/1.1 503 Service Unavailable');
  t.equal(a.body.error.code, 'queue_timeout');
  t.match(a.body.error.message, /within 50 ms/, 'the message names the limit');
  t.equal(a.headers.get('retry-after'), '1');
  t.equal(a.headers.get('connection'), 'close');
  t.equal(Number(a.headers.get('content-length')), Buffer.byteLength(JSON.stringify(a.body)), 'content-length is the body\'s');
  t.equal(handoff.held, 0, 'the primary holds it no more');
  t.same(answered, ['queue_timeout'], 'the primary is told of the answer it gave, for its log');
  // One that a process takes before the limit is not answered by the primary.
  const p = new Process();
  handoff.ready(p);
  const later = open(port, clients, 'later');
  await until(() => p.got.length === 1, 'handed at once');
  t.equal(await read(p.last.socket, 5), 'later', 'handed unread, as before');
  handoff.took(p, p.last.id);
  t.equal(handoff.held, 0);
  t.notOk(later.destroyed, 'the client\'s connection is the process\'s now');
});

t.test('what a client sends to a connection the primary answered is read and dropped, so the close is clean', async (t) => {
  const { port, clients } = await started(t, 50);
  // A body far beyond the socket buffers, all sent after the answer is due: unread, it would make the close a reset.
  const big = Buffer.alloc(8 << 20, 'x');
  const c = open(port, clients, `POST /runLambda/f HTTP/1.1\r\nhost: x\r\ncontent-length: ${big.length}\r\n\r\n`);
  let reset: Error | undefined;
  c.on('error', (err) => { reset = err; });
  c.once('data', () => c.end(big));
  const a = parsed(await answerOf(c));
  t.equal(a.body.error.code, 'queue_timeout');
  t.equal(reset, undefined, 'no reset: the connection closed cleanly after the client finished sending');
});

t.test('closing refuses new connections and answers those waiting 503 shutting_down', async (t) => {
  const { handoff, port, clients, answered } = await started(t);
  const waiting = open(port, clients, 'x');
  const reply = answerOf(waiting);
  await until(() => handoff.held === 1, 'waiting with no process');
  handoff.close();
  const a = parsed(await reply);
  t.equal(a.status, 'HTTP/1.1 503 Service Unavailable');
  t.equal(a.body.error.code, 'shutting_down', 'the waiting connection got an answer before it closed');
  t.equal(a.headers.get('connection'), 'close');
  t.same(answered, ['shutting_down']);
  const refused = connect(port, '127.0.0.1');
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNREFUSED', 'no longer listening');
  handoff.ready(new Process());
  t.equal(handoff.held, 0, 'a process ready after the close gets nothing');
});
