import { loadOf } from './free-heap.js';
import { ExactTotals, FIXED_POINT } from './exact-totals.js';
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
      (w: WorkerView) => (w.routable ? loadOf(w) : 0),
      (w: WorkerView) => (w.routable ? w.weight : 0),
      1,
      FIXED_POINT,
    );
  }

  get load(): number {
    return this.a;
  }

  get weight(): number {
    return this.b;
  }
}
