// The primary's hand-off of connections (processes above 1), on real sockets: each
// process holds at most one connection it has not taken, the others wait in order,
// a process that is gone leaves its untaken connection to the next free one, and
// closing refuses what still waits. The processes are stand-ins in this process that
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

async function started(t: Test): Promise<{ handoff: ConnectionHandoff; port: number; clients: Socket[] }> {
  const handoff = new ConnectionHandoff();
  handoff.server.listen(0, '127.0.0.1');
  await once(handoff.server, 'listening');
  const clients: Socket[] = [];
  t.teardown(() => {
    for (const c of clients) c.destroy();
    handoff.close();
  });
  return { handoff, port: (handoff.server.address() as AddressInfo).port, clients };
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

t.test('closing refuses new connections and closes those waiting', async (t) => {
  const { handoff, port, clients } = await started(t);
  const waiting = open(port, clients, 'x');
  await until(() => handoff.held === 1, 'waiting with no process');
  // A plain listener: once() would reject on the reset that comes first.
  const closed = new Promise((resolve) => waiting.on('close', resolve));
  handoff.close();
  await closed;
  t.pass('the waiting connection was closed');
  const refused = connect(port, '127.0.0.1');
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNREFUSED', 'no longer listening');
  handoff.ready(new Process());
  t.equal(handoff.held, 0, 'a process ready after the close gets nothing');
});
