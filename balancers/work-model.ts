import type { EvidenceSink, Learner, Observation } from './evidence.js';
import { SERVICE_MEMORY, slotsOf } from './service-time.js';
import type { LambdaInfo, WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';
import { WorkerRecords, type Dispatch, type WorkerRecord } from './worker-record.js';

/**
 * The worker as a processor-sharing server (the Linux scheduler time-slicing
 * sandboxes; pipbench's calibrated worker model): `c` cores (reported, else
 * its slots) shared by the `n` requests on it (this proxy's in flight plus
 * other proxies'), each advancing at min(1, c / n). What a request costs is
 * then its CPU work, not a wall time: a warm run is its import and handler
 * (tens to hundreds of ms), a cold run adds the installs of what the worker
 * lacks (seconds per package).
 *
 * Work is measured with the worker's processor-sharing virtual time: S(t)
 * grows at min(1, c / n(t)), the rate each request on the worker gets, so a
 * request that ran from t0 to t1 received S(t1) - S(t0) ms of CPU. A request
 * is classified when it is dispatched, from the live state: warm when the
 * worker's last report (or, for a worker that never reports, the table's set)
 * lists every package of the function; cold, with the packages it will
 * install, when it lacks some that no earlier request sent there lacked;
 * otherwise it joins installs under way (a report lists installed packages
 * only) and is not learned from. Completions are matched to dispatches per worker and
 * function in order: under processor sharing, requests of equal work finish
 * in the order they arrived.
 */

/** Cores a request shares on `w`: reported cores, else its slots. */
export function coresOf(w: WorkerView): number {
  return w.cores > 0 ? w.cores : slotsOf(w);
}

/**
 * What one more request of `workMs` costs on a processor-sharing worker with
 * `n` requests on `c` cores, as a multiple of `workMs`: its own time there,
 * workMs x max(1, (n + 1) / c), plus the delay it causes the others. Once
 * the n + 1 requests exceed the cores, each of the others that outlasts it
 * loses workMs / c (the capacity it takes), up to n of them.
 */
export function psStretch(n: number, c: number): number {
  const cores = c > 0 ? c : 1;
  const own = Math.max(1, (n + 1) / cores);
  const others = Math.min(n, Math.max(0, n + 1 - cores)) / cores;
  return own + others;
}

const KEEP = 1 - 1 / SERVICE_MEMORY;

/**
 * Learns, over the cluster, the CPU work of a warm request and the extra work
 * per package a cold request installs, from completions (work does not depend
 * on the worker: cores do, and the cost model divides by them).
 */
export class WorkModel implements WorkerIndex, Learner {
  /** Decayed sums over warm completions. */
  private warmWork = 0;
  private warmCount = 0;
  /** Decayed sums over cold completions: work, packages missing at dispatch, count. */
  private coldWork = 0;
  private coldMissing = 0;
  private coldCount = 0;

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

  private state(w: WorkerView): WorkerRecord {
    return this.records.of(w);
  }

  /** Brings the worker's virtual time up to now at the sharing since its last event. */
  private advance(st: WorkerRecord, w: WorkerView): void {
    const now = this.now();
    const elapsed = now - st.workAt;
    if (elapsed > 0 && st.n > 0) st.s += elapsed * Math.min(1, coresOf(w) / st.n);
    st.workAt = now;
  }

  update(w: WorkerView): void {
    const st = this.state(w);
    this.advance(st, w);
    st.n = w.inFlight + w.external;
  }

  /** A request of `fn` was dispatched to `w` (before the table adds its packages to the worker's set). */
  taken(w: WorkerView, fn?: LambdaInfo): void {
    const st = this.state(w);
    this.advance(st, w);
    st.n = w.inFlight + w.external;
    if (fn === undefined) return;
    const missing = this.classify(st, w, fn);
    if (this.share !== undefined) this.share({ kind: 'dispatch', worker: w.id, fn: fn.name });
    const d: Dispatch = { s0: st.s, missing };
    if (d.missing > 0) {
      st.coldOpen++;
      st.coldOpenS0 += d.s0;
      st.coldOpenMissing += d.missing;
    }
    const list = st.dispatches.get(fn.name);
    if (list === undefined) st.dispatches.set(fn.name, [d]);
    else list.push(d);
  }

  /**
   * What a request of `fn` dispatched to `w` now installs: the packages it
   * lacks that no earlier request sent there lacked (they are installing from
   * now on), -1 when it joins an install under way (not learned from), 0 warm.
   */
  private classify(st: WorkerRecord, w: WorkerView, fn: LambdaInfo): number {
    if (st.workSeen !== w.packages) {
      // A report replaced the set since the last dispatch here: this is what the worker says it has installed.
      if (st.workSeen !== undefined) {
        st.workConfirmed = new Set(w.packages);
        for (const p of st.workConfirmed) st.installing.delete(p);
      }
      st.workSeen = w.packages;
    }
    const held = st.workConfirmed ?? w.packages;
    let missing = 0;
    let joining = 0;
    for (const p of fn.packages) {
      if (held.has(p)) continue;
      if (st.installing.has(p)) joining++;
      else {
        missing++;
        if (st.workConfirmed !== undefined) st.installing.add(p);
      }
    }
    return joining > 0 ? -1 : missing;
  }

  /** A request of `fn` on `w` ended. */
  dropped(w: WorkerView, fn?: LambdaInfo): void {
    const st = this.state(w);
    this.advance(st, w);
    st.n = w.inFlight + w.external;
    if (fn === undefined) return;
    const list = st.dispatches.get(fn.name);
    const d = list?.shift();
    if (list !== undefined && list.length === 0) st.dispatches.delete(fn.name);
    if (d === undefined || d.missing < 0) return;
    if (d.missing > 0) {
      // Back to exact zeros when none is open, so float residue never builds up.
      if (--st.coldOpen === 0) st.coldOpenS0 = st.coldOpenMissing = 0;
      else {
        st.coldOpenS0 -= d.s0;
        st.coldOpenMissing -= d.missing;
      }
    }
    const work = st.s - d.s0;
    if (this.share !== undefined) this.share({ kind: 'work', work, missing: d.missing });
    else this.fold(work, d.missing);
  }

  /** A completion one of the proxy's processes measured (this one's too), or another process's dispatch, as the primary relays them. */
  learn(o: Observation, w: WorkerView | undefined, fn: LambdaInfo | undefined, own: boolean): void {
    if (o.kind === 'work') this.fold(o.work, o.missing);
    // Another process's dispatch: what it installs there is under way for this process's requests too.
    else if (o.kind === 'dispatch' && !own && w !== undefined && fn !== undefined) this.classify(this.state(w), w, fn);
  }

  /** One completed request: `work` CPU ms, `missing` packages it lacked at dispatch (0: warm). */
  private fold(work: number, missing: number): void {
    if (missing === 0) {
      this.warmWork = this.warmWork * KEEP + work;
      this.warmCount = this.warmCount * KEEP + 1;
    } else {
      this.coldWork = this.coldWork * KEEP + work;
      this.coldMissing = this.coldMissing * KEEP + missing;
      this.coldCount = this.coldCount * KEEP + 1;
    }
  }

  /** Mean CPU ms of a warm request; undefined before the first warm completion. */
  warmMs(): number | undefined {
    return this.warmCount > 0 ? this.warmOr0() : undefined;
  }

  /** warmMs, 0 before the first warm completion (a plain number: see `found`). */
  warmOr0(): number {
    return this.warmCount > 0 ? this.warmWork / this.warmCount : 0;
  }

  /**
   * Extra CPU ms a cold request spends per package it lacks: completed cold
   * requests' work beyond a warm run, per package they lacked. Cold requests
   * still running on `candidates` have received at least their attained work,
   * so that is a lower bound too (early on, before any cold start finished,
   * it is the only evidence). Undefined with no evidence at all.
   */
  perPackageMs(candidates: readonly WorkerView[] = []): number | undefined {
    const records: WorkerRecord[] = [];
    for (const w of candidates) {
      const st = this.records.get(w);
      if (st !== undefined) records.push(st);
    }
    return this.perPackageOf(records, records.length, undefined) ? this.found[0] : undefined;
  }

  /**
   * Where perPackageOf leaves its estimate. A pick calls it for every
   * request, and V8 allocates a heap number for each `number | undefined`
   * result, and for each fractional number returned from a call it does not
   * inline (cost-aware's pick allocated about 290 bytes of them each time).
   */
  readonly found = new Float64Array(1);

  /**
   * perPackageMs over the first `count` of `candidates`, and `extra`, whose
   * records the caller holds (records of this model's store): true when
   * there is evidence, the estimate then in `found[0]`.
   */
  perPackageOf(candidates: readonly WorkerRecord[], count: number, extra: WorkerRecord | undefined): boolean {
    const warm = this.warmOr0();
    let evidence = false;
    let estimate = 0;
    if (this.coldCount > 0 && this.coldMissing > 0) {
      estimate = Math.max(0, (this.coldWork - this.coldCount * warm) / this.coldMissing);
      evidence = true;
    }
    let attained = 0;
    let missing = 0;
    let opened = 0;
    const now = this.now();
    for (let i = 0; i <= count; i++) {
      const st = i < count ? candidates[i] : extra;
      if (st === undefined || st.coldOpen === 0) continue;
      const s = st.n > 0 ? st.s + (now - st.workAt) * Math.min(1, coresOf(st.view) / st.n) : st.s;
      // Each open cold dispatch has attained s - s0.
      attained += st.coldOpen * s - st.coldOpenS0;
      missing += st.coldOpenMissing;
      opened += st.coldOpen;
    }
    if (missing > 0) {
      const bound = Math.max(0, (attained - opened * warm) / missing);
      estimate = evidence ? Math.max(estimate, bound) : bound;
      evidence = true;
    }
    this.found[0] = estimate;
    return evidence;
  }
}
