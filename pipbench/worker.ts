// An OpenLambda-style worker over HTTP: the routes and the `GET /status`
// contract (serveWorker), whatever engine runs the invocations. The default
// engine is the worker model (pipbench/model/index.ts) on the real clock scaled by
// the time scale, written down in pipbench/README.md ("Worker model"); the
// process engine (pipbench/process-engine/) runs real pip and Python.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { finished } from 'node:stream/promises';
import { realClock, type Clock } from '../src/clock.js';
import { MODEL_DEFAULTS, WorkerClosedError, createCpu as createCpuOn, round3, WorkerModel, type CpuDiscipline, type CpuModel, type InvocationResult as ModelResult, type ModelParams, type ModelStatus } from './model/index.js';
import { footprintBytes, type Workload } from './workload.js';

export const WORKER_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  cpu: MODEL_DEFAULTS.cpu,
  cores: MODEL_DEFAULTS.cores,
  timeScale: 1,
  handlerMs: MODEL_DEFAULTS.handlerMs,
} as const;

export interface SimWorkerOptions extends ServeOptions {
  workload: Workload;
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

/** A worker running the model. */
export type SimulatedWorker = RunningWorker<SimWorkerStatus>;

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

/**
 * What the HTTP side needs from an engine (the model, or real processes): the
 * routes and the `GET /status` contract are the same whichever runs the calls.
 */
export interface WorkerEngine<Answer extends object = object, Status extends EngineStatus = EngineStatus> {
  /** Whether the handler is this worker's (else 404 `unknown_function`). */
  has(handler: string): boolean;
  /**
   * Runs one invocation; resolves to the body of its 200. Rejects with an
   * InvocationError for a failed invocation, with WorkerClosedError once closed.
   */
  invoke(handler: string, body: string): Promise<Answer>;
  /** The live-state contract plus the engine's own counters. */
  status(): Status;
  /** Stops every invocation and whatever runs them (timers, child processes); idempotent. */
  close(): Promise<void>;
}

/** The fields of `GET /status` the proxy reads (see DESIGN.md, "HTTP surface"). */
export interface EngineStatus {
  /** Packages whose next use is cheap: installed on the worker's disk, least recently used first. */
  packages: string[];
  inFlight: number;
  cores: number;
}

/** A failed invocation: its HTTP status and a one-line error (`{"error":{"code","message"}}`). */
export class InvocationError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
    this.name = 'InvocationError';
  }
}

/** Where the server listens and what it calls itself. */
export interface ServeOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /** Shows in responses and status; default `worker-<port>`. Give stable names (worker1...) where placement matters. */
  name?: string;
}

/** A worker serving HTTP, whatever its engine. */
export interface RunningWorker<Status> {
  readonly url: string;
  readonly port: number;
  readonly name: string;
  status(): Status;
  close(): Promise<void>;
}

/** What `GET /status` answers: the engine's status under the worker's name and URL. */
export type ServedStatus<Status> = { name: string; url: string } & Status;

/** Bodies are the handler's event: small JSON. A larger one is refused rather than buffered. */
const MAX_BODY_BYTES = 1024 * 1024;

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

/** The request body as text, or undefined when it is over the limit or the client left. */
async function readBody(req: IncomingMessage): Promise<string | 'too large' | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk);
  });
  try {
    await finished(req);
  } catch {
    return undefined; // the client went away before sending its body
  }
  return tooLarge ? 'too large' : Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Serves an engine over HTTP: `POST /runLambda/:name` (and `/run/:name`),
 * `GET /status`, `GET /`. The engine is made once the port, hence the default
 * name, is known; if making it fails, the socket is closed and the error thrown.
 */
export async function serveWorker<Answer extends object, Status extends EngineStatus>(
  opts: ServeOptions,
  createEngine: (identity: { name: string; url: string }) => WorkerEngine<Answer, Status> | Promise<WorkerEngine<Answer, Status>>,
): Promise<RunningWorker<ServedStatus<Status>>> {
  const host = opts.host ?? WORKER_DEFAULTS.host;
  const server: Server = createServer();
  const port = await listen(server, host, opts.port ?? WORKER_DEFAULTS.port);
  const name = opts.name ?? `worker-${port}`;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const closeServer = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  let engine: WorkerEngine<Answer, Status>;
  try {
    engine = await createEngine({ name, url });
  } catch (err) {
    await closeServer();
    throw err;
  }
  const open = new Set<ServerResponse>();
  let closing: Promise<void> | undefined;

  const status = (): ServedStatus<Status> => ({ name, url, ...engine.status() });

  const invoke = async (handler: string, body: string, res: ServerResponse): Promise<void> => {
    open.add(res);
    try {
      sendJson(res, 200, await engine.invoke(handler, body));
    } catch (err) {
      if (err instanceof WorkerClosedError) sendJson(res, 503, errorBody('worker_closed', err.message));
      else if (err instanceof InvocationError) sendJson(res, err.status, errorBody(err.code, err.message));
      else sendJson(res, 500, errorBody('internal', (err as Error).message));
    } finally {
      open.delete(res);
    }
  };

  const handleRun = async (req: IncomingMessage, res: ServerResponse, rawName: string): Promise<void> => {
    let handler: string;
    try {
      handler = decodeURIComponent(rawName);
    } catch {
      req.resume();
      sendJson(res, 400, errorBody('bad_request', `malformed function name in ${req.url ?? ''}`));
      return;
    }
    const body = await readBody(req);
    if (body === undefined) return;
    if (body === 'too large') {
      sendJson(res, 413, errorBody('body_too_large', `the request body is over ${MAX_BODY_BYTES} bytes`));
      return;
    }
    if (!engine.has(handler)) {
      sendJson(res, 404, errorBody('unknown_function', `function "${handler}" is not in this worker's registry`));
      return;
    }
    if (closing) {
      sendJson(res, 503, errorBody('worker_closed', new WorkerClosedError().message));
      return;
    }
    await invoke(handler, body, res);
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

  const close = (): Promise<void> => {
    closing ??= (async () => {
      const closedError = new WorkerClosedError();
      for (const res of open) sendJson(res, 503, errorBody('worker_closed', closedError.message));
      open.clear();
      await engine.close();
      // Let the aborted invocations write their 503 before connections are cut.
      await new Promise((resolve) => setImmediate(resolve));
      await closeServer();
    })();
    return closing;
  };

  return { url, port, name, status, close };
}

/** The model as an engine: its callbacks as promises, its status with the disk bound under the names the CLI prints. */
function modelEngine(model: WorkerModel, timeScale: number, handlerMs: number): WorkerEngine<InvocationResult, Omit<SimWorkerStatus, 'name' | 'url'>> {
  let closed = false;
  const pending = new Set<(err: Error) => void>();
  return {
    has: (handler) => model.has(handler),
    invoke: (handler) =>
      new Promise<InvocationResult>((resolve, reject) => {
        const startedWall = realClock.now();
        pending.add(reject);
        try {
          model.invoke(handler, (result) => {
            pending.delete(reject);
            resolve({ ...result, wallMs: round3(realClock.now() - startedWall), timeScale });
          });
        } catch (err) {
          pending.delete(reject);
          reject(err as Error);
        }
      }),
    status: () => {
      const m = model.status();
      return {
        ...m,
        cacheBytes: m.diskBytes,
        usedBytes: m.usedDiskBytes,
        cachedPackageCount: m.packages.length,
        cachedPackages: m.packages,
        timeScale,
        handlerMs,
      };
    },
    close: async () => {
      if (closed) return;
      closed = true;
      model.close();
      for (const reject of pending) reject(new WorkerClosedError());
      pending.clear();
    },
  };
}

export async function startSimulatedWorker(opts: SimWorkerOptions): Promise<SimulatedWorker> {
  validateOptions(opts);
  const workload = opts.workload;
  const timeScale = opts.hostCpu?.timeScale ?? opts.timeScale ?? WORKER_DEFAULTS.timeScale;
  const clock = opts.hostCpu?.clock ?? scaledClock(timeScale);
  const params = modelParams(opts);
  // Built before listening, so bad parameters fail without a socket left open.
  const provisional = new WorkerModel(workload, clock, params, opts.name ?? 'worker', opts.hostCpu?.cpu);
  provisional.close();
  return serveWorker(opts, ({ name }) => modelEngine(new WorkerModel(workload, clock, params, name, opts.hostCpu?.cpu), timeScale, params.handlerMs));
}
