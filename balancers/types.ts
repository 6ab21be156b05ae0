/** What a policy knows about the function being invoked. */
export interface LambdaInfo {
  readonly name: string;
  /** The function's packages, largest first; `packages[0]` is the routing key of package-aware policies. */
  readonly packages: readonly string[];
}

/** What a policy sees of one worker. The table hands out its live objects: read, never write. */
export interface WorkerView {
  readonly id: string;
  readonly url: URL;
  readonly weight: number;
  readonly inFlight: number;
  readonly healthy: boolean;
  readonly packages: ReadonlySet<string>;
}

/**
 * A routing policy: a pure decision over the workers' views. `pick` returns
 * undefined only when no healthy worker exists. Policies that keep structure
 * (hash rings) maintain it in `added`/`removed`, which the worker table calls
 * on every change, so `pick` never rebuilds anything.
 */
export interface Balancer {
  readonly name: string;
  pick(fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined;
  added?(w: WorkerView): void;
  removed?(w: WorkerView): void;
}

export interface BalancerOptions {
  /** pkg-aware: in-flight count (per unit of weight) at which the home worker is passed over. */
  readonly loadThreshold: number;
  /** hashing-bounded: a worker may hold at most ceil(balanceFactor x average load). */
  readonly balanceFactor: number;
  /** Seed for policies that draw random numbers; tests set it for repeatable picks. */
  readonly random?: () => number;
}

export type BalancerFactory = (options: BalancerOptions) => Balancer;
