import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { createBalancer } from '../balancers/index.js';
import { Admission } from './admission.js';
import { ConfigError, loadConfig, type ProxyConfig } from './config.js';
import { ProxyMetrics } from './metrics.js';
import { Registry } from './registry.js';
import { createProxyServer } from './server.js';
import { WorkerTable } from './workers.js';

export interface RunningProxy {
  readonly url: string;
  readonly port: number;
  readonly config: ProxyConfig;
  readonly table: WorkerTable;
  readonly registry: Registry;
  readonly admission: Admission;
  readonly log: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Folder that relative paths in `config` (the registry) are resolved against. */
  readonly baseDir?: string;
  /** A logger to use instead of one built from `logLevel` (writing JSON lines to stdout). */
  readonly logger?: Logger;
  /** Random source for policies that draw (random); tests pass a seeded one. */
  readonly random?: () => number;
}

/**
 * Starts a proxy from a configuration object in the config-file format
 * (warmroute or olscheduler keys). Throws ConfigError on bad configuration.
 */
export async function startProxy(config: Record<string, unknown> | ProxyConfig, options: StartOptions = {}): Promise<RunningProxy> {
  const conf = loadConfig({ values: config as Record<string, unknown>, source: 'config', baseDir: options.baseDir });
  return startProxyWith(conf, options);
}

/** Starts a proxy from an already validated configuration. */
export async function startProxyWith(config: ProxyConfig, options: Omit<StartOptions, 'baseDir'> = {}): Promise<RunningProxy> {
  const log = options.logger ?? pino({ level: config.logLevel, base: { service: 'warmroute' } });
  let registry: Registry;
  try {
    registry = config.registry === '' ? Registry.open() : await Registry.fromFile(config.registry);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const balancer = createBalancer(config.balancer, {
    loadThreshold: config.loadThreshold,
    balanceFactor: config.balanceFactor,
    random: options.random,
  });
  let admission: Admission | undefined;
  let metrics: ProxyMetrics | undefined;
  const table: WorkerTable = new WorkerTable(
    balancer,
    {
      connections: config.connectionsPerWorker,
      connectTimeoutMs: config.connectTimeoutMs,
      headersTimeoutMs: config.headersTimeoutMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
    },
    config.failTimeoutMs,
    {
      onChange: (t) => admission?.setCapacity(t.capacity),
      onAdded: (w) => metrics?.workerAdded(w),
      onRemoved: (w) => metrics?.workerRemoved(w),
    },
  );
  admission = new Admission(config.queueLimit, config.queueTimeoutMs, 0);
  metrics = new ProxyMetrics(() => table, () => admission);

  const simulated = config.simulatedWorkers > 0 ? await startSimulatedCluster(config) : undefined;
  table.add([...config.workers, ...(simulated?.specs ?? [])]);

  const server = createProxyServer({ config, registry, table, admission, metrics, log });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await table.close();
    await simulated?.close();
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot listen on ${config.host}:${config.port} (${e.code ?? e.message})`);
  }
  const { port } = server.address() as AddressInfo;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  const url = `http://${host}:${port}`;
  log.info({ url, balancer: config.balancer, workers: table.workers.map((w) => w.id), functions: registry.isOpen ? 'any' : registry.size }, 'warmroute listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    config,
    table,
    registry,
    admission,
    log,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await table.close();
        await simulated?.close();
      })();
      return closing;
    },
  };
}

/** The embedded demo: simulated pipbench workers on loopback, serving the configured registry. */
async function startSimulatedCluster(config: ProxyConfig): Promise<{ specs: { url: string; weight: number }[]; close(): Promise<void> }> {
  if (config.registry === '') throw new ConfigError('simulatedWorkers: needs a registry, so the simulated workers know each function\'s packages');
  const { loadWorkload } = await import('../pipbench/workload.js');
  const { startSimulatedWorker } = await import('../pipbench/worker.js');
  const workload = await loadWorkload({ registry: config.registry });
  const workers: { url: string; close(): Promise<void> }[] = [];
  for (let i = 0; i < config.simulatedWorkers; i++) {
    workers.push(await startSimulatedWorker({ workload, host: '127.0.0.1', port: 0, name: `sim-${i}`, timeScale: config.simulatedTimeScale }));
  }
  return {
    specs: workers.map((w) => ({ url: w.url, weight: 1 })),
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
