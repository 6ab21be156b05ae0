import { IndexedHeap, type HeapItem } from './indexed-heap.js';
import { hasFreeConnection, type WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';

/**
 * How the least-loaded free worker is chosen:
 * - `weighted-least-recent`: lowest load (`loadOf`) per unit of weight; among
 *   equals the one a request was dispatched to longest ago, so equal workers take turns.
 * - `count-list-order`: lowest load, weights ignored; among equals the one
 *   added first (olscheduler's least-loaded scan in worker-list order).
 */
export type FreeOrder = 'weighted-least-recent' | 'count-list-order';

interface Entry<T> extends HeapItem {
  readonly worker: WorkerView;
  /** What the heap's owner attached to the worker when it joined (see FreeHeap's constructor). */
  readonly attached: T;
  load: number;
  /** Tie-break, smaller first: the last dispatch's stamp, or the order of addition. */
  tie: number;
}

/**
 * The load the load-aware policies compare: requests running on the worker,
 * this proxy's and, as the worker last reported them, other proxies'.
 */
export function loadOf(worker: WorkerView): number {
  return worker.inFlight + worker.external;
}

/** Load per unit of weight; a worker without a positive weight counts as infinitely loaded. */
export function loadPerWeight(worker: WorkerView): number {
  return worker.weight > 0 ? loadOf(worker) / worker.weight : Infinity;
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.load < b.load || (a.load === b.load && a.tie < b.tie);
}

/**
 * The workers that have a free connection, ordered by load: `peek` is the
 * least-loaded one in O(1), each event costs O(log n). A worker is in the heap
 * exactly while it is a member, routable and below its connection limit.
 */
export class FreeHeap<T = undefined> implements WorkerIndex {
  private readonly entries = new Map<WorkerView, Entry<T>>();
  private readonly heap = new IndexedHeap<Entry<T>>(before);
  private stamp = 0;

  /**
   * `attach`, when given, makes a value for each worker as it joins (a
   * policy's own record of it), handed back with the least-loaded worker by
   * `peekAttached`, so the policy reaches it without a look-up.
   */
  constructor(
    private readonly order: FreeOrder = 'weighted-least-recent',
    private readonly attach?: (worker: WorkerView) => T,
  ) {}

  get size(): number {
    return this.heap.size;
  }

  /** The least-loaded worker with a free connection, or undefined when none has one. */
  peek(): WorkerView | undefined {
    return this.heap.peek()?.worker;
  }

  /** What was attached to the worker `peek` returns (undefined when there is none, or nothing was attached). */
  peekAttached(): T | undefined {
    return this.heap.peek()?.attached;
  }

  add(worker: WorkerView): void {
    if (this.entries.has(worker)) return;
    const entry: Entry<T> = { worker, attached: this.attach?.(worker) as T, load: 0, tie: ++this.stamp, heapIndex: -1 };
    this.entries.set(worker, entry);
    this.place(entry);
  }

  remove(worker: WorkerView): void {
    const entry = this.entries.get(worker);
    if (entry === undefined) return;
    this.heap.remove(entry);
    this.entries.delete(worker);
  }

  update(worker: WorkerView): void {
    const entry = this.entries.get(worker);
    if (entry !== undefined) this.place(entry);
  }

  /** Puts the entry where its worker's state says: in the heap by load while it has a free connection, else out. */
  private place(entry: Entry<T>): void {
    const worker = entry.worker;
    if (!hasFreeConnection(worker)) {
      this.heap.remove(entry);
      return;
    }
    // Only running requests count: a worker with a free connection has an empty
    // queue (the table dispatches from it as soon as a connection frees).
    entry.load = this.order === 'count-list-order' ? loadOf(worker) : loadPerWeight(worker);
    if (this.heap.has(entry)) this.heap.update(entry);
    else this.heap.push(entry);
  }

  taken(worker: WorkerView): void {
    if (this.order === 'weighted-least-recent') {
      const entry = this.entries.get(worker);
      if (entry !== undefined) entry.tie = ++this.stamp;
    }
    this.update(worker);
  }
}
