// Reference implementations of every policy's rule as plain scans over the
// table's views: slow, obviously right, and written apart from the policies'
// structures, so that the tests can compare pick for pick.
import { createHash } from 'node:crypto';
import { murmur3Points } from '../../balancers/hash-ring.js';
import { murmur3 } from '../../balancers/murmur3.js';
import { FIRST_CANDIDATE_SEED, RING_SPILL_CANDIDATES, SECOND_CANDIDATE_SEED } from '../../balancers/package-aware.js';
import { routingKey } from '../../balancers/routing-key.js';
import type { LambdaInfo, WorkerView } from '../../balancers/types.js';
import type { TestTable } from '../fixtures/views.js';

const isFree = (w: WorkerView): boolean => w.routable && w.inFlight < w.limit;
const perWeight = (n: number, w: WorkerView): number => (w.weight > 0 ? n / w.weight : Infinity);

/** Lowest inFlight/weight among free workers; among equals the least recently stamped. */
export function refLeastLoaded(table: TestTable): WorkerView | undefined {
  let best: WorkerView | undefined;
  for (const w of table.workers) {
    if (!isFree(w)) continue;
    if (best === undefined) {
      best = w;
      continue;
    }
    const a = perWeight(w.inFlight, w);
    const b = perWeight(best.inFlight, best);
    if (a < b || (a === b && (table.stamps.get(w) ?? 0) < (table.stamps.get(best) ?? 0))) best = w;
  }
  return best;
}

/** olscheduler's fallback: lowest in-flight count, first in list order, among free workers. */
export function refListOrderLeast(table: TestTable): WorkerView | undefined {
  let best: WorkerView | undefined;
  for (const w of table.workers) if (isFree(w) && (best === undefined || w.inFlight < best.inFlight)) best = w;
  return best;
}

/** nginx's smooth weighted round-robin, literally: a scan per pick over the free workers. */
export class RefRoundRobin {
  private readonly current = new Map<WorkerView, number>();

  pick(table: TestTable): WorkerView | undefined {
    for (const w of [...this.current.keys()]) if (!table.workers.includes(w as never)) this.current.delete(w);
    let total = 0;
    let best: WorkerView | undefined;
    for (const w of table.workers) {
      if (!isFree(w)) continue;
      const weight = w.weight > 0 ? w.weight : 0;
      const now = (this.current.get(w) ?? 0) + weight;
      this.current.set(w, now);
      total += weight;
      if (best === undefined || now > (this.current.get(best) ?? 0)) best = w;
    }
    if (best !== undefined) this.current.set(best, (this.current.get(best) ?? 0) - total);
    return best;
  }
}

interface Point {
  at: bigint;
  w: WorkerView;
}

/** Every point of every worker, sorted; ties by worker id. */
export function refRing(workers: readonly WorkerView[], pointsOf: (w: WorkerView) => bigint[]): Point[] {
  const points: Point[] = [];
  for (const w of workers) for (const at of pointsOf(w)) points.push({ at, w });
  return points.sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : x.w.id < y.w.id ? -1 : x.w.id > y.w.id ? 1 : 0));
}

/** The distinct workers clockwise from `at`, in ring order. */
export function refWalk(ring: readonly Point[], at: bigint): WorkerView[] {
  const start = ring.findIndex((p) => p.at >= at);
  const order: WorkerView[] = [];
  for (let i = 0; i < ring.length; i++) {
    const w = ring[((start < 0 ? 0 : start) + i) % ring.length].w;
    if (!order.includes(w)) order.push(w);
  }
  return order;
}

export const murmurPointsOf = (w: WorkerView): bigint[] => {
  const out: bigint[] = [];
  murmur3Points()(w, (hi) => out.push(BigInt(hi >>> 0) << 32n));
  return out;
};

/** BLAKE2b-512's first 8 bytes, little-endian, computed apart from balancers/olscheduler-ring.ts. */
export function blake64(text: string): bigint {
  return createHash('blake2b512').update(text).digest().readBigUInt64LE(0);
}

export const olschedulerPointsOf = (w: WorkerView): bigint[] => Array.from({ length: 10 }, (_, i) => blake64(`${w.url}${i}`));

/** Rebuilds a reference ring only when the table's membership changed. */
export class RefRingCache {
  private version = -1;
  private ring: Point[] = [];
  constructor(private readonly pointsOf: (w: WorkerView) => bigint[]) {}
  get(table: TestTable): Point[] {
    if (table.membershipVersion !== this.version) {
      this.ring = refRing(table.workers, this.pointsOf);
      this.version = table.membershipVersion;
    }
    return this.ring;
  }
}

export function refHashingBounded(table: TestTable, rings: RefRingCache, balanceFactor: number, fn: LambdaInfo): WorkerView | undefined {
  let inFlight = 0;
  let weight = 0;
  for (const w of table.workers) {
    if (!w.routable) continue;
    inFlight += w.inFlight;
    weight += w.weight;
  }
  if (weight > 0) {
    const allowance = (balanceFactor * (inFlight + 1)) / weight;
    for (const w of refWalk(rings.get(table), BigInt(murmur3(routingKey(fn))) << 32n)) {
      if (isFree(w) && w.inFlight < Math.ceil(allowance * w.weight)) return w;
    }
  }
  return refLeastLoaded(table);
}

export function refPkgAware(table: TestTable, rings: RefRingCache, threshold: number, spill: 'least-loaded' | 'ring', fn: LambdaInfo): WorkerView | undefined {
  const key = routingKey(fn);
  const ring = rings.get(table);
  const home = BigInt(murmur3(key, FIRST_CANDIDATE_SEED)) << 32n;
  const first = refWalk(ring, home).find((w) => w.routable);
  if (first === undefined) return refLeastLoaded(table);
  const second = refWalk(ring, BigInt(murmur3(key, SECOND_CANDIDATE_SEED)) << 32n).find((w) => w.routable && w !== first);
  const load = (w: WorkerView): number => perWeight(w.inFlight + w.queued, w);
  const chosen = second !== undefined && load(second) < load(first) ? second : first;
  const under = (w: WorkerView): boolean => w.inFlight + w.queued < threshold * w.weight;
  if (under(chosen)) return chosen;
  if (spill === 'ring') {
    const next = refWalk(ring, home).slice(0, RING_SPILL_CANDIDATES).find((w) => isFree(w) && under(w));
    if (next !== undefined) return next;
  }
  return refLeastLoaded(table);
}

export function refOlscheduler(table: TestTable, rings: RefRingCache, threshold: number, spill: 'least-loaded' | 'ring', fn: LambdaInfo): WorkerView | undefined {
  const key = routingKey(fn);
  const ring = rings.get(table);
  const home = blake64(key);
  const c1 = refWalk(ring, home).find((w) => w.routable);
  const c2 = refWalk(ring, blake64(`${key}salty`)).find((w) => w.routable);
  if (c1 === undefined || c2 === undefined) return refListOrderLeast(table);
  const load = (w: WorkerView): number => w.inFlight + w.queued;
  const chosen = load(c1) >= load(c2) ? c2 : c1;
  if (load(chosen) < threshold) return chosen;
  if (spill === 'ring') {
    const next = refWalk(ring, home).slice(0, RING_SPILL_CANDIDATES).find((w) => isFree(w) && load(w) < threshold);
    if (next !== undefined) return next;
  }
  return refListOrderLeast(table);
}
