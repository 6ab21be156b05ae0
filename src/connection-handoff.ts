// How the primary of a proxy of several processes hands its clients' connections
// to the serving processes. The primary listens on the port itself and gives each
// connection it accepts, unread, to a process that has taken every connection it
// was given before, as node:cluster's round-robin scheduling does. Unlike that
// scheduling, it keeps its copy of a connection until the process says it took it,
// and a process that dies before saying so leaves the connection to another: no
// connection is left open with nobody to read it (node:cluster closes its copy or
// passes it on only in the reply of the process it sent it to, which a dead process
// never sends). A connection no process takes in time, or still waiting when the
// primary stops, is answered 503 by the primary itself and closed.
import { createServer, type Server, type Socket } from 'node:net';
import { closingErrorAnswer } from './errors.js';

/** How long an answered connection may stay open for the client to read the answer and close. */
const LINGER_MS = 5000;

/** A serving process as the hand-off sees it: `send` gives it connection `id` (false: it cannot be reached). */
export interface HandoffTarget {
  send(id: number, socket: Socket): boolean;
}

export class ConnectionHandoff {
  readonly server: Server;
  /** Processes that hold no connection they have not taken yet, longest free first. */
  private readonly free: HandoffTarget[] = [];
  /** Connections accepted and not given to a process yet, oldest first, each with the timer that answers it if it waits too long. */
  private readonly waiting: Waiting[] = [];
  /** Per process, the connection it was given and has not said it took: its id and the primary's copy. */
  private readonly given = new Map<HandoffTarget, { id: number; socket: Socket }>();
  private nextId = 0;
  private closed = false;

  /**
   * `maxWaitMs`: how long a connection may wait for a process to be free
   * (read at each connection, so a reload's value counts from the next);
   * beyond it the primary answers it 503 queue_timeout and closes it.
   * `answered`: told of each connection the primary answers itself, with the
   * code (for its log: no process sees these connections).
   */
  constructor(
    private readonly maxWaitMs: () => number = () => 0,
    private readonly answered: (code: 'queue_timeout' | 'shutting_down', message: string) => void = () => undefined,
  ) {
    // Unread until a process takes it (a process that dies first leaves every byte to the next); no Nagle
    // delay, as the proxy's own server sets (the option belongs to the socket, whichever process writes).
    this.server = createServer({ pauseOnConnect: true, noDelay: true }, (socket) => this.accepted(socket));
  }

  /** Connections the primary holds: waiting for a process, or given and not yet taken. */
  get held(): number {
    return this.waiting.length + this.given.size;
  }

  /** `target` serves from now on (it started, or took its connection). */
  ready(target: HandoffTarget): void {
    if (this.closed || this.given.has(target) || this.free.includes(target)) return;
    const next = this.waiting.shift();
    if (next === undefined) return void this.free.push(target);
    clearTimeout(next.timer);
    this.give(target, next.socket);
  }

  /** `target` says it took connection `id`: the primary's copy closes (the connection stays open in the process). */
  took(target: HandoffTarget, id: number): void {
    const held = this.given.get(target);
    if (held === undefined || held.id !== id) return;
    this.given.delete(target);
    held.socket.destroy();
    this.ready(target);
  }

  /**
   * `target` is gone: it exited and its channel closed, so every message it
   * sent has been read (the primary calls this on its child process's
   * 'close'). A connection it was given and did not take goes to another
   * process, first in line.
   */
  gone(target: HandoffTarget): void {
    const i = this.free.indexOf(target);
    if (i >= 0) this.free.splice(i, 1);
    const held = this.given.get(target);
    if (held === undefined) return;
    this.given.delete(target);
    this.accepted(held.socket, true);
  }

  /** Stops accepting; connections waiting for a process are answered 503 shutting_down and close. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const { socket, timer } of this.waiting.splice(0)) {
      clearTimeout(timer);
      this.refuse(socket);
    }
    this.free.length = 0;
  }

  private accepted(socket: Socket, first = false): void {
    if (this.closed) return this.refuse(socket);
    const target = this.free.shift();
    if (target !== undefined) return this.give(target, socket);
    const ms = this.maxWaitMs();
    const entry: Waiting = { socket, timer: undefined };
    if (ms > 0) entry.timer = setTimeout(() => this.expire(entry, ms), ms);
    if (first) this.waiting.unshift(entry);
    else this.waiting.push(entry);
  }

  /** A connection waited `ms` and no process was free: the primary answers it. */
  private expire(entry: Waiting, ms: number): void {
    const i = this.waiting.indexOf(entry);
    if (i < 0) return;
    this.waiting.splice(i, 1);
    this.answer(entry.socket, 'queue_timeout', `no serving process was free to take the connection within ${ms} ms`);
  }

  /** A connection that comes to the primary once it stopped. */
  private refuse(socket: Socket): void {
    this.answer(socket, 'shutting_down', 'the proxy is shutting down; try again shortly');
  }

  private answer(socket: Socket, code: 'queue_timeout' | 'shutting_down', message: string): void {
    writeAndClose(socket, closingErrorAnswer(code, message, { 'retry-after': this.retryAfter() }));
    this.answered(code, message);
  }

  /** Seconds a client should wait before trying again, as the processes say in their 503s: about one queue timeout. */
  private retryAfter(): number {
    return Math.max(1, Math.ceil(this.maxWaitMs() / 1000));
  }

  private give(target: HandoffTarget, socket: Socket): void {
    const id = this.nextId++;
    this.given.set(target, { id, socket });
    if (target.send(id, socket)) return;
    // Unreachable (its channel is closing): not free again; the connection goes to another.
    this.given.delete(target);
    this.accepted(socket, true);
  }
}

interface Waiting {
  readonly socket: Socket;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Writes `text` (a whole answer) on a connection no process read from and
 * closes it; what the client sends meanwhile is read and dropped, so the close
 * does not reset the connection under the answer, until it has been idle
 * LINGER_MS.
 */
function writeAndClose(socket: Socket, text: string): void {
  socket.on('error', () => undefined);
  socket.setTimeout(LINGER_MS, () => socket.destroy());
  socket.resume();
  socket.end(text);
}
