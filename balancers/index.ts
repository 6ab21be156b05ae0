import { costAwarePolicy } from './cost-aware.js';
import { hashingBoundedPolicy } from './hashing-bounded.js';
import { leastLoadedPolicy } from './least-loaded.js';
import { pkgAwarePolicy } from './pkg-aware.js';
import { pkgAwareRingPolicy } from './pkg-aware-ring.js';
import { randomPolicy } from './random.js';
import { roundRobinPolicy } from './round-robin.js';
import type { Balancer, Policy, PolicyEnv, PolicySetting } from './types.js';

export type { Balancer, LambdaInfo, Policy, PolicyEnv, PolicySetting, WorkerView } from './types.js';
export { hasFreeConnection } from './types.js';

// The one list of policies: a new policy is a new file plus one line here.
// Names are olscheduler's, so its configs keep working.
const list: readonly Policy[] = [
  roundRobinPolicy,
  randomPolicy,
  leastLoadedPolicy,
  pkgAwarePolicy,
  hashingBoundedPolicy,
  pkgAwareRingPolicy,
  costAwarePolicy,
];

const byName: ReadonlyMap<string, Policy> = new Map(list.map((p) => [p.name, p]));

export const balancerNames: readonly string[] = Object.freeze(list.map((p) => p.name));

export function isBalancerName(name: string): boolean {
  return byName.has(name);
}

/**
 * Every setting of every policy, once per key (policies may share a key, e.g.
 * pkg-aware and pkg-aware-ring both read `loadThreshold`; the first declaration wins).
 */
export function policySettings(): readonly PolicySetting[] {
  const seen = new Map<string, PolicySetting>();
  for (const p of list) for (const s of p.settings ?? []) if (!seen.has(s.key)) seen.set(s.key, s);
  return [...seen.values()];
}

/** Names of the policies that read `key` (experiments sweep `loadThreshold` over these). */
export function policiesReading(key: string): string[] {
  return list.filter((p) => (p.settings ?? []).some((s) => s.key === key)).map((p) => p.name);
}

/**
 * A fresh instance of the named policy. `settings` holds values by setting key
 * (as the config loader produced them); a missing key takes the setting's
 * default. Throws when the name is not one of `balancerNames`.
 */
export function createBalancer(name: string, settings: Readonly<Record<string, unknown>>, env: PolicyEnv): Balancer {
  const policy = byName.get(name);
  if (policy === undefined) throw new Error(`unknown balancer "${name}"; allowed: ${balancerNames.join(', ')}`);
  const values: Record<string, unknown> = {};
  for (const s of policy.settings ?? []) values[s.key] = settings[s.key] ?? s.default;
  return policy.create(values, env);
}
