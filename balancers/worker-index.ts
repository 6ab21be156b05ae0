import type { Balancer, LambdaInfo, PlannedBatch, WorkerView } from './types.js';

/**
 * A structure a policy keeps over the workers (a heap, a weight tree, a ring,
 * totals), fed from the table's events. `update` re-reads everything of the
 * worker that the structure depends on (routable, in-flight, weight, limit), so
 * one method serves up, down, changed, taken and dropped.
 */
export interface WorkerIndex {
  add(worker: WorkerView): void;
  /** A batch of new workers; structures that sort (rings) do it once. */
  addMany?(workers: readonly WorkerView[]): void;
  remove(worker: WorkerView): void;
  /** Workers leaving together; structures that rebuild (rings) do it once. */
  removeMany?(workers: readonly WorkerView[]): void;
  update(worker: WorkerView): void;
  /** Workers changed together (a reload's new weights); structures that rebuild do it once. */
  updateMany?(workers: readonly WorkerView[]): void;
  /** Works out a coming batch ahead (see Balancer.prepare). */
  prepare?(batch: PlannedBatch, pause: () => Promise<void>): Promise<void>;
  /** A request (of `fn`, when known) was dispatched to the worker; defaults to `update`. */
  taken?(worker: WorkerView, fn?: LambdaInfo): void;
  /** A request (of `fn`, when known) on the worker ended; defaults to `update`. */
  dropped?(worker: WorkerView, fn?: LambdaInfo): void;
}

type EventHooks = Required<Pick<Balancer, 'added' | 'addedMany' | 'removed' | 'removedMany' | 'up' | 'down' | 'changed' | 'changedMany' | 'prepare' | 'taken' | 'dropped'>>;

/** The balancer's event hooks, forwarding every table event to each of `indexes` in order. */
export function eventHooks(...indexes: readonly WorkerIndex[]): EventHooks {
  const update = (worker: WorkerView): void => {
    for (const index of indexes) index.update(worker);
  };
  return {
    added(worker) {
      for (const index of indexes) index.add(worker);
    },
    addedMany(workers) {
      for (const index of indexes) {
        if (index.addMany !== undefined) index.addMany(workers);
        else for (const w of workers) index.add(w);
      }
    },
    removed(worker) {
      for (const index of indexes) index.remove(worker);
    },
    removedMany(workers) {
      for (const index of indexes) {
        if (index.removeMany !== undefined) index.removeMany(workers);
        else for (const w of workers) index.remove(w);
      }
    },
    up: update,
    down: update,
    changed: update,
    changedMany(workers) {
      for (const index of indexes) {
        if (index.updateMany !== undefined) index.updateMany(workers);
        else for (const w of workers) index.update(w);
      }
    },
    async prepare(batch, pause) {
      for (const index of indexes) await index.prepare?.(batch, pause);
    },
    dropped(worker, fn) {
      for (const index of indexes) {
        if (index.dropped !== undefined) index.dropped(worker, fn);
        else index.update(worker);
      }
    },
    taken(worker, fn) {
      for (const index of indexes) {
        if (index.taken !== undefined) index.taken(worker, fn);
        else index.update(worker);
      }
    },
  };
}
