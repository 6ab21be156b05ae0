import type { WorkerView } from './types.js';
import type { WorkerIndex } from './worker-index.js';

/** Units per 1 of a fractional quantity (weight, cores x weight): totals of such quantities are sums of integers. */
export const FIXED_POINT = 1000;

/**
 * The most one worker may add to a total. Larger contributions (an absurd
 * report, a huge weight) are clamped to it, so a sum over 131,072 workers
 * stays below 2^53, where every integer is exact.
 */
export const MAX_PART = 2 ** 36;

/** `value` as a non-negative integer count of `1 / scale` units, clamped to MAX_PART; NaN and negatives count 0. */
export function countedPart(value: number, scale = 1): number {
  if (!(value > 0)) return 0;
  return Math.min(Math.round(value * scale), MAX_PART);
}

/**
 * Two running sums over the workers a policy follows, kept on the table's
 * events: each event takes the worker's last counted parts out and puts its
 * current ones in, so a pick reads two numbers. Parts are integers in
 * [0, MAX_PART] (`countedPart`, in 1/scale units), so the sums are exact, never drift and never
 * reach Infinity or NaN whatever a worker reports; each batch of membership
 * changes recomputes them from their parts all the same.
 */
export class ExactTotals implements WorkerIndex {
  private readonly counted = new Map<WorkerView, { a: number; b: number }>();
  private a_ = 0;
  private b_ = 0;

  /**
   * `valueA` and `valueB` give a worker's current contributions, as read from
   * its view; each is counted in 1/scale units by `countedPart`.
   */
  constructor(
    private readonly valueA: (w: WorkerView) => number,
    private readonly valueB: (w: WorkerView) => number,
    private readonly scaleA = 1,
    private readonly scaleB = 1,
  ) {}

  get a(): number {
    return this.a_ / this.scaleA;
  }

  get b(): number {
    return this.b_ / this.scaleB;
  }

  private partA(w: WorkerView): number {
    return countedPart(this.valueA(w), this.scaleA);
  }

  private partB(w: WorkerView): number {
    return countedPart(this.valueB(w), this.scaleB);
  }

  add(worker: WorkerView): void {
    if (this.counted.has(worker)) return;
    this.counted.set(worker, { a: 0, b: 0 });
    this.update(worker);
  }

  addMany(workers: readonly WorkerView[]): void {
    for (const w of workers) if (!this.counted.has(w)) this.counted.set(w, { a: this.partA(w), b: this.partB(w) });
    this.recompute();
  }

  remove(worker: WorkerView): void {
    const c = this.counted.get(worker);
    if (c === undefined) return;
    this.a_ -= c.a;
    this.b_ -= c.b;
    this.counted.delete(worker);
  }

  removeMany(workers: readonly WorkerView[]): void {
    for (const w of workers) this.counted.delete(w);
    this.recompute();
  }

  update(worker: WorkerView): void {
    const c = this.counted.get(worker);
    if (c === undefined) return;
    const a = this.partA(worker);
    const b = this.partB(worker);
    this.a_ += a - c.a;
    this.b_ += b - c.b;
    c.a = a;
    c.b = b;
  }

  /** The sums as recomputed from the parts last counted (what `a` and `b` must equal). */
  sumOfParts(): { a: number; b: number } {
    const { a, b } = this.countedSums();
    return { a: a / this.scaleA, b: b / this.scaleB };
  }

  private countedSums(): { a: number; b: number } {
    let a = 0;
    let b = 0;
    for (const c of this.counted.values()) {
      a += c.a;
      b += c.b;
    }
    return { a, b };
  }

  private recompute(): void {
    const { a, b } = this.countedSums();
    this.a_ = a;
    this.b_ = b;
  }
}
