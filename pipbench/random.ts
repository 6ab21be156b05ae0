import { seededRandom as uniformStream } from '../balancers/seeded-random.js';

// Seeded randomness for the workload model. Everything pipbench generates must be
// reproducible from a seed, so nothing here touches Math.random.

/** A seeded stream of uniform numbers in [0, 1) plus the few shapes the generator needs. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal (mean 0, standard deviation 1). */
  normal(): number;
  /** One element, uniformly. The list must not be empty. */
  pick<T>(items: readonly T[]): T;
}

/**
 * A seeded stream of uniform numbers in [0, 1) with the shapes pipbench needs,
 * on the project's one generator (`balancers/seeded-random.ts`).
 */
export function seededRandom(seed: number | string): Random {
  const next = uniformStream(seed);
  return {
    next,
    int: (n) => Math.floor(next() * n),
    normal: () => {
      // Box-Muller; 1 - u keeps the logarithm's argument in (0, 1].
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
  };
}

/** Lognormal draw given its median (e^mu) and sigma (the standard deviation of the log). */
export function lognormal(random: Random, median: number, sigma: number): number {
  return median * Math.exp(sigma * random.normal());
}

/** Poisson draw: Knuth's method for small means, the normal approximation for large ones (where e^-mean underflows). */
export function poisson(random: Random, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 30) return Math.max(0, Math.round(mean + Math.sqrt(mean) * random.normal()));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = random.next();
  while (p > limit) {
    k++;
    p *= random.next();
  }
  return k;
}

/** Zipf weights 1/rank^s for ranks 1..n. */
export function zipfWeights(n: number, s: number): number[] {
  const weights: number[] = [];
  for (let rank = 1; rank <= n; rank++) weights.push(1 / Math.pow(rank, s));
  return weights;
}

/** Draws indices in proportion to fixed non-negative weights (cumulative table + binary search). */
export class WeightedSampler {
  private readonly cumulative: number[];
  private readonly total: number;

  constructor(weights: readonly number[]) {
    let sum = 0;
    this.cumulative = weights.map((w) => {
      if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`weight must be a finite non-negative number, got ${w}`);
      sum += w;
      return sum;
    });
    if (!(sum > 0)) throw new Error('at least one weight must be positive');
    this.total = sum;
  }

  get size(): number {
    return this.cumulative.length;
  }

  sample(random: Random): number {
    const target = random.next() * this.total;
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.cumulative[mid] as number) > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
