import { HashRing } from './hash-ring.js';
import { LeastLoadedPicker } from './least-loaded.js';
import { murmur3 } from './murmur3.js';
import { routingKey } from './routing-key.js';
import type { Balancer, BalancerFactory, BalancerOptions, LambdaInfo, WorkerView } from './types.js';

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018;
 * HAProxy's hash-balance-factor). Worker i may hold at most
 * ceil(balanceFactor x (totalInFlight + 1) x weight_i / totalWeight) requests,
 * totals taken over healthy workers; a key goes to the first healthy worker
 * clockwise from its hash that is under its capacity. Keys stay home while
 * their worker is not overloaded and spill to ring neighbours when it is.
 */
export const createHashingBounded: BalancerFactory = (options: BalancerOptions): Balancer => {
  const ring = new HashRing();
  const walker = ring.walker();
  const fallback = new LeastLoadedPicker();
  const balanceFactor = options.balanceFactor;

  return {
    name: 'hashing-bounded',
    added(worker: WorkerView): void {
      ring.add(worker);
    },
    removed(worker: WorkerView): void {
      ring.remove(worker);
    },
    pick(fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined {
      let totalInFlight = 0;
      let totalWeight = 0;
      let anyHealthy = false;
      for (let i = 0; i < workers.length; i++) {
        const worker = workers[i];
        if (!worker.healthy) continue;
        anyHealthy = true;
        totalInFlight += worker.inFlight;
        if (worker.weight > 0) totalWeight += worker.weight;
      }
      if (!anyHealthy) return undefined;
      const allowance = (balanceFactor * (totalInFlight + 1)) / totalWeight;
      walker.start(murmur3(routingKey(fn)));
      for (let worker = walker.next(); worker !== undefined; worker = walker.next()) {
        if (worker.healthy && worker.inFlight < Math.ceil(allowance * worker.weight)) return worker;
      }
      // Only reachable when no healthy worker is on the ring, or balanceFactor < 1.
      return fallback.pick(workers);
    },
  };
};
