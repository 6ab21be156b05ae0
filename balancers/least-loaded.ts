import { FreeHeap } from './free-heap.js';
import type { Balancer, Policy } from './types.js';
import { eventHooks } from './worker-index.js';

/**
 * `least-loaded`: the worker with a free connection and the lowest
 * `inFlight / weight`; among equals the one that was sent a request longest
 * ago, so equal workers share. A heap over the free workers, kept on the
 * table's events, answers in O(1).
 */
export const leastLoadedPolicy: Policy = {
  name: 'least-loaded',
  create(): Balancer {
    const free = new FreeHeap('weighted-least-recent');
    return {
      name: 'least-loaded',
      ...eventHooks(free),
      pick: () => free.peek(),
    };
  },
};
