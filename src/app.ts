import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { pino, type Logger } from 'pino';
import { createBalancer } from '../balancers/index.js';
import type { PolicyEnv } from '../balancers/types.js';
import { Scheduler, type QueueLimits } from './admission.js';
import { realClock, type Clock } from './clock.js';
import { ConfigError, loadConfig, loadConfigFile, type ProxyConfig, type WorkerSpec } from './config.js';
import { DnsWorkerSource } from './discovery.js';
import { HealthMonitor, type HealthOptions } from './health.js';
import { ProxyMetrics } from './metrics.js';
import type { ForwardContext, ForwardSettings } from './proxy.js';
import { readPackageTable, type PackageTable } from './packages.js';
import { Registry } from './registry.js';
import { createProxyServer, type ProxyControl } from './server.js';
import { Upstreams, type UpstreamTimeouts } from './upstream.js';
import { WorkerTable, type TableOptions, type Worker } from './workers.js';

export interface RunningProxy extends ProxyControl {
  readonly url: string;
  readonly port: number;
  readonly upstreams: Upstreams;
  readonly health: HealthMonitor;
  /**
   * Stops accepting, lets running and waiting requests finish for up to
   * `shutdownTimeoutMs`, then cuts what is left. Resolves with how many
   * requests were cut (0 for a clean stop).
   */
  close(): Promise<{ cut: number }>;
}

export interface StartOptions {
  /** Folder that relative paths in `config` (the registry) are resolved against. */
  readonly baseDir?: string;
  /** The config file `reload()` re-reads (SIGHUP, POST /admin/reload); without it reload re-reads only the registry. */
  readonly configPath?: string;
  /** A logger to use instead of one built from `logLevel`. */
  readonly logger?: Logger;
  /** Random source for policies that draw; tests pass a seeded one. */
  readonly random?: () => number;
  /** Environment and flags that override the file on every reload, as at start. */
  readonly env?: NodeJS.ProcessEnv;
  readonly args?: string[];
}

/**
 * Starts a proxy from a configuration object in the config-file format
 * (warmroute or olscheduler keys). Throws ConfigError on bad configuration.
 */
export async function startProxy(config: Record<string, unknown>, options: StartOptions = {}): Promise<RunningProxy> {
  const conf = loadConfig({ values: config, source: 'config', baseDir: options.baseDir });
  return startProxyWith(conf, options);
}

function tableOptions(c: ProxyConfig): TableOptions {
  return { connectionsPerWorker: c.connectionsPerWorker, failTimeoutMs: c.failTimeoutMs, ejectionMaxMs: c.ejectionMaxMs, healthFall: c.healthFall, healthRise: c.healthRise };
}
function queueLimits(c: ProxyConfig): QueueLimits {
  return { queueLimit: c.queueLimit, workerQueueLimit: c.workerQueueLimit, queueTimeoutMs: c.queueTimeoutMs };
}
function healthOptions(c: ProxyConfig): HealthOptions {
  return { intervalMs: c.healthIntervalMs, timeoutMs: c.healthTimeoutMs, statusPath: c.statusPath };
}
function upstreamTimeouts(c: ProxyConfig): UpstreamTimeouts {
  return { connectTimeoutMs: c.connectTimeoutMs, headersTimeoutMs: c.headersTimeoutMs, bodyTimeoutMs: c.bodyTimeoutMs };
}
function forwardSettings(c: ProxyConfig): ForwardSettings {
  return {
    maxBodyBytes: c.maxBodyBytes,
    ejectOn5xx: c.ejectOn5xx,
    accessLog: c.accessLog,
    responseTimeoutMs: c.responseTimeoutMs,
    queueLimit: c.queueLimit,
    queueTimeoutMs: c.queueTimeoutMs,
    clientBodyTimeoutMs: c.clientBodyTimeoutMs,
  };
}

/** The default logger: JSON lines, or pino-pretty when stdout is a terminal. */
function makeLogger(level: string): Logger {
  const base = { level, base: { service: 'warmroute' } };
  if (process.stdout.isTTY) return pino(base, pino.transport({ target: 'pino-pretty', options: { colorize: true } }));
  return pino(base);
}

/** Where each worker came from: a reload reconciles the config's, DNS its own; admin-added ones stay until removed. */
type WorkerSource = 'config' | 'admin' | 'dns';

/** Starts a proxy from an already validated configuration. */
export async function startProxyWith(initial: ProxyConfig, options: StartOptions = {}): Promise<RunningProxy> {
  let config = initial;
  const clock: Clock = realClock;
  const log = options.logger ?? makeLogger(config.logLevel);
  const random = options.random ?? Math.random;
  const readPackages = async (path: string): Promise<{ table: PackageTable | undefined; text: string }> => {
    const table = path !== '' ? await readPackageTable(path) : undefined;
    return { table, text: table === undefined ? '' : JSON.stringify([...table]) };
  };
  const envWith = (costs: PackageTable | undefined): PolicyEnv => ({ random, now: () => clock.now(), packageCost: costs && ((name: string) => costs.get(name)) });
  let packages = await readPackages(config.packages);
  let policyEnv = envWith(packages.table);
  let registry: Registry;
  try {
    registry = config.registry === '' ? Registry.open() : await Registry.fromFile(config.registry);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const table = new WorkerTable(createBalancer(config.balancer, config.policy, policyEnv), clock, tableOptions(config));
  const scheduler = new Scheduler(table, clock, queueLimits(config));
  const metrics = new ProxyMetrics(table, () => scheduler);
  const upstreams = new Upstreams(table, upstreamTimeouts(config));
  const health = new HealthMonitor(table, clock, healthOptions(config), log);
  const ctx: ForwardContext = { table, scheduler, upstreams, metrics, log, clock, settings: forwardSettings(config) };
  const sources = new Map<string, WorkerSource>();
  let reloading = false;

  table.listen({
    health: (w, from, to) => log.info({ worker: w.id, from, to, why: w.health.why }, 'worker health changed'),
    removed: (w) => sources.delete(w.id),
  });

  function addWorkers(specs: readonly WorkerSpec[], source: WorkerSource): { added: string[]; present: string[] } {
    const added = table.add(specs);
    for (const w of added) sources.set(w.id, source);
    const addedIds = new Set(added.map((w) => w.id));
    const present = specs.filter((s) => !addedIds.has(s.id)).map((s) => s.id);
    if (added.length > 0) log.info({ added: [...addedIds], source }, 'workers added');
    if (source === 'admin') {
      // Adding a worker that was drained brings it back: otherwise it would stay out of routing for good.
      const resumed = present.map((id) => table.get(id)).filter((w): w is Worker => w !== undefined && w.draining);
      for (const w of resumed) table.undrain(w);
      if (resumed.length > 0) log.info({ resumed: resumed.map((w) => w.id) }, 'drained workers added again: back in routing');
    }
    return { added: [...addedIds], present };
  }

  function resolveNames(names: readonly string[]): { found: Worker[]; unknown: string[] } {
    const found: Worker[] = [];
    const unknown: string[] = [];
    for (const name of names) {
      const w = table.find(name);
      if (w) found.push(w);
      else unknown.push(name);
    }
    return { found, unknown };
  }

  function removeWorkers(names: readonly string[]): { removed: { id: string; inFlight: number }[]; unknown: string[] } {
    const { found, unknown } = resolveNames(names);
    table.remove(found);
    const removed = found.map((w) => ({ id: w.id, inFlight: w.inFlight }));
    if (removed.length > 0) log.info({ removed }, 'workers removed');
    return { removed, unknown };
  }

  function drainWorkers(names: readonly string[]): { drained: { id: string; inFlight: number; queuedMoved: number }[]; unknown: string[] } {
    const { found, unknown } = resolveNames(names);
    const drained = found.map((w) => {
      const queuedMoved = w.queued;
      table.drain(w);
      return { id: w.id, inFlight: w.inFlight, queuedMoved };
    });
    if (drained.length > 0) log.info({ drained }, 'workers drained');
    return { drained, unknown };
  }

  /** Brings the table to the config's worker list: adds, re-weights, re-limits, removes the config's own that left it. */
  function reconcile(specs: readonly WorkerSpec[], source: WorkerSource, retire: boolean): void {
    const wanted = new Map(specs.map((s) => [s.id, s]));
    const gone: Worker[] = [];
    for (const w of table.workers) {
      const spec = wanted.get(w.id);
      if (spec === undefined) {
        if (sources.get(w.id) === source) gone.push(w);
        continue;
      }
      if (spec.url !== w.origin) {
        // Same identity at a new address (a pod restarted with a new IP): the old entry goes, the new one
        // is added under the same id, so its ring position, and the function homes, stay.
        table.remove([w]);
        continue;
      }
      table.update(w, spec.weight, spec.connections ?? config.connectionsPerWorker);
      // A worker that was on its way out because its source dropped it, and is listed again, comes back.
      if (w.retiring) table.undrain(w);
    }
    if (retire) for (const w of gone) table.retire(w);
    else table.remove(gone);
    addWorkers(specs.filter((s) => table.get(s.id) === undefined), source);
  }

  async function reload(): Promise<Record<string, unknown>> {
    if (options.configPath === undefined) {
      const functions = await registry.reload();
      return { registry: registry.path || null, functions };
    }
    const next = loadConfigFile(options.configPath, { env: options.env, args: options.args, onWarning: (message) => log.warn(message) });
    const nextRegistry = next.registry === '' ? Registry.open() : await Registry.fromFile(next.registry).catch((err: unknown) => {
      throw new ConfigError((err as Error).message);
    });
    // The package table is re-read too; the policy is rebuilt (losing what it learned) only when the table changed.
    const nextPackages = await readPackages(next.packages);
    reloading = true;
    try {
      const packagesChanged = nextPackages.text !== packages.text;
      if (packagesChanged) {
        packages = nextPackages;
        policyEnv = envWith(packages.table);
      }
      const policyChanged = packagesChanged || next.balancer !== config.balancer || JSON.stringify(next.policy) !== JSON.stringify(config.policy);
      if (policyChanged) table.setBalancer(createBalancer(next.balancer, next.policy, policyEnv));
      table.setOptions(tableOptions(next));
      scheduler.setLimits(queueLimits(next));
      health.setOptions(healthOptions(next));
      if (JSON.stringify(upstreamTimeouts(next)) !== JSON.stringify(upstreams.timeouts)) upstreams.setTimeouts(upstreamTimeouts(next));
      ctx.settings = forwardSettings(next);
      registry = nextRegistry;
      const previous = config;
      config = next;
      reconcile(next.workers, 'config', false);
      if (next.dnsName !== previous.dnsName || next.dnsType !== previous.dnsType || next.dnsPort !== previous.dnsPort || next.dnsServer !== previous.dnsServer || next.dnsIntervalMs !== previous.dnsIntervalMs) {
        await restartDns();
      }
      const summary = { balancer: config.balancer, workers: table.workers.map((w) => w.id), functions: registry.isOpen ? null : registry.size };
      log.info(summary, 'configuration reloaded');
      return summary;
    } finally {
      reloading = false;
    }
  }

  let dns: DnsWorkerSource | undefined;
  async function restartDns(): Promise<void> {
    dns?.stop();
    dns = undefined;
    if (config.dnsName === '') return;
    try {
      dns = new DnsWorkerSource(
        { name: config.dnsName, type: config.dnsType, port: config.dnsPort, intervalMs: config.dnsIntervalMs, server: config.dnsServer },
        (found) => reconcile(found.map((d) => ({ ...d })), 'dns', true),
        log,
        clock,
      );
    } catch (err) {
      throw new ConfigError((err as Error).message);
    }
    await dns.start();
  }

  addWorkers(config.workers, 'config');
  await restartDns();

  const control: ProxyControl = {
    table,
    scheduler,
    get registry() { return registry; },
    metrics,
    log,
    ctx,
    config: () => config,
    reloading: () => reloading,
    addWorkers: (specs) => addWorkers(specs, 'admin'),
    removeWorkers,
    drainWorkers,
    reload,
  };
  const server: Server = createProxyServer(control);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The backlog is the kernel's queue of connections not yet accepted; Node's default (511) overflows
      // under a burst of clients, and each connection dropped then waits 1 s, 3 s, 7 s... in TCP retransmission.
      server.listen({ port: config.port, host: config.host, backlog: config.listenBacklog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    dns?.stop();
    await health.close();
    await upstreams.close();
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot listen on ${config.host}:${config.port} (${e.code ?? e.message})`);
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  log.info({ url, balancer: config.balancer, workers: table.workers.map((w) => w.id), functions: registry.isOpen ? 'any' : registry.size }, 'warmroute listening');

  let closing: Promise<{ cut: number }> | undefined;
  async function shutdown(): Promise<{ cut: number }> {
    dns?.stop();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), config.shutdownTimeoutMs); });
    const outcome = await Promise.race([scheduler.whenIdle().then(() => 'idle' as const), timedOut]);
    clearTimeout(timer);
    const cut = outcome === 'idle' ? 0 : scheduler.running + scheduler.waiting;
    if (cut > 0) {
      log.error({ running: scheduler.running, waiting: scheduler.waiting, timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; cutting the requests still open');
      server.closeAllConnections();
    }
    await health.close();
    await upstreams.close();
    server.closeAllConnections();
    await stopped;
    return { cut };
  }

  return Object.assign(control, {
    url,
    port,
    upstreams,
    health,
    close() {
      closing ??= shutdown();
      return closing;
    },
  }) as RunningProxy;
}

