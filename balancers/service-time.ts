import type { WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';

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

interface Learned {
  /** Clock time of the worker's last taken/dropped event. */
  at: number;
  /** In-flight count since then. */
  inFlight: number;
  /** Decayed integral of in-flight over time (request-milliseconds), up to the last completion. */
  area: number;
  /** The integral since the last completion, not yet decayed into `area`. */
  open: number;
  /** Decayed time with at least one request in flight, and its part since the last completion. */
  busy: number;
  openBusy: number;
  /** Decayed count of completions. */
  completions: number;
  /** Clock time of the last completion. */
  completedAt: number;
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
export class ServiceTimes implements WorkerIndex {
  private readonly byWorker = new Map<WorkerView, Learned>();
  private clusterArea = 0;
  private clusterOpen = 0;
  private clusterCompletions = 0;

  constructor(private readonly now: () => number) {}

  add(w: WorkerView): void {
    if (!this.byWorker.has(w)) this.byWorker.set(w, { at: this.now(), inFlight: w.inFlight, area: 0, open: 0, busy: 0, openBusy: 0, completions: 0, completedAt: -Infinity });
  }

  remove(w: WorkerView): void {
    this.byWorker.delete(w);
  }

  /** Brings the integral up to now at the count held since the last event; returns the worker's record. */
  private advance(w: WorkerView): Learned {
    let s = this.byWorker.get(w);
    if (s === undefined) {
      s = { at: this.now(), inFlight: w.inFlight, area: 0, open: 0, busy: 0, openBusy: 0, completions: 0, completedAt: -Infinity };
      this.byWorker.set(w, s);
      return s;
    }
    const now = this.now();
    const elapsed = now - s.at;
    if (elapsed > 0) {
      const added = s.inFlight * elapsed;
      s.open += added;
      if (s.inFlight > 0) s.openBusy += elapsed;
      this.clusterOpen += added;
    }
    s.at = now;
    return s;
  }

  /**
   * Any event on `w` (taken, dropped, up, down, changed): the integral is
   * brought up to now, and each fall of the in-flight count since the last
   * event is a completion.
   */
  update(w: WorkerView): void {
    const s = this.advance(w);
    const finished = s.inFlight - w.inFlight;
    s.inFlight = w.inFlight;
    for (let i = 0; i < finished; i++) this.completed(s);
  }

  private completed(s: Learned): void {
    // Decay first, then add what accrued since the last completion, so a
    // steady service time T is estimated as exactly T. Completions at one
    // instant share one decay: otherwise the area folded in by the first
    // would be decayed by the others and lockstep requests read short.
    const keep = 1 - 1 / SERVICE_MEMORY;
    const now = s.at;
    if (now === s.completedAt) {
      s.area += s.open;
      s.busy += s.openBusy;
      s.open = s.openBusy = 0;
      s.completions += 1;
    } else {
      s.area = s.area * keep + s.open;
      s.busy = s.busy * keep + s.openBusy;
      s.open = s.openBusy = 0;
      s.completions = s.completions * keep + 1;
      s.completedAt = now;
    }
    // The cluster's sums remember as many completions as SERVICE_MEMORY per worker.
    const clusterKeep = 1 - 1 / (SERVICE_MEMORY * Math.max(1, this.byWorker.size));
    this.clusterArea = this.clusterArea * clusterKeep + this.clusterOpen;
    this.clusterOpen = 0;
    this.clusterCompletions = this.clusterCompletions * clusterKeep + 1;
  }

  /** Mean ms a request spends on `w`; the cluster's when `w` has finished nothing; undefined when nothing has finished anywhere. */
  of(w: WorkerView): number | undefined {
    const s = this.byWorker.get(w);
    if (s !== undefined && s.completions > 0) return s.area / s.completions;
    return this.cluster();
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
    const service = this.of(w);
    if (service === undefined) return undefined;
    const s = this.byWorker.get(w);
    const busyLoad = s !== undefined && s.busy > 0 ? s.area / s.busy : 0;
    return service / Math.max(slotsOf(w), busyLoad);
  }

  /** Mean ms a request spends on a worker, over the cluster; undefined before the first completion. */
  cluster(): number | undefined {
    return this.clusterCompletions > 0 ? this.clusterArea / this.clusterCompletions : undefined;
  }
}
