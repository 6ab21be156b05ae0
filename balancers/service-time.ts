import type { EvidenceSink, Learner, Observation } from './evidence.js';
import type { WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';
import { WorkerRecords, type WorkerRecord } from './worker-record.js';

/**
 * Completions a service-time estimate remembers: each completion weighs the
 * past by (1 - 1/SERVICE_MEMORY), so after about this many completions at a
 * new service time the estimate has moved most of the way there. A learning
 * rate, not a service time: the time itself is always measured.
 */
export const SERVICE_MEMORY = 16;

/**
 * Slots a worker serves at once: the cores it reported, within its connection
 * limit; the connection limit when it reports none (the operator's word on
 * what it runs at once).
 */
export function slotsOf(w: WorkerView): number {
  const limit = Math.max(1, w.limit);
  return w.cores > 0 ? Math.max(1, Math.min(w.cores, limit)) : limit;
}

/**
 * Mean time a request spends on each worker, learned online from the table's
 * taken/dropped events by Little's law: time-in-worker = (integral of
 * in-flight over time) / completions, both decayed per completion so the
 * estimate follows a worker whose service time changes. Needs no request
 * identity, only the events and the clock. A cluster-wide estimate (the same
 * sums over every worker) stands in for a worker that has not finished
 * anything yet.
 */
export class ServiceTimes implements WorkerIndex, Learner {
  private clusterArea = 0;
  private clusterOpen = 0;
  private clusterCompletions = 0;
  /** Completions of the requests this model saw, and completions folded into its estimates (with `share`: every process's). */
  seen = 0;
  learned = 0;

  /**
   * `records`: shared with the policy's other models, so a pick reaches one
   * record per worker. `share` (a proxy of several processes): where each
   * completion goes instead of into the estimates; it comes back through
   * `learn`, with every other process's, in one order for all.
   */
  constructor(
    private readonly now: () => number,
    private readonly records: WorkerRecords = new WorkerRecords(now),
    private readonly share?: EvidenceSink,
  ) {}

  add(w: WorkerView): void {
    this.records.of(w);
  }

  remove(w: WorkerView): void {
    this.records.delete(w);
  }

  /** Brings the integral up to now at the count held since the last event; returns the worker's record. */
  private advance(w: WorkerView): WorkerRecord {
    let s = this.records.get(w);
    if (s === undefined) return this.records.of(w);
    const now = this.now();
    const elapsed = now - s.svcAt;
    if (elapsed > 0) {
      const added = s.svcInFlight * elapsed;
      s.openArea += added;
      if (s.svcInFlight > 0) s.openBusy += elapsed;
      this.clusterOpen += added;
    }
    s.svcAt = now;
    return s;
  }

  /**
   * Any event on `w` (taken, dropped, up, down, changed): the integral is
   * brought up to now, and each fall of the in-flight count since the last
   * event is a completion.
   */
  update(w: WorkerView): void {
    const s = this.advance(w);
    const finished = s.svcInFlight - w.inFlight;
    s.svcInFlight = w.inFlight;
    for (let i = 0; i < finished; i++) this.completed(s);
  }

  private completed(s: WorkerRecord): void {
    // Completions at one instant share one decay: otherwise the area folded in
    // by the first would be decayed by the others and lockstep requests read short.
    const joint = s.svcAt === s.completedAt;
    const area = s.openArea;
    const busy = s.openBusy;
    const clusterArea = this.clusterOpen;
    s.openArea = s.openBusy = 0;
    this.clusterOpen = 0;
    if (!joint) s.completedAt = s.svcAt;
    this.seen++;
    if (this.share !== undefined) this.share({ kind: 'service', worker: s.view.id, area, busy, clusterArea, joint });
    else this.fold(s, area, busy, clusterArea, joint);
  }

  /** A completion one of the proxy's processes observed (this one's too), as the primary relays them. */
  learn(o: Observation, w: WorkerView | undefined): void {
    if (o.kind !== 'service' || w === undefined) return;
    const s = this.records.get(w);
    if (s !== undefined) this.fold(s, o.area, o.busy, o.clusterArea, o.joint);
  }

  /**
   * One completion on `s`'s worker: decay first, then add what accrued since
   * the last completion, so a steady service time T is estimated as exactly T.
   */
  private fold(s: WorkerRecord, area: number, busy: number, clusterArea: number, joint: boolean): void {
    const keep = 1 - 1 / SERVICE_MEMORY;
    this.learned++;
    if (joint) {
      s.area += area;
      s.busy += busy;
      s.completions += 1;
    } else {
      s.area = s.area * keep + area;
      s.busy = s.busy * keep + busy;
      s.completions = s.completions * keep + 1;
    }
    // The cluster's sums remember as many completions as SERVICE_MEMORY per worker.
    const clusterKeep = 1 - 1 / (SERVICE_MEMORY * Math.max(1, this.records.size));
    this.clusterArea = this.clusterArea * clusterKeep + clusterArea;
    this.clusterCompletions = this.clusterCompletions * clusterKeep + 1;
  }

  /** Mean ms a request spends on `w`; the cluster's when `w` has finished nothing; undefined when nothing has finished anywhere. */
  of(w: WorkerView): number | undefined {
    return this.ofRecord(this.records.get(w));
  }

  private ofRecord(s: WorkerRecord | undefined): number | undefined {
    return this.hasService(s) ? this.serviceOr0(s) : undefined;
  }

  /** Whether anything has completed: on the worker of record `s`, or anywhere. */
  private hasService(s: WorkerRecord | undefined): boolean {
    return (s !== undefined && s.completions > 0) || this.clusterCompletions > 0;
  }

  /** The mean ms a request spends on the worker of record `s`: its own, else the cluster's, else 0. */
  private serviceOr0(s: WorkerRecord | undefined): number {
    if (s !== undefined && s.completions > 0) return s.area / s.completions;
    return this.clusterCompletions > 0 ? this.clusterArea / this.clusterCompletions : 0;
  }

  /**
   * Mean ms between completions on `w` when it is saturated: the time a
   * request ahead in line holds things up. By Little's law the worker drains
   * L / service requests per ms at an average of L in flight while busy; a
   * worker that was never busy beyond its slots would drain `slots` at once,
   * so L counts as at least its slots. Under first-come-first-served cores
   * this is service / slots; under processor sharing, service / L.
   */
  drainMs(w: WorkerView): number | undefined {
    return this.drainOf(w, this.records.get(w));
  }

  /** drainMs of a worker whose record the caller holds (undefined: none yet). */
  drainOf(w: WorkerView, s: WorkerRecord | undefined): number | undefined {
    return this.hasService(s) ? this.drainOr0(w, s) : undefined;
  }

  /**
   * drainOf, 0 before anything has completed. A plain number, for the pick:
   * V8 allocates a heap number for each `number | undefined` result.
   */
  drainOr0(w: WorkerView, s: WorkerRecord | undefined): number {
    // hasService, serviceOr0 and the busy load, each of the record's numbers read once.
    const completions = s !== undefined ? s.completions : 0;
    const area = s !== undefined ? s.area : 0;
    let service: number;
    if (completions > 0) service = area / completions;
    else if (this.clusterCompletions > 0) service = this.clusterArea / this.clusterCompletions;
    else return 0;
    const busy = s !== undefined ? s.busy : 0;
    const busyLoad = busy > 0 ? area / busy : 0;
    return service / Math.max(slotsOf(w), busyLoad);
  }

  /** Mean ms a request spends on a worker, over the cluster; undefined before the first completion. */
  cluster(): number | undefined {
    return this.clusterCompletions > 0 ? this.clusterOr(0) : undefined;
  }

  /** cluster(), `fallback` before the first completion (a plain number, as drainOr0). */
  clusterOr(fallback: number): number {
    return this.clusterCompletions > 0 ? this.clusterArea / this.clusterCompletions : fallback;
  }
}
