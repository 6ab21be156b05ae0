import { murmur3 } from './murmur3.js';
import type { WorkerView } from './types.js';

/** Virtual nodes a worker of weight 1 gets; enough that each worker's share is within about 10% of fair. */
export const VNODES_PER_WEIGHT = 100;

/** Points a worker places on the ring: proportional to its weight, at least one. */
export function vnodeCount(weight: number, perWeight: number = VNODES_PER_WEIGHT): number {
  const count = Math.round(perWeight * weight);
  return Number.isFinite(count) && count >= 1 ? count : 1;
}

/** The label hashed for a worker's i-th virtual node; depends only on the id so every proxy builds the same ring. */
export function vnodeLabel(workerId: string, index: number): string {
  return `${workerId}#${index}`;
}

/**
 * The ring's sorted arrays, shared by the ring and its walkers. The arrays are
 * replaced (never edited in place) on every change, and `version` counts changes
 * so a walker can tell that the ring moved under it.
 */
class RingState {
  points = new Uint32Array(0);
  /** owners[i] is the slot of the worker that placed points[i]. */
  owners = new Uint32Array(0);
  readonly slots: (WorkerView | undefined)[] = [];
  workerCount = 0;
  version = 0;
}

/** Index of the first point >= hash, or points.length when there is none. */
function lowerBound(points: Uint32Array, hash: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid] < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A consistent-hash ring over workers. Each worker places `vnodeCount(weight)`
 * points; a key belongs to the first point at or clockwise after its hash.
 * All structure is rebuilt in `add`/`remove` (a linear merge or filter), so
 * looking a key up is a binary search and allocates nothing.
 */
export class HashRing {
  private readonly state = new RingState();
  private readonly slotOf = new Map<WorkerView, number>();
  private readonly freeSlots: number[] = [];

  constructor(private readonly vnodesPerWeight: number = VNODES_PER_WEIGHT) {}

  get workerCount(): number {
    return this.state.workerCount;
  }

  get pointCount(): number {
    return this.state.points.length;
  }

  has(worker: WorkerView): boolean {
    return this.slotOf.has(worker);
  }

  /** Places the worker's points; adding a worker already on the ring does nothing. */
  add(worker: WorkerView): void {
    if (this.slotOf.has(worker)) return;
    const state = this.state;
    const slot = this.freeSlots.pop() ?? state.slots.length;
    state.slots[slot] = worker;
    this.slotOf.set(worker, slot);

    const count = vnodeCount(worker.weight, this.vnodesPerWeight);
    const added = new Uint32Array(count);
    for (let i = 0; i < count; i++) added[i] = murmur3(vnodeLabel(worker.id, i));
    added.sort();

    // Merge by copying the runs of old points between insertion positions, so an
    // add costs a few memory copies rather than a comparison per existing point.
    const old = state.points;
    const oldOwners = state.owners;
    const points = new Uint32Array(old.length + count);
    const owners = new Uint32Array(old.length + count);
    let from = 0;
    let k = 0;
    for (let j = 0; j < count; j++) {
      const point = added[j];
      let at = from + lowerBound(old.subarray(from), point);
      while (at < old.length && old[at] === point && this.comesFirst(old[at], oldOwners[at], point, slot)) at++;
      points.set(old.subarray(from, at), k);
      owners.set(oldOwners.subarray(from, at), k);
      k += at - from;
      from = at;
      points[k] = point;
      owners[k++] = slot;
    }
    points.set(old.subarray(from), k);
    owners.set(oldOwners.subarray(from), k);
    state.points = points;
    state.owners = owners;
    state.workerCount++;
    state.version++;
  }

  /** Takes the worker's points off the ring; its keys move to the next points clockwise. */
  remove(worker: WorkerView): void {
    const slot = this.slotOf.get(worker);
    if (slot === undefined) return;
    const state = this.state;
    const old = state.points;
    const oldOwners = state.owners;
    let kept = 0;
    for (let i = 0; i < oldOwners.length; i++) if (oldOwners[i] !== slot) kept++;
    const points = new Uint32Array(kept);
    const owners = new Uint32Array(kept);
    let k = 0;
    for (let i = 0; i < old.length; i++) {
      if (oldOwners[i] === slot) continue;
      points[k] = old[i];
      owners[k++] = oldOwners[i];
    }
    state.points = points;
    state.owners = owners;
    state.slots[slot] = undefined;
    this.slotOf.delete(worker);
    this.freeSlots.push(slot);
    state.workerCount--;
    state.version++;
  }

  /** The worker owning `hash` (the first point at or clockwise after it), healthy or not. */
  ownerOf(hash: number): WorkerView | undefined {
    const state = this.state;
    if (state.points.length === 0) return undefined;
    let index = lowerBound(state.points, hash >>> 0);
    if (index === state.points.length) index = 0;
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
   * Equal points (a 32-bit collision, likely somewhere on a ring of 100,000
   * points) are ordered by worker id so that the ring does not depend on the
   * order in which workers were added.
   */
  private comesFirst(pointA: number, slotA: number, pointB: number, slotB: number): boolean {
    if (pointA !== pointB) return pointA < pointB;
    const idA = this.state.slots[slotA]?.id ?? '';
    const idB = this.state.slots[slotB]?.id ?? '';
    return idA === idB ? slotA < slotB : idA < idB;
  }
}

/**
 * Walks a ring clockwise from a hash, yielding each distinct worker once, in
 * ring order. Distinctness is tracked with per-slot stamps of a walk number, so
 * a walk allocates nothing. A walk is synchronous: after the ring changes,
 * `next()` returns undefined until `start()` is called again.
 */
export class RingWalker {
  private stamps = new Uint32Array(0);
  private walkNumber = 0;
  private position = 0;
  private stepsLeft = 0;
  private distinctLeft = 0;
  private version = -1;

  constructor(private readonly state: RingState) {}

  start(hash: number): void {
    const state = this.state;
    const points = state.points;
    this.version = state.version;
    this.stepsLeft = points.length;
    this.distinctLeft = state.workerCount;
    if (points.length === 0) return;
    const index = lowerBound(points, hash >>> 0);
    this.position = index === points.length ? 0 : index;
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
        return state.slots[slot];
      }
    }
    return undefined;
  }
}
