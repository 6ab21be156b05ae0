import type { LambdaInfo } from '../balancers/types.js';
import type { Worker } from './workers.js';

/** Why the scheduler answered a request itself instead of dispatching it. */
export type Rejection = 'queue_full' | 'queue_timeout' | 'no_healthy_worker' | 'shutting_down';

/**
 * How a placement went, for metrics: `home` the policy's preferred worker,
 * `spill` a worker other than home because the home was loaded, `wait` queued
 * for a full worker the policy chose, `shared` queued because no worker had a
 * free connection, `direct` a policy without a home (round-robin, ...).
 */
export type Decision = 'home' | 'spill' | 'wait' | 'shared' | 'direct';

/** What the scheduler tells the owner of a lease (the proxy's exchange, or the simulator's request). */
export interface LeaseOwner {
  /** The lease now holds a connection of `lease.worker`: send the request. */
  dispatched(lease: Lease): void;
  /** The request cannot be placed: answer the client with this error. The lease is already released. */
  rejected(lease: Lease, reason: Rejection): void;
}

/**
 * One request's claim on the cluster, from admission until it is released,
 * exactly once. The scheduler moves it through its states; every count the
 * proxy shows (in flight, waiting, per worker, per queue) is the number of
 * leases in the matching state.
 *
 *   new -> waiting (shared queue or a worker's queue) -> running on one worker -> released
 *   new -> running -> released;  running -> new (retry on another worker) -> ...
 *   new | waiting -> released (rejected, or cancelled because the client left)
 */
export class Lease {
  state: 'new' | 'waiting' | 'running' | 'released' = 'new';
  /** The worker running it (state running), or whose queue holds it (waiting there). */
  worker: Worker | undefined = undefined;
  /** True while it waits in the shared queue rather than a worker's queue. */
  inShared = false;
  /** Clock time it was admitted; its queue deadline counts from here. */
  readonly admittedAt: number;
  /** Clock time it was last dispatched (0: never). */
  dispatchedAt = 0;
  /** Clock time before which it must leave the queue, or be answered queue_timeout. */
  deadline = Infinity;
  decision: Decision = 'direct';
  /** Times it was dispatched (2 after a retry). */
  attempts = 0;
  /** Workers whose connection failed for this request (a retry never goes back to one); undefined: none. */
  tried: Worker[] | undefined = undefined;
  /** Later leases served past it while it headed the shared queue and could not be served (bounded). */
  passedOver = 0;

  constructor(
    readonly fn: LambdaInfo,
    readonly owner: LeaseOwner,
    now: number,
  ) {
    this.admittedAt = now;
  }

  /** Milliseconds spent waiting before the last dispatch (or until now, while waiting). */
  waitedMs(now: number): number {
    return (this.dispatchedAt > 0 ? this.dispatchedAt : now) - this.admittedAt;
  }
}
