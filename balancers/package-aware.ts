import { learnAll } from './evidence.js';
import { FreeHeap, loadOf } from './free-heap.js';
import { HashRing, murmur3Points } from './hash-ring.js';
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

/**
 * What the ring keeps per worker for the ring spill: false only for a worker
 * the spill cannot take (see HashRing's mark), so a spill walk reads just the
 * workers it may take.
 */
type SpillMark = ((w: WorkerView) => boolean) | undefined;

/**
 * A function's place on the ring: its key's positions, worked out once, and
 * its two candidates with where its walks start, worked out again only when
 * the ring's layout changes (membership, weights, routability).
 */
interface Homes {
  readonly at: Uint32Array;
  layout: number;
  /** Where a walk from the first position starts. */
  index: number;
  first: WorkerView | undefined;
  second: WorkerView | undefined;
}

function rulesFor(kind: RingKind, thresholdOf: ThresholdOf, spillMark: SpillMark): RingRules {
  if (kind === 'olscheduler') {
    const cache = new Map<string, Uint32Array>();
    return {
      ring: new HashRing(olschedulerPoints, spillMark),
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
    ring: new HashRing(murmur3Points(), spillMark),
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
  // The ring spill takes a worker with a free connection under the threshold. Without queued requests (which
  // only add) and, for "auto", without the threshold (it moves with what is learned and the function), the
  // ring can tell that on each of the worker's events.
  const spillMark: SpillMark = spillover !== 'ring' ? undefined : auto !== undefined ? hasFreeConnection : (w) => hasFreeConnection(w) && loadOf(w) < thresholdOf(w);
  const rules = rulesFor(ringKind, thresholdOf, spillMark);
  const { ring, fallback } = rules;
  const indexes: WorkerIndex[] = auto !== undefined ? [ring, fallback, auto.serviceTimes, auto.work] : [ring, fallback];
  const walker = ring.walker();
  const homesByFunction = new WeakMap<LambdaInfo, Homes>();

  /** The first routable worker clockwise from `index`, other than `exclude`. */
  function firstRoutableAt(index: number, exclude?: WorkerView): WorkerView | undefined {
    walker.startAt(index);
    for (let w = walker.next(); w !== undefined; w = walker.next()) {
      if (w.routable && w !== exclude) return w;
    }
    return undefined;
  }

  function spillAlongRing(homes: Homes): WorkerView | undefined {
    walker.startAt(homes.index);
    let left = RING_SPILL_CANDIDATES;
    for (let slot = walker.nextSlot(); slot >= 0 && left > 0; slot = walker.nextSlot(), left--) {
      if (!ring.marked(slot)) continue;
      const w = ring.workerAt(slot) as WorkerView;
      if (hasFreeConnection(w) && rules.underThreshold(w)) return w;
    }
    return fallback.peek();
  }

  function homesOf(fn: LambdaInfo): Homes {
    let homes = homesByFunction.get(fn);
    if (homes === undefined) {
      const at = new Uint32Array(4);
      rules.positions(routingKey(fn), at);
      homes = { at, layout: -1, index: 0, first: undefined, second: undefined };
      homesByFunction.set(fn, homes);
    }
    if (homes.layout !== ring.layout) {
      const at = homes.at;
      homes.layout = ring.layout;
      homes.index = ring.indexOf(at[0], at[1]);
      homes.first = firstRoutableAt(homes.index);
      homes.second = homes.first === undefined ? undefined : firstRoutableAt(ring.indexOf(at[2], at[3]), rules.distinctCandidates ? homes.first : undefined);
    }
    return homes;
  }

  return {
    name,
    ...eventHooks(...indexes),
    pick(fn: LambdaInfo): WorkerView | undefined {
      auto?.forFunction(fn);
      const homes = homesOf(fn);
      const first = homes.first;
      if (first === undefined) return fallback.peek();
      const chosen = rules.choose(first, homes.second);
      if (rules.underThreshold(chosen)) return chosen;
      return spillover === 'ring' ? spillAlongRing(homes) : fallback.peek();
    },
    /** A function's homes are its two ring candidates; anything else is a spill. */
    isHome(fn: LambdaInfo, w: WorkerView): boolean {
      const homes = homesOf(fn);
      return w === homes.first || w === homes.second;
    },
    learn(observations, source) {
      if (auto !== undefined) learnAll([auto.serviceTimes, auto.work], observations, source);
    },
    describe: () => {
      if (auto === undefined) return { loadThreshold, ring: ringKind };
      const { serviceTimes, work } = auto;
      return {
        loadThreshold,
        ring: ringKind,
        clusterServiceMs: serviceTimes.cluster() ?? null,
        warmMs: work.warmMs() ?? null,
        perPackageMs: work.perPackageMs() ?? null,
        completions: { seen: serviceTimes.seen, learned: serviceTimes.learned },
      };
    },
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
  const serviceTimes = new ServiceTimes(clock, undefined, env?.share);
  const work = new WorkModel(clock, undefined, env?.share);
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
