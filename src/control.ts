import type { Logger } from 'pino';
import type { AdminAnswer, AdminRequest } from './admin.js';
import type { Scheduler } from './admission.js';
import type { ProxyConfig, WorkerSpec } from './config.js';
import type { ProxyMetrics } from './metrics.js';
import type { ForwardContext } from './proxy.js';
import type { Registry } from './registry.js';
import type { WorkerTable } from './workers.js';

export interface AddedWorkers { added: string[]; present: string[] }
export interface RemovedWorkers { removed: { id: string; inFlight: number }[]; unknown: string[] }
export interface DrainedWorkers { drained: { id: string; inFlight: number; queuedMoved: number }[]; unknown: string[] }

/**
 * A serving process's line to its primary, in a proxy of several processes:
 * the primary answers what concerns the whole proxy.
 */
export interface PrimaryLink {
  admin(request: AdminRequest): Promise<AdminAnswer>;
  /** `/status` of the whole proxy, every process's counts added up. */
  status(verbose: boolean): Promise<unknown>;
  /** `/metrics` of every process, aggregated (Prometheus text). */
  metrics(): Promise<string>;
}

/** What the HTTP side (ingress, admin API, status) needs from the running proxy. */
export interface ProxyControl {
  readonly table: WorkerTable;
  readonly scheduler: Scheduler;
  /** The registry in force: replaced on reload, so read it at request time. */
  readonly registry: Registry;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly ctx: ForwardContext;
  /** The configuration in force (replaced on reload). */
  config(): ProxyConfig;
  /** True while a reload is being applied (readiness reports not ready). */
  reloading(): boolean;
  /** True once shutdown began: invocations are refused 503 shutting_down with `connection: close`. */
  stopping(): boolean;
  addWorkers(specs: readonly WorkerSpec[]): AddedWorkers;
  /** Works out the policy's share of adding these workers ahead, in slices, so that `addWorkers` right after is one short step. */
  prepareWorkers?(specs: readonly WorkerSpec[]): Promise<void>;
  /** As prepareWorkers, for `removeWorkers`. */
  prepareRemoval?(names: readonly string[]): Promise<void>;
  removeWorkers(names: readonly string[]): RemovedWorkers;
  drainWorkers(names: readonly string[]): DrainedWorkers;
  /** Re-reads the config file and the registry; throws ConfigError and keeps the running config when invalid. */
  reload(): Promise<Record<string, unknown>>;
  /** Re-reads the registry in force; throws ConfigError and keeps it when invalid. */
  reloadRegistry(): Promise<Record<string, unknown>>;
  /** Set in a serving process of several: the admin API, /status and /metrics are the primary's. */
  readonly primary?: PrimaryLink;
}
