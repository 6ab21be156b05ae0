import { FreeHeap, loadOf } from './free-heap.js';
import { HashRing, murmur3Points, type RingWalker } from './hash-ring.js';
import { murmur3 } from './murmur3.js';
import { blake2bPosition, OLSCHEDULER_SALT, olschedulerPoints } from './olscheduler-ring.js';
import { routingKey } from './routing-key.js';
import { autoThreshold, coldStartMs, psAutoThreshold } from './load-cost.js';
import { WorkModel } from './work-model.js';
import { ServiceTimes } from './service-time.js';
import { AUTO_THRESHOLD, loadThresholdSetting, ringSetting, type RingKind } from './settings.js';
import { hasFreeConnection, type Balancer, type LambdaInfo, type PolicyEnv, type WorkerView } from './types.js';
import { eventHooks, type WorkerIndex } from './worker-index.js';

/** Seeds of the two independent murmur3 hashes of a routing key. */
export const FIRST_CANDIDATE_SEED = 0;
export const SECOND_CANDIDATE_SEED = 0x9747b28c;

/** Where a function goes once its home worker has reached the load threshold. */
export type Spillover = 'least-loaded' | 'ring';

/** The first routable worker clockwise from (hi, lo), other than `exclude`. */
export function firstRoutableFrom(walker: RingWalker, hi: number, lo: number, exclude?: WorkerView): WorkerView | undefined {
  walker.start(hi, lo);
  for (let w = walker.next(); w !== undefined; w = walker.next()) {
    if (w.routable && w !== exclude) return w;
  }
  return undefined;
}

/**
 * Requests a worker has taken on: running (this proxy's and other proxies', as
 * last reported) plus waiting in its own queue here.
 */
function pending(w: WorkerView): number {
  return loadOf(w) + w.queued;
}

/** Pending requests per unit of weight; no positive weight counts as infinitely loaded. */
function pendingPerWeight(w: WorkerView): number {
  return w.weight > 0 ? pending(w) / w.weight : Infinity;
}

/**
 * What differs between the two rings: where a key's candidates start, whether
 * the second candidate must differ from the first, how load is compared, and
 * which free worker a spilled request takes.
 */
interface RingRules {
  readonly ring: HashRing;
  readonly fallback: FreeHeap;
  /** Writes the positions of the key's two candidates into `out` as [hi1, lo1, hi2, lo2]. */
  positions(key: string, out: Uint32Array): void;
  readonly distinctCandidates: boolean;
  /** The candidate to keep, given both (second may be undefined). */
  choose(first: WorkerView, second: WorkerView | undefined): WorkerView;
  underThreshold(w: WorkerView): boolean;
}

/**
 * Workers the ring spill of pkg-aware-ring looks at before it takes the
 * least-loaded free worker: a function's overflow stays on this short list,
 * and a pick stays short when most workers are past the threshold.
 */
export const RING_SPILL_CANDIDATES = 32;

/** Key positions for olscheduler's ring cost two BLAKE2b digests; functions repeat, so they are kept. */
const POSITION_CACHE_LIMIT = 100_000;

/** The threshold a worker is held to: a fixed number (per unit of weight on the murmur3 ring), or "auto"'s per-worker value. */
type ThresholdOf = (w: WorkerView) => number;

function rulesFor(kind: RingKind, thresholdOf: ThresholdOf): RingRules {
  if (kind === 'olscheduler') {
    const cache = new Map<string, Uint32Array>();
    return {
      ring: new HashRing(olschedulerPoints),
      // olscheduler's fallback: the lowest count in worker-list order.
      fallback: new FreeHeap('count-list-order'),
      positions(key, out) {
        let known = cache.get(key);
        if (known === undefined) {
          if (cache.size >= POSITION_CACHE_LIMIT) cache.clear();
          known = Uint32Array.from([...blake2bPosition(key), ...blake2bPosition(key + OLSCHEDULER_SALT)]);
          cache.set(key, known);
        }
        out.set(known);
      },
      // Both candidates may be one worker, as in olscheduler.
      distinctCandidates: false,
      // pkgAware.go: `if host1.Load >= host2.Load { return host2 }`: ties go to the second; counts, not weights.
      choose: (first, second) => (second !== undefined && pending(first) >= pending(second) ? second : first),
      underThreshold: (w) => pending(w) < thresholdOf(w),
    };
  }
  return {
    ring: new HashRing(murmur3Points()),
    fallback: new FreeHeap('weighted-least-recent'),
    positions(key, out) {
      out[0] = murmur3(key, FIRST_CANDIDATE_SEED);
      out[1] = 0;
      out[2] = murmur3(key, SECOND_CANDIDATE_SEED);
      out[3] = 0;
    },
    distinctCandidates: true,
    // Ties go to the first candidate, so a lone stream of one function keeps hitting one warm worker.
    choose: (first, second) => (second !== undefined && pendingPerWeight(second) < pendingPerWeight(first) ? second : first),
    underThreshold: (w) => pending(w) < thresholdOf(w),
  };
}

/**
 * Package-aware scheduling (PASch; Aumala et al., CCGrid 2019). The routing
 * key (largest package) is hashed twice onto one ring; of the two candidate
 * workers the less loaded (running + queued) wins. If the winner is under the
 * load threshold it is returned even when all its connections are busy: the
 * request waits in that worker's queue for its warm cache rather than running
 * cold elsewhere. Otherwise:
 *
 * - `least-loaded` (PASch as published, `pkg-aware`): the least-loaded worker
 *   with a free connection.
 * - `ring` (`pkg-aware-ring`, ours): the first worker clockwise from the
 *   key's point, among the next RING_SPILL_CANDIDATES, that is under the
 *   threshold and has a free connection, so a function's overflow stays on a
 *   few workers that warm up for it; when there is none, the least-loaded
 *   free worker.
 *
 * With `ring: "olscheduler"` the ring, the candidates, the tie rule, the
 * unweighted threshold and the fallback order are olscheduler's (see
 * olscheduler-ring.ts, which also lists what still differs).
 */
export function createPackageAware(name: string, settings: Readonly<Record<string, unknown>>, spillover: Spillover, env?: PolicyEnv): Balancer {
  const loadThreshold = loadThresholdSetting.parse(settings.loadThreshold ?? loadThresholdSetting.default);
  const ringKind = ringSetting.parse(settings.ring ?? ringSetting.default) as RingKind;
  const auto = loadThreshold === AUTO_THRESHOLD ? autoThresholds(env) : undefined;
  const fixed = typeof loadThreshold === 'number' ? loadThreshold : 0;
  const thresholdOf: ThresholdOf = auto !== undefined ? auto.of : ringKind === 'olscheduler' ? () => fixed : (w) => fixed * w.weight;
  const rules = rulesFor(ringKind, thresholdOf);
  const { ring, fallback } = rules;
  // The candidates of the last pick, for isHome: the scheduler asks right after pick, for the same function.
  // They depend on membership and routability only, so any of those events forgets them.
  let homesOf: LambdaInfo | undefined;
  let homes: [WorkerView | undefined, WorkerView | undefined] = [undefined, undefined];
  const forget = (): void => {
    homesOf = undefined;
    homes = [undefined, undefined];
  };
  const homesIndex: WorkerIndex = { add: forget, remove: forget, update: forget, taken: () => {}, dropped: () => {} };
  const indexes: WorkerIndex[] = auto !== undefined ? [ring, fallback, auto.serviceTimes, auto.work, homesIndex] : [ring, fallback, homesIndex];
  const walker = ring.walker();
  const at = new Uint32Array(4);

  function spillAlongRing(): WorkerView | undefined {
    walker.start(at[0], at[1]);
    let left = RING_SPILL_CANDIDATES;
    for (let w = walker.next(); w !== undefined && left > 0; w = walker.next(), left--) {
      if (hasFreeConnection(w) && rules.underThreshold(w)) return w;
    }
    return fallback.peek();
  }

  function candidates(fn: LambdaInfo): [WorkerView | undefined, WorkerView | undefined] {
    rules.positions(routingKey(fn), at);
    const first = firstRoutableFrom(walker, at[0], at[1]);
    const second = first === undefined ? undefined : firstRoutableFrom(walker, at[2], at[3], rules.distinctCandidates ? first : undefined);
    homesOf = fn;
    homes = [first, second];
    return homes;
  }

  return {
    name,
    ...eventHooks(...indexes),
    pick(fn: LambdaInfo): WorkerView | undefined {
      auto?.forFunction(fn);
      const [first, second] = candidates(fn);
      if (first === undefined) return fallback.peek();
      const chosen = rules.choose(first, second);
      if (rules.underThreshold(chosen)) return chosen;
      return spillover === 'ring' ? spillAlongRing() : fallback.peek();
    },
    /** A function's homes are its two ring candidates; anything else is a spill. */
    isHome(fn: LambdaInfo, w: WorkerView): boolean {
      const [first, second] = homesOf === fn ? homes : candidates(fn);
      return w === first || w === second;
    },
    describe: () => (auto !== undefined ? { loadThreshold, ring: ringKind, clusterServiceMs: auto.serviceTimes.cluster() ?? null, warmMs: auto.work.warmMs() ?? null, perPackageMs: auto.work.perPackageMs() ?? null } : { loadThreshold, ring: ringKind }),
  };
}

interface AutoThresholds {
  readonly serviceTimes: ServiceTimes;
  readonly work: WorkModel;
  /** Sets the function the next thresholds are for (its cold start is what waiting at home avoids). */
  forFunction(fn: LambdaInfo): void;
  readonly of: ThresholdOf;
}

/**
 * `loadThreshold: "auto"`: each worker's threshold follows its slots (reported
 * cores, else connection limit) and the service time learned there, against
 * the function's cold start (package table, else one learned cluster service
 * time); see autoThreshold. Without a clock (no env) nothing is learned and
 * the threshold is the worker's slots.
 */
function autoThresholds(env: PolicyEnv | undefined): AutoThresholds {
  const clock = env?.now ?? (() => 0);
  const serviceTimes = new ServiceTimes(clock);
  const work = new WorkModel(clock);
  let fn: LambdaInfo | undefined;
  return {
    serviceTimes,
    work,
    forFunction(f) {
      fn = f;
    },
    of(w) {
      if (env === undefined || fn === undefined) return autoThreshold(w, 0, undefined);
      // Once a cold start has been seen (finished, or running on this worker), the processor-sharing model.
      const perPackage = work.perPackageMs([w]);
      if (perPackage !== undefined) return psAutoThreshold(w, work.warmMs() ?? 0, coldStartMs(env, fn, perPackage * fn.packages.length));
      return autoThreshold(w, coldStartMs(env, fn, serviceTimes.cluster() ?? 0), serviceTimes.drainMs(w));
    },
  };
}

/** Settings both package-aware policies read. */
export const packageAwareSettings = [loadThresholdSetting, ringSetting] as const;
