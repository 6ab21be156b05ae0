import { FreeHeap, loadOf } from './free-heap.js';
import { HashRing } from './hash-ring.js';
import { murmur3 } from './murmur3.js';
import { RoutableTotals } from './routable-totals.js';
import { routingKey } from './routing-key.js';
import { numberSetting } from './settings.js';
import { hasFreeConnection, type Balancer, type LambdaInfo, type Policy, type WorkerView } from './types.js';
import { eventHooks } from './worker-index.js';

export const balanceFactorSetting = numberSetting(
  'balanceFactor',
  'hashing-bounded: how far above the average load (per unit of weight) a worker may go before its keys spill to the next workers on the ring.',
  1.25,
  1,
  100,
  false,
);

/**
 * `hashing-bounded`: consistent hashing with bounded loads (Mirrokni, Thorup,
 * Zadimoghaddam 2018; HAProxy's hash-balance-factor). Worker i may hold at
 * most ceil(balanceFactor x (totalLoad + 1) x weight_i / totalWeight)
 * requests, totals over routable workers kept on events; load is `loadOf`
 * (other proxies' requests count on both sides, so the bound stays a multiple
 * of the average load the workers actually carry); a key goes to the
 * first worker clockwise from its hash that is under that bound and has a free
 * connection, else to the least-loaded free worker, so it never waits while a
 * connection is free.
 */
export const hashingBoundedPolicy: Policy = {
  name: 'hashing-bounded',
  settings: [balanceFactorSetting],
  create(settings): Balancer {
    const balanceFactor = balanceFactorSetting.parse(settings.balanceFactor ?? balanceFactorSetting.default) as number;
    const ring = new HashRing();
    const walker = ring.walker();
    const totals = new RoutableTotals();
    const free = new FreeHeap('weighted-least-recent');

    return {
      name: 'hashing-bounded',
      ...eventHooks(ring, totals, free),
      pick(fn: LambdaInfo): WorkerView | undefined {
        if (totals.weight > 0) {
          const allowance = (balanceFactor * (totals.load + 1)) / totals.weight;
          walker.start(murmur3(routingKey(fn)));
          for (let w = walker.next(); w !== undefined; w = walker.next()) {
            if (hasFreeConnection(w) && loadOf(w) < Math.ceil(allowance * w.weight)) return w;
          }
        }
        return free.peek();
      },
      describe: () => ({ balanceFactor, routableLoad: totals.load, routableWeight: totals.weight }),
    };
  },
};
