import type { IngressTimeouts, ProxyServer } from './raw-ingress.js';
import type { Logger } from 'pino';
import { createBalancer } from '../balancers/index.js';
import type { PolicyEnv } from '../balancers/types.js';
import type { QueueLimits, Scheduler } from './admission.js';
import { nextTurn as pause, type Clock } from './clock.js';
import { ConfigError, loadConfigFile, type ProxyConfig, type WorkerSpec } from './config.js';
import type { AddedWorkers, DrainedWorkers, RemovedWorkers } from './control.js';
import { DnsWorkerSource } from './discovery.js';
import type { HealthMonitor, HealthOptions } from './health.js';
import { readPackageTable, type PackageTable } from './packages.js';
import type { ForwardContext, ForwardSettings } from './proxy.js';
import { Registry } from './registry.js';
import type { Upstreams, UpstreamTimeouts } from './upstream.js';
import { readWorkerCa, type WorkerCa } from './worker-ca.js';
import type { TableOptions, Worker, WorkerChange, WorkerTable } from './workers.js';

/** Where each worker came from: a reload reconciles the config's, DNS its own; admin-added ones stay until removed. */
export type WorkerSource = 'config' | 'admin' | 'dns';

export function tableOptions(c: ProxyConfig): TableOptions {
  return {
    connectionsPerWorker: c.connectionsPerWorker,
    failTimeoutMs: c.failTimeoutMs,
    ejectionMaxMs: c.ejectionMaxMs,
    healthFall: c.healthFall,
    healthRise: c.healthRise,
    holdNewWorkers: c.healthCheckNewWorkers && c.healthIntervalMs > 0,
  };
}
export function queueLimits(c: ProxyConfig): QueueLimits {
  return { queueLimit: c.queueLimit, workerQueueLimit: c.workerQueueLimit, queueTimeoutMs: c.queueTimeoutMs };
}
export function healthOptions(c: ProxyConfig, workerCa: WorkerCa): HealthOptions {
  return { intervalMs: c.healthIntervalMs, timeoutMs: c.healthTimeoutMs, statusPath: c.statusPath, maxPollsPerSecond: c.healthMaxPollsPerSecond, workerCa: workerCa.context };
}
export function ingressTimeouts(c: ProxyConfig): IngressTimeouts {
  return { keepAliveTimeoutMs: c.clientKeepAliveTimeoutMs, headersTimeoutMs: c.clientHeadersTimeoutMs };
}
export function upstreamTimeouts(c: ProxyConfig): UpstreamTimeouts {
  return { connectTimeoutMs: c.connectTimeoutMs, headersTimeoutMs: c.headersTimeoutMs, bodyTimeoutMs: c.bodyTimeoutMs };
}
export function forwardSettings(c: ProxyConfig): ForwardSettings {
  return {
    maxBodyBytes: c.maxBodyBytes,
    ejectOn5xx: c.ejectOn5xx,
    accessLog: c.accessLog,
    responseTimeoutMs: c.responseTimeoutMs,
    queueLimit: c.queueLimit,
    queueTimeoutMs: c.queueTimeoutMs,
    clientBodyTimeoutMs: c.clientBodyTimeoutMs,
    connectRetries: c.connectRetries,
  };
}

/** A package table as read, with its text to tell whether a reload changed it. */
export interface LoadedPackages {
  readonly table: PackageTable | undefined;
  readonly text: string;
}

export async function readPackages(path: string): Promise<LoadedPackages> {
  const table = path !== '' ? await readPackageTable(path) : undefined;
  return { table, text: table === undefined ? '' : JSON.stringify([...table]) };
}

export async function openRegistry(path: string): Promise<Registry> {
  try {
    return path === '' ? Registry.open() : await Registry.fromFile(path);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
}

/** The parts of a running proxy the control plane steers. */
export interface ControlledParts {
  readonly table: WorkerTable;
  readonly scheduler: Scheduler;
  readonly upstreams: Upstreams;
  readonly health: HealthMonitor;
  readonly ctx: ForwardContext;
  readonly log: Logger;
  readonly clock: Clock;
}

export interface ControlOptions {
  /** The config file `reload()` re-reads; without it reload re-reads only the registry. */
  readonly configPath?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly args?: string[];
  /** Builds the policy environment for a package table. */
  readonly policyEnv: (costs: PackageTable | undefined) => PolicyEnv;
  /** Told of every configuration, registry, package table and worker CAs put in force after start (a primary hands them to its processes). */
  readonly applied?: (config: ProxyConfig, registry: Registry, packages: LoadedPackages, workerCa: WorkerCa) => void;
}

/** The parts a configuration is applied to; a serving process of several has no status polls of its own. */
export interface ConfiguredParts {
  readonly table: WorkerTable;
  readonly scheduler: Scheduler;
  readonly upstreams: Upstreams;
  readonly ctx: ForwardContext;
  readonly health?: HealthMonitor;
}

/** A configuration with what it names, as read: the package table and the worker CAs. */
export interface LoadedConfig {
  readonly config: ProxyConfig;
  readonly packages: LoadedPackages;
  readonly workerCa: WorkerCa;
}

/**
 * Hands every part its share of the `next` configuration; returns it with the
 * package table and worker CAs in force (the current ones where their text did
 * not change). The policy is rebuilt (losing what it learned) only when its
 * name, its settings or the package table changed; worker connections are
 * renewed only when the worker CAs changed.
 */
export function applyConfig(
  parts: ConfiguredParts,
  current: LoadedConfig,
  next: LoadedConfig,
  policyEnv: (costs: PackageTable | undefined) => PolicyEnv,
): LoadedConfig {
  const { table, scheduler, health, upstreams, ctx } = parts;
  const c = next.config;
  const packagesChanged = next.packages.text !== current.packages.text;
  const packages = packagesChanged ? next.packages : current.packages;
  const caChanged = next.workerCa.pem !== current.workerCa.pem;
  const workerCa = caChanged ? next.workerCa : current.workerCa;
  const policyChanged = packagesChanged || c.balancer !== current.config.balancer || JSON.stringify(c.policy) !== JSON.stringify(current.config.policy);
  if (policyChanged) table.setBalancer(createBalancer(c.balancer, c.policy, policyEnv(packages.table)));
  table.setOptions(tableOptions(c));
  scheduler.setLimits(queueLimits(c));
  health?.setOptions(healthOptions(c, workerCa));
  if (JSON.stringify(upstreamTimeouts(c)) !== JSON.stringify(upstreams.timeouts)) upstreams.setTimeouts(upstreamTimeouts(c));
  if (caChanged) upstreams.setWorkerCa(workerCa.context);
  ctx.settings = forwardSettings(c);
  return { config: c, packages, workerCa };
}

/**
 * The control plane: everything that changes what the proxy routes to. Worker
 * membership (add, remove, drain, reconcile with a source), the configuration
 * in force and its reload, DNS discovery, and shutdown. The request path reads
 * what it replaces (config, registry) through it at request time.
 */
export class ControlPlane {
  private config_: ProxyConfig;
  private registry_: Registry;
  private packages_: LoadedPackages;
  private workerCa_: WorkerCa;
  private readonly sources = new Map<string, WorkerSource>();
  private reloading_ = false;
  private dns: DnsWorkerSource | undefined;
  private closing: Promise<ShutdownOutcome> | undefined;

  constructor(
    private readonly parts: ControlledParts,
    private readonly options: ControlOptions,
    initial: LoadedConfig & { registry: Registry },
  ) {
    this.config_ = initial.config;
    this.registry_ = initial.registry;
    this.packages_ = initial.packages;
    this.workerCa_ = initial.workerCa;
    parts.table.listen({
      health: (w, from, to) => this.logHealth(w, from, to),
      removed: (w) => this.sources.delete(w.id),
    });
  }

  /** Health moves of the batch under way, grouped by kind, or undefined outside a batch. */
  private batchMoves: Map<string, { from: string; to: string; why: string; workers: string[] }> | undefined;

  private logHealth(w: Worker, from: string, to: string): void {
    const why = w.health.why;
    if (this.batchMoves === undefined) {
      this.parts.log.info({ worker: w.id, from, to, why }, 'worker health changed');
      return;
    }
    const key = `${from}\n${to}\n${why}`;
    let group = this.batchMoves.get(key);
    if (group === undefined) {
      group = { from, to, why, workers: [] };
      this.batchMoves.set(key, group);
    }
    group.workers.push(w.id);
  }

  /**
   * Runs a change to many workers, logging its health moves one line per kind
   * of move (`workers`, `count`) rather than one per worker: a drain of 10,000
   * workers writes one line, not 10,000.
   */
  private inBatch<T>(change: () => T): T {
    if (this.batchMoves !== undefined) return change();
    this.batchMoves = new Map();
    try {
      return change();
    } finally {
      const groups = this.batchMoves;
      this.batchMoves = undefined;
      for (const { from, to, why, workers } of groups.values()) {
        if (workers.length === 1) this.parts.log.info({ worker: workers[0], from, to, why }, 'worker health changed');
        else this.parts.log.info({ workers, count: workers.length, from, to, why }, 'worker health changed');
      }
    }
  }

  get config(): ProxyConfig {
    return this.config_;
  }

  get registry(): Registry {
    return this.registry_;
  }

  /** The package table in force. */
  get packages(): LoadedPackages {
    return this.packages_;
  }

  /** The worker CAs in force. */
  get workerCa(): WorkerCa {
    return this.workerCa_;
  }

  get reloading(): boolean {
    return this.reloading_;
  }

  /** Starts with the config's workers and its DNS source. */
  async start(): Promise<void> {
    this.addWorkers(this.config_.workers, 'config', false);
    await this.restartDns();
  }

  // Membership.

  /** `hold` false: trusted at once even where new workers wait for a first status check (the ones a proxy starts with). */
  addWorkers(specs: readonly WorkerSpec[], source: WorkerSource, hold = true): AddedWorkers {
    const { table, log } = this.parts;
    const added = table.add(specs, hold);
    const addedIds = added.map((w) => w.id);
    for (const id of addedIds) this.sources.set(id, source);
    let present: string[] = [];
    if (added.length < specs.length) {
      const fresh = new Set(addedIds);
      present = specs.filter((s) => !fresh.has(s.id)).map((s) => s.id);
    }
    if (added.length > 0) log.info({ added: addedIds, source }, 'workers added');
    if (source === 'admin') {
      // Adding a worker that was drained brings it back: otherwise it would stay out of routing for good.
      const resumed = present.map((id) => table.get(id)).filter((w): w is Worker => w !== undefined && w.draining);
      for (const w of resumed) table.undrain(w);
      if (resumed.length > 0) log.info({ resumed: resumed.map((w) => w.id) }, 'drained workers added again: back in routing');
    }
    return { added: addedIds, present };
  }

  /**
   * Works out ahead, a slice at a time, the policy's share of adding these
   * workers (its ring), so that `addWorkers` right after holds the event loop
   * for one short step.
   */
  prepareWorkers(specs: readonly WorkerSpec[]): Promise<void> {
    return this.parts.table.prepareAdd(specs, pause);
  }

  /** Works out the policy's share of removing these workers ahead, in slices, so that `removeWorkers` right after is one short step. */
  prepareRemoval(names: readonly string[]): Promise<void> {
    return this.parts.table.prepareRemove(this.resolveNames(names).found, pause);
  }

  removeWorkers(names: readonly string[]): RemovedWorkers {
    const { found, unknown } = this.resolveNames(names);
    this.inBatch(() => this.parts.table.remove(found));
    const removed = found.map((w) => ({ id: w.id, inFlight: w.inFlight }));
    if (removed.length > 0) this.parts.log.info({ removed }, 'workers removed');
    return { removed, unknown };
  }

  drainWorkers(names: readonly string[]): DrainedWorkers {
    const { found, unknown } = this.resolveNames(names);
    const drained = this.inBatch(() => found.map((w) => {
      const queuedMoved = w.queued;
      this.parts.table.drain(w);
      return { id: w.id, inFlight: w.inFlight, queuedMoved };
    }));
    if (drained.length > 0) this.parts.log.info({ drained }, 'workers drained');
    return { drained, unknown };
  }

  private resolveNames(names: readonly string[]): { found: Worker[]; unknown: string[] } {
    const found: Worker[] = [];
    const unknown: string[] = [];
    for (const name of names) {
      const w = this.parts.table.find(name);
      if (w) found.push(w);
      else unknown.push(name);
    }
    return { found, unknown };
  }

  /**
   * Brings the table to a source's worker list: adds, re-weights, re-limits, removes the source's own that left it.
   * Each kind of change goes to the table as one batch, so a policy's ring is rebuilt once per kind, not once per worker;
   * the policy works out the re-weighting and the additions ahead, a slice at a time, so that each batch applies in one
   * short step. Reconciles run one at a time, in the order asked.
   */
  reconcile(specs: readonly WorkerSpec[], source: WorkerSource, retire: boolean): Promise<void> {
    const turn = this.reconciles.then(() => this.reconcileNow(specs, source, retire));
    this.reconciles = turn.catch(() => undefined);
    return turn;
  }

  private reconciles: Promise<unknown> = Promise.resolve();

  private async reconcileNow(specs: readonly WorkerSpec[], source: WorkerSource, retire: boolean): Promise<void> {
    const table = this.parts.table;
    const wanted = new Map(specs.map((s) => [s.id, s]));
    const gone: Worker[] = [];
    const moved: Worker[] = [];
    const changes: WorkerChange[] = [];
    const back: Worker[] = [];
    for (const w of table.workers) {
      const spec = wanted.get(w.id);
      if (spec === undefined) {
        if (this.sources.get(w.id) === source) gone.push(w);
        continue;
      }
      if (spec.url !== w.origin) {
        // Same identity at a new address (a pod restarted with a new IP): the old entry goes, the new one
        // is added under the same id, so its ring position, and the function homes, stay.
        moved.push(w);
        continue;
      }
      changes.push({ worker: w, weight: spec.weight, limit: spec.connections ?? this.config_.connectionsPerWorker });
      // A worker that was on its way out because its source dropped it, and is listed again, comes back.
      if (w.retiring) back.push(w);
    }
    this.inBatch(() => table.remove(moved));
    await table.prepareUpdate(changes, pause);
    this.inBatch(() => {
      table.updateMany(changes);
      for (const w of back) table.undrain(w);
    });
    const fresh = (): WorkerSpec[] => specs.filter((s) => table.get(s.id) === undefined);
    await table.prepareAdd(fresh(), pause);
    // The new workers arrive and the ones that left go in one step: a source that replaced
    // all its workers never leaves the table without them.
    this.inBatch(() => {
      this.addWorkers(fresh(), source);
      if (retire) table.retire(gone);
      else table.remove(gone);
    });
  }

  // Configuration.

  /**
   * Re-reads the config file (else only the registry) and applies it.
   * Reloads run one at a time in the order they were asked for, each reading
   * the files when its turn comes, so the last one asked for is the one that
   * runs last, whatever their durations.
   */
  reload(): Promise<Record<string, unknown>> {
    return this.inTurn(() => (this.options.configPath === undefined ? this.readRegistryAgain() : this.reloadConfig(this.options.configPath)));
  }

  /** Re-reads the registry in force (the one a full reload installs), in turn with the other reloads. */
  reloadRegistry(): Promise<Record<string, unknown>> {
    return this.inTurn(() => this.readRegistryAgain());
  }

  private reloads: Promise<unknown> = Promise.resolve();

  private inTurn<T>(run: () => Promise<T>): Promise<T> {
    const turn = this.reloads.then(run);
    this.reloads = turn.catch(() => undefined);
    return turn;
  }

  private async readRegistryAgain(): Promise<Record<string, unknown>> {
    const registry = this.registry_;
    const functions = await registry.reload();
    this.options.applied?.(this.config_, registry, this.packages_, this.workerCa_);
    return { registry: registry.path || null, functions };
  }

  private async reloadConfig(configPath: string): Promise<Record<string, unknown>> {
    const { log } = this.parts;
    const next = loadConfigFile(configPath, { env: this.options.env, args: this.options.args, onWarning: (message) => log.warn(message) });
    const nextRegistry = await openRegistry(next.registry);
    // The package table is re-read too; the policy is rebuilt (losing what it learned) only when the table changed.
    const nextPackages = await readPackages(next.packages);
    const nextWorkerCa = await readWorkerCa(next.workerCaFile);
    this.reloading_ = true;
    try {
      this.apply({ config: next, packages: nextPackages, workerCa: nextWorkerCa }, nextRegistry);
      const previous = this.config_;
      this.config_ = next;
      await this.reconcile(next.workers, 'config', false);
      if (dnsChanged(previous, next)) await this.restartDns();
      const summary = { balancer: next.balancer, workers: this.parts.table.workers.map((w) => w.id), functions: this.registry_.isOpen ? null : this.registry_.size };
      log.info(summary, 'configuration reloaded');
      return summary;
    } finally {
      this.reloading_ = false;
    }
  }

  /** Hands every part its share of a new configuration. */
  private apply(next: LoadedConfig, nextRegistry: Registry): void {
    const applied = applyConfig(this.parts, { config: this.config_, packages: this.packages_, workerCa: this.workerCa_ }, next, this.options.policyEnv);
    this.packages_ = applied.packages;
    this.workerCa_ = applied.workerCa;
    this.registry_ = nextRegistry;
    this.options.applied?.(next.config, nextRegistry, this.packages_, this.workerCa_);
  }

  // DNS.

  private async restartDns(): Promise<void> {
    this.dns?.stop();
    this.dns = undefined;
    const c = this.config_;
    if (c.dnsName === '') {
      // No DNS source any more: the workers it found leave as they finish (retired as when DNS drops them).
      await this.reconcile([], 'dns', true);
      return;
    }
    try {
      this.dns = new DnsWorkerSource(
        { name: c.dnsName, type: c.dnsType, port: c.dnsPort, intervalMs: c.dnsIntervalMs, server: c.dnsServer },
        (found) => this.reconcile(found.map((d) => ({ ...d })), 'dns', true),
        this.parts.log,
        this.parts.clock,
      );
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    await this.dns.start();
  }

  // Shutdown.

  /** Stops background work when the proxy could not start. */
  async abort(): Promise<void> {
    this.dns?.stop();
    await this.parts.health.close();
    await this.parts.upstreams.close();
  }

  /**
   * Stops accepting and lets running and waiting requests finish for up to
   * `shutdownTimeoutMs` (`now`: not at all). Then, or at once when asked
   * again with `now`, waiting requests are answered 503 shutting_down and only
   * requests running on a worker are cut. Resolves with how many were cut and
   * refused; later calls share the first.
   */
  shutdown(server: ProxyServer, now = false): Promise<ShutdownOutcome> {
    this.closing ??= this.stop(server);
    if (now) this.hurry?.();
    return this.closing;
  }

  /** True once shutdown began: new requests, even on kept-alive connections, are refused. */
  get stopping(): boolean {
    return this.closing !== undefined;
  }

  private hurry: (() => void) | undefined;

  private async stop(server: ProxyServer): Promise<ShutdownOutcome> {
    this.dns?.stop();
    const now = new Promise<void>((resolve) => { this.hurry = resolve; });
    return drainServer(server, this.parts, this.config_.shutdownTimeoutMs, now);
  }
}

/** How a shutdown ended: requests cut while running, waiting ones answered 503, and whether the deadline (or a second signal) forced it. */
export interface ShutdownOutcome {
  readonly cut: number;
  readonly refused: number;
  readonly forced: boolean;
}

/**
 * Graceful stop of one serving process: stops accepting, lets running and
 * waiting requests finish for up to `timeoutMs` (or until `now` resolves).
 * Then waiting requests are answered 503 shutting_down, only requests running
 * on a worker are cut, and every connection is closed.
 */
export async function drainServer(
  server: ProxyServer,
  parts: { scheduler: Scheduler; upstreams: Upstreams; log: Logger; health?: HealthMonitor },
  timeoutMs: number,
  now: Promise<void> = new Promise(() => undefined),
): Promise<ShutdownOutcome> {
  const { scheduler, health, upstreams, log } = parts;
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
  const outcome = await Promise.race([scheduler.whenIdle().then(() => 'idle' as const), deadline, now.then(() => 'now' as const)]);
  clearTimeout(timer);
  let result: ShutdownOutcome = { cut: 0, refused: 0, forced: false };
  if (outcome !== 'idle') {
    const { running, waiting } = scheduler;
    log.error(
      { running, waiting, timeoutMs },
      outcome === 'now'
        ? 'second signal: shutting down now; answering queued requests 503 and cutting the running ones'
        : 'shutdown timed out; answering queued requests 503 and cutting the running ones',
    );
    scheduler.close('shutting_down');
    result = { cut: running, refused: waiting, forced: true };
    // The 503s are written; let them leave before the connections that still carry a running request are cut.
    await new Promise((resolve) => setImmediate(resolve));
    server.closeAllConnections();
  }
  await health?.close();
  await upstreams.close();
  server.closeAllConnections();
  await stopped;
  return result;
}

function dnsChanged(a: ProxyConfig, b: ProxyConfig): boolean {
  return a.dnsName !== b.dnsName || a.dnsType !== b.dnsType || a.dnsPort !== b.dnsPort || a.dnsServer !== b.dnsServer || a.dnsIntervalMs !== b.dnsIntervalMs;
}
