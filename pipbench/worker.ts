// A simulated OpenLambda worker over HTTP: a thin server around the worker
// model (pipbench/model.ts), which it runs on the real clock scaled by the
// time scale. The model is written down in pipbench/README.md ("Worker model").
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { finished } from 'node:stream/promises';
import { realClock, type Clock } from '../src/clock.js';
import { MODEL_DEFAULTS, WorkerClosedError, createCpu as createCpuOn, WorkerModel, type CpuDiscipline, type CpuModel, type InvocationResult as ModelResult, type ModelParams, type ModelStatus } from './model.js';
import { footprintBytes, type Workload } from './workload.js';

export const WORKER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  cpu: MODEL_DEFAULTS.cpu,
  cores: MODEL_DEFAULTS.cores,
  timeScale: 1,
  handlerMs: MODEL_DEFAULTS.handlerMs,
} as const;

export interface SimWorkerOptions {
  workload: Workload;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Shows in responses and status; default `worker-<port>`. Give stable names (worker1...) where placement matters. */
  name?: string;
  /** `shared` (processor sharing) or `fcfs` (cores held first come, first served). */
  cpu?: CpuDiscipline;
  /** Processors (see ModelParams.cores). */
  cores?: number;
  /** Disk bound for installed packages, bytes; default unbounded. */
  cacheBytes?: number;
  /** The disk bound as a fraction of the workload's footprint, when cacheBytes is absent. */
  cacheFraction?: number;
  /** Interpreter cache bound, bytes of import memory; default 0 (none, as in the thesis). */
  importCacheBytes?: number;
  /** 0.1 => every cost 10x shorter. Default 1. */
  timeScale?: number;
  /** The handler's own run time at scale 1. */
  handlerMs?: number;
  /** Disk and interpreters start holding every package of the workload and never evict. */
  allWarm?: boolean;
  /** Any other model parameter (installScale, importScale, sandboxMs, installOnCpu). */
  model?: Partial<ModelParams>;
  /**
   * A CPU shared with other workers in this process (workers on one host),
   * made with `sharedHostCpu` for the same time scale.
   */
  hostCpu?: SharedHost;
}

/** One CPU for several HTTP workers, on the clock their time scale gives. */
export interface SharedHost {
  readonly clock: Clock;
  readonly cpu: CpuModel;
  readonly timeScale: number;
}

/** What one invocation cost (model milliseconds, time scale 1) plus the real time it took. */
export interface InvocationResult extends ModelResult {
  /** Real elapsed time inside the worker, in milliseconds (about totalMs x timeScale). */
  wallMs: number;
  timeScale: number;
}

/**
 * `GET /status`: the live-state contract the proxy reads (`packages`,
 * `inFlight`, `cores`) plus the model's counters.
 */
export interface SimWorkerStatus extends ModelStatus {
  name: string;
  url: string;
  /** Disk bound (Infinity, shown as null in JSON: unbounded). */
  cacheBytes: number;
  usedBytes: number;
  cachedPackageCount: number;
  /** Same as `packages`: installed, least recently used first. */
  cachedPackages: string[];
  timeScale: number;
  handlerMs: number;
}

export interface SimulatedWorker {
  readonly url: string;
  readonly port: number;
  readonly name: string;
  status(): SimWorkerStatus;
  close(): Promise<void>;
}

/**
 * The real clock, in model milliseconds: at time scale 0.1 a model second passes in 100 real ms.
 * Its timers never fire before they are due on its own `now()`: Node's timers
 * count from the event loop's cached time, so a 0.5 ms timer can fire 0.1 ms
 * after it was set, and a worker would then charge less than its table cost.
 * A timer that wakes early sleeps again for what is left.
 */
export function scaledClock(timeScale: number): Clock {
  return {
    now: () => realClock.now() / timeScale,
    setTimer(ms, fn) {
      const due = realClock.now() + Math.max(0, ms) * timeScale;
      const fire = (): void => {
        const left = due - realClock.now();
        if (left > 0) current = realClock.setTimer(left, fire);
        else fn();
      };
      let current = realClock.setTimer(due - realClock.now(), fire);
      return { cancel: () => current.cancel() };
    },
  };
}

export function sharedHostCpu(timeScale: number, discipline: CpuDiscipline, cores: number): SharedHost {
  const clock = scaledClock(timeScale);
  return { clock, cpu: createCpuOn(clock, discipline, cores), timeScale };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function validateOptions(opts: SimWorkerOptions): void {
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new Error(message);
  };
  const { cacheBytes, cacheFraction, timeScale, port, hostCpu } = opts;
  check(cacheBytes === undefined || cacheBytes >= 0, `cacheBytes must be a non-negative number, got ${cacheBytes}`);
  check(cacheFraction === undefined || (Number.isFinite(cacheFraction) && cacheFraction >= 0), `cacheFraction must be a non-negative number, got ${cacheFraction}`);
  check(timeScale === undefined || (Number.isFinite(timeScale) && timeScale > 0), `timeScale must be a positive number, got ${timeScale}`);
  check(port === undefined || (Number.isInteger(port) && port >= 0 && port <= 65535), `port must be an integer from 0 to 65535, got ${port}`);
  check(hostCpu === undefined || timeScale === undefined || hostCpu.timeScale === timeScale, 'hostCpu was made for another time scale');
}

/** The model's parameters from the worker's options; the model validates them. */
function modelParams(opts: SimWorkerOptions): ModelParams {
  const workload = opts.workload;
  const footprint = footprintBytes(workload.packages.keys(), workload.packages);
  const params: ModelParams = { ...MODEL_DEFAULTS, ...opts.model };
  if (opts.cpu !== undefined) params.cpu = opts.cpu;
  if (opts.cores !== undefined) params.cores = opts.cores;
  if (opts.handlerMs !== undefined) params.handlerMs = opts.handlerMs;
  if (opts.importCacheBytes !== undefined) params.importCacheBytes = opts.importCacheBytes;
  if (opts.allWarm !== undefined) params.allWarm = opts.allWarm;
  if (opts.cacheBytes !== undefined) params.diskBytes = opts.cacheBytes;
  else if (opts.cacheFraction !== undefined) params.diskBytes = Math.round(footprint * opts.cacheFraction);
  if (params.allWarm) params.diskBytes = footprint;
  return params;
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
  const timeScale = opts.hostCpu?.timeScale ?? opts.timeScale ?? WORKER_DEFAULTS.timeScale;
  const clock = opts.hostCpu?.clock ?? scaledClock(timeScale);
  const params = modelParams(opts);
  // Built before listening, so bad parameters fail without a socket left open.
  const provisional = new WorkerModel(workload, clock, params, opts.name ?? 'worker', opts.hostCpu?.cpu);
  provisional.close();
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
  const model = new WorkerModel(workload, clock, params, name, opts.hostCpu?.cpu);
  const open = new Set<ServerResponse>();

  const status = (): SimWorkerStatus => {
    const m = model.status();
    return {
      name,
      url,
      ...m,
      cacheBytes: m.diskBytes,
      usedBytes: m.usedDiskBytes,
      cachedPackageCount: m.packages.length,
      cachedPackages: m.packages,
      timeScale,
      handlerMs: params.handlerMs,
    };
  };

  const invoke = (handler: string, res: ServerResponse): void => {
    const startedWall = realClock.now();
    open.add(res);
    try {
      model.invoke(handler, (result) => {
        open.delete(res);
        const answer: InvocationResult = { ...result, wallMs: Math.round((realClock.now() - startedWall) * 1000) / 1000, timeScale };
        sendJson(res, 200, answer);
      });
    } catch (err) {
      open.delete(res);
      if (err instanceof WorkerClosedError) sendJson(res, 503, errorBody('worker_closed', err.message));
      else sendJson(res, 500, errorBody('internal', (err as Error).message));
    }
  };

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
    if (!model.has(handler)) {
      sendJson(res, 404, errorBody('unknown_function', `function "${handler}" is not in this worker's registry`));
      return;
    }
    invoke(handler, res);
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
      model.close();
      const closedError = new WorkerClosedError();
      for (const res of open) sendJson(res, 503, errorBody('worker_closed', closedError.message));
      open.clear();
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
