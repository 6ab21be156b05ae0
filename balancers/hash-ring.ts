import { murmur3, murmur3Numbered } from './murmur3.js';
import type { PlannedBatch, PlannedWorker, WorkerView } from './types.js';
import { lowerBound, merged, sortedBatch, without, withoutOwners, type PointOrder, type RingPoints, type WritePoints } from './ring-points.js';
import { finish, inSlices, type Steps } from './steps.js';
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
  count(worker: PlannedWorker): number;
  /** Writes points [from, to) of the worker into hi and lo, starting at `at`. */
  write(worker: PlannedWorker, from: number, to: number, hi: Uint32Array, lo: Uint32Array, at: number): void;
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

/**
 * Points of a function that only emits them: counted by running it, so a
 * weight change re-places them all. Such a ring prepares nothing, so it is
 * only ever asked about the table's own workers.
 */
function emittedPoints(pointsOf: PointsOf): IndexedPoints {
  const viewOf = (worker: PlannedWorker): WorkerView => worker as WorkerView;
  return {
    count(worker) {
      let count = 0;
      pointsOf(viewOf(worker), () => count++);
      return count;
    },
    write(worker, from, to, hi, lo, at) {
      let i = 0;
      pointsOf(viewOf(worker), (h, l) => {
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
class RingState implements RingPoints {
  hi: Uint32Array = new Uint32Array(0);
  lo: Uint32Array = new Uint32Array(0);
  /** owners[i] is the slot of the worker that placed point i. */
  owners: Uint32Array = new Uint32Array(0);
  readonly slots: (WorkerView | undefined)[] = [];
  /** Per slot, as of the worker's last event: ROUTABLE, and MARKED when the ring's mark holds for it. */
  flags: Uint8Array = new Uint8Array(0);
  workerCount = 0;
  version = 0;
  /** Changes whenever `version` does or a worker's routability does. */
  layout = 0;
}

const ROUTABLE = 1;
const MARKED = 2;

/** The workers a batch moves: their slots, and how many numbered points each has placed before and after. */
interface Placement {
  readonly workers: readonly PlannedWorker[];
  readonly slots: readonly number[];
  readonly before: readonly number[];
  readonly after: readonly number[];
}

/** A batch's outcome computed ahead: installed as is when that batch arrives and the ring has not changed since. */
interface Prepared {
  readonly version: number;
  readonly kind: PlannedBatch['kind'];
  readonly placement: Placement;
  readonly ring: RingPoints;
}

/**
 * A consistent-hash ring over workers. Each worker places the points `pointsOf`
 * gives; a key belongs to the first point at or clockwise after its position.
 * Membership follows added/removed only: a worker that is down keeps its points
 * (walkers skip it), so its keys come back to it when it does. Structure is
 * rebuilt on membership changes (a batch is sorted once and merged in one
 * pass), so looking a key up is a binary search and allocates nothing. A large
 * batch of additions or re-weightings can be worked out ahead, a slice at a
 * time (`prepare`); the batch itself then only installs the arrays.
 */
export class HashRing implements WorkerIndex {
  private readonly state = new RingState();
  /** What a slot's MARKED flag says of its worker (see `marked`). */
  private readonly mark: ((worker: WorkerView) => boolean) | undefined;
  private readonly slotOf = new Map<WorkerView, number>();
  private readonly slotById = new Map<string, number>();
  private readonly freeSlots: number[] = [];
  /** The weight each slot's points were placed with: a worker whose weight changes is placed again. */
  private readonly placedWeight: number[] = [];
  /** How many points each slot placed. */
  private readonly placedCount: number[] = [];
  private readonly points: IndexedPoints;
  /** Point i of a worker does not depend on its weight: a re-weighting places or takes only the difference. */
  private readonly numbered: boolean;
  private prepared: Prepared | undefined;

  /**
   * `mark`, when given, is re-read for a worker on each of its events and kept
   * per slot, so that a walk can pass over workers it rules out without
   * reading them (see `marked`). It must depend only on what the table's
   * events announce: routability, in-flight, limit, weight, external load.
   */
  constructor(pointsOf: PointsOf = murmur3Points(), mark?: (worker: WorkerView) => boolean) {
    this.points = pointsOf.indexed ?? emittedPoints(pointsOf);
    this.numbered = pointsOf.indexed !== undefined;
    this.mark = mark;
  }

  /**
   * Changes whenever a walk from a given position could meet other workers or
   * other routable ones: points placed or taken, or a worker's routability.
   * Whatever a policy works out from a walk over routable workers holds while
   * it stays the same.
   */
  get layout(): number {
    return this.state.layout;
  }

  /** The index of the first point at or clockwise after (hi, lo): where a walk from there starts (`RingWalker.startAt`); valid while `layout` stays the same. */
  indexOf(hi: number, lo = 0): number {
    const state = this.state;
    const count = state.hi.length;
    const index = lowerBound(state.hi, state.lo, hi >>> 0, lo >>> 0, 0, count);
    return index === count ? 0 : index;
  }

  /** The worker in a slot (`RingWalker.slot`, `nextSlot`). */
  workerAt(slot: number): WorkerView | undefined {
    return this.state.slots[slot];
  }

  /** Whether the ring's mark held for the slot's worker at its last event (always false without a mark). */
  marked(slot: number): boolean {
    return (this.state.flags[slot] & MARKED) !== 0;
  }

  /** Re-reads the worker's flags; a change of routability changes the layout. */
  private flag(worker: WorkerView, slot: number): void {
    const state = this.state;
    if (slot >= state.flags.length) {
      const grown = new Uint8Array(Math.max(16, state.slots.length * 2));
      grown.set(state.flags);
      state.flags = grown;
    }
    const before = state.flags[slot];
    const after = (worker.routable ? ROUTABLE : 0) | (this.mark !== undefined && this.mark(worker) ? MARKED : 0);
    state.flags[slot] = after;
    if ((before & ROUTABLE) !== (after & ROUTABLE)) state.layout++;
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
    const fresh = [...new Set(workers)].filter((w) => !this.slotOf.has(w));
    if (fresh.length === 0) return;
    const placement = this.additionOf(fresh);
    const ready = this.preparedFor('add', placement);
    const state = this.state;
    this.freeSlots.length -= Math.min(this.freeSlots.length, fresh.length);
    for (let i = 0; i < fresh.length; i++) {
      const slot = placement.slots[i];
      state.slots[slot] = fresh[i];
      this.slotOf.set(fresh[i], slot);
      this.slotById.set(fresh[i].id, slot);
      this.placedWeight[slot] = fresh[i].weight;
      this.placedCount[slot] = placement.after[i];
    }
    this.install(ready ?? finish(this.added(placement)));
    state.workerCount += fresh.length;
    for (let i = 0; i < fresh.length; i++) this.flag(fresh[i], placement.slots[i]);
  }

  /** Takes the worker's points off the ring; its keys move to the next points clockwise. */
  remove(worker: WorkerView): void {
    this.removeMany([worker]);
  }

  /** Takes the points of every worker in the batch off the ring in one pass. */
  removeMany(workers: readonly WorkerView[]): void {
    if (this.dropPoints(workers) > 0) {
      this.state.version++;
      this.state.layout++;
    }
  }

  /**
   * Load and health changes do not move points (a worker that is down keeps
   * its place); a weight change places the worker's points again.
   */
  update(worker: WorkerView): void {
    // Every taken and dropped lands here: the common case returns before allocating anything.
    const slot = this.slotOf.get(worker);
    if (slot === undefined) return;
    this.flag(worker, slot);
    if (this.placedWeight[slot] === worker.weight) return;
    this.replace([worker]);
  }

  /**
   * Places again, in one rebuild, every worker of the batch whose weight
   * changed. With numbered points a worker keeps the points both weights
   * share: only those the new weight adds are placed, or those it drops taken.
   */
  updateMany(workers: readonly WorkerView[]): void {
    for (const w of workers) {
      const slot = this.slotOf.get(w);
      if (slot !== undefined) this.flag(w, slot);
    }
    this.replace(workers);
  }

  /** updateMany's placing part. */
  private replace(workers: readonly WorkerView[]): void {
    if (!this.numbered) {
      const moved = workers.filter((w) => {
        const slot = this.slotOf.get(w);
        return slot !== undefined && this.placedWeight[slot] !== w.weight;
      });
      if (moved.length === 0) return;
      this.dropPoints(moved);
      this.addMany(moved);
      return;
    }
    const placement = this.changeOf(workers, (w) => this.slotOf.get(w as WorkerView));
    if (placement.workers.length === 0) return;
    const ready = this.preparedFor('change', placement);
    this.install(ready ?? finish(this.changed(placement)));
    for (let i = 0; i < placement.workers.length; i++) {
      this.placedWeight[placement.slots[i]] = placement.workers[i].weight;
      this.placedCount[placement.slots[i]] = placement.after[i];
    }
  }

  /**
   * Works out, a slice at a time (awaiting `pause()` between slices), the ring
   * that `batch` will make: `addMany` of those workers, `updateMany` of the
   * workers with those ids taking those weights, or `removeMany` of the
   * workers with those ids. When that batch comes next, on the ring as it
   * was, it installs the result at once; otherwise it does the work itself,
   * as without a preparation. Rings whose points are not numbered prepare
   * removals only.
   */
  async prepare(batch: PlannedBatch, pause: () => Promise<void>): Promise<void> {
    this.prepared = undefined;
    const version = this.state.version;
    if (batch.kind === 'remove') {
      const placement = this.removalOf(batch.workers, (w) => this.slotById.get(w.id));
      if (placement.workers.length === 0) return;
      const ring = await inSlices(withoutOwners(this.state, this.leavingSlots(placement.slots)), pause, () => this.state.version !== version);
      if (ring !== undefined) this.prepared = { version, kind: 'remove', placement, ring };
      return;
    }
    if (!this.numbered) return;
    const placement = batch.kind === 'add'
      ? this.additionOf(batch.workers.filter((w) => !this.slotById.has(w.id)))
      : this.changeOf(batch.workers, (w) => this.slotById.get(w.id));
    if (placement.workers.length === 0) return;
    const steps = batch.kind === 'add' ? this.added(placement) : this.changed(placement);
    // A change to the ring meanwhile makes the work moot.
    const ring = await inSlices(steps, pause, () => this.state.version !== version);
    if (ring !== undefined) this.prepared = { version, kind: batch.kind, placement, ring };
  }

  /** Times the ring's arrays were rebuilt (each batch of additions, removals or re-weightings counts once). */
  get rebuilds(): number {
    return this.state.version;
  }

  /** New workers' slots (the free ones first, in the order addMany takes them) and their points. */
  private additionOf(workers: readonly PlannedWorker[]): Placement {
    const free = this.freeSlots;
    const slots = workers.map((_, i) => (i < free.length ? free[free.length - 1 - i] : this.state.slots.length + i - free.length));
    return { workers, slots, before: workers.map(() => 0), after: workers.map((w) => this.points.count(w)) };
  }

  /** Workers on the ring taking a new weight, with the points it adds or drops. */
  private changeOf(workers: readonly PlannedWorker[], slotOf: (w: PlannedWorker) => number | undefined): Placement {
    const moved: PlannedWorker[] = [];
    const slots: number[] = [];
    for (const w of workers) {
      const slot = slotOf(w);
      if (slot === undefined || this.placedWeight[slot] === w.weight) continue;
      moved.push(w);
      slots.push(slot);
    }
    return { workers: moved, slots, before: slots.map((slot) => this.placedCount[slot]), after: moved.map((w) => this.points.count(w)) };
  }

  /** The ring with the new workers' points merged in. */
  private *added(p: Placement): Steps<RingPoints> {
    // The new workers' slots may not be filled yet (a preparation): ties between equal points need their ids.
    const ids = new Map(p.slots.map((slot, i) => [slot, p.workers[i].id]));
    const order = this.orderWith((slot) => ids.get(slot));
    const batch = yield* this.batchOf(p, p.workers.map((_, i) => i), p.before, p.after, order);
    return yield* merged(this.state, batch, order);
  }

  /** The ring with the points the new weights drop taken out, and those they add merged in. */
  private *changed(p: Placement): Steps<RingPoints> {
    const order = this.orderWith(() => undefined);
    const all = p.workers.map((_, i) => i);
    const shrink = all.filter((i) => p.after[i] < p.before[i]);
    const grow = all.filter((i) => p.after[i] > p.before[i]);
    let ring: RingPoints = this.state;
    // A worker's points numbered from the smaller count to the larger are the ones that come or go.
    if (shrink.length > 0) ring = yield* without(ring, yield* this.batchOf(p, shrink, p.after, p.before, order));
    if (grow.length > 0) ring = yield* merged(ring, yield* this.batchOf(p, grow, p.before, p.after, order), order);
    return ring;
  }

  /** Points [from[i], to[i]) of the placement's workers `which`, sorted in ring order. */
  private batchOf(p: Placement, which: readonly number[], from: readonly number[], to: readonly number[], order: PointOrder): Steps<RingPoints> {
    let total = 0;
    for (const i of which) total += to[i] - from[i];
    const write: WritePoints = (k, hi, lo, at) => {
      const i = which[k];
      this.points.write(p.workers[i], from[i], to[i], hi, lo, at);
      return to[i] - from[i];
    };
    return sortedBatch(total, which.map((i) => p.slots[i]), write, order);
  }

  /** The prepared ring, when it was prepared for exactly this batch on the ring as it is. */
  private preparedFor(kind: PlannedBatch['kind'], p: Placement): RingPoints | undefined {
    const prepared = this.prepared;
    this.prepared = undefined;
    if (prepared === undefined || prepared.kind !== kind || prepared.version !== this.state.version) return undefined;
    const q = prepared.placement;
    if (q.workers.length !== p.workers.length) return undefined;
    for (let i = 0; i < p.workers.length; i++) {
      if (q.workers[i].id !== p.workers[i].id || q.slots[i] !== p.slots[i] || q.before[i] !== p.before[i] || q.after[i] !== p.after[i]) return undefined;
    }
    return prepared.ring;
  }

  private install(ring: RingPoints): void {
    const state = this.state;
    state.hi = ring.hi;
    state.lo = ring.lo;
    state.owners = ring.owners;
    state.version++;
    state.layout++;
  }

  /** Removes the workers' points and frees their slots, without counting a rebuild; returns how many workers left. */
  private dropPoints(workers: readonly WorkerView[]): number {
    const placement = this.removalOf(workers, (w) => this.slotOf.get(w as WorkerView));
    const count = placement.slots.length;
    if (count === 0) return 0;
    const state = this.state;
    const ring = this.preparedFor('remove', placement) ?? finish(withoutOwners(state, this.leavingSlots(placement.slots)));
    state.hi = ring.hi;
    state.lo = ring.lo;
    state.owners = ring.owners;
    for (const slot of placement.slots) {
      const worker = state.slots[slot] as WorkerView;
      this.slotOf.delete(worker);
      if (this.slotById.get(worker.id) === slot) this.slotById.delete(worker.id);
      state.slots[slot] = undefined;
      this.freeSlots.push(slot);
    }
    state.workerCount -= count;
    return count;
  }

  /** Workers on the ring that are to leave, each once, with the points they take away. */
  private removalOf(workers: readonly PlannedWorker[], slotOf: (w: PlannedWorker) => number | undefined): Placement {
    const leaving: PlannedWorker[] = [];
    const slots: number[] = [];
    const seen = new Set<number>();
    for (const w of workers) {
      const slot = slotOf(w);
      if (slot === undefined || seen.has(slot)) continue;
      seen.add(slot);
      leaving.push(w);
      slots.push(slot);
    }
    return { workers: leaving, slots, before: slots.map((slot) => this.placedCount[slot]), after: slots.map(() => 0) };
  }

  /** A mark per slot: 1 for the slots given. */
  private leavingSlots(slots: readonly number[]): Uint8Array {
    const leaving = new Uint8Array(this.state.slots.length);
    for (const slot of slots) leaving[slot] = 1;
    return leaving;
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
   * not depend on the order in which workers were added. `planned` names the
   * slots a batch is about to fill.
   */
  private orderWith(planned: (slot: number) => string | undefined): PointOrder {
    const slots = this.state.slots;
    return (hiA, loA, slotA, hiB, loB, slotB) => {
      if (hiA !== hiB) return hiA < hiB ? -1 : 1;
      if (loA !== loB) return loA < loB ? -1 : 1;
      const idA = planned(slotA) ?? slots[slotA]?.id ?? '';
      const idB = planned(slotB) ?? slots[slotB]?.id ?? '';
      if (idA !== idB) return idA < idB ? -1 : 1;
      return slotA - slotB;
    };
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
    const index = lowerBound(state.hi, state.lo, hi >>> 0, lo >>> 0, 0, count);
    this.startAt(index === count ? 0 : index);
  }

  /** Starts a walk at the point `HashRing.indexOf` gave while the ring's layout was as it is. */
  startAt(index: number): void {
    const state = this.state;
    this.version = state.version;
    this.stepsLeft = state.hi.length;
    this.distinctLeft = state.workerCount;
    if (this.stepsLeft === 0) return;
    this.position = index;
    if (this.stamps.length < state.slots.length) this.stamps = new Uint32Array(state.slots.length * 2);
    this.walkNumber = (this.walkNumber + 1) >>> 0;
    if (this.walkNumber === 0) {
      this.stamps.fill(0);
      this.walkNumber = 1;
    }
  }

  /** The next worker clockwise not yet yielded in this walk, or undefined when every worker has been. */
  next(): WorkerView | undefined {
    const slot = this.nextSlot();
    return slot < 0 ? undefined : this.state.slots[slot];
  }

  /** As `next`, but the worker's slot (-1 when none is left), so a walk can skip workers by the ring's flags without reading them. */
  nextSlot(): number {
    const state = this.state;
    if (this.version !== state.version) return -1;
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
        return slot;
      }
    }
    return -1;
  }
}
