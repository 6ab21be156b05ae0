import { createHashingBounded } from './hashing-bounded.js';
import { createLeastLoaded } from './least-loaded.js';
import { createPkgAware } from './pkg-aware.js';
import { createPkgAwareRing } from './pkg-aware-ring.js';
import { createRandom } from './random.js';
import { createRoundRobin } from './round-robin.js';
import type { Balancer, BalancerFactory, BalancerOptions } from './types.js';

export type { Balancer, BalancerFactory, BalancerOptions, LambdaInfo, WorkerView } from './types.js';

// The one list of policies: a new policy is a new file plus one line here.
// Names are olscheduler's, so its configs keep working.
const factories: ReadonlyMap<string, BalancerFactory> = new Map<string, BalancerFactory>([
  ['round-robin', createRoundRobin],
  ['random', createRandom],
  ['least-loaded', createLeastLoaded],
  ['pkg-aware', createPkgAware],
  ['hashing-bounded', createHashingBounded],
  ['pkg-aware-ring', createPkgAwareRing],
]);

export const balancerNames: readonly string[] = Object.freeze([...factories.keys()]);

/** Policies that read `loadThreshold`; experiments sweep it for these. */
export const thresholdPolicies: ReadonlySet<string> = new Set(['pkg-aware', 'pkg-aware-ring']);

export function isBalancerName(name: string): boolean {
  return factories.has(name);
}

/** A fresh instance of the named policy; throws when the name is not one of `balancerNames`. */
export function createBalancer(name: string, options: BalancerOptions): Balancer {
  const factory = factories.get(name);
  if (factory === undefined) {
    throw new Error(`unknown balancer "${name}"; allowed: ${balancerNames.join(', ')}`);
  }
  return factory(options);
}
