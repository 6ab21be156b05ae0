import { ExactTotals, FIXED_POINT } from './exact-totals.js';
import { FreeHeap } from './free-heap.js';
import { HashRing } from './hash-ring.js';
import { balanceFactorSetting } from './hashing-bounded.js';
import { packageLoadMs } from './load-cost.js';
import { murmur3 } from './murmur3.js';
import { routingKey } from './routing-key.js';
import { ServiceTimes, slotsOf } from './service-time.js';
import { coresOf, psStretch, WorkModel } from './work-model.js';
import { numberSetting } from './settings.js';
import type { Balancer, LambdaInfo, Policy, PolicyEnv, WorkerView } from './types.js';
import { eventHooks, type WorkerIndex } from './worker-index.js';
import { WorkerRecords, type WorkerRecord } from './worker-record.js';

export const candidatesSetting = numberSetting(
  'costCandidates',
  'cost-aware: distinct workers taken clockwise from the function\'s key on the hash ring as candidates (the least-loaded free worker is always one more).',
  3,
  1,
  64,
  false,
);

export const packageTtlSetting = numberSetting(
  'packageTtlMs',
  'cost-aware: how long a package a worker has not confirmed in a status report counts as held after its last use there, until evictions seen in workers\' reports teach a better value.',
  600_000,
  0,
  2 ** 31 - 1, // as every millisecond key of the config
  true,
);

/** How fast the learned package lifetime follows what reports show: each observation moves it 1/8 of the way. */
const TTL_LEARNING_RATE = 1 / 8;

/**
 * Slots (x weight) and in-flight over the routable workers, re-read on each of
 * a worker's events, so a report of new cores counts from the worker's next
 * event on. The bounded-load guard divides one by the other. Exact integer
 * sums (capacity in 1/FIXED_POINT units), so no report can poison them.
 */
class CapacityTotals extends ExactTotals {
  constructor() {
    super(
      (w) => (w.routable ? capacityOf(w) : 0),
      (w) => (w.routable ? w.inFlight : 0),
      FIXED_POINT,
    );
  }

  get capacity(): number {
    return this.a;
  }

  get inFlight(): number {
    return this.b;
  }
}

/** A worker's share of the cluster: its slots, scaled by the operator's weight. */
function capacityOf(w: WorkerView): number {
  return w.weight > 0 ? slotsOf(w) * w.weight : 0;
}

/**
 * Everything the policy learns and keeps, apart from the ring and the free
 * heap: its models share one record per worker, which a pick reaches by the
 * worker's ring slot, with no look-up per candidate.
 */
export class CostModel implements WorkerIndex {
  readonly records: WorkerRecords;
  readonly serviceTimes: ServiceTimes;
  readonly work: WorkModel;
  readonly totals = new CapacityTotals();
  /** Records by ring slot. */
  private readonly bySlot: (WorkerRecord | undefined)[] = [];
  /** Learned: how long an unused package stays on a worker. */
  ttlMs: number;
  /** Lifetimes observed in reports (evictions and survivals), for describe(). */
  ttlObservations = 0;

  /** `ring` places the workers first on every event, so a record can follow its worker's slot. */
  constructor(
    private readonly env: PolicyEnv,
    initialTtlMs: number,
    private readonly ring: HashRing,
  ) {
    this.records = new WorkerRecords(env.now);
    this.serviceTimes = new ServiceTimes(env.now, this.records);
    this.work = new WorkModel(env.now, this.records);
    this.ttlMs = initialTtlMs;
  }

  add(w: WorkerView): void {
    this.serviceTimes.add(w);
    this.work.add(w);
    this.totals.add(w);
    this.place(this.records.of(w));
  }

  remove(w: WorkerView): void {
    const r = this.records.get(w);
    if (r !== undefined && r.slot >= 0 && this.bySlot[r.slot] === r) this.bySlot[r.slot] = undefined;
    this.serviceTimes.remove(w);
    this.work.remove(w);
    this.totals.remove(w);
  }

  update(w: WorkerView): void {
    this.serviceTimes.update(w);
    this.work.update(w);
    this.totals.update(w);
    // A weight change places the worker on the ring again, perhaps in another slot.
    const r = this.records.get(w);
    if (r !== undefined) this.place(r);
  }

  taken(w: WorkerView, fn?: LambdaInfo): void {
    this.serviceTimes.update(w);
    this.work.taken(w, fn);
    this.totals.update(w);
  }

  dropped(w: WorkerView, fn?: LambdaInfo): void {
    this.serviceTimes.update(w);
    this.work.dropped(w, fn);
    this.totals.update(w);
  }

  /** Files the record under its worker's current ring slot. */
  private place(r: WorkerRecord): void {
    const slot = this.ring.slotIndex(r.view) ?? -1;
    if (slot === r.slot) return;
    if (r.slot >= 0 && this.bySlot[r.slot] === r) this.bySlot[r.slot] = undefined;
    r.slot = slot;
    if (slot >= 0) this.bySlot[slot] = r;
  }

  /** The record of the worker in ring slot `slot`. */
  atSlot(slot: number): WorkerRecord | undefined {
    return this.bySlot[slot];
  }

  /** The worker's record (one look-up: for the free-heap fallback, not per candidate). */
  recordOf(w: WorkerView): WorkerRecord {
    return this.records.of(w);
  }

  /** The worker's record, first taking in a report that replaced its package set since the last look. */
  private holdingsOf(r: WorkerRecord, now: number): WorkerRecord {
    if (r.heldSeen !== r.view.packages) this.takeReport(r, r.view.packages, now);
    return r;
  }

  /**
   * A status report replaced the worker's set. A package last used at t that
   * the worker held at its previous report and no longer lists was evicted
   * after about now - t unused; one still listed though unused for longer than
   * the TTL shows the TTL too short. Both move the TTL.
   */
  private takeReport(h: WorkerRecord, reported: ReadonlySet<string>, now: number): void {
    for (const [p, t] of h.lastUsed) {
      const idle = now - t;
      if (!reported.has(p)) {
        // Listed before and gone now: evicted. Never listed since it was routed here: its install
        // may still be under way (a report lists installed packages only), so it stays until the TTL.
        if (h.heldConfirmed.has(p)) {
          this.learnTtl(idle);
          h.lastUsed.delete(p);
        } else if (idle > this.ttlMs) {
          h.lastUsed.delete(p);
        }
      } else if (idle > this.ttlMs) {
        this.learnTtl(idle);
      }
    }
    h.heldSeen = reported;
    h.heldConfirmed = new Set(reported);
    h.confirmedAt = now;
  }

  private learnTtl(lifetimeMs: number): void {
    this.ttlMs += (Math.max(0, lifetimeMs) - this.ttlMs) * TTL_LEARNING_RATE;
    this.ttlObservations++;
  }

  /**
   * Whether `w` still holds package `p`: listed in its set, and seen there
   * (last report, or last use) within the TTL. A package the table added on
   * routing but no report confirmed ages from its last use, as the worker's
   * cache would evict it.
   */
  holds(w: WorkerView, p: string, now: number): boolean {
    return this.heldIn(this.holdingsOf(this.records.of(w), now), p, now);
  }

  private heldIn(h: WorkerRecord, p: string, now: number): boolean {
    // Not in the worker's set: held only while routed here and not yet listed by a report (installing).
    if (!h.view.packages.has(p)) return h.lastUsed.has(p) && !h.heldConfirmed.has(p) && now - (h.lastUsed.get(p) as number) <= this.ttlMs;
    let evidence = h.lastUsed.get(p) ?? -Infinity;
    if (h.confirmedAt > evidence && (h.heldConfirmed.has(p) || evidence === -Infinity)) evidence = h.confirmedAt;
    return now - evidence <= this.ttlMs;
  }

  /** Load time of the function's packages `r`'s worker lacks, in ms. */
  missMs(fn: LambdaInfo, r: WorkerRecord, now: number, coldUnitMs: number): number {
    let sum = 0;
    const pkgs = fn.packages;
    const h = this.holdingsOf(r, now);
    for (let i = 0; i < pkgs.length; i++) {
      const p = pkgs[i];
      if (!this.heldIn(h, p, now)) sum += packageLoadMs(this.env, fn, p, coldUnitMs);
    }
    return sum;
  }

  /** Expected ms until a request sent to `r`'s worker now gets a slot: the requests ahead of it beyond its slots, each holding it up one drain interval. */
  waitMs(r: WorkerRecord): number {
    const w = r.view;
    const ahead = w.inFlight + w.queued - slotsOf(w) + 1;
    if (ahead <= 0) return 0;
    return ahead * (this.serviceTimes.drainOf(w, r) ?? 0);
  }

  /**
   * What sending `fn` to `r`'s worker costs, in ms: the wait for a slot, plus
   * the load time of what it lacks, stretched by the work already there.
   * Loading holds CPU the requests on the worker share (or a slot they queue
   * for), so each of them is held up too: a cold start on a worker with p
   * pending over s slots costs about load x (1 + p / s).
   */
  costMs(fn: LambdaInfo, r: WorkerRecord, now: number, coldUnitMs: number): number {
    const w = r.view;
    const miss = this.missMs(fn, r, now, coldUnitMs);
    const wait = this.waitMs(r);
    return miss === 0 ? wait : wait + miss * (1 + (w.inFlight + w.queued) / slotsOf(w));
  }

  /**
   * The processor-sharing cost of sending `fn` to `r`'s worker, in CPU ms x
   * stretch: (warm work + the load of what it lacks) x psStretch(pending,
   * cores): the request's own time there plus the delay it causes the
   * requests already there. `warmMs` 0 when no warm run has been measured yet.
   */
  psCostMs(fn: LambdaInfo, r: WorkerRecord, now: number, warmMs: number, perPackageMs: number): number {
    const w = r.view;
    const miss = this.missMs(fn, r, now, perPackageMs * fn.packages.length);
    // Beyond the connection limit a request waits in the worker's queue for a connection, first come
    // first served: one completion (of any kind, every drain interval) per request ahead of it.
    const ahead = w.inFlight + w.queued - w.limit + 1;
    const connectionWait = ahead > 0 ? ahead * (this.serviceTimes.drainOf(w, r) ?? 0) : 0;
    return connectionWait + (warmMs + miss) * psStretch(w.inFlight + w.external, coresOf(w));
  }

  /** Requests were sent to `r`'s worker needing these packages. */
  used(fn: LambdaInfo, r: WorkerRecord, now: number): void {
    const h = this.holdingsOf(r, now);
    for (const p of fn.packages) h.lastUsed.set(p, now);
  }
}

/**
 * `cost-aware`: each invocation goes where it costs the cluster least: its
 * work there (a warm run plus the load of the packages the worker lacks)
 * stretched by the worker's processor sharing, plus any wait for a
 * connection, over a consistent-hash shortlist plus the least-loaded free
 * worker; until a cold start has been seen, the slot model with a
 * bounded-load guard. The model and its reasoning: balancers/README.md.
 */
export const costAwarePolicy: Policy = {
  name: 'cost-aware',
  settings: [candidatesSetting, balanceFactorSetting, packageTtlSetting],
  create(settings, env): Balancer {
    const candidateCount = Math.round(candidatesSetting.parse(settings.costCandidates ?? candidatesSetting.default) as number);
    const balanceFactor = balanceFactorSetting.parse(settings.balanceFactor ?? balanceFactorSetting.default) as number;
    const initialTtl = packageTtlSetting.parse(settings.packageTtlMs ?? packageTtlSetting.default) as number;
    const ring = new HashRing();
    const walker = ring.walker();
    const free = new FreeHeap('weighted-least-recent');
    const model = new CostModel(env, initialTtl, ring);
    const shortlist: WorkerRecord[] = [];

    /** The records of the ring's first `candidateCount` routable workers clockwise from the function's key, into `shortlist`. */
    function fillShortlist(fn: LambdaInfo): void {
      shortlist.length = 0;
      walker.start(murmur3(routingKey(fn)));
      for (let w = walker.next(); w !== undefined && shortlist.length < candidateCount; w = walker.next()) {
        if (!w.routable) continue;
        const r = model.atSlot(walker.slot);
        if (r !== undefined) shortlist.push(r);
      }
    }

    function listed(w: WorkerView): boolean {
      for (let i = 0; i < shortlist.length; i++) if (shortlist[i].view === w) return true;
      return false;
    }

    /** Whether `w` may take one more request: under its slots, or under balanceFactor x the average load per unit of capacity. */
    function withinBound(w: WorkerView): boolean {
      const pending = w.inFlight + w.queued;
      if (pending < slotsOf(w)) return true;
      const totals = model.totals;
      if (totals.capacity <= 0) return false;
      return pending < Math.ceil((balanceFactor * (totals.inFlight + 1) * capacityOf(w)) / totals.capacity);
    }

    return {
      name: 'cost-aware',
      ...eventHooks(ring, free, model),
      pick(fn: LambdaInfo): WorkerView | undefined {
        const now = env.now();
        fillShortlist(fn);
        const fallback = free.peek();
        if (fallback !== undefined && !listed(fallback)) shortlist.push(model.recordOf(fallback));
        // Once a cold start has been seen (finished, or running on a candidate), the processor-sharing
        // model prices each candidate; before that, the slot model of the learned service times.
        const perPackage = model.work.perPackageOf(shortlist);
        const ps = perPackage !== undefined;
        const warm = model.work.warmMs() ?? 0;
        // Before anything has finished, a cold start counts 1 ms: enough to rank workers by what they lack.
        const coldUnit = model.serviceTimes.cluster() ?? 1;
        let best: WorkerRecord | undefined;
        let bestCost = Infinity;
        for (let i = 0; i < shortlist.length; i++) {
          const r = shortlist[i];
          // The slot model's bounded-load guard; the least-loaded free worker is never held to it (it is the
          // least loaded). The processor-sharing cost already prices load, the delay to the others included.
          if (!ps && r.view !== fallback && !withinBound(r.view)) continue;
          const cost = ps ? model.psCostMs(fn, r, now, warm, perPackage) : model.costMs(fn, r, now, coldUnit);
          if (cost < bestCost) {
            best = r;
            bestCost = cost;
          }
        }
        if (best === undefined && fallback !== undefined) best = model.recordOf(fallback);
        if (best === undefined) return undefined;
        model.used(fn, best, now);
        return best.view;
      },
      isHome(fn: LambdaInfo, w: WorkerView): boolean {
        fillShortlist(fn);
        return listed(w);
      },
      describe: () => ({
        candidates: candidateCount,
        balanceFactor,
        packageCosts: env.packageCost !== undefined ? 'table' : 'equal',
        packageTtlMs: Math.round(model.ttlMs),
        packageTtlObservations: model.ttlObservations,
        clusterServiceMs: model.serviceTimes.cluster() ?? null,
        warmMs: model.work.warmMs() ?? null,
        perPackageMs: model.work.perPackageMs() ?? null,
        routableCapacity: model.totals.capacity,
        routableInFlight: model.totals.inFlight,
      }),
    };
  },
};
