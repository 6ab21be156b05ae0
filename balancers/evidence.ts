import type { LambdaInfo, WorkerView } from './types.js';

/**
 * What the learned models take in, so that the processes of one proxy
 * (`processes` above 1) learn from each other's requests. Completions: a
 * model hands what it measured to its sink instead of folding it at once,
 * and folds every process's, its own included, as the primary relays them:
 * one sequence in one order, so every process's estimates are the same.
 * Dispatches: see DispatchObservation. Plain data (it crosses processes as
 * JSON); a worker is named by its stable id, a function by its name.
 */
export type Observation = ServiceObservation | WorkObservation | DispatchObservation;

/** ServiceTimes: one completion on a worker and the in-flight integrals since the one before. */
export interface ServiceObservation {
  readonly kind: 'service';
  readonly worker: string;
  /** Request-milliseconds on the worker since its previous completion. */
  readonly area: number;
  /** Milliseconds with at least one request on the worker since then. */
  readonly busy: number;
  /** Request-milliseconds over every worker since the previous completion anywhere. */
  readonly clusterArea: number;
  /** It completed at the same instant as the worker's previous completion (they share one decay). */
  readonly joint: boolean;
}

/** WorkModel: one completed request's CPU work and the packages it lacked at dispatch (0: warm). */
export interface WorkObservation {
  readonly kind: 'work';
  readonly work: number;
  readonly missing: number;
}

/**
 * A request of function `fn` was dispatched to a worker. Unlike completions,
 * the process that dispatched it has already taken it in (the very next pick
 * must see it), so only the other processes do: the packages it sends the
 * worker count as held there, and as installing where the worker lacked them.
 */
export interface DispatchObservation {
  readonly kind: 'dispatch';
  readonly worker: string;
  readonly fn: string;
}

/** Where a model hands what it measured itself; absent with one process, which folds it at once and builds nothing. */
export type EvidenceSink = (o: Observation) => void;

/** Where a batch of observations came from, and how to name what they name in this process. */
export interface EvidenceSource {
  /** The batch is this process's own, come back (its dispatches were taken in when they happened). */
  readonly own: boolean;
  workerOf(id: string): WorkerView | undefined;
  functionOf(name: string): LambdaInfo | undefined;
}

/**
 * A model that takes in observations, each as the primary relays it; `w` and
 * `fn`: the named worker and function here (undefined when none is named, and
 * never called for a worker or function this process does not know).
 */
export interface Learner {
  learn(o: Observation, w: WorkerView | undefined, fn: LambdaInfo | undefined, own: boolean): void;
}

/** Feeds each observation to every model in turn, naming its worker and function through `source`. */
export function learnAll(learners: readonly Learner[], observations: readonly Observation[], source: EvidenceSource): void {
  for (const o of observations) {
    let w: WorkerView | undefined;
    let fn: LambdaInfo | undefined;
    if (o.kind !== 'work') {
      w = source.workerOf(o.worker);
      if (w === undefined) continue;
    }
    if (o.kind === 'dispatch') {
      if (source.own) continue;
      fn = source.functionOf(o.fn);
      if (fn === undefined) continue;
    }
    for (const learner of learners) learner.learn(o, w, fn, source.own);
  }
}
