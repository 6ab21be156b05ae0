import type { EvidenceSink, EvidenceSource, Observation } from './evidence.js';

/** What a policy knows about the function being invoked. */
export interface LambdaInfo {
  readonly name: string;
  /** The function's packages, largest first; `packages[0]` is the routing key of package-aware policies. */
  readonly packages: readonly string[];
}

/**
 * What a policy sees of one worker. The table hands out its live objects: read,
 * never write. `routable` is false while the worker is down, ejected or
 * draining; a routable worker with `inFlight < limit` has a free connection.
 */
export interface WorkerView {
  /** Stable identity (config `id`, else `host:port`); rings hash this. */
  readonly id: string;
  /** The worker's address as configured (`http://host:port`, or `host:port` as olscheduler wrote it). */
  readonly url: string;
  readonly weight: number;
  /** Connection limit: requests the worker runs at once. */
  readonly limit: number;
  /** Requests dispatched to it and not yet released. */
  readonly inFlight: number;
  /** Requests waiting in its own queue. */
  readonly queued: number;
  /**
   * Requests other proxies run on this worker, as of its last status report:
   * the in-flight count it reported minus this proxy's own at that moment (never
   * below 0; 0 while it reports none). Load-aware policies add it to `inFlight`
   * so that replicas in front of the same workers see each other's load; it
   * never counts against `limit`, which is this proxy's own share.
   */
  readonly external: number;
  readonly routable: boolean;
  /** Packages the worker holds: reported by the worker where it reports them, else what was routed to it. */
  readonly packages: ReadonlySet<string>;
  /** Cores the worker reported in its status (0: not reported). */
  readonly cores: number;
}

/** True when the worker is routable and has a free connection. */
export function hasFreeConnection(w: WorkerView): boolean {
  return w.routable && w.inFlight < w.limit;
}

/** A worker as a coming batch will have it: what a policy's structures place it by. */
export type PlannedWorker = Pick<WorkerView, 'id' | 'url' | 'weight'>;

/** A batch the table is about to apply: workers to add, workers (named by id) to take new weights, or workers (by id) to leave. */
export interface PlannedBatch {
  readonly kind: 'add' | 'change' | 'remove';
  readonly workers: readonly PlannedWorker[];
}

/**
 * A routing policy: a pure decision over the workers' views.
 *
 * `pick` is called only when at least one routable worker has a free
 * connection. It returns a worker with a free connection, or a routable but
 * full worker when the policy wants the request to wait in that worker's queue
 * (package-aware policies may prefer a short wait on a warm worker to a cold
 * start elsewhere). Policies that never wait (round-robin, random,
 * least-loaded, hashing-bounded) must return a worker with a free connection.
 *
 * The table calls the event hooks on every change, in order and synchronously,
 * so that a policy keeps its structures (rings, heaps, weight tables) current
 * and `pick` never scans every worker:
 *
 * - `added`/`removed`: membership. `addedMany` and `removedMany` (optional)
 *   receive a batch, so a ring is rebuilt once when N workers arrive or leave
 *   together; without them the table calls `added` / `removed` for each.
 * - `up`/`down`: the worker became routable / stopped being routable.
 * - `changed`: its weight, connection limit or `external` load changed;
 *   `changedMany` (optional) receives a batch (a reload re-weighting every
 *   worker re-places a ring once).
 * - `taken`/`dropped`: a request of `fn` was dispatched to / released from it
 *   (`inFlight` has already moved when the hook runs; `taken` comes before the
 *   table adds `fn`'s packages to the worker's set).
 */
export interface Balancer {
  readonly name: string;
  pick(fn: LambdaInfo, workers: readonly WorkerView[]): WorkerView | undefined;
  added?(w: WorkerView): void;
  addedMany?(ws: readonly WorkerView[]): void;
  removed?(w: WorkerView): void;
  removedMany?(ws: readonly WorkerView[]): void;
  up?(w: WorkerView): void;
  down?(w: WorkerView): void;
  changed?(w: WorkerView): void;
  changedMany?(ws: readonly WorkerView[]): void;
  /**
   * Works out ahead, a slice at a time (awaiting `pause()` between slices),
   * what the next batch (`addedMany`, or `changedMany` to these weights) will
   * need, so that the batch itself applies in one short step. Only that batch,
   * coming next with nothing changed in between, uses the work; otherwise the
   * batch does the work itself, as without a preparation. Optional.
   */
  prepare?(batch: PlannedBatch, pause: () => Promise<void>): Promise<void>;
  /** `fn` is the function of the request (absent where the caller does not know it). */
  taken?(w: WorkerView, fn?: LambdaInfo): void;
  dropped?(w: WorkerView, fn?: LambdaInfo): void;
  /**
   * Package-aware policies: whether `w` is one of the function's home workers
   * (where the policy sends it when load allows). Lets metrics tell a home
   * placement from a spill; policies without a home leave it out.
   */
  isHome?(fn: LambdaInfo, w: WorkerView): boolean;
  /** For `/status`: the policy's effective settings and any state worth showing (e.g. an auto threshold). */
  describe?(): Record<string, unknown>;
  /**
   * Observations the proxy's processes made (see `PolicyEnv.share`; this
   * one's come back here too), taken into the policy's models; `source` says
   * whose they are and names their workers and functions in this process.
   * Policies that learn nothing leave it out.
   */
  learn?(observations: readonly Observation[], source: EvidenceSource): void;
}

/** What loading one package costs a worker that lacks it (the `packages` table's entry). */
export interface PackageLoadCost {
  /** Installed size. */
  readonly sizeBytes: number;
  /** Wall time of installing it. */
  readonly installMs: number;
  /** Time of importing it into a fresh interpreter. */
  readonly importMs: number;
}

/** What every policy may use besides its own settings. */
export interface PolicyEnv {
  /** Random source for policies that draw; tests and the simulator pass a seeded one. */
  readonly random: () => number;
  /** Milliseconds, from the clock the table runs on (real or virtual). */
  readonly now: () => number;
  /**
   * What a package costs to load, from the `packages` table; absent (or
   * undefined for a name) when unknown: every package then counts the same,
   * and a function's list order still says which is largest.
   */
  readonly packageCost?: (name: string) => PackageLoadCost | undefined;
  /**
   * Where a policy's models hand each observation they learn from, instead of
   * folding it at once: the proxy's processes all feed every process's
   * observations, in one order, to `Balancer.learn`. Absent with one process,
   * where a model folds what it observes at once and builds nothing.
   */
  readonly share?: EvidenceSink;
}

/**
 * One config key a policy reads. The config loader adds it to the schema, so
 * it can come from the file, `WARMROUTE_<KEY>` or `--<kebab-key>` like any key.
 * `parse` returns the normalised value or throws an Error whose message says
 * what is allowed (the loader prefixes the key and the value).
 */
export interface PolicySetting {
  readonly key: string;
  readonly doc: string;
  readonly default: number | string | boolean;
  readonly parse: (value: unknown) => number | string | boolean;
}

/** A policy module: one per file in `balancers/`, listed once in `balancers/index.ts`. */
export interface Policy {
  readonly name: string;
  readonly settings?: readonly PolicySetting[];
  create(settings: Readonly<Record<string, unknown>>, env: PolicyEnv): Balancer;
}
