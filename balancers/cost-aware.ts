import { learnAll, type Learner, type Observation } from './evidence.js';
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
import { HeldMemos, HeldPackages } from './held-packages.js';
import { PackageIds } from './held-table.js';

/** Where each of the pick's numbers sits in CostModel.pickArgs. */
const NOW = 0;
const WARM_MS = 1;
const PER_PACKAGE_MS = 2;
const COLD_UNIT_MS = 3;
/** The pick's bound: a candidate costing at least this much even warm is priced without reading what its worker holds (exported for the tests). */
export const AT_LEAST = 4;
const UNIT_MS = 5;

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

/**
 * What a pick of one function needs apart from the workers' state, worked out
 * once per function: its key's hash, its packages' load times from the
 * package table (fixed for the policy's life: a new table makes a new
 * policy), its shortlist's records (worked out again only when the ring's
 * layout changes), and what its picks last read of each candidate's holdings
 * (one memo per ring candidate, and one for the least-loaded free worker).
 */
export interface FunctionPlan {
  readonly fn: LambdaInfo;
  /** Its packages' numbers (HeldPackages.ids). */
  readonly ids: Int32Array;
  readonly keyHash: number;
  /** Per package, its load time from the table; undefined without a table (an equal share of the cold unit). */
  readonly loadMs: Float64Array | undefined;
  layout: number;
  /** The records of the shortlist's workers, in ring order (`count` of them). */
  readonly records: WorkerRecord[];
  count: number;
  readonly memos: HeldMemos;
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

/**
 * Everything the policy learns and keeps, apart from the ring and the free
 * heap: its models share one record per worker, which a pick reaches by the
 * worker's ring slot, with no look-up per candidate.
 */
export class CostModel implements WorkerIndex, Learner {
  readonly records: WorkerRecords;
  readonly serviceTimes: ServiceTimes;
  readonly work: WorkModel;
  readonly totals = new CapacityTotals();
  /** Records by ring slot. */
  private readonly bySlot: (WorkerRecord | undefined)[] = [];
  readonly held: HeldPackages;
  /** Where costMs and psCostMs leave a candidate's cost (a plain return would be a heap number allocated per candidate: see WorkModel.found). */
  readonly priced = new Float64Array(1);
  /**
   * The pick's numbers, which its pricing calls read (indices NOW, WARM_MS,
   * PER_PACKAGE_MS, COLD_UNIT_MS, AT_LEAST, UNIT_MS): passed as arguments, each
   * fractional number would be a heap number allocated per call the compiler
   * does not inline.
   */
  readonly pickArgs = new Float64Array(6).fill(Infinity);

  /** `ring` places the workers first on every event, so a record can follow its worker's slot. */
  constructor(
    private readonly env: PolicyEnv,
    initialTtlMs: number,
    private readonly ring: HashRing,
  ) {
    this.held = new HeldPackages(initialTtlMs, new PackageIds());
    this.records = new WorkerRecords(env.now, this.held.ids);
    this.serviceTimes = new ServiceTimes(env.now, this.records, env.share);
    this.work = new WorkModel(env.now, this.records, env.share);
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

  /** The worker's record, made now if it has none. */
  recordOf(w: WorkerView): WorkerRecord {
    return this.records.of(w);
  }

  /** Whether `w` still holds package `p`: see HeldPackages. */
  holds(w: WorkerView, p: string, now: number): boolean {
    return this.held.holds(this.records.of(w), p, now);
  }

  /**
   * Load time of the function's packages `r`'s worker lacks at pickArgs[NOW],
   * in ms, left in `priced[0]`; without a package table each counts an equal
   * share of pickArgs[UNIT_MS]. `memo`: which of the plan's memos is about `r`.
   * The caller took in any report (held.current).
   */
  missMs(plan: FunctionPlan, memo: number, r: WorkerRecord): void {
    const { fn, loadMs, memos } = plan;
    const pkgs = fn.packages;
    // Only a memo that is no longer about the record as it stands is read again.
    if (!memos.fresh(memo, r)) this.held.refresh(memos, memo, pkgs, plan.ids, r);
    const now = this.pickArgs[NOW];
    const since = memos.cells;
    const base = memos.sinceAt(memo);
    const ttl = this.held.ttlMs;
    let sum = 0;
    for (let i = 0; i < pkgs.length; i++) {
      if (!(now - since[base + i] <= ttl)) sum += loadMs !== undefined ? loadMs[i] : packageLoadMs(this.env, fn, pkgs[i], this.pickArgs[UNIT_MS]);
    }
    this.priced[0] = sum;
  }

  /** Expected ms until a request sent to `r`'s worker now gets a slot: the requests ahead of it beyond its slots, each holding it up one drain interval. */
  waitMs(r: WorkerRecord): number {
    const w = r.view;
    const ahead = w.inFlight + w.queued - slotsOf(w) + 1;
    if (ahead <= 0) return 0;
    return ahead * this.serviceTimes.drainOr0(w, r);
  }

  /**
   * What sending `fn` to `r`'s worker costs, in ms: the wait for a slot, plus
   * the load time of what it lacks, stretched by the work already there.
   * Loading holds CPU the requests on the worker share (or a slot they queue
   * for), so each of them is held up too: a cold start on a worker with p
   * pending over s slots costs about load x (1 + p / s). When the wait alone
   * reaches `atLeast` (pickArgs[AT_LEAST]), that is the cost, found without
   * reading what the worker holds. At pickArgs[NOW], a cold start counting
   * pickArgs[COLD_UNIT_MS]. The cost is left in `priced[0]`.
   */
  costMs(plan: FunctionPlan, memo: number, r: WorkerRecord): void {
    const w = r.view;
    const args = this.pickArgs;
    // A report is taken in here whether or not the holdings are read, so the TTL learns at the same moments.
    this.held.current(r, args[NOW]);
    const wait = this.waitMs(r);
    // What it lacks can only add to the wait.
    if (wait >= args[AT_LEAST]) {
      this.priced[0] = wait;
      return;
    }
    args[UNIT_MS] = args[COLD_UNIT_MS];
    this.missMs(plan, memo, r);
    const miss = this.priced[0];
    this.priced[0] = miss === 0 ? wait : wait + miss * (1 + (w.inFlight + w.queued) / slotsOf(w));
  }

  /**
   * The processor-sharing cost of sending `fn` to `r`'s worker, in CPU ms x
   * stretch: (warm work + the load of what it lacks) x psStretch(pending,
   * cores): the request's own time there plus the delay it causes the
   * requests already there. At pickArgs[NOW], with pickArgs[WARM_MS] (0 when
   * no warm run has been measured yet) and pickArgs[PER_PACKAGE_MS]. When the
   * cost of a warm run there reaches pickArgs[AT_LEAST], that is the cost,
   * found without reading what the worker holds. The cost is left in
   * `priced[0]`.
   */
  psCostMs(plan: FunctionPlan, memo: number, r: WorkerRecord): void {
    const w = r.view;
    const args = this.pickArgs;
    const warmMs = args[WARM_MS];
    // A report is taken in here whether or not the holdings are read, so the TTL learns at the same moments.
    this.held.current(r, args[NOW]);
    // Beyond the connection limit a request waits in the worker's queue for a connection, first come
    // first served: one completion (of any kind, every drain interval) per request ahead of it.
    const ahead = w.inFlight + w.queued - w.limit + 1;
    const connectionWait = ahead > 0 ? ahead * this.serviceTimes.drainOr0(w, r) : 0;
    const stretch = psStretch(w.inFlight + w.external, coresOf(w));
    // What it lacks can only add to a warm run (rounding is monotonic: adding a miss of 0 or more never lowers it).
    const warmCost = connectionWait + warmMs * stretch;
    if (warmCost >= args[AT_LEAST]) {
      this.priced[0] = warmCost;
      return;
    }
    args[UNIT_MS] = args[PER_PACKAGE_MS] * plan.fn.packages.length;
    this.missMs(plan, memo, r);
    const miss = this.priced[0];
    this.priced[0] = connectionWait + (warmMs + miss) * stretch;
  }

  /** Another process of the proxy sent a request of `fn` to `w`: its packages count as used there now, as when this one sends one. */
  learn(o: Observation, w: WorkerView | undefined, fn: LambdaInfo | undefined, own: boolean): void {
    if (o.kind !== 'dispatch' || own || w === undefined || fn === undefined) return;
    const r = this.records.get(w);
    if (r !== undefined) this.held.used(this.held.ids.ofList(fn.packages), r, undefined, -1, this.env.now());
  }

  /** A request of the plan's function was sent to `r`'s worker; `memo`: which of the plan's memos the pick read of its holdings (-1: none). */
  used(plan: FunctionPlan, r: WorkerRecord, memo: number, now: number): void {
    this.held.used(plan.ids, r, memo >= 0 ? plan.memos : undefined, memo, now);
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
    const model = new CostModel(env, initialTtl, ring);
    // Each free worker carries its record, so the least-loaded one's is at hand.
    const free = new FreeHeap<WorkerRecord>('weighted-least-recent', (w) => model.recordOf(w));
    const plans = new WeakMap<LambdaInfo, FunctionPlan>();

    function planOf(fn: LambdaInfo): FunctionPlan {
      let plan = plans.get(fn);
      if (plan === undefined) {
        const loadMs = env.packageCost !== undefined ? Float64Array.from(fn.packages, (p) => packageLoadMs(env, fn, p, 0)) : undefined;
        const memos = new HeldMemos(fn.packages.length, candidateCount + 1);
        plan = { fn, ids: model.held.ids.ofList(fn.packages), keyHash: murmur3(routingKey(fn)), loadMs, layout: -1, records: [], count: 0, memos };
        plans.set(fn, plan);
      }
      return plan;
    }

    /**
     * The plan's shortlist brought up to date: the records of the ring's first `candidateCount` routable
     * workers clockwise from the function's key. A record follows its worker's slot, and a worker changes
     * slot only when the ring's layout changes, so the records stand until then.
     */
    function fillShortlist(plan: FunctionPlan): void {
      if (plan.layout === ring.layout) return;
      plan.layout = ring.layout;
      plan.count = 0;
      walker.start(plan.keyHash);
      for (let w = walker.next(); w !== undefined && plan.count < candidateCount; w = walker.next()) {
        const r = w.routable ? model.atSlot(walker.slot) : undefined;
        if (r === undefined) continue;
        plan.records[plan.count++] = r;
      }
      plan.records.length = plan.count;
    }

    function listed(plan: FunctionPlan, w: WorkerView): boolean {
      for (let i = 0; i < plan.count; i++) if (plan.records[i].view === w) return true;
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
        const plan = planOf(fn);
        fillShortlist(plan);
        const count = plan.count;
        const records = plan.records;
        // The least-loaded free worker is one more candidate, weighed last, when it is not one of the ring's.
        const fallback = free.peek();
        const extra = fallback !== undefined && !listed(plan, fallback) ? free.peekAttached() : undefined;
        // Once a cold start has been seen (finished, or running on a candidate), the processor-sharing
        // model prices each candidate; before that, the slot model of the learned service times.
        const ps = model.work.perPackageOf(records, count, extra);
        const args = model.pickArgs;
        args[NOW] = now;
        args[PER_PACKAGE_MS] = model.work.found[0];
        args[WARM_MS] = model.work.warmOr0();
        // Before anything has finished, a cold start counts 1 ms: enough to rank workers by what they lack.
        args[COLD_UNIT_MS] = model.serviceTimes.clusterOr(1);
        let best: WorkerRecord | undefined;
        let bestMemo = -1;
        let bestCost = Infinity;
        for (let i = 0; i <= count; i++) {
          // Ring candidates have a memo each; the least-loaded free worker the last.
          const r = i < count ? records[i] : extra;
          if (r === undefined) break;
          // The slot model's bounded-load guard; the least-loaded free worker is never held to it (it is the
          // least loaded). The processor-sharing cost already prices load, the delay to the others included.
          if (!ps && r.view !== fallback && !withinBound(r.view)) continue;
          const memo = i < count ? i : candidateCount;
          // A candidate that costs at least the best so far even warm is not chosen whatever it holds.
          args[AT_LEAST] = bestCost;
          if (ps) model.psCostMs(plan, memo, r);
          else model.costMs(plan, memo, r);
          const cost = model.priced[0];
          if (cost < bestCost) {
            best = r;
            bestMemo = memo;
            bestCost = cost;
          }
        }
        if (best === undefined) {
          best = free.peekAttached();
          bestMemo = -1;
        }
        if (best === undefined) return undefined;
        model.used(plan, best, bestMemo, now);
        return best.view;
      },
      isHome(fn: LambdaInfo, w: WorkerView): boolean {
        const plan = planOf(fn);
        fillShortlist(plan);
        return listed(plan, w);
      },
      learn(observations, source) {
        learnAll([model.serviceTimes, model.work, model], observations, source);
      },
      describe: () => ({
        candidates: candidateCount,
        balanceFactor,
        packageCosts: env.packageCost !== undefined ? 'table' : 'equal',
        packageTtlMs: Math.round(model.held.ttlMs),
        packageTtlObservations: model.held.ttlObservations,
        clusterServiceMs: model.serviceTimes.cluster() ?? null,
        warmMs: model.work.warmMs() ?? null,
        perPackageMs: model.work.perPackageMs() ?? null,
        routableCapacity: model.totals.capacity,
        routableInFlight: model.totals.inFlight,
        completions: { seen: model.serviceTimes.seen, learned: model.serviceTimes.learned },
      }),
    };
  },
};
