import { FreeHeap, type FreeOrder } from './free-heap.js';
import type { Balancer, Policy, PolicySetting } from './types.js';
import { eventHooks } from './worker-index.js';

export type LeastLoadedTies = 'least-recent' | 'list-order';
const tieRules: readonly LeastLoadedTies[] = ['least-recent', 'list-order'];

/** Read by least-loaded: which of several equally loaded workers takes the request. */
export const tiesSetting: PolicySetting = {
  key: 'ties',
  doc: 'least-loaded: among equally loaded workers, "least-recent" (the one sent a request longest ago, so equal workers share) or "list-order" (the first in the worker list, weights ignored, as olscheduler scans its list: at light load every request goes to the first worker).',
  default: 'least-recent',
  parse(value: unknown): LeastLoadedTies {
    const rule = tieRules.find((r) => r === value);
    if (rule === undefined) throw new Error(`ties must be one of ${tieRules.map((r) => `"${r}"`).join(', ')}, got ${JSON.stringify(value)}`);
    return rule;
  },
};

const heapOrder: Readonly<Record<LeastLoadedTies, FreeOrder>> = { 'least-recent': 'weighted-least-recent', 'list-order': 'count-list-order' };

/**
 * `least-loaded`: the worker with a free connection and the lowest
 * `inFlight / weight`; among equals the one that was sent a request longest
 * ago, so equal workers share (or, with `ties: "list-order"`, the first in
 * the list, as olscheduler). A heap over the free workers, kept on the
 * table's events, answers in O(1).
 */
export const leastLoadedPolicy: Policy = {
  name: 'least-loaded',
  settings: [tiesSetting],
  create(settings): Balancer {
    const ties = tiesSetting.parse(settings.ties ?? tiesSetting.default) as LeastLoadedTies;
    const free = new FreeHeap(heapOrder[ties]);
    return {
      name: 'least-loaded',
      ...eventHooks(free),
      pick: () => free.peek(),
    };
  },
};
