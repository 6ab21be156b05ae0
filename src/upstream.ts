import { Client } from './undici-parts.js';
import type { TableListener, Worker, WorkerTable } from './workers.js';

export interface UpstreamTimeouts {
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

/**
 * The connections of one worker: at most `limit` undici Clients of one
 * connection each, made when first needed and kept alive. The scheduler
 * dispatches only when the worker has a free connection, so `acquire` always
 * finds an idle Client or room for a new one, and no request ever queues
 * inside undici (an undici Pool would queue internally while it still counts
 * a just-finished connection as busy).
 */
class WorkerConnections {
  private readonly idle: Client[] = [];
  private readonly all = new Set<Client>();
  private count = 0;
  closing = false;

  constructor(private readonly worker: Worker, private readonly owner: Upstreams) {}

  acquire(): Client {
    const client = this.idle.pop();
    if (client !== undefined) return client;
    this.count++;
    const t = this.owner.timeouts;
    const made = new Client(this.worker.origin, {
      pipelining: 1,
      connectTimeout: t.connectTimeoutMs,
      headersTimeout: t.headersTimeoutMs,
      bodyTimeout: t.bodyTimeoutMs,
      keepAliveTimeout: 30_000,
    });
    this.all.add(made);
    return made;
  }

  /** Back to the idle list once its request is over; closed instead when the worker left or shrank. */
  giveBack(client: Client): void {
    if (this.closing || client.destroyed || client.closed || this.idle.length + 1 > this.worker.limit) {
      this.count--;
      this.all.delete(client);
      void client.close().catch(() => undefined);
      return;
    }
    this.idle.push(client);
  }

  /** Requests still using a Client of this worker. */
  get busy(): number {
    return this.count - this.idle.length;
  }

  closeIdle(): void {
    for (const c of this.idle.splice(0)) {
      this.count--;
      this.all.delete(c);
      void c.close().catch(() => undefined);
    }
  }

  /**
   * Requests waiting inside undici behind another request on the same Client
   * (0 by construction). A Client's one request counts as pending while its
   * socket connects; that is not a queue.
   */
  get queuedInside(): number {
    let n = 0;
    for (const c of this.all) n += Math.max(0, c.stats.pending + c.stats.running - 1);
    return n;
  }

  /** Cuts every connection, busy or not (a forced shutdown). */
  destroyAll(): Promise<unknown> {
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    this.count = 0;
    return Promise.all(all.map((c) => c.destroy().catch(() => undefined)));
  }
}

/** Every worker's connections, following the table. */
export class Upstreams implements TableListener {
  private readonly byWorker = new Map<Worker, WorkerConnections>();

  constructor(table: WorkerTable, public timeouts: UpstreamTimeouts) {
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

  /** Requests queued inside undici rather than in the scheduler's queues: tests check it is always 0. */
  get queuedInside(): number {
    let n = 0;
    for (const c of this.byWorker.values()) n += c.queuedInside;
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
