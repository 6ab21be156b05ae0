import type { Balancer, BalancerFactory, BalancerOptions, LambdaInfo, WorkerView } from './types.js';

/** Weighted random: each healthy worker is chosen with probability weight / total weight. */
export const createRandom: BalancerFactory = (options: BalancerOptions): Balancer => {
  const random = options.random ?? Math.random;
  return {
    name: 'random',
    pick(_fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined {
      let total = 0;
      for (let i = 0; i < workers.length; i++) {
        const worker = workers[i];
        if (worker.healthy && worker.weight > 0) total += worker.weight;
      }
      let remaining = random() * total;
      // Also the answer when rounding leaves `remaining` a hair above zero, or no healthy worker has weight.
      let lastHealthy: WorkerView | undefined;
      for (let i = 0; i < workers.length; i++) {
        const worker = workers[i];
        if (!worker.healthy) continue;
        if (!(worker.weight > 0)) {
          lastHealthy ??= worker;
          continue;
        }
        lastHealthy = worker;
        remaining -= worker.weight;
        if (remaining < 0) return worker;
      }
      return lastHealthy;
    },
  };
};
