import { IndexedHeap, type HeapItem } from './indexed-heap.js';
import { hasFreeConnection, type Balancer, type Policy, type WorkerView } from './types.js';
import { eventHooks, type WorkerIndex } from './worker-index.js';

// nginx's smooth weighted round-robin, over the workers that have a free
// connection: before each pick every eligible worker's current weight grows by
// its weight, the largest (first in list order on a tie) is picked and loses
// the total eligible weight. Weights 5,1,1 give a a b a c a a, and over any
// window each worker gets its share. A worker that is not eligible (full,
// down) keeps its current weight frozen, as nginx skips a peer at max_conns.
//
// Done literally that is a scan per pick. Instead, with K the number of picks
// so far, an eligible worker's current weight is `base + weight * K`: K++
// grows every one at once, and only the picked worker's `base` moves. Among
// workers of one weight the order of current weights is the order of bases,
// so each distinct weight keeps a heap by base; a pick compares the heads of
// the groups: O(G + log n) for G distinct weights (a handful in practice).

interface Entry extends HeapItem {
  readonly worker: WorkerView;
  /** Order of addition: nginx's list order, which breaks ties. */
  readonly order: number;
  /** The weight the entry is grouped under while eligible. */
  weight: number;
  /** The current weight while not eligible (frozen). */
  frozen: number;
  /** current = base + weight * K while eligible. */
  base: number;
  group: Group | undefined;
}

interface Group {
  readonly weight: number;
  readonly heap: IndexedHeap<Entry>;
  /** Position in the list of non-empty groups, or -1. */
  listed: number;
}

/** Larger current weight first (same weight: larger base), then list order. */
function before(a: Entry, b: Entry): boolean {
  return a.base > b.base || (a.base === b.base && a.order < b.order);
}

/** Picks before bases are re-based, so `weight * K` stays exact for integer weights and small for others. */
const REBASE_AFTER = 2 ** 24;

export class SmoothRoundRobin implements WorkerIndex {
  private readonly entries = new Map<WorkerView, Entry>();
  private readonly groups = new Map<number, Group>();
  private readonly nonEmpty: Group[] = [];
  private picks = 0;
  private eligibleWeight = 0;
  private nextOrder = 0;

  pick(): WorkerView | undefined {
    if (this.nonEmpty.length === 0) return undefined;
    if (this.picks >= REBASE_AFTER) this.rebase();
    const k = ++this.picks;
    let best: Entry | undefined;
    let bestCurrent = 0;
    for (let g = 0; g < this.nonEmpty.length; g++) {
      const head = this.nonEmpty[g].heap.peek() as Entry;
      const current = head.base + head.weight * k;
      if (best === undefined || current > bestCurrent || (current === bestCurrent && head.order < best.order)) {
        best = head;
        bestCurrent = current;
      }
    }
    const chosen = best as Entry;
    chosen.base -= this.eligibleWeight;
    chosen.group?.heap.update(chosen);
    return chosen.worker;
  }

  add(worker: WorkerView): void {
    if (this.entries.has(worker)) return;
    const entry: Entry = { worker, order: this.nextOrder++, weight: 0, frozen: 0, base: 0, group: undefined, heapIndex: -1 };
    this.entries.set(worker, entry);
    this.update(worker);
  }

  remove(worker: WorkerView): void {
    const entry = this.entries.get(worker);
    if (entry === undefined) return;
    this.leave(entry);
    this.entries.delete(worker);
  }

  update(worker: WorkerView): void {
    const entry = this.entries.get(worker);
    if (entry === undefined) return;
    const eligible = hasFreeConnection(worker);
    const weight = worker.weight > 0 ? worker.weight : 0;
    if (entry.group !== undefined && (!eligible || weight !== entry.weight)) this.leave(entry);
    if (eligible && entry.group === undefined) this.join(entry, weight);
  }

  private join(entry: Entry, weight: number): void {
    entry.weight = weight;
    entry.base = entry.frozen - weight * this.picks;
    let group = this.groups.get(weight);
    if (group === undefined) {
      group = { weight, heap: new IndexedHeap<Entry>(before), listed: -1 };
      this.groups.set(weight, group);
    }
    group.heap.push(entry);
    entry.group = group;
    if (group.listed < 0) {
      group.listed = this.nonEmpty.length;
      this.nonEmpty.push(group);
    }
    this.eligibleWeight += weight;
  }

  private leave(entry: Entry): void {
    const group = entry.group;
    if (group === undefined) return;
    entry.frozen = entry.base + entry.weight * this.picks;
    group.heap.remove(entry);
    entry.group = undefined;
    this.eligibleWeight -= entry.weight;
    if (group.heap.size === 0) {
      const last = this.nonEmpty.pop() as Group;
      if (last !== group) {
        this.nonEmpty[group.listed] = last;
        last.listed = group.listed;
      }
      group.listed = -1;
      this.groups.delete(group.weight);
    }
    // Sums of float weights drift; with nobody eligible the exact total is 0.
    if (this.nonEmpty.length === 0) this.eligibleWeight = 0;
  }

  private rebase(): void {
    const k = this.picks;
    for (const group of this.nonEmpty) group.heap.forEach((e) => (e.base += e.weight * k));
    this.picks = 0;
  }
}

/** `round-robin`: nginx's smooth weighted round-robin over the workers with a free connection. */
export const roundRobinPolicy: Policy = {
  name: 'round-robin',
  create(): Balancer {
    const rotation = new SmoothRoundRobin();
    return {
      name: 'round-robin',
      ...eventHooks(rotation),
      pick: () => rotation.pick(),
    };
  },
};
