// A serving process's side of sharing the workers' connections with the other
// processes of a proxy (`processes` above 1): when its requests wait for a worker
// it asks the primary for more of that worker's connections; when the primary
// says another process waits for one, it hands back those it leaves free. The
// table's limit of a worker is what this process holds of it.
import type { ConnectionBroker, Scheduler } from './admission.js';
import type { Lease } from './lease.js';
import type { SlotMessage } from './slot-ledger.js';
import type { Worker, WorkerTable } from './workers.js';

/** What the process tells the primary. */
export interface SlotRequests {
  /** `count` requests wait for the worker that this process cannot place (0: none any more). */
  want(id: string, count: number): void;
  /** This process lowered its limit of the worker by `count` free connections, having applied the primary's changes up to `seq`. */
  handBack(id: string, count: number, seq: number): void;
}

interface SlotState {
  /** Requests the primary was asked for and has not granted yet (as far as this process knows). */
  asked: number;
  /** Leases of the shared queue counted against this worker. */
  sharedWaiters: number;
  /** Another process waits for this worker: free connections go back. */
  lending: boolean;
  /** While lending, connections that free go back even with requests of this process waiting, while the limit is above this. */
  above: number | null;
  /** Connections taken off the limit and not yet reported, and the change they were taken under. */
  handing: number;
  handingSeq: number;
}

/** Counts for /metrics: connections received from the primary, and handed back. */
export interface SlotCounts {
  received(n: number): void;
  handedBack(n: number): void;
}

export class BorrowedSlots implements ConnectionBroker {
  private readonly states = new Map<Worker, SlotState>();
  private flushQueued = false;
  /** Where shared-queue leases are counted next: they wait for any worker, and any worker's connection serves them. */
  private cursor = 0;

  constructor(
    private readonly table: WorkerTable,
    private readonly scheduler: Scheduler,
    private readonly requests: SlotRequests,
    private readonly counts: SlotCounts,
    /** The last of the primary's numbered changes this process applied. */
    private readonly seq: () => number,
  ) {}

  waiting(lease: Lease): void {
    const w = lease.inShared ? this.anyRoutable() : lease.worker;
    if (w === undefined) return;
    const s = this.state(w);
    if (lease.inShared) s.sharedWaiters++;
    this.schedule();
  }

  freed(w: Worker): void {
    const s = this.states.get(w);
    if (s === undefined) return;
    if (s.lending && !w.removed && w.inFlight < w.limit) {
      const owed = s.above !== null && w.limit > s.above;
      if (owed || this.idleHere(w)) this.lower(w, s, 1);
    }
    this.schedule();
  }

  /** One of the primary's grant or lend messages. */
  received(m: SlotMessage): void {
    const w = this.table.get(m.id);
    if (w === undefined) return;
    const s = this.state(w);
    if (m.wr === 'grant') {
      s.asked = Math.max(0, s.asked - m.count);
      this.counts.received(m.count);
      this.table.update(w, w.weight, w.limit + m.count);
    } else {
      s.lending = m.on;
      s.above = m.above;
    }
    this.schedule();
  }

  /** No request of this process waits that a connection of `w` could serve. */
  private idleHere(w: Worker): boolean {
    return w.queued === 0 && this.scheduler.sharedWaiting === 0;
  }

  private anyRoutable(): Worker | undefined {
    const workers = this.table.workers;
    for (let i = 0; i < workers.length; i++) {
      const w = workers[(this.cursor + i) % workers.length]!;
      if (w.routable) {
        this.cursor = (this.cursor + i + 1) % workers.length;
        return w;
      }
    }
    return undefined;
  }

  private state(w: Worker): SlotState {
    let s = this.states.get(w);
    if (s === undefined) {
      s = { asked: 0, sharedWaiters: 0, lending: false, above: null, handing: 0, handingSeq: 0 };
      this.states.set(w, s);
    }
    return s;
  }

  /** Takes `n` free connections off `w`'s limit, to be reported to the primary. */
  private lower(w: Worker, s: SlotState, n: number): void {
    const seq = this.seq();
    if (s.handing > 0 && s.handingSeq !== seq) this.report(w, s);
    s.handing += n;
    s.handingSeq = seq;
    this.table.update(w, w.weight, w.limit - n);
  }

  private report(w: Worker, s: SlotState): void {
    this.requests.handBack(w.id, s.handing, s.handingSeq);
    this.counts.handedBack(s.handing);
    s.handing = 0;
  }

  /** Messages to the primary go once per event-loop turn, whatever number of requests changed the picture. */
  private schedule(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    const sharedWaiting = this.scheduler.sharedWaiting;
    for (const [w, s] of this.states) {
      if (w.removed) {
        this.states.delete(w);
        continue;
      }
      if (sharedWaiting === 0) s.sharedWaiters = 0;
      if (s.lending && this.idleHere(w) && w.inFlight < w.limit) this.lower(w, s, w.limit - w.inFlight);
      if (s.handing > 0) this.report(w, s);
      const need = w.inFlight < w.limit ? 0 : w.queued + Math.min(s.sharedWaiters, sharedWaiting);
      if (need > 0 && s.asked === 0) {
        s.asked = need;
        this.requests.want(w.id, need);
      } else if (need === 0 && s.asked > 0) {
        s.asked = 0;
        this.requests.want(w.id, 0);
      }
      if (s.asked === 0 && !s.lending && s.sharedWaiters === 0 && w.queued === 0) this.states.delete(w);
    }
  };
}
