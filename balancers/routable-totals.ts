import { loadOf } from './free-heap.js';
import type { WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';

interface Counted {
  load: number;
  weight: number;
}

/**
 * Sums of load (`loadOf`: running requests, other proxies' included) and of
 * weights over the routable workers, kept on the table's events: each event takes the worker's last counted
 * contribution out and puts its current one in, so a pick reads two numbers.
 */
export class RoutableTotals implements WorkerIndex {
  private readonly counted = new Map<WorkerView, Counted>();
  load = 0;
  weight = 0;

  add(worker: WorkerView): void {
    if (this.counted.has(worker)) return;
    this.counted.set(worker, { load: 0, weight: 0 });
    this.update(worker);
  }

  remove(worker: WorkerView): void {
    const c = this.counted.get(worker);
    if (c === undefined) return;
    this.load -= c.load;
    this.weight -= c.weight;
    this.counted.delete(worker);
    if (this.counted.size === 0) this.weight = 0;
  }

  update(worker: WorkerView): void {
    const c = this.counted.get(worker);
    if (c === undefined) return;
    const load = worker.routable ? loadOf(worker) : 0;
    const weight = worker.routable && worker.weight > 0 ? worker.weight : 0;
    this.load += load - c.load;
    this.weight += weight - c.weight;
    c.load = load;
    c.weight = weight;
  }
}
