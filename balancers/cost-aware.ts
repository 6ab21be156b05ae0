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

/** What the policy believes a worker holds, and why. */
interface Holdings {
  /** The worker's package set as last looked at; a different object means the worker reported. */
  seen: ReadonlySet<string>;
  /** A copy of that set when it was first looked at (the table adds routed packages to it afterwards). */
  confirmed: Set<string>;
  confirmedAt: number;
  /** When a request needing each package was last sent there. */
  readonly lastUsed: Map<string, number>;
}

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

/** Everything the policy learns and keeps, apart from the ring and the free heap. */
export class CostModel implements WorkerIndex {
  readonly serviceTimes: ServiceTimes;
  readonly work: WorkModel;
  readonly totals = new CapacityTotals();
  private readonly holdings = new Map<WorkerView, Holdings>();
  /** Learned: how long an unused package stays on a worker. */
  ttlMs: number;
  /** Lifetimes observed in reports (evictions and survivals), for describe(). */
  ttlObservations = 0;

  constructor(
    private readonly env: PolicyEnv,
    initialTtlMs: number,
  ) {
    this.serviceTimes = new ServiceTimes(env.now);
    this.work = new WorkModel(env.now);
    this.ttlMs = initialTtlMs;
  }

  add(w: WorkerView): void {
    this.serviceTimes.add(w);
    this.work.add(w);
    this.totals.add(w);
    this.holdingsOf(w, this.env.now());
  }

  remove(w: WorkerView): void {
    this.serviceTimes.remove(w);
    this.work.remove(w);
    this.totals.remove(w);
    this.holdings.delete(w);
  }

  update(w: WorkerView): void {
    this.serviceTimes.update(w);
    this.work.update(w);
    this.totals.update(w);
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

  /** The worker's holdings, first taking in a report that replaced its package set since the last look. */
  private holdingsOf(w: WorkerView, now: number): Holdings {
    let h = this.holdings.get(w);
    if (h === undefined) {
      h = { seen: w.packages, confirmed: new Set(w.packages), confirmedAt: now, lastUsed: new Map() };
      this.holdings.set(w, h);
      return h;
    }
    if (h.seen !== w.packages) this.takeReport(h, w.packages, now);
    return h;
  }

  /**
   * A status report replaced the worker's set. A package last used at t that
   * the worker held at its previous report and no longer lists was evicted
   * after about now - t unused; one still listed though unused for longer than
   * the TTL shows the TTL too short. Both move the TTL.
   */
  private takeReport(h: Holdings, reported: ReadonlySet<string>, now: number): void {
    for (const [p, t] of h.lastUsed) {
      const idle = now - t;
      if (!reported.has(p)) {
        // Listed before and gone now: evicted. Never listed since it was routed here: its install
        // may still be under way (a report lists installed packages only), so it stays until the TTL.
        if (h.confirmed.has(p)) {
          this.learnTtl(idle);
          h.lastUsed.delete(p);
        } else if (idle > this.ttlMs) {
          h.lastUsed.delete(p);
        }
      } else if (idle > this.ttlMs) {
        this.learnTtl(idle);
      }
    }
    h.seen = reported;
    h.confirmed = new Set(reported);
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
    return this.heldIn(this.holdingsOf(w, now), w, p, now);
  }

  private heldIn(h: Holdings, w: WorkerView, p: string, now: number): boolean {
    // Not in the worker's set: held only while routed here and not yet listed by a report (installing).
    if (!w.packages.has(p)) return h.lastUsed.has(p) && !h.confirmed.has(p) && now - (h.lastUsed.get(p) as number) <= this.ttlMs;
    let evidence = h.lastUsed.get(p) ?? -Infinity;
    if (h.confirmedAt > evidence && (h.confirmed.has(p) || evidence === -Infinity)) evidence = h.confirmedAt;
    return now - evidence <= this.ttlMs;
  }

  /** Load time of the function's packages `w` lacks, in ms. */
  missMs(fn: LambdaInfo, w: WorkerView, now: number, coldUnitMs: number): number {
    let sum = 0;
    const pkgs = fn.packages;
    const h = this.holdingsOf(w, now);
    for (let i = 0; i < pkgs.length; i++) {
      const p = pkgs[i];
      if (!this.heldIn(h, w, p, now)) sum += packageLoadMs(this.env, fn, p, coldUnitMs);
    }
    return sum;
  }

  /** Expected ms until a request sent to `w` now gets a slot: the requests ahead of it beyond its slots, each holding it up one drain interval. */
  waitMs(w: WorkerView): number {
    const ahead = w.inFlight + w.queued - slotsOf(w) + 1;
    if (ahead <= 0) return 0;
    return ahead * (this.serviceTimes.drainMs(w) ?? 0);
  }

  /**
   * What sending `fn` to `w` costs, in ms: the wait for a slot, plus the load
   * time of what `w` lacks, stretched by the work already there. Loading holds
   * CPU the requests on `w` share (or a slot they queue for), so each of them
   * is held up too: a cold start on a worker with p pending over s slots costs
   * about load x (1 + p / s).
   */
  costMs(fn: LambdaInfo, w: WorkerView, now: number, coldUnitMs: number): number {
    const miss = this.missMs(fn, w, now, coldUnitMs);
    const wait = this.waitMs(w);
    return miss === 0 ? wait : wait + miss * (1 + (w.inFlight + w.queued) / slotsOf(w));
  }

  /**
   * The processor-sharing cost of sending `fn` to `w`, in CPU ms x stretch:
   * (warm work + the load of what `w` lacks) x psStretch(pending, cores): the
   * request's own time there plus the delay it causes the requests already
   * there. `warmMs` 0 when no warm run has been measured yet.
   */
  psCostMs(fn: LambdaInfo, w: WorkerView, now: number, warmMs: number, perPackageMs: number): number {
    const miss = this.missMs(fn, w, now, perPackageMs * fn.packages.length);
    // Beyond the connection limit a request waits in the worker's queue for a connection, first come
    // first served: one completion (of any kind, every drain interval) per request ahead of it.
    const ahead = w.inFlight + w.queued - w.limit + 1;
    const connectionWait = ahead > 0 ? ahead * (this.serviceTimes.drainMs(w) ?? 0) : 0;
    return connectionWait + (warmMs + miss) * psStretch(w.inFlight + w.external, coresOf(w));
  }

  /** Requests were sent to `w` needing these packages. */
  used(fn: LambdaInfo, w: WorkerView, now: number): void {
    const h = this.holdingsOf(w, now);
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
    const model = new CostModel(env, initialTtl);
    const shortlist: WorkerView[] = [];

    /** The ring's first `candidateCount` routable workers clockwise from the function's key, into `shortlist`. */
    function fillShortlist(fn: LambdaInfo): void {
      shortlist.length = 0;
      walker.start(murmur3(routingKey(fn)));
      for (let w = walker.next(); w !== undefined && shortlist.length < candidateCount; w = walker.next()) {
        if (w.routable) shortlist.push(w);
      }
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
        if (fallback !== undefined && !shortlist.includes(fallback)) shortlist.push(fallback);
        // Once a cold start has been seen (finished, or running on a candidate), the processor-sharing
        // model prices each candidate; before that, the slot model of the learned service times.
        const perPackage = model.work.perPackageMs(shortlist);
        const ps = perPackage !== undefined;
        const warm = model.work.warmMs() ?? 0;
        // Before anything has finished, a cold start counts 1 ms: enough to rank workers by what they lack.
        const coldUnit = model.serviceTimes.cluster() ?? 1;
        let best: WorkerView | undefined;
        let bestCost = Infinity;
        for (let i = 0; i < shortlist.length; i++) {
          const w = shortlist[i];
          // The slot model's bounded-load guard; the least-loaded free worker is never held to it (it is the
          // least loaded). The processor-sharing cost already prices load, the delay to the others included.
          if (!ps && w !== fallback && !withinBound(w)) continue;
          const cost = ps ? model.psCostMs(fn, w, now, warm, perPackage) : model.costMs(fn, w, now, coldUnit);
          if (cost < bestCost) {
            best = w;
            bestCost = cost;
          }
        }
        best ??= fallback;
        if (best !== undefined) model.used(fn, best, now);
        return best;
      },
      isHome(fn: LambdaInfo, w: WorkerView): boolean {
        fillShortlist(fn);
        return shortlist.includes(w);
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
