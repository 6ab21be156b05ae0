import type { SecureContext } from 'node:tls';
import { WorkerConnection, workerAddress, type ConnectionOwner, type UpstreamTimeouts, type WorkerAddress } from './worker-connection.js';
import type { TableListener, Worker, WorkerTable } from './workers.js';

export type { UpstreamTimeouts } from './worker-connection.js';

/**
 * Idle connections are checked for their keep-alive this often. A hinted
 * keep-alive is cut 2 s short, so a connection is never reused later than 1 s
 * before the worker closes it.
 */
const SWEEP_MS = 1000;

/**
 * The connections of one worker: at most `limit`, made when first needed and
 * kept alive. The scheduler dispatches only when the worker has a free
 * connection, so `acquire` always finds an idle connection or room for a new
 * one, and a connection carries one request at a time.
 */
class WorkerConnections implements ConnectionOwner {
  /** Most recently used last: reuse takes the warmest, the sweep finds the coldest. */
  private readonly idle: WorkerConnection[] = [];
  private readonly all = new Set<WorkerConnection>();
  private readonly address: WorkerAddress;
  private sweeps = 0;
  private sweeper: NodeJS.Timeout | undefined;
  closing = false;

  constructor(private readonly worker: Worker, private readonly owner: Upstreams) {
    this.address = workerAddress(worker.origin);
  }

  acquire(): WorkerConnection {
    const idle = this.idle.pop();
    if (idle !== undefined) return idle;
    const made = new WorkerConnection(this.address, this.owner.timeouts, this, this.address.tls ? this.owner.workerCa : undefined);
    this.all.add(made);
    if (this.sweeper === undefined) this.sweeper = setTimeout(this.sweep, SWEEP_MS).unref();
    return made;
  }

  /** Back to the idle list once its request is over; closed instead when it cannot be reused, or the worker left or shrank. */
  giveBack(c: WorkerConnection): void {
    if (!this.closing && c.reusable && this.idle.length < this.worker.limit) {
      c.idleSince = this.sweeps;
      this.idle.push(c);
      return;
    }
    this.all.delete(c);
    c.close();
    if (this.closing && this.busy === 0) this.owner.settle(this.worker);
  }

  /** An idle connection closed (by the worker, or an error): never sent on again. */
  lost(c: WorkerConnection): void {
    const i = this.idle.indexOf(c);
    if (i < 0) return;
    this.idle.splice(i, 1);
    this.all.delete(c);
  }

  /** Closes idle connections past their keep-alive; runs while the worker has any connection. */
  private readonly sweep = (): void => {
    this.sweeps++;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if ((this.sweeps - c.idleSince) * SWEEP_MS < c.keepAliveMs) continue;
      this.idle.splice(i, 1);
      this.all.delete(c);
      c.close();
    }
    if (this.all.size > 0) this.sweeper!.refresh();
    else this.sweeper = undefined;
  };

  /** https: every connection was verified with CAs since replaced; idle ones close now, busy ones once their request ends. */
  retireTls(): void {
    if (!this.address.tls) return;
    this.closeIdle();
    for (const c of this.all) c.retire();
  }

  /** Requests using a connection of this worker. */
  get busy(): number {
    return this.all.size - this.idle.length;
  }

  closeIdle(): void {
    for (const c of this.idle.splice(0)) {
      this.all.delete(c);
      c.close();
    }
  }

  /** Cuts every connection, busy or not (a forced shutdown); resolves once their sockets closed. */
  destroyAll(): Promise<unknown> {
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    if (this.sweeper !== undefined) clearTimeout(this.sweeper);
    this.sweeper = undefined;
    return Promise.all(all.map((c) => c.destroy()));
  }
}

/** Every worker's connections, following the table. */
export class Upstreams implements TableListener {
  private readonly byWorker = new Map<Worker, WorkerConnections>();

  /** `workerCa`: the context https workers are verified with; undefined: Node's default CAs. */
  constructor(table: WorkerTable, public timeouts: UpstreamTimeouts, public workerCa: SecureContext | undefined = undefined) {
    table.listen(this);
  }

  removed(w: Worker): void {
    const conns = this.byWorker.get(w);
    if (!conns) return;
    conns.closing = true;
    conns.closeIdle();
    // Idle: forgotten now; busy: when its last request ends (settle).
    if (conns.busy === 0) this.byWorker.delete(w);
  }

  changed(w: Worker): void {
    this.byWorker.get(w)?.closeIdle();
  }

  /** New timeouts apply to connections made from now on; idle ones are closed so that they are remade. */
  setTimeouts(timeouts: UpstreamTimeouts): void {
    this.timeouts = timeouts;
    for (const c of this.byWorker.values()) c.closeIdle();
  }

  /**
   * New worker CAs apply to connections made from now on; no request starts on
   * a connection verified with the old ones (idle ones are closed, busy ones
   * once their request ends).
   */
  setWorkerCa(workerCa: SecureContext | undefined): void {
    this.workerCa = workerCa;
    for (const c of this.byWorker.values()) c.retireTls();
  }

  /** The worker's connections, made on its first request (10,000 idle workers hold none). */
  connectionsOf(w: Worker): WorkerConnections {
    let conns = this.byWorker.get(w);
    if (conns === undefined) {
      conns = new WorkerConnections(w, this);
      // A worker removed while its request was placed keeps connections until that request ends.
      conns.closing = w.removed;
      this.byWorker.set(w, conns);
    }
    return conns;
  }

  /** Forgets a removed worker once nothing uses its connections. */
  settle(w: Worker): void {
    const conns = this.byWorker.get(w);
    if (conns?.closing && conns.busy === 0) this.byWorker.delete(w);
  }

  /** Requests using upstream connections right now (tests check it returns to 0). */
  get busy(): number {
    let n = 0;
    for (const c of this.byWorker.values()) n += c.busy;
    return n;
  }

  /** Closes every connection: idle ones gracefully; busy ones are cut (call it once requests have ended, or to force). */
  async close(): Promise<void> {
    const all = [...this.byWorker.values()];
    this.byWorker.clear();
    await Promise.all(all.map((c) => {
      c.closing = true;
      return c.destroyAll();
    }));
  }
}

export type { WorkerConnections };
