import { loadOf } from './free-heap.js';
import { countedPart, ExactTotals, FIXED_POINT } from './exact-totals.js';
import type { WorkerView } from './types.js';

/**
 * Sums of load (`loadOf`: running requests, other proxies' included) and of
 * weights over the routable workers, kept on the table's events as exact
 * integer totals (weights in 1/FIXED_POINT units), so a pick reads two numbers
 * and one absurd report can neither overflow nor outlive its worker's next event.
 */
export class RoutableTotals extends ExactTotals {
  constructor() {
    super(
      (w: WorkerView) => (w.routable ? countedPart(loadOf(w)) : 0),
      (w: WorkerView) => (w.routable ? countedPart(w.weight, FIXED_POINT) : 0),
    );
  }

  get load(): number {
    return this.a;
  }

  get weight(): number {
    return this.b / FIXED_POINT;
  }
}
