import type { AddressInfo } from 'node:net';
import type { Server } from 'node:net';
import { pino, type Logger } from 'pino';
import type { EvidenceSink } from '../balancers/evidence.js';
import { createBalancer } from '../balancers/index.js';
import type { Balancer, PolicyEnv } from '../balancers/types.js';
import { Scheduler } from './admission.js';
import { realClock, type Clock } from './clock.js';
import { ConfigError, loadConfig, type ProxyConfig } from './config.js';
import type { ProxyControl } from './control.js';
import {
  ControlPlane, type ControlOptions, forwardSettings, type ShutdownOutcome, healthOptions, ingressTimeouts, openRegistry, queueLimits, readPackages, tableOptions, upstreamTimeouts,
} from './control-plane.js';
import { HealthMonitor } from './health.js';
import { ProxyMetrics } from './metrics.js';
import type { PackageTable } from './packages.js';
import type { ForwardContext } from './proxy.js';
import { createProxyServer } from './server.js';
import type { ProxyServer } from './raw-ingress.js';
import { Upstreams } from './upstream.js';
import { readWorkerCa, type WorkerCa } from './worker-ca.js';
import { WorkerTable, type TableOptions } from './workers.js';

export interface RunningProxy extends ProxyControl {
  readonly url: string;
  readonly port: number;
  readonly upstreams: Upstreams;
  readonly health: HealthMonitor;
  /**
   * Stops accepting, lets running and waiting requests finish for up to
   * `shutdownTimeoutMs` (with `now`, or when called again with it: not at
   * all), then answers the waiting ones 503 shutting_down and cuts the running
   * ones. Resolves with how many were cut and refused.
   */
  close(now?: boolean): Promise<ShutdownOutcome>;
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

/** The default logger: JSON lines, or pino-pretty when stdout is a terminal; `base` adds fields to every line. */
export function makeLogger(level: string, base: Record<string, unknown> = {}): Logger {
  const options = { level, base: { service: 'warmroute', ...base } };
  if (process.stdout.isTTY) return pino(options, pino.transport({ target: 'pino-pretty', options: { colorize: true } }));
  return pino(options);
}

/**
 * What policies may use besides their settings: the random source, the clock,
 * the package table's costs, and (in a proxy of several processes) where their
 * models hand what they observe for the other processes.
 */
export function policyEnvWith(random: () => number, clock: Clock, share?: EvidenceSink): (costs: PackageTable | undefined) => PolicyEnv {
  return (costs) => ({ random, now: () => clock.now(), packageCost: costs && ((name: string) => costs.get(name)), share });
}

/** The parts that serve requests, around a table built by the caller. */
export interface ServingParts {
  readonly scheduler: Scheduler;
  readonly metrics: ProxyMetrics;
  readonly upstreams: Upstreams;
  readonly ctx: ForwardContext;
}

export function servingParts(table: WorkerTable, config: ProxyConfig, log: Logger, clock: Clock, workerCa: WorkerCa): ServingParts {
  const scheduler = new Scheduler(table, clock, queueLimits(config));
  const metrics = new ProxyMetrics(table, () => scheduler);
  const upstreams = new Upstreams(table, upstreamTimeouts(config), workerCa.context);
  const ctx: ForwardContext = { table, scheduler, upstreams, metrics, log, clock, settings: forwardSettings(config) };
  return { scheduler, metrics, upstreams, ctx };
}

/** Builds a worker table; a primary of several processes passes one that records its changes. */
export type TableMaker = (balancer: Balancer, clock: Clock, options: TableOptions) => WorkerTable;

/** A proxy's parts and its control plane, started (config workers added, DNS running), not yet listening. */
export interface ComposedProxy extends ServingParts {
  readonly table: WorkerTable;
  readonly health: HealthMonitor;
  readonly plane: ControlPlane;
  readonly log: Logger;
  readonly control: ProxyControl;
}

/**
 * Builds the parts (table, scheduler, metrics, connections, health) and the
 * control plane that steers them, and starts the plane.
 */
export async function composeProxy(config: ProxyConfig, options: StartOptions & { makeTable?: TableMaker; applied?: ControlOptions['applied'] } = {}): Promise<ComposedProxy> {
  const clock: Clock = realClock;
  const log = options.logger ?? makeLogger(config.logLevel);
  const policyEnv = policyEnvWith(options.random ?? Math.random, clock);
  const packages = await readPackages(config.packages);
  const registry = await openRegistry(config.registry);
  const workerCa = await readWorkerCa(config.workerCaFile);

  const makeTable = options.makeTable ?? ((b, c, o) => new WorkerTable(b, c, o));
  const table = makeTable(createBalancer(config.balancer, config.policy, policyEnv(packages.table)), clock, tableOptions(config));
  const serving = servingParts(table, config, log, clock, workerCa);
  const { scheduler, metrics, upstreams, ctx } = serving;
  const health = new HealthMonitor(table, clock, healthOptions(config, workerCa), log);
  const plane = new ControlPlane(
    { table, scheduler, upstreams, health, ctx, log, clock },
    { configPath: options.configPath, env: options.env, args: options.args, policyEnv, applied: options.applied },
    { config, registry, packages, workerCa },
  );
  await plane.start();

  const control: ProxyControl = {
    table,
    scheduler,
    get registry() { return plane.registry; },
    metrics,
    log,
    ctx,
    config: () => plane.config,
    reloading: () => plane.reloading,
    stopping: () => plane.stopping,
    addWorkers: (specs) => plane.addWorkers(specs, 'admin'),
    prepareWorkers: (specs) => plane.prepareWorkers(specs),
    prepareRemoval: (names) => plane.prepareRemoval(names),
    removeWorkers: (names) => plane.removeWorkers(names),
    drainWorkers: (names) => plane.drainWorkers(names),
    reload: () => plane.reload(),
    reloadRegistry: () => plane.reloadRegistry(),
  };
  return { ...serving, table, health, plane, log, control };
}

/**
 * Starts a proxy from an already validated configuration: composes it, then
 * its HTTP server listens.
 */
export async function startProxyWith(config: ProxyConfig, options: StartOptions = {}): Promise<RunningProxy> {
  // A reload hands the server its new client timeouts; none comes before the server exists.
  let serving: ProxyServer | undefined;
  const { control, plane, table, upstreams, health, log } = await composeProxy(config, { ...options, applied: (c) => serving?.setTimeouts(ingressTimeouts(c)) });
  const server = (serving = createProxyServer(control, ingressTimeouts(config)));
  let url: string;
  try {
    url = await listen(server, config);
  } catch (err) {
    await plane.abort();
    throw err;
  }
  log.info({ url, balancer: config.balancer, workers: table.workers.map((w) => w.id), functions: plane.registry.isOpen ? 'any' : plane.registry.size }, 'warmroute listening');

  return Object.assign(control, {
    url,
    port: (server.address() as AddressInfo).port,
    upstreams,
    health,
    close: (now?: boolean) => plane.shutdown(server, now),
  }) as RunningProxy;
}

/** Listens on the config's address; resolves with the proxy's URL, or throws ConfigError naming why not. */
export async function listen(server: Server, config: ProxyConfig): Promise<string> {
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
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot listen on ${config.host}:${config.port} (${e.code ?? e.message})`);
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  return `http://${host}:${port}`;
}
