import type { Clock, Timer } from './clock.js';
import { Fifo } from './fifo.js';
import type { Decision, Lease, Rejection } from './lease.js';
import type { TableListener, Worker, WorkerTable } from './workers.js';

/**
 * Leases the shared queue may serve past a head it cannot serve now (its
 * chosen worker and that worker's queue are full), before it waits for the
 * head again. The head is served as soon as its worker frees a connection
 * (that worker's own queue goes first, then the head moves in), and leases
 * served past it go to other workers, so the bound only matters when a policy
 * keeps changing its mind; it keeps the head from waiting for ever then.
 */
export const MAX_PASSED_OVER = 1000;

/**
 * Functions found blocked that one pass looks past, so a long blocked queue
 * costs a bounded scan. Further leases of a function already found blocked in
 * the pass are skipped without asking the policy again (its answer cannot
 * change until something is dispatched or freed), so one overflowing function,
 * however many of its leases wait, never hides the leases behind it.
 */
const SCAN_WINDOW = 32;

/** Slots one pass examines at most, whatever they hold. */
const SCAN_SLOTS = 4096;

export interface QueueLimits {
  /** Leases that may wait at once, in the shared queue and every worker's queue together. */
  readonly queueLimit: number;
  /** Leases that may wait in one worker's own queue. */
  readonly workerQueueLimit: number;
  /** Longest wait, counted from admission. */
  readonly queueTimeoutMs: number;
}

/**
 * The other owners of the workers' connections (the other processes of a proxy
 * of several), told what this scheduler lacks and what it frees. Called only
 * when a lease starts waiting and when a connection frees, never to dispatch.
 */
export interface ConnectionBroker {
  /** A lease started waiting: in `lease.worker`'s queue, or in the shared queue. */
  waiting(lease: Lease): void;
  /** One of `w`'s connections freed, before its queues are served (the broker may lower `w`'s limit to hand it on). */
  freed(w: Worker): void;
}

/**
 * Admission and queueing, as HAProxy does it with `maxconn` and its server and
 * backend queues. A lease is dispatched only onto a free connection of a
 * routable worker. When the policy picks a full worker (a package-aware policy
 * waiting for its warm home) the lease waits in that worker's queue; when no
 * worker has a free connection it waits in the shared queue and the worker is
 * picked when a connection frees (late binding). A freed connection serves its
 * own worker's queue first, then the shared queue.
 *
 * Knows nothing of sockets: time and timers come from the injected clock, so
 * pipbench's simulator runs this same code in virtual time.
 */
export class Scheduler implements TableListener {
  private readonly shared = new Fifo<Lease>((l) => l.state === 'waiting' && l.inShared);
  private sharedCount = 0;
  private waiting_ = 0;
  private running_ = 0;
  /** Waiting leases in admission order, one list per queue timeout (one, unless a reload changed it), for expiry. */
  private readonly deadlines = new Map<number, Fifo<Lease>>();
  private timer: Timer | undefined;
  private timerAt = Infinity;
  private pumping = false;
  private pumpAgain = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private nothingRoutableCheck: Timer | undefined;
  private broker: ConnectionBroker | undefined;

  constructor(
    private readonly table: WorkerTable,
    private readonly clock: Clock,
    private limits: QueueLimits,
  ) {
    table.listen(this);
  }

  /** Shares the workers' connections with other schedulers (a proxy of several processes). */
  setBroker(broker: ConnectionBroker): void {
    this.broker = broker;
  }

  setLimits(limits: QueueLimits): void {
    this.limits = limits;
    this.pump(undefined);
  }

  /** Leases waiting in any queue. */
  get waiting(): number {
    return this.waiting_;
  }

  /** Leases waiting in the shared queue. */
  get sharedWaiting(): number {
    return this.sharedCount;
  }

  /** Leases holding a worker connection. */
  get running(): number {
    return this.running_;
  }

  /** Seconds a client should wait before trying again after a 503: about one queue timeout. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.limits.queueTimeoutMs / 1000));
  }

  /** Resolves once no lease runs or waits (graceful shutdown awaits it). */
  whenIdle(): Promise<void> {
    if (this.running_ === 0 && this.waiting_ === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || this.running_ !== 0 || this.waiting_ !== 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Places a new lease: dispatched, queued, or rejected (the owner is told which). */
  submit(lease: Lease): void {
    this.place(lease, false);
  }

  /**
   * The request running on `lease.worker` ended (answered, failed, or its client
   * left). Frees the connection once; later calls return false.
   */
  release(lease: Lease): boolean {
    if (lease.state !== 'running') return false;
    const w = lease.worker!;
    lease.state = 'released';
    this.running_--;
    this.table.drop(w, lease.fn);
    this.broker?.freed(w);
    this.pump(current(w));
    this.checkIdle();
    return true;
  }

  /**
   * The request on `lease.worker` failed before reaching it: free that
   * connection and place the lease again, ahead of later arrivals, never on a
   * worker it already tried. False when the policy's pick is one it tried: the
   * lease is then released and its owner answers.
   */
  retry(lease: Lease): boolean {
    if (lease.state !== 'running') return false;
    const w = lease.worker!;
    (lease.tried ??= []).push(w);
    lease.state = 'new';
    lease.worker = undefined;
    this.running_--;
    this.table.drop(w, lease.fn);
    this.broker?.freed(w);
    const placed = this.place(lease, true);
    this.pump(current(w));
    if (!placed) this.checkIdle();
    return placed;
  }

  /**
   * Shutdown's deadline: every waiting lease is answered `reason` at once, and
   * every lease submitted from now on too. Running leases are not touched.
   */
  close(reason: Rejection): void {
    this.closed = true;
    this.rejectWaiting(reason);
  }

  private rejectWaiting(reason: Rejection): void {
    for (const list of this.deadlines.values()) {
      for (const lease of list.takeAll()) {
        this.unqueue(lease);
        this.reject(lease, reason);
      }
    }
  }

  /** The client left while its lease waited: it leaves the queue at once. Returns false if the lease was not waiting. */
  cancel(lease: Lease): boolean {
    if (lease.state !== 'waiting') return false;
    this.unqueue(lease);
    lease.state = 'released';
    this.trimDeadlines();
    this.checkIdle();
    return true;
  }

  // Table events.

  routable(): void {
    this.pump(undefined);
  }

  changed(w: Worker): void {
    this.pump(w);
  }

  /**
   * A worker that left routing hands its queue back to the shared queue, in
   * front, in order. When none is left in routing, what waits is answered
   * no_healthy_worker at once rather than at its deadline; the check runs
   * after the current change, so a batch that removes one worker and adds
   * another (a reconcile) does not answer anyone.
   */
  unroutable(w: Worker): void {
    const moved = w.queue.takeAll();
    for (const lease of moved) {
      lease.inShared = true;
      lease.worker = undefined;
    }
    w.queued = 0;
    this.shared.unshiftAll(moved);
    this.sharedCount += moved.length;
    this.pump(undefined);
    if (this.table.routableCount === 0 && this.waiting_ > 0 && this.nothingRoutableCheck === undefined) {
      this.nothingRoutableCheck = this.clock.setTimer(0, () => {
        this.nothingRoutableCheck = undefined;
        if (this.table.routableCount === 0) this.rejectWaiting('no_healthy_worker');
      });
    }
  }

  /** The least-loaded routable worker with a free connection that this lease has not tried (a retry's scan, rare). */
  private untriedFree(lease: Lease): Worker | undefined {
    let best: Worker | undefined;
    for (const w of this.table.workers) {
      if (!w.routable || w.inFlight >= w.limit || this.triedOn(lease, w)) continue;
      if (best === undefined || w.inFlight / w.limit < best.inFlight / best.limit) best = w;
    }
    return best;
  }

  /** True when `w` already failed this lease's request (a retry must go elsewhere). */
  private triedOn(lease: Lease, w: Worker): boolean {
    return lease.tried !== undefined && lease.tried.includes(w);
  }

  /**
   * Dispatches, queues or rejects a lease; the one place that decides
   * no_healthy_worker. False only for a retry whose pick is a worker it
   * already tried (the lease is then released without a word to its owner).
   */
  private place(lease: Lease, front: boolean): boolean {
    const table = this.table;
    if (this.closed) return this.reject(lease, 'shutting_down');
    if (table.routableCount === 0) return this.reject(lease, 'no_healthy_worker');
    if (table.freeCount > 0 && (this.sharedCount === 0 || front)) {
      let w = table.pick(lease.fn);
      if (w === undefined) return this.reject(lease, 'no_healthy_worker');
      if (this.triedOn(lease, w)) {
        // The policy's choice already failed this request: any untried worker that can take it now.
        w = this.untriedFree(lease);
        if (w === undefined) {
          lease.state = 'released';
          return false;
        }
      }
      if (w.inFlight < w.limit) return this.dispatch(lease, w, this.decide(lease, w));
      if (this.waiting_ >= this.limits.queueLimit) return this.reject(lease, 'queue_full');
      if (w.queued < this.limits.workerQueueLimit) return this.enqueue(lease, w, front);
    } else if (this.waiting_ >= this.limits.queueLimit) {
      return this.reject(lease, 'queue_full');
    }
    this.enqueue(lease, undefined, front);
    // Connections are free while others wait in the shared queue: this lease may be one that can go now.
    if (table.freeCount > 0 && !front) this.pump(undefined);
    return true;
  }

  private decide(lease: Lease, w: Worker): Decision {
    const balancer = this.table.balancer;
    if (balancer.isHome === undefined) return 'direct';
    return balancer.isHome(lease.fn, w) ? 'home' : 'spill';
  }

  private dispatch(lease: Lease, w: Worker, decision: Decision): true {
    lease.state = 'running';
    lease.worker = w;
    lease.inShared = false;
    lease.decision = decision;
    lease.dispatchedAt = this.clock.now();
    lease.attempts++;
    this.running_++;
    this.table.take(w, lease.fn);
    // The owner sees the worker's package set as it was before this request (affinity metrics).
    lease.owner.dispatched(lease);
    this.table.routed(w, lease.fn);
    return true;
  }

  private reject(lease: Lease, reason: Rejection): true {
    lease.state = 'released';
    lease.worker = undefined;
    lease.owner.rejected(lease, reason);
    this.checkIdle();
    return true;
  }

  /** Into `w`'s queue, or the shared queue when `w` is undefined. */
  private enqueue(lease: Lease, w: Worker | undefined, front: boolean): true {
    const wasNew = lease.state === 'new';
    lease.state = 'waiting';
    lease.worker = w;
    lease.inShared = w === undefined;
    if (w === undefined) {
      if (front) this.shared.unshiftAll([lease]);
      else this.shared.push(lease);
      this.sharedCount++;
    } else {
      if (front) w.queue.unshiftAll([lease]);
      else w.queue.push(lease);
      w.queued++;
    }
    this.waiting_++;
    if (wasNew) this.track(lease);
    this.broker?.waiting(lease);
    return true;
  }

  /** Takes a waiting lease out of whichever queue holds it (the queue skips it lazily). */
  private unqueue(lease: Lease): void {
    if (lease.inShared) this.sharedCount--;
    else lease.worker!.queued--;
    this.waiting_--;
    lease.inShared = false;
    lease.worker = undefined;
  }

  private track(lease: Lease): void {
    const timeout = this.limits.queueTimeoutMs;
    lease.deadline = lease.admittedAt + timeout;
    let list = this.deadlines.get(timeout);
    if (list === undefined) {
      list = new Fifo<Lease>((l) => l.state === 'waiting');
      this.deadlines.set(timeout, list);
    }
    list.push(lease);
    if (lease.deadline < this.timerAt) this.arm(lease.deadline);
  }

  /**
   * Drops the leases that already left their queue from the front of each
   * deadline list. Without it a lease that waited stayed listed, and its
   * request, response and socket stayed in memory, until the timer for the
   * oldest deadline fired: up to queueTimeoutMs of traffic. Leases leave the
   * queues mostly in admission order, so the front is where they are.
   */
  private trimDeadlines(): void {
    for (const list of this.deadlines.values()) list.peek();
  }

  private arm(at: number): void {
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), this.expire);
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (const [timeout, list] of this.deadlines) {
      for (let lease = list.peek(); lease !== undefined; lease = list.peek()) {
        if (lease.deadline > now) {
          next = Math.min(next, lease.deadline);
          break;
        }
        list.shift();
        this.unqueue(lease);
        this.reject(lease, 'queue_timeout');
      }
      if (list.slots === 0 && timeout !== this.limits.queueTimeoutMs) this.deadlines.delete(timeout);
    }
    if (next < Infinity) this.arm(next);
  };

  /**
   * Serves queues while connections are free: `freed`'s own queue first, then
   * the shared queue. Re-entrant calls (a dispatch that fails synchronously and
   * releases) are folded into the running loop.
   */
  private pump(freed: Worker | undefined): void {
    if (this.pumping) {
      this.pumpAgain = true;
      if (freed !== undefined) this.serveOwnQueue(freed);
      return;
    }
    this.pumping = true;
    try {
      if (freed !== undefined) this.serveOwnQueue(freed);
      do {
        this.pumpAgain = false;
        this.serveShared();
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
    this.trimDeadlines();
  }

  private serveOwnQueue(w: Worker): void {
    while (w.queued > 0 && w.routable && w.inFlight < w.limit) {
      const lease = w.queue.shift()!;
      this.unqueue(lease);
      this.dispatch(lease, w, 'wait');
    }
  }

  private serveShared(): void {
    while (this.sharedCount > 0 && this.table.freeCount > 0) {
      if (!this.serveOneShared()) return;
    }
  }

  /**
   * Serves the first lease of the shared queue that can move now: dispatched
   * to a free worker, or moved to the queue of the full worker its policy
   * waits for. A lease whose chosen worker and that worker's queue are both
   * full keeps its place, and later leases that other workers can take go
   * past it (up to MAX_PASSED_OVER past one head), so a FIFO never idles a
   * worker because of its head. False when nothing can move now.
   */
  private serveOneShared(): boolean {
    const head = this.shared.peek()!;
    const end = head.passedOver >= MAX_PASSED_OVER ? 1 : Math.min(this.shared.slots, SCAN_SLOTS);
    let blocked = 0;
    let blockedFunctions: Set<string> | undefined;
    for (let i = 0; i < end && blocked <= SCAN_WINDOW; i++) {
      const lease = this.shared.at(i);
      if (lease === undefined || blockedFunctions?.has(lease.fn.name)) continue;
      const w = this.table.pick(lease.fn);
      if (w === undefined) return false;
      const free = w.inFlight < w.limit;
      if (this.triedOn(lease, w)) {
        blocked++;
        continue;
      }
      if (!free && w.queued >= this.limits.workerQueueLimit) {
        blocked++;
        (blockedFunctions ??= new Set()).add(lease.fn.name);
        continue;
      }
      if (lease !== head) head.passedOver++;
      this.shared.removeAt(i);
      if (free) {
        this.unqueue(lease);
        this.dispatch(lease, w, 'shared');
      } else {
        // The policy prefers to wait for this full worker: move the lease to its queue.
        this.sharedCount--;
        lease.inShared = false;
        lease.worker = w;
        w.queue.push(lease);
        w.queued++;
        this.broker?.waiting(lease);
      }
      return true;
    }
    return false;
  }
}

/** The worker in the table for a removed one that was added again (its connection freed there), else itself. */
function current(w: Worker): Worker {
  let now = w;
  while (now.removed && now.successor !== undefined) now = now.successor;
  return now;
}
