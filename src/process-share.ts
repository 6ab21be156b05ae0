// How many proxy processes run, and each one's share of a worker's connection limit.
import { availableParallelism } from 'node:os';
import { murmur3 } from '../balancers/murmur3.js';
import { MAX_PROCESSES } from './config.js';

/** The `processes` setting as a count: "auto" is the cores this process may use (its CPU affinity). */
export function processCount(setting: number | 'auto'): number {
  return setting === 'auto' ? Math.min(availableParallelism(), MAX_PROCESSES) : setting;
}

/**
 * Process `index`'s share of a worker's connection limit among `count`
 * processes: an equal part, and one more for `limit mod count` of them. Which
 * processes get the extra connections turns with the worker's id, so that with
 * many workers of a small limit no process is always short. The shares of one
 * worker sum to its limit, never more; a process whose share is 0 never
 * dispatches to that worker itself.
 */
export function connectionShare(limit: number, count: number, index: number, workerId: string): number {
  const base = Math.floor(limit / count);
  const extra = limit % count;
  const turn = murmur3(workerId) % count;
  return base + Number((index - turn + count) % count < extra);
}
