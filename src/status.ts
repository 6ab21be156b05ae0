import type { ServerResponse } from 'node:http';
import type { WorkerView } from '../balancers/types.js';
import type { ProxyControl } from './control.js';
import { sendError, sendJson } from './errors.js';

/** One worker as /status shows it. */
export interface WorkerStatus extends Pick<WorkerView, 'id' | 'url' | 'weight' | 'limit' | 'inFlight' | 'queued'> {
  readonly health: string;
  readonly why: string;
  readonly served: number;
  readonly errors: Record<string, number>;
  /** How many it holds, or (verbose) which. */
  readonly packages: number | string[];
  readonly packagesReported: boolean;
  // `why`: what of the last status answer was not believed (an oversized body, a field out of bounds).
  readonly reported: { agoMs: number | null; inFlight: number | null; cores: number | null; why: string | null } | null;
  /** Load other replicas put there, as estimated from the last report (counted by load-aware policies). */
  readonly external: number;
}

/** What /status shows of one proxy process. */
export interface ProcessStatus {
  readonly balancer: Record<string, unknown>;
  readonly registry: { path: string | null; functions: number | null };
  readonly queue: { waiting: number; shared: number; inFlight: number; limit: number; workerQueueLimit: number; timeoutMs: number };
  readonly workers: WorkerStatus[];
}

/** GET /status: balancer, registry, queues and every worker's load and health (of every process, where there are several). */
export function sendStatus(control: ProxyControl, res: ServerResponse, verbose: boolean): void {
  if (control.primary === undefined) return sendJson(res, 200, statusOf(control, verbose));
  control.primary.status(verbose).then(
    (status) => sendJson(res, 200, status),
    (err: unknown) => sendError(res, 'worker_failed', `status collection failed: ${(err as Error).message}`),
  );
}

export function statusOf(control: ProxyControl, verbose: boolean): ProcessStatus {
  const { table, scheduler, registry, ctx } = control;
  const config = control.config();
  const now = ctx.clock.now();
  return {
    balancer: { name: config.balancer, ...table.balancer.describe?.() },
    registry: { path: registry.path || null, functions: registry.isOpen ? null : registry.size },
    queue: {
      waiting: scheduler.waiting,
      shared: scheduler.sharedWaiting,
      inFlight: scheduler.running,
      limit: config.queueLimit,
      workerQueueLimit: config.workerQueueLimit,
      timeoutMs: config.queueTimeoutMs,
    },
    workers: table.workers.map((w) => {
      const health = w.health;
      return {
        id: w.id,
        url: w.url,
        weight: w.weight,
        limit: w.limit,
        inFlight: w.inFlight,
        queued: w.queued,
        health: health.state,
        why: health.why,
        served: w.served,
        errors: Object.fromEntries(w.errors),
        packages: verbose ? [...w.packages] : w.packages.size,
        packagesReported: w.reportsPackages,
        reported: w.lastReport === undefined && w.reportWhy === '' ? null : { agoMs: w.lastReport === undefined ? null : Math.round(now - w.lastReport), inFlight: w.reportedInFlight ?? null, cores: w.cores || null, why: w.reportWhy || null },
        external: w.external,
      };
    }),
  };
}

/** GET /readyz: 503 while a reload is applied or no worker is routable. */
export function sendReadiness(control: ProxyControl, res: ServerResponse): void {
  const { table } = control;
  if (control.reloading()) return sendJson(res, 503, { status: 'reloading' });
  if (table.routableCount === 0) return sendJson(res, 503, { status: 'no healthy worker', workers: table.size });
  sendJson(res, 200, { status: 'ready', routable: table.routableCount });
}

/** GET /metrics in the Prometheus text format. */
export function sendMetrics(control: ProxyControl, res: ServerResponse): void {
  const registry = control.metrics.registry;
  (control.primary?.metrics() ?? registry.metrics()).then(
    (text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    },
    (err: unknown) => sendError(res, 'worker_failed', `metrics collection failed: ${(err as Error).message}`),
  );
}

/**
 * /status of a proxy of several processes: every count added up over the
 * processes (in flight, queued, served, errors, limits, which are shares of
 * each worker's), health as the processes see it (a worker out of routing in
 * any process shows why), and each process's own queue and learned state.
 */
export function combinedStatus(parts: readonly { pid: number; index: number; status: ProcessStatus }[]): Record<string, unknown> {
  const first = parts[0]!.status;
  const sum = (f: (s: ProcessStatus) => number): number => parts.reduce((n, p) => n + f(p.status), 0);
  const workers = first.workers.map((w) => {
    const all = parts.map((p) => p.status.workers.find((x) => x.id === w.id)).filter((x): x is WorkerStatus => x !== undefined);
    const total = (f: (x: WorkerStatus) => number): number => all.reduce((n, x) => n + f(x), 0);
    const inFlight = total((x) => x.inFlight);
    const out = all.find((x) => x.health !== 'up') ?? w;
    const errors: Record<string, number> = {};
    for (const x of all) for (const [reason, n] of Object.entries(x.errors)) errors[reason] = (errors[reason] ?? 0) + n;
    const packages = Array.isArray(w.packages)
      ? [...new Set(all.flatMap((x) => x.packages as string[]))]
      : Math.max(...all.map((x) => x.packages as number));
    return {
      ...w,
      limit: total((x) => x.limit),
      inFlight,
      queued: total((x) => x.queued),
      health: out.health,
      why: out.why,
      served: total((x) => x.served),
      errors,
      packages,
      // Other replicas' load: what the worker last reported beyond this proxy's requests, of every process.
      external: w.reported?.inFlight == null ? 0 : Math.max(0, w.reported.inFlight - inFlight),
    };
  });
  return {
    balancer: first.balancer,
    registry: first.registry,
    queue: { ...first.queue, waiting: sum((s) => s.queue.waiting), shared: sum((s) => s.queue.shared), inFlight: sum((s) => s.queue.inFlight) },
    workers,
    processes: parts.map((p) => ({ index: p.index, pid: p.pid, waiting: p.status.queue.waiting, inFlight: p.status.queue.inFlight, balancer: p.status.balancer })),
  };
}
