import { murmur3, murmur3Numbered } from './murmur3.js';
import type { WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';

/** Virtual nodes a worker of weight 1 gets; enough that each worker's share is within about 10% of fair. */
export const VNODES_PER_WEIGHT = 100;

/** Points a worker places on the ring: proportional to its weight, at least one. */
export function vnodeCount(weight: number, perWeight: number = VNODES_PER_WEIGHT): number {
  const count = Math.round(perWeight * weight);
  return Number.isFinite(count) && count >= 1 ? count : 1;
}

/** The label hashed for a worker's i-th virtual node; depends only on the id so every proxy builds the same ring. */
export function vnodeLabel(workerId: string, index: number): string {
  return `${vnodePrefix(workerId)}${index}`;
}

/** What every label of the worker starts with, followed by the point's number. */
function vnodePrefix(workerId: string): string {
  return `${workerId}#`;
}

/**
 * Where a worker's points go: calls `emit` once per point with the point's
 * 64-bit position as two unsigned 32-bit halves (a 32-bit hash passes lo = 0).
 * `indexed`, when present, gives the same points by number, so a ring can
 * place a batch without growing buffers and re-weight a worker by placing or
 * taking only the points its new weight adds or drops.
 */
export type PointsOf = ((worker: WorkerView, emit: (hi: number, lo: number) => void) => void) & { readonly indexed?: IndexedPoints };

/** A worker's points by number: point i depends only on the worker's identity and i, never on its weight. */
export interface IndexedPoints {
  /** How many points the worker places. */
  count(worker: WorkerView): number;
  /** Writes points [from, to) of the worker into hi and lo, starting at `at`. */
  write(worker: WorkerView, from: number, to: number, hi: Uint32Array, lo: Uint32Array, at: number): void;
}

/** warmroute's own ring: `vnodeCount(weight)` points per worker, murmur3 of `id#i`. */
export function murmur3Points(perWeight: number = VNODES_PER_WEIGHT): PointsOf {
  const indexed: IndexedPoints = {
    count: (worker) => vnodeCount(worker.weight, perWeight),
    write(worker, from, to, hi, lo, at) {
      murmur3Numbered(vnodePrefix(worker.id), from, to, hi, at);
      lo.fill(0, at, at + to - from);
    },
  };
  const pointsOf = (worker: WorkerView, emit: (hi: number, lo: number) => void): void => {
    const count = indexed.count(worker);
    const hi = new Uint32Array(count);
    indexed.write(worker, 0, count, hi, new Uint32Array(count), 0);
    for (let i = 0; i < count; i++) emit(hi[i], 0);
  };
  return Object.assign(pointsOf, { indexed });
}

/** Points of a function that only emits them: counted by running it, so a weight change re-places them all. */
function emittedPoints(pointsOf: PointsOf): IndexedPoints {
  return {
    count(worker) {
      let count = 0;
      pointsOf(worker, () => count++);
      return count;
    },
    write(worker, from, to, hi, lo, at) {
      let i = 0;
      pointsOf(worker, (h, l) => {
        if (i >= from && i < to) {
          hi[at] = h;
          lo[at++] = l;
        }
        i++;
      });
    },
  };
}

/**
 * The ring's sorted arrays, shared by the ring and its walkers. The arrays are
 * replaced (never edited in place) on every change, and `version` counts changes
 * so a walker can tell that the ring moved under it.
 */
class RingState {
  hi = new Uint32Array(0);
  lo = new Uint32Array(0);
  /** owners[i] is the slot of the worker that placed point i. */
  owners = new Uint32Array(0);
  readonly slots: (WorkerView | undefined)[] = [];
  workerCount = 0;
  version = 0;
}

/** Index of the first point >= (hi, lo) in [from, to), or `to` when there is none. */
function lowerBound(his: Uint32Array, los: Uint32Array, hi: number, lo: number, from: number, to: number): number {
  while (from < to) {
    const mid = (from + to) >>> 1;
    if (his[mid] < hi || (his[mid] === hi && los[mid] < lo)) from = mid + 1;
    else to = mid;
  }
  return from;
}

/** Points to place or take: positions and the slots that own them. */
interface PointBatch {
  hi: Uint32Array;
  lo: Uint32Array;
  owner: Uint32Array;
}

/**
 * Sorts the batch by high half, stably, with two 16-bit counting passes that
 * move the points themselves (no index array to follow); the caller orders
 * runs of equal high halves.
 */
function radixSortByHi(batch: PointBatch): void {
  const n = batch.hi.length;
  if (n < 2) return;
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const owner = new Uint32Array(n);
  const counts = new Uint32Array(65537);
  const pass = (fromHi: Uint32Array, fromLo: Uint32Array, fromOwner: Uint32Array, toHi: Uint32Array, toLo: Uint32Array, toOwner: Uint32Array, shift: number): void => {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[((fromHi[i] >>> shift) & 0xffff) + 1]++;
    for (let b = 1; b <= 65536; b++) counts[b] += counts[b - 1];
    for (let i = 0; i < n; i++) {
      const at = counts[(fromHi[i] >>> shift) & 0xffff]++;
      toHi[at] = fromHi[i];
      toLo[at] = fromLo[i];
      toOwner[at] = fromOwner[i];
    }
  };
  pass(batch.hi, batch.lo, batch.owner, hi, lo, owner, 0);
  pass(hi, lo, owner, batch.hi, batch.lo, batch.owner, 16);
}

/**
 * A consistent-hash ring over workers. Each worker places the points `pointsOf`
 * gives; a key belongs to the first point at or clockwise after its position.
 * Membership follows added/removed only: a worker that is down keeps its points
 * (walkers skip it), so its keys come back to it when it does. Structure is
 * rebuilt on membership changes (a batch is sorted once and merged in one
 * pass), so looking a key up is a binary search and allocates nothing.
 */
export class HashRing implements WorkerIndex {
  private readonly state = new RingState();
  private readonly slotOf = new Map<WorkerView, number>();
  private readonly freeSlots: number[] = [];
  /** The weight each slot's points were placed with: a worker whose weight changes is placed again. */
  private readonly placedWeight: number[] = [];
  /** How many points each slot placed. */
  private readonly placedCount: number[] = [];
  private readonly points: IndexedPoints;
  /** Point i of a worker does not depend on its weight: a re-weighting places or takes only the difference. */
  private readonly numbered: boolean;

  constructor(pointsOf: PointsOf = murmur3Points()) {
    this.points = pointsOf.indexed ?? emittedPoints(pointsOf);
    this.numbered = pointsOf.indexed !== undefined;
  }

  get workerCount(): number {
    return this.state.workerCount;
  }

  get pointCount(): number {
    return this.state.hi.length;
  }

  has(worker: WorkerView): boolean {
    return this.slotOf.has(worker);
  }

  /** The worker's slot (what `RingWalker.slot` names), undefined when it is not on the ring. */
  slotIndex(worker: WorkerView): number | undefined {
    return this.slotOf.get(worker);
  }

  /** Places the worker's points; adding a worker already on the ring does nothing. */
  add(worker: WorkerView): void {
    this.addMany([worker]);
  }

  /** Places the points of every new worker in the batch with one sort and one merge. */
  addMany(workers: readonly WorkerView[]): void {
    const state = this.state;
    const slots: number[] = [];
    for (const worker of workers) {
      if (this.slotOf.has(worker)) continue;
      const slot = this.freeSlots.pop() ?? state.slots.length;
      state.slots[slot] = worker;
      this.slotOf.set(worker, slot);
      this.placedWeight[slot] = worker.weight;
      this.placedCount[slot] = this.points.count(worker);
      slots.push(slot);
    }
    if (slots.length === 0) return;
    this.merge(this.batchOf(slots, slots.map(() => 0), slots.map((slot) => this.placedCount[slot])));
    state.workerCount += slots.length;
    state.version++;
  }

  /** Takes the worker's points off the ring; its keys move to the next points clockwise. */
  remove(worker: WorkerView): void {
    this.removeMany([worker]);
  }

  /** Takes the points of every worker in the batch off the ring in one pass. */
  removeMany(workers: readonly WorkerView[]): void {
    if (this.dropPoints(workers) > 0) this.state.version++;
  }

  /**
   * Load and health changes do not move points (a worker that is down keeps
   * its place); a weight change places the worker's points again.
   */
  update(worker: WorkerView): void {
    // Every taken and dropped lands here: the common case returns before allocating anything.
    const slot = this.slotOf.get(worker);
    if (slot === undefined || this.placedWeight[slot] === worker.weight) return;
    this.updateMany([worker]);
  }

  /**
   * Places again, in one rebuild, every worker of the batch whose weight
   * changed. With numbered points a worker keeps the points both weights
   * share: only those the new weight adds are placed, or those it drops taken.
   */
  updateMany(workers: readonly WorkerView[]): void {
    const moved = workers.filter((w) => {
      const slot = this.slotOf.get(w);
      return slot !== undefined && this.placedWeight[slot] !== w.weight;
    });
    if (moved.length === 0) return;
    if (!this.numbered) {
      this.dropPoints(moved);
      this.addMany(moved);
      return;
    }
    const grow: [slots: number[], from: number[], to: number[]] = [[], [], []];
    const shrink: [slots: number[], from: number[], to: number[]] = [[], [], []];
    for (const w of moved) {
      const slot = this.slotOf.get(w) as number;
      const before = this.placedCount[slot];
      const after = this.points.count(w);
      this.placedWeight[slot] = w.weight;
      this.placedCount[slot] = after;
      const [slots, from, to] = after > before ? grow : shrink;
      if (after === before) continue;
      slots.push(slot);
      from.push(Math.min(before, after));
      to.push(Math.max(before, after));
    }
    if (shrink[0].length > 0) this.take(this.batchOf(...shrink));
    if (grow[0].length > 0) this.merge(this.batchOf(...grow));
    this.state.version++;
  }

  /** Times the ring's arrays were rebuilt (each batch of additions, removals or re-weightings counts once). */
  get rebuilds(): number {
    return this.state.version;
  }

  /** Points [from[i], to[i]) of the worker in each slots[i], sorted in ring order. */
  private batchOf(slots: readonly number[], from: readonly number[], to: readonly number[]): PointBatch {
    let total = 0;
    for (let i = 0; i < slots.length; i++) total += to[i] - from[i];
    const batch: PointBatch = { hi: new Uint32Array(total), lo: new Uint32Array(total), owner: new Uint32Array(total) };
    let at = 0;
    for (let i = 0; i < slots.length; i++) {
      const count = to[i] - from[i];
      this.points.write(this.state.slots[slots[i]] as WorkerView, from[i], to[i], batch.hi, batch.lo, at);
      batch.owner.fill(slots[i], at, at + count);
      at += count;
    }
    radixSortByHi(batch);
    // Equal high halves (rare) are ordered by the rest of the point, then by worker id.
    const { hi, lo, owner } = batch;
    for (let start = 0; start < total; ) {
      let end = start + 1;
      while (end < total && hi[end] === hi[start]) end++;
      if (end - start > 1) {
        const run = Array.from({ length: end - start }, (_, k) => start + k).sort((a, b) => this.compare(hi[a], lo[a], owner[a], hi[b], lo[b], owner[b]));
        const runLo = run.map((i) => lo[i]);
        const runOwner = run.map((i) => owner[i]);
        lo.set(runLo, start);
        owner.set(runOwner, start);
      }
      start = end;
    }
    return batch;
  }

  /** Merges a sorted batch into the ring. */
  private merge(batch: PointBatch): void {
    // A small batch copies the runs of old points between insertion positions
    // (a few memory copies rather than a comparison per old point); a large
    // one walks both lists once.
    const state = this.state;
    const { hi: oldHi, lo: oldLo, owners: oldOwners } = state;
    const { hi, lo, owner } = batch;
    const oldLength = oldHi.length;
    const total = oldLength + hi.length;
    const newHi = new Uint32Array(total);
    const newLo = new Uint32Array(total);
    const newOwners = new Uint32Array(total);
    const copyRuns = hi.length * 32 < oldLength;
    let from = 0;
    let k = 0;
    for (let j = 0; j < hi.length; j++) {
      const h = hi[j];
      const l = lo[j];
      if (copyRuns) {
        let at = lowerBound(oldHi, oldLo, h, l, from, oldLength);
        while (at < oldLength && oldHi[at] === h && oldLo[at] === l && this.compare(h, l, oldOwners[at], h, l, owner[j]) < 0) at++;
        newHi.set(oldHi.subarray(from, at), k);
        newLo.set(oldLo.subarray(from, at), k);
        newOwners.set(oldOwners.subarray(from, at), k);
        k += at - from;
        from = at;
      } else {
        while (from < oldLength && (oldHi[from] < h || (oldHi[from] === h && (oldLo[from] < l || (oldLo[from] === l && this.compare(h, l, oldOwners[from], h, l, owner[j]) < 0))))) {
          newHi[k] = oldHi[from];
          newLo[k] = oldLo[from];
          newOwners[k++] = oldOwners[from++];
        }
      }
      newHi[k] = h;
      newLo[k] = l;
      newOwners[k++] = owner[j];
    }
    newHi.set(oldHi.subarray(from), k);
    newLo.set(oldLo.subarray(from), k);
    newOwners.set(oldOwners.subarray(from), k);
    state.hi = newHi;
    state.lo = newLo;
    state.owners = newOwners;
  }

  /** Takes a sorted batch of points, each on the ring, off it in one walk. */
  private take(batch: PointBatch): void {
    const state = this.state;
    const { hi: oldHi, lo: oldLo, owners: oldOwners } = state;
    const { hi, lo, owner } = batch;
    const kept = oldHi.length - hi.length;
    const newHi = new Uint32Array(kept);
    const newLo = new Uint32Array(kept);
    const newOwners = new Uint32Array(kept);
    let j = 0;
    let k = 0;
    for (let i = 0; i < oldHi.length; i++) {
      // Both lists are in ring order and the batch's points are on the ring: the next point to take is never behind.
      if (j < hi.length && oldHi[i] === hi[j] && oldLo[i] === lo[j] && oldOwners[i] === owner[j]) {
        j++;
        continue;
      }
      newHi[k] = oldHi[i];
      newLo[k] = oldLo[i];
      newOwners[k++] = oldOwners[i];
    }
    state.hi = newHi;
    state.lo = newLo;
    state.owners = newOwners;
  }

  /** Removes the workers' points and frees their slots, without counting a rebuild; returns how many workers left. */
  private dropPoints(workers: readonly WorkerView[]): number {
    const state = this.state;
    const leaving = new Uint8Array(state.slots.length);
    let count = 0;
    for (const worker of workers) {
      const slot = this.slotOf.get(worker);
      if (slot === undefined || leaving[slot] === 1) continue;
      leaving[slot] = 1;
      count++;
    }
    if (count === 0) return 0;
    const { hi, lo, owners } = state;
    let kept = 0;
    for (let i = 0; i < owners.length; i++) if (leaving[owners[i]] === 0) kept++;
    const newHi = new Uint32Array(kept);
    const newLo = new Uint32Array(kept);
    const newOwners = new Uint32Array(kept);
    let k = 0;
    for (let i = 0; i < owners.length; i++) {
      if (leaving[owners[i]] === 1) continue;
      newHi[k] = hi[i];
      newLo[k] = lo[i];
      newOwners[k++] = owners[i];
    }
    state.hi = newHi;
    state.lo = newLo;
    state.owners = newOwners;
    for (let slot = 0; slot < leaving.length; slot++) {
      if (leaving[slot] === 0) continue;
      this.slotOf.delete(state.slots[slot] as WorkerView);
      state.slots[slot] = undefined;
      this.freeSlots.push(slot);
    }
    state.workerCount -= count;
    return count;
  }

  /** The worker owning position (hi, lo): the first point at or clockwise after it, routable or not. */
  ownerOf(hi: number, lo = 0): WorkerView | undefined {
    const state = this.state;
    const count = state.hi.length;
    if (count === 0) return undefined;
    let index = lowerBound(state.hi, state.lo, hi >>> 0, lo >>> 0, 0, count);
    if (index === count) index = 0;
    return state.slots[state.owners[index]];
  }

  /** The owner of a string key's murmur3 hash. */
  ownerOfKey(key: string, seed = 0): WorkerView | undefined {
    return this.ownerOf(murmur3(key, seed));
  }

  /** A reusable cursor for clockwise walks; create one per policy, not per pick. */
  walker(): RingWalker {
    return new RingWalker(this.state);
  }

  /**
   * Order of two points; equal points (a 32-bit collision is likely somewhere
   * on a ring of 100,000 points) are ordered by worker id so that the ring does
   * not depend on the order in which workers were added.
   */
  private compare(hiA: number, loA: number, slotA: number, hiB: number, loB: number, slotB: number): number {
    if (hiA !== hiB) return hiA < hiB ? -1 : 1;
    if (loA !== loB) return loA < loB ? -1 : 1;
    const idA = this.state.slots[slotA]?.id ?? '';
    const idB = this.state.slots[slotB]?.id ?? '';
    if (idA !== idB) return idA < idB ? -1 : 1;
    return slotA - slotB;
  }
}

/**
 * Walks a ring clockwise from a position, yielding each distinct worker once,
 * in ring order. Distinctness is tracked with per-slot stamps of a walk number,
 * so a walk allocates nothing. A walk is synchronous: after the ring changes,
 * `next()` returns undefined until `start()` is called again.
 */
export class RingWalker {
  private stamps = new Uint32Array(0);
  private walkNumber = 0;
  private position = 0;
  private stepsLeft = 0;
  private distinctLeft = 0;
  private version = -1;
  /** The slot of the worker `next()` returned last: a policy keeping per-worker records by slot reaches them without a look-up. */
  slot = -1;

  constructor(private readonly state: RingState) {}

  start(hi: number, lo = 0): void {
    const state = this.state;
    const count = state.hi.length;
    this.version = state.version;
    this.stepsLeft = count;
    this.distinctLeft = state.workerCount;
    if (count === 0) return;
    const index = lowerBound(state.hi, state.lo, hi >>> 0, lo >>> 0, 0, count);
    this.position = index === count ? 0 : index;
    if (this.stamps.length < state.slots.length) this.stamps = new Uint32Array(state.slots.length * 2);
    this.walkNumber = (this.walkNumber + 1) >>> 0;
    if (this.walkNumber === 0) {
      this.stamps.fill(0);
      this.walkNumber = 1;
    }
  }

  /** The next worker clockwise not yet yielded in this walk, or undefined when every worker has been. */
  next(): WorkerView | undefined {
    const state = this.state;
    if (this.version !== state.version) return undefined;
    const owners = state.owners;
    const stamps = this.stamps;
    const walk = this.walkNumber;
    while (this.distinctLeft > 0 && this.stepsLeft > 0) {
      const slot = owners[this.position];
      this.position = this.position + 1 === owners.length ? 0 : this.position + 1;
      this.stepsLeft--;
      if (stamps[slot] !== walk) {
        stamps[slot] = walk;
        this.distinctLeft--;
        this.slot = slot;
        return state.slots[slot];
      }
    }
    return undefined;
  }
}
