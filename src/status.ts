import type { ServerResponse } from 'node:http';
import type { ProxyControl } from './control.js';
import { sendError, sendJson } from './errors.js';

/** GET /status: balancer, registry, queues and every worker's load and health. */
export function sendStatus(control: ProxyControl, res: ServerResponse, verbose: boolean): void {
  const { table, scheduler, registry, ctx } = control;
  const config = control.config();
  const now = ctx.clock.now();
  sendJson(res, 200, {
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
        reported: w.lastReport === undefined ? null : { agoMs: Math.round(now - w.lastReport), inFlight: w.reportedInFlight ?? null, cores: w.cores || null },
        /** Load other replicas put there, as estimated from the last report (counted by load-aware policies). */
        external: w.external,
      };
    }),
  });
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
  registry.metrics().then(
    (text) => {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(text);
    },
    (err: unknown) => sendError(res, 'worker_failed', `metrics collection failed: ${(err as Error).message}`),
  );
}
