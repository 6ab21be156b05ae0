// A simulated OpenLambda worker: a real HTTP server whose invocations cost
// simulated time for package installs, imports and the handler itself, with a
// fixed number of cores and a bounded LRU package cache. The cost model is
// written down in pipbench/README.md ("pipbench worker").
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { footprintBytes, type PackageInfo, type Workload } from './workload.js';

export const WORKER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  cores: 2,
  /** Without cacheBytes, the cache holds this fraction of the workload's total package footprint. */
  cacheFraction: 0.5,
  timeScale: 1,
  handlerMs: 10,
} as const;

export interface SimWorkerOptions {
  workload: Workload;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Shows in responses and status; default `worker-<port>`. */
  name?: string;
  /** Invocations executing at once; more wait inside the worker, first come first served. */
  cores?: number;
  /** Bound of the package cache (installed bytes), LRU eviction. Default: cacheFraction of the workload's footprint. */
  cacheBytes?: number;
  /** Used only when cacheBytes is absent. */
  cacheFraction?: number;
  /** 0.1 => every cost 10x shorter. Default 1. */
  timeScale?: number;
  /** The handler's own run time at scale 1. */
  handlerMs?: number;
  /** The caches start holding every package of the workload and never evict. */
  allWarm?: boolean;
}

/** What one invocation cost. Times are simulated milliseconds at time scale 1 unless named wall. */
export interface InvocationResult {
  handler: string;
  worker: string;
  /** Packages that were not installed when this invocation needed them (installed by it, or awaited). */
  coldPackages: string[];
  /** Packages that were installed but not in the import cache (plus every cold package). */
  importedPackages: string[];
  /** Packages found installed and imported: no cost. */
  warmPackages: number;
  queueMs: number;
  installMs: number;
  importMs: number;
  runMs: number;
  /** queueMs + installMs + importMs + runMs. */
  totalMs: number;
  /** Real elapsed time inside the worker, in milliseconds (about totalMs x timeScale). */
  wallMs: number;
  timeScale: number;
}

export interface SimWorkerStatus {
  name: string;
  url: string;
  /** Invocations accepted and not yet answered: running + queued. */
  inFlight: number;
  running: number;
  queued: number;
  cores: number;
  /** Most invocations ever running at once. */
  peakRunning: number;
  /** The cache's bound (the whole footprint when allWarm). */
  cacheBytes: number;
  usedBytes: number;
  cachedPackageCount: number;
  /** Installed packages, least recently used first. */
  cachedPackages: string[];
  importCachedCount: number;
  /** Installs under way now. */
  installing: number;
  /** Installs and imports performed so far (a shared one counts once). */
  installs: number;
  imports: number;
  evictions: number;
  invocations: number;
  coldInvocations: number;
  warmInvocations: number;
  timeScale: number;
  handlerMs: number;
  allWarm: boolean;
}

export interface SimulatedWorker {
  readonly url: string;
  readonly port: number;
  readonly name: string;
  status(): SimWorkerStatus;
  close(): Promise<void>;
}

class WorkerClosedError extends Error {
  constructor() {
    super('the worker is shutting down');
  }
}

/** A counting semaphore whose waiters are served first come, first served. */
class CoreSlots {
  running = 0;
  peak = 0;
  private readonly waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(readonly cores: number) {}

  get queued(): number {
    return this.waiters.length;
  }

  acquire(): Promise<void> {
    if (this.running < this.cores) {
      this.take();
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) {
      // The slot passes straight to the next waiter, so a newcomer cannot overtake it.
      next.resolve();
    } else {
      this.running--;
    }
  }

  rejectAll(err: Error): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  private take(): void {
    this.running++;
    this.peak = Math.max(this.peak, this.running);
  }
}

/**
 * Installed packages with a byte bound and least-recently-used eviction. Pinned
 * packages (in use by a running invocation) are never evicted; while pins hold
 * more than the bound, the cache runs over it and is trimmed when they are released.
 */
class PackageCache {
  used = 0;
  evictions = 0;
  /** name -> bytes; Map order is recency order, least recent first. */
  private readonly entries = new Map<string, number>();
  private readonly pins = new Map<string, number>();

  constructor(readonly limit: number, private readonly evicts: boolean) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get size(): number {
    return this.entries.size;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  touch(name: string): void {
    const bytes = this.entries.get(name);
    if (bytes === undefined) return;
    this.entries.delete(name);
    this.entries.set(name, bytes);
  }

  pin(name: string): void {
    this.pins.set(name, (this.pins.get(name) ?? 0) + 1);
  }

  unpin(name: string): void {
    const count = (this.pins.get(name) ?? 0) - 1;
    if (count > 0) this.pins.set(name, count);
    else this.pins.delete(name);
  }

  /** Adds (as most recent) and returns what had to be evicted to make room. */
  insert(name: string, bytes: number): string[] {
    if (!this.entries.has(name)) this.used += bytes;
    this.entries.delete(name);
    this.entries.set(name, bytes);
    return this.trim();
  }

  trim(): string[] {
    const evicted: string[] = [];
    if (!this.evicts) return evicted;
    for (const [name, bytes] of this.entries) {
      if (this.used <= this.limit) break;
      if (this.pins.has(name)) continue;
      this.entries.delete(name);
      this.used -= bytes;
      this.evictions++;
      evicted.push(name);
    }
    return evicted;
  }
}

/** The worker's state and cost model, without HTTP. */
class SimulatedWorkerEngine {
  invocations = 0;
  installs = 0;
  imports = 0;
  coldInvocations = 0;
  warmInvocations = 0;
  readonly slots: CoreSlots;
  readonly cache: PackageCache;
  readonly importCache = new Set<string>();
  /** Installs and imports under way, so concurrent invocations share them instead of repeating them. */
  private readonly installing = new Map<string, Promise<void>>();
  private readonly importing = new Map<string, Promise<void>>();
  private readonly stop = new AbortController();

  constructor(
    private readonly workload: Workload,
    readonly name: string,
    cores: number,
    cacheBytes: number,
    readonly timeScale: number,
    readonly handlerMs: number,
    readonly allWarm: boolean,
  ) {
    this.slots = new CoreSlots(cores);
    this.cache = new PackageCache(cacheBytes, !allWarm);
    if (allWarm) {
      for (const info of workload.packages.values()) {
        this.cache.insert(info.name, info.bytes);
        this.importCache.add(info.name);
      }
    }
  }

  get installsUnderWay(): number {
    return this.installing.size;
  }

  has(handler: string): boolean {
    return this.workload.registry.has(handler);
  }

  shutdown(): void {
    this.stop.abort();
    this.slots.rejectAll(new WorkerClosedError());
  }

  async invoke(handler: string): Promise<InvocationResult> {
    const listed = this.workload.registry.get(handler);
    if (listed === undefined) throw new Error(`unknown handler ${handler}`);
    const packages = [...new Set(listed)];
    if (this.stop.signal.aborted) throw new WorkerClosedError();
    const arrived = performance.now();
    await this.slots.acquire();
    const queueMs = (performance.now() - arrived) / this.timeScale;

    const cold: string[] = [];
    const imported: string[] = [];
    let installMs = 0;
    let importMs = 0;
    // Pinned before anything is awaited: a package this invocation relies on must
    // not be evicted by another invocation between its install and its use.
    for (const name of packages) {
      this.cache.pin(name);
      this.cache.touch(name);
    }
    try {
      for (const name of packages) {
        if (this.cache.has(name)) continue;
        cold.push(name);
        installMs += await this.shareWork(this.installing, name, () => this.install(name), this.info(name).installMs);
      }
      for (const name of packages) {
        if (this.importCache.has(name)) continue;
        imported.push(name);
        importMs += await this.shareWork(this.importing, name, () => this.import(name), this.info(name).importMs);
      }
      await this.spend(this.handlerMs);
    } finally {
      for (const name of packages) this.cache.unpin(name);
      this.forgetImports(this.cache.trim());
      this.slots.release();
    }

    this.invocations++;
    if (cold.length > 0 || imported.length > 0) this.coldInvocations++;
    else this.warmInvocations++;
    const runMs = this.handlerMs;
    return {
      handler,
      worker: this.name,
      coldPackages: cold,
      importedPackages: imported,
      warmPackages: packages.length - imported.length,
      queueMs: round3(queueMs),
      installMs: round3(installMs),
      importMs: round3(importMs),
      runMs,
      totalMs: round3(queueMs + installMs + importMs + runMs),
      wallMs: round3(performance.now() - arrived),
      timeScale: this.timeScale,
    };
  }

  /**
   * Runs `work` for `name` unless another invocation already is, in which case it
   * waits for that one. Returns the simulated cost to charge: the full cost when
   * doing the work, the time actually waited (in scale-1 ms) when sharing it.
   */
  private async shareWork(pending: Map<string, Promise<void>>, name: string, work: () => Promise<void>, fullMs: number): Promise<number> {
    const underWay = pending.get(name);
    if (underWay) {
      const start = performance.now();
      await underWay;
      return (performance.now() - start) / this.timeScale;
    }
    const job = work().finally(() => pending.delete(name));
    pending.set(name, job);
    await job;
    return fullMs;
  }

  private async install(name: string): Promise<void> {
    const info = this.info(name);
    this.installs++;
    await this.spend(info.installMs);
    this.forgetImports(this.cache.insert(name, info.bytes));
  }

  private async import(name: string): Promise<void> {
    this.imports++;
    await this.spend(this.info(name).importMs);
    this.importCache.add(name);
  }

  /** An evicted package must be installed again, so it cannot stay importable either. */
  private forgetImports(evicted: readonly string[]): void {
    for (const name of evicted) this.importCache.delete(name);
  }

  private info(name: string): PackageInfo {
    const info = this.workload.packages.get(name);
    // startSimulatedWorker checks every registry package has an entry.
    if (!info) throw new Error(`no package info for ${name}`);
    return info;
  }

  private async spend(simulatedMs: number): Promise<void> {
    const ms = simulatedMs * this.timeScale;
    if (ms <= 0) return;
    try {
      await sleep(ms, undefined, { signal: this.stop.signal });
    } catch {
      throw new WorkerClosedError();
    }
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function validateOptions(opts: SimWorkerOptions): void {
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new Error(message);
  };
  const { cores, cacheBytes, cacheFraction, timeScale, handlerMs, port } = opts;
  check(cores === undefined || (Number.isInteger(cores) && cores >= 1), `cores must be a positive integer, got ${cores}`);
  check(cacheBytes === undefined || (Number.isFinite(cacheBytes) && cacheBytes >= 0), `cacheBytes must be a non-negative number, got ${cacheBytes}`);
  check(cacheFraction === undefined || (Number.isFinite(cacheFraction) && cacheFraction >= 0), `cacheFraction must be a non-negative number, got ${cacheFraction}`);
  check(timeScale === undefined || (Number.isFinite(timeScale) && timeScale > 0), `timeScale must be a positive number, got ${timeScale}`);
  check(handlerMs === undefined || (Number.isFinite(handlerMs) && handlerMs >= 0), `handlerMs must be a non-negative number, got ${handlerMs}`);
  check(port === undefined || (Number.isInteger(port) && port >= 0 && port <= 65535), `port must be an integer from 0 to 65535, got ${port}`);
  for (const [handler, packages] of opts.workload.registry) {
    const missing = packages.find((p) => !opts.workload.packages.has(p));
    if (missing !== undefined) throw new Error(`package "${missing}" of handler "${handler}" has no entry in the package table`);
  }
}

interface ErrorBody {
  error: { code: string; message: string };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function errorBody(code: string, message: string): ErrorBody {
  return { error: { code, message } };
}

const RUN_ROUTE = /^\/(?:runLambda|run)\/([^/]+)\/?$/;

export async function startSimulatedWorker(opts: SimWorkerOptions): Promise<SimulatedWorker> {
  validateOptions(opts);
  const workload = opts.workload;
  const allWarm = opts.allWarm ?? false;
  const footprint = footprintBytes(workload.packages.keys(), workload.packages);
  const cacheBytes = allWarm
    ? footprint
    : (opts.cacheBytes ?? Math.round(footprint * (opts.cacheFraction ?? WORKER_DEFAULTS.cacheFraction)));
  const host = opts.host ?? WORKER_DEFAULTS.host;
  const server: Server = createServer();

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${host}:${opts.port ?? 0}: ${err.message}`));
    server.once('error', onError);
    server.listen(opts.port ?? WORKER_DEFAULTS.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const name = opts.name ?? `worker-${port}`;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const engine = new SimulatedWorkerEngine(
    workload,
    name,
    opts.cores ?? WORKER_DEFAULTS.cores,
    cacheBytes,
    opts.timeScale ?? WORKER_DEFAULTS.timeScale,
    opts.handlerMs ?? WORKER_DEFAULTS.handlerMs,
    allWarm,
  );

  const status = (): SimWorkerStatus => ({
    name,
    url,
    inFlight: engine.slots.running + engine.slots.queued,
    running: engine.slots.running,
    queued: engine.slots.queued,
    cores: engine.slots.cores,
    peakRunning: engine.slots.peak,
    cacheBytes: engine.cache.limit,
    usedBytes: engine.cache.used,
    cachedPackageCount: engine.cache.size,
    cachedPackages: engine.cache.names(),
    importCachedCount: engine.importCache.size,
    installing: engine.installsUnderWay,
    installs: engine.installs,
    imports: engine.imports,
    evictions: engine.cache.evictions,
    invocations: engine.invocations,
    coldInvocations: engine.coldInvocations,
    warmInvocations: engine.warmInvocations,
    timeScale: engine.timeScale,
    handlerMs: engine.handlerMs,
    allWarm,
  });

  const handleRun = async (req: IncomingMessage, res: ServerResponse, rawName: string): Promise<void> => {
    let handler: string;
    try {
      handler = decodeURIComponent(rawName);
    } catch {
      sendJson(res, 400, errorBody('bad_request', `malformed function name in ${req.url ?? ''}`));
      return;
    }
    // The body is read and discarded: the simulated handler has no use for it.
    req.resume();
    try {
      await finished(req);
    } catch {
      return; // the client went away before sending its body
    }
    if (!engine.has(handler)) {
      sendJson(res, 404, errorBody('unknown_function', `function "${handler}" is not in this worker's registry`));
      return;
    }
    try {
      sendJson(res, 200, await engine.invoke(handler));
    } catch (err) {
      if (err instanceof WorkerClosedError) sendJson(res, 503, errorBody('worker_closed', err.message));
      else sendJson(res, 500, errorBody('internal', (err as Error).message));
    }
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://worker').pathname;
    const method = req.method ?? 'GET';
    const run = RUN_ROUTE.exec(path);
    const allow = (methods: string): boolean => {
      if (methods.split(', ').includes(method)) return true;
      req.resume();
      sendJson(res, 405, errorBody('method_not_allowed', `${method} is not allowed on ${path}; use ${methods}`), { allow: methods });
      return false;
    };
    if (run) {
      if (allow('POST')) void handleRun(req, res, run[1] as string);
      return;
    }
    req.resume();
    if (path === '/status') {
      if (allow('GET, HEAD')) sendJson(res, 200, status());
    } else if (path === '/') {
      if (allow('GET, HEAD')) sendJson(res, 200, { status: 'ok', name });
    } else {
      sendJson(res, 404, errorBody('not_found', `no route ${path}; try POST /runLambda/<name>, POST /run/<name>, GET /status`));
    }
  });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      engine.shutdown();
      // Let the aborted invocations write their 503 before connections are cut.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    })();
    return closing;
  };

  return { url, port, name, status, close };
}
