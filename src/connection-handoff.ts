// How the primary of a proxy of several processes hands its clients' connections
// to the serving processes. The primary listens on the port itself and gives each
// connection it accepts, unread, to a process that has taken every connection it
// was given before, as node:cluster's round-robin scheduling does. Unlike that
// scheduling, it keeps its copy of a connection until the process says it took it,
// and a process that dies before saying so leaves the connection to another: no
// connection is left open with nobody to read it (node:cluster closes its copy or
// passes it on only in the reply of the process it sent it to, which a dead process
// never sends).
import { createServer, type Server, type Socket } from 'node:net';

/** A serving process as the hand-off sees it: `send` gives it connection `id` (false: it cannot be reached). */
export interface HandoffTarget {
  send(id: number, socket: Socket): boolean;
}

export class ConnectionHandoff {
  readonly server: Server;
  /** Processes that hold no connection they have not taken yet, longest free first. */
  private readonly free: HandoffTarget[] = [];
  /** Connections accepted and not given to a process yet, oldest first. */
  private readonly waiting: Socket[] = [];
  /** Per process, the connection it was given and has not said it took: its id and the primary's copy. */
  private readonly given = new Map<HandoffTarget, { id: number; socket: Socket }>();
  private nextId = 0;
  private closed = false;

  constructor() {
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
    if (next === undefined) this.free.push(target);
    else this.give(target, next);
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

  /** Stops accepting; connections no process has taken close (their clients see the connection close). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const socket of this.waiting.splice(0)) socket.destroy();
    this.free.length = 0;
  }

  private accepted(socket: Socket, first = false): void {
    if (this.closed) return void socket.destroy();
    const target = this.free.shift();
    if (target !== undefined) this.give(target, socket);
    else if (first) this.waiting.unshift(socket);
    else this.waiting.push(socket);
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
