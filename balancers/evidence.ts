import type { WorkerView } from './types.js';

/**
 * What a learned model takes in at one completion, so that the processes of
 * one proxy (`processes` above 1) learn from each other's requests: a model
 * hands what it measured to its sink instead of folding it at once, and
 * folds every process's observations, its own included, as the primary
 * relays them: one sequence in one order, so every process's estimates are
 * the same. Plain data (it crosses processes as JSON); a worker is named by
 * its stable id.
 */
export type Observation = ServiceObservation | WorkObservation;

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

/** Where a model hands what it measured itself; absent with one process, which folds it at once and builds nothing. */
export type EvidenceSink = (o: Observation) => void;

/** A model that takes in observations made elsewhere; `w`: the named worker here, undefined when none is named or known. */
export interface Learner {
  learn(o: Observation, w: WorkerView | undefined): void;
}

/** Feeds each observation to every model in turn, naming its worker by id through `workerOf`. */
export function learnAll(learners: readonly Learner[], observations: readonly Observation[], workerOf: (id: string) => WorkerView | undefined): void {
  for (const o of observations) {
    const w = o.kind === 'service' ? workerOf(o.worker) : undefined;
    if (o.kind === 'service' && w === undefined) continue;
    for (const learner of learners) learner.learn(o, w);
  }
}
