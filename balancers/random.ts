import type { Balancer, Policy, PolicyEnv } from './types.js';
import { WeightTree } from './weight-tree.js';
import { eventHooks } from './worker-index.js';

/**
 * `random`: weighted random over the workers with a free connection, each
 * drawn with probability weight / total free weight, in O(log n) from a sum
 * tree kept on the table's events. Full workers are never drawn, so no
 * connection idles while another worker's requests wait.
 */
export const randomPolicy: Policy = {
  name: 'random',
  create(_settings, env: PolicyEnv): Balancer {
    const weights = new WeightTree();
    return {
      name: 'random',
      ...eventHooks(weights),
      pick: () => weights.draw(env.random()),
    };
  },
};
