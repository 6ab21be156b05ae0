// One picture of the workers in every process: the primary's table records each
// change it applies, and every serving process applies the same changes, in the
// same order, to its own table (with its share of each connection limit).
import type { Observation } from '../balancers/evidence.js';
import type { Balancer, LambdaInfo } from '../balancers/types.js';
import type { Clock } from './clock.js';
import { WorkerTable, type TableOptions, type Worker, type WorkerReport } from './workers.js';

/** A worker as it joins the table; `limit` is the whole connection limit, before any process's share. */
export interface WorkerEntry {
  readonly id: string;
  /** The origin connected to. */
  readonly url: string;
  /** The address as configured. */
  readonly address: string;
  readonly weight: number;
  readonly limit: number;
  /** Out of routing until its first status check passes (the primary polls; its verdict follows). */
  readonly held?: boolean;
}

/** One change of the table, as the primary applied it. */
export type TableChange =
  | { readonly kind: 'add'; readonly workers: readonly WorkerEntry[] }
  | { readonly kind: 'remove'; readonly ids: readonly string[] }
  | { readonly kind: 'drain'; readonly id: string }
  | { readonly kind: 'undrain'; readonly id: string }
  /**
   * New weights and limits, as one batch (a policy re-places them in one pass);
   * `parts`: each process's part of the limit by index, where the primary shares connections by need.
   */
  | { readonly kind: 'update'; readonly changes: readonly { readonly id: string; readonly weight: number; readonly limit: number; readonly parts?: readonly number[] }[] }
  /** The active checks' verdict changed (up or down, and why). */
  | { readonly kind: 'verdict'; readonly id: string; readonly up: boolean; readonly why: string }
  /** The worker's live state (packages held, its in-flight count, cores). */
  | { readonly kind: 'report'; readonly id: string; readonly report: WorkerReport }
  /** A process saw the worker fail (passive health): every process leaves it out for its back-off. */
  | { readonly kind: 'eject'; readonly id: string; readonly reason: string };

/** A worker's whole state, for a process that starts after the table was built. */
export interface WorkerSnapshot extends WorkerEntry {
  readonly up: boolean;
  readonly why: string;
  readonly draining: boolean;
  readonly report?: WorkerReport;
  /** The receiving process's part of `limit`, where it is not its even share (the primary's ledger: a process joins with what is free of it). */
  readonly share?: number;
}

function entryOf(w: Worker): WorkerEntry {
  return { id: w.id, url: w.origin, address: w.url, weight: w.weight, limit: w.limit, ...(w.awaitingCheck ? { held: true } : {}) };
}

/**
 * The primary's table: the control plane (config, admin API, DNS, status polls)
 * changes it as it would a single proxy's, and each change it applies goes to
 * `record`. It serves no traffic, so its counts stay 0 and a retired worker
 * leaves at once (each process still lets its running requests finish).
 */
export class JournalingTable extends WorkerTable {
  constructor(balancer: Balancer, clock: Clock, options: TableOptions, private readonly record: (change: TableChange) => void) {
    super(balancer, clock, options);
  }

  override add(specs: Parameters<WorkerTable['add']>[0], hold = true): Worker[] {
    const added = super.add(specs, hold);
    if (added.length > 0) this.record({ kind: 'add', workers: added.map(entryOf) });
    return added;
  }

  override remove(workers: readonly Worker[]): void {
    const ids = workers.filter((w) => this.get(w.id) === w).map((w) => w.id);
    super.remove(workers);
    if (ids.length > 0) this.record({ kind: 'remove', ids });
  }

  override drain(w: Worker): void {
    super.drain(w);
    this.record({ kind: 'drain', id: w.id });
  }

  override undrain(w: Worker): void {
    super.undrain(w);
    this.record({ kind: 'undrain', id: w.id });
  }

  override updateMany(changes: Parameters<WorkerTable['updateMany']>[0]): void {
    const applied = changes.filter(({ worker: w, weight, limit }) => !w.removed && (w.weight !== weight || w.limit !== limit)).map(({ worker, weight, limit }) => ({ id: worker.id, weight, limit }));
    super.updateMany(changes);
    if (applied.length > 0) this.record({ kind: 'update', changes: applied });
  }

  override trustUnchecked(): void {
    const before = this.workers.map((w) => `${String(w.checkUp)} ${w.checkReason}`);
    super.trustUnchecked();
    this.workers.forEach((w, i) => {
      if (`${String(w.checkUp)} ${w.checkReason}` !== before[i]) this.record({ kind: 'verdict', id: w.id, up: w.checkUp, why: w.checkReason });
    });
  }

  override checked(w: Worker, ok: boolean, why: string): void {
    const before = `${String(w.checkUp)} ${w.checkReason}`;
    super.checked(w, ok, why);
    if (!w.removed && `${String(w.checkUp)} ${w.checkReason}` !== before) this.record({ kind: 'verdict', id: w.id, up: w.checkUp, why: w.checkReason });
  }

  override reported(w: Worker, report: WorkerReport): void {
    super.reported(w, report);
    if (!w.removed) this.record({ kind: 'report', id: w.id, report });
  }

  /** Every worker's state, for a process that joins now. */
  snapshot(): WorkerSnapshot[] {
    return this.workers.map((w) => {
      const report: WorkerReport = {
        ...(w.reportsPackages ? { packages: [...w.packages] } : {}),
        ...(w.reportedInFlight === undefined ? {} : { inFlight: w.reportedInFlight }),
        ...(w.cores > 0 ? { cores: w.cores } : {}),
      };
      return { ...entryOf(w), up: w.checkUp, why: w.checkReason, draining: w.draining, ...(Object.keys(report).length > 0 ? { report } : {}) };
    });
  }
}

/**
 * A serving process's table: changed only by the primary's changes (applied
 * with this process's share of each limit), and by its own requests' failures,
 * which it ejects at once and reports to `ejected` so that every process
 * leaves the worker out.
 */
export class FollowingTable extends WorkerTable {
  private applying = false;

  constructor(
    balancer: Balancer,
    clock: Clock,
    options: TableOptions,
    /** This process's part of a worker's limit: its share, or its entry in `parts` where the primary gave them. */
    private readonly share: (limit: number, id: string, parts?: readonly number[]) => number,
    private readonly ejected: (id: string, reason: string) => void,
  ) {
    super(balancer, clock, options);
  }

  override eject(w: Worker, reason: string): void {
    const was = w.ejected;
    super.eject(w, reason);
    if (!this.applying && !was && w.ejected) this.ejected(w.id, reason);
  }

  /** Builds the table from the primary's snapshot (a process that starts or restarts). */
  restore(workers: readonly WorkerSnapshot[]): void {
    this.apply({ kind: 'add', workers });
    const shares = [];
    for (const s of workers) {
      const w = this.get(s.id)!;
      if (s.share !== undefined && s.share !== w.limit) shares.push({ worker: w, weight: w.weight, limit: s.share });
      if (!s.up || s.why !== '') this.setVerdict(w, s.up, s.why);
      if (s.draining) this.drain(w);
      if (s.report !== undefined) this.reported(w, s.report);
    }
    this.updateMany(shares);
  }

  /**
   * What the policies of the proxy's processes observed (`own`: this one's,
   * come back), for this one's to learn from; workers it no longer has and
   * functions `functionOf` does not know are skipped. Another process's
   * dispatch also adds the function's packages to the worker's set, as this
   * process's own do (between reports, the table's guess).
   */
  learn(observations: readonly Observation[], own: boolean, functionOf: (name: string) => LambdaInfo | undefined): void {
    const source = { own, workerOf: (id: string) => this.get(id), functionOf };
    this.balancer.learn?.(observations, source);
    if (own) return;
    for (const o of observations) {
      if (o.kind !== 'dispatch') continue;
      const w = this.get(o.worker);
      const fn = w === undefined ? undefined : functionOf(o.fn);
      if (w !== undefined && fn !== undefined) this.routed(w, fn);
    }
  }

  /** Applies one of the primary's changes; changes naming a worker the table no longer has are moot. */
  apply(change: TableChange): void {
    this.applying = true;
    try {
      if (change.kind === 'add') {
        // The primary decides what waits for a first check; here a held worker is simply down until its verdict.
        const added = this.add(change.workers.map((e) => ({ id: e.id, url: e.url, address: e.address, weight: e.weight, connections: this.share(e.limit, e.id) })), false);
        const held = new Set(change.workers.filter((e) => e.held === true).map((e) => e.id));
        for (const w of added) if (held.has(w.id)) this.setVerdict(w, false, 'new: not routed until its first status check passes');
        return;
      }
      if (change.kind === 'update') {
        const changes = [];
        for (const c of change.changes) {
          const w = this.get(c.id);
          if (w !== undefined) changes.push({ worker: w, weight: c.weight, limit: this.share(c.limit, w.id, c.parts) });
        }
        this.updateMany(changes);
        return;
      }
      if (change.kind === 'remove') {
        this.remove(change.ids.map((id) => this.get(id)).filter((w): w is Worker => w !== undefined));
        return;
      }
      const w = this.get(change.id);
      if (w === undefined) return;
      switch (change.kind) {
        case 'drain': return this.drain(w);
        case 'undrain': return this.undrain(w);
        case 'verdict': return this.setVerdict(w, change.up, change.why);
        case 'report': return this.reported(w, change.report);
        case 'eject': return this.eject(w, change.reason);
      }
    } finally {
      this.applying = false;
    }
  }
}
