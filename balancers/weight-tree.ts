import { hasFreeConnection, type WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';

/**
 * The weights of the workers that have a free connection, in a sum tree over
 * slots: drawing a worker with probability weight / total is a descent of
 * O(log n), and so is every event. Each inner node is recomputed from its two
 * children rather than adjusted by differences, so float sums never drift
 * however many updates run. Counts are kept beside the weights so that free
 * workers whose weights are all 0 are still drawn (uniformly).
 */
export class WeightTree implements WorkerIndex {
  private capacity = 0;
  /** Node i has children 2i and 2i+1; leaves are capacity..2*capacity-1. */
  private sums = new Float64Array(2);
  private counts = new Uint32Array(2);
  private slots: (WorkerView | undefined)[] = [];
  private readonly slotOf = new Map<WorkerView, number>();
  private readonly freeSlots: number[] = [];

  get totalWeight(): number {
    return this.sums[1];
  }

  get freeCount(): number {
    return this.counts[1];
  }

  add(worker: WorkerView): void {
    if (this.slotOf.has(worker)) return;
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.slots.length;
      if (slot >= this.capacity) this.grow(Math.max(16, this.capacity * 2));
    }
    this.slots[slot] = worker;
    this.slotOf.set(worker, slot);
    this.set(slot, worker);
  }

  addMany(workers: readonly WorkerView[]): void {
    const needed = this.slots.length + workers.length;
    if (needed > this.capacity) this.grow(Math.max(16, 2 ** Math.ceil(Math.log2(needed))));
    for (const w of workers) this.add(w);
  }

  remove(worker: WorkerView): void {
    const slot = this.slotOf.get(worker);
    if (slot === undefined) return;
    this.slotOf.delete(worker);
    this.slots[slot] = undefined;
    this.freeSlots.push(slot);
    this.set(slot, undefined);
  }

  update(worker: WorkerView): void {
    const slot = this.slotOf.get(worker);
    if (slot !== undefined) this.set(slot, worker);
  }

  /**
   * The free worker whose cumulative weight interval holds `fraction * total`
   * (`fraction` in [0, 1)), or undefined when no worker has a free connection.
   */
  draw(fraction: number): WorkerView | undefined {
    if (this.counts[1] === 0) return undefined;
    const sums = this.sums;
    const counts = this.counts;
    const byCount = !(sums[1] > 0);
    let target = fraction * (byCount ? counts[1] : sums[1]);
    let node = 1;
    while (node < this.capacity) {
      const left = 2 * node;
      const leftMass = byCount ? counts[left] : sums[left];
      const rightMass = byCount ? counts[left + 1] : sums[left + 1];
      // Rounding may leave `target` at or past the total: then take the last non-empty side.
      if ((target < leftMass && leftMass > 0) || !(rightMass > 0)) node = left;
      else {
        target -= leftMass;
        node = left + 1;
      }
    }
    return this.slots[node - this.capacity];
  }

  private set(slot: number, worker: WorkerView | undefined): void {
    const free = worker !== undefined && hasFreeConnection(worker);
    let node = this.capacity + slot;
    this.sums[node] = free && worker.weight > 0 ? worker.weight : 0;
    this.counts[node] = free ? 1 : 0;
    for (node >>= 1; node >= 1; node >>= 1) {
      this.sums[node] = this.sums[2 * node] + this.sums[2 * node + 1];
      this.counts[node] = this.counts[2 * node] + this.counts[2 * node + 1];
    }
  }

  private grow(capacity: number): void {
    this.capacity = capacity;
    this.sums = new Float64Array(2 * capacity);
    this.counts = new Uint32Array(2 * capacity);
    for (let slot = 0; slot < this.slots.length; slot++) {
      const w = this.slots[slot];
      const free = w !== undefined && hasFreeConnection(w);
      this.sums[capacity + slot] = free && w.weight > 0 ? w.weight : 0;
      this.counts[capacity + slot] = free ? 1 : 0;
    }
    for (let node = capacity - 1; node >= 1; node--) {
      this.sums[node] = this.sums[2 * node] + this.sums[2 * node + 1];
      this.counts[node] = this.counts[2 * node] + this.counts[2 * node + 1];
    }
  }
}
