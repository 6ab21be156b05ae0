import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Admission } from './admission.js';
import type { ErrorCode } from './errors.js';
import type { Worker, WorkerTable } from './workers.js';

/** Metric children of one worker, made when the worker is added so the request path only increments. */
export interface WorkerMetrics {
  readonly duration: Histogram.Internal<'worker'>;
  readonly byStatus: Map<number, Counter.Internal>;
}

/** Every metric the proxy exports, on a registry of its own (many proxies can live in one process). */
export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'worker' | 'code'>;
  private readonly duration: Histogram<'worker'>;
  private readonly errors: Counter<'code'>;
  private readonly retries: Counter;
  private readonly perWorker = new Map<Worker, WorkerMetrics>();
  private readonly errorChildren = new Map<string, Counter.Internal>();

  constructor(table: () => WorkerTable, admission: () => Admission) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'warmroute_requests_total',
      help: 'Invocations answered by a worker, by worker and HTTP status',
      labelNames: ['worker', 'code'] as const,
      registers,
    });
    this.duration = new Histogram({
      name: 'warmroute_request_duration_seconds',
      help: 'Time from leaving the queue to the end of the worker response, by worker',
      labelNames: ['worker'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.errors = new Counter({
      name: 'warmroute_errors_total',
      help: 'Error responses the proxy produced itself, by error code (queue_full, worker_failed, ...)',
      labelNames: ['code'] as const,
      registers,
    });
    this.retries = new Counter({
      name: 'warmroute_retries_total',
      help: 'Requests retried on another worker after a connect failure',
      registers,
    });
    new Gauge({
      name: 'warmroute_queue_waiting',
      help: 'Requests waiting for a worker connection',
      registers,
      collect() { this.set(admission().waiting); },
    });
    new Gauge({
      name: 'warmroute_queue_active',
      help: 'Requests holding a worker connection slot',
      registers,
      collect() { this.set(admission().active); },
    });
    new Gauge({
      name: 'warmroute_queue_capacity',
      help: 'Slots: healthy workers x connectionsPerWorker',
      registers,
      collect() { this.set(table().capacity); },
    });
    const perWorkerGauge = (name: string, help: string, value: (w: Worker) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['worker'] as const,
        registers,
        collect() {
          this.reset();
          for (const w of table().workers) this.set({ worker: w.id }, value(w));
        },
      });
    };
    perWorkerGauge('warmroute_worker_in_flight', 'Requests in flight on each worker', (w) => w.inFlight);
    perWorkerGauge('warmroute_worker_healthy', '1 when the worker is in routing, 0 while left out after a failure', (w) => (w.healthy ? 1 : 0));
    perWorkerGauge('warmroute_worker_weight', 'Configured weight of each worker', (w) => w.weight);
    perWorkerGauge('warmroute_worker_packages', 'Packages each worker is believed to hold', (w) => w.packages.size);
    collectDefaultMetrics({ register: this.registry, prefix: 'warmroute_' });
  }

  workerAdded(w: Worker): void {
    this.perWorker.set(w, { duration: this.duration.labels(w.id), byStatus: new Map() });
  }

  workerRemoved(w: Worker): void {
    for (const code of this.codesSeen(w)) this.requests.remove(w.id, String(code));
    this.perWorker.delete(w);
    this.duration.remove(w.id);
  }

  /** A worker answered (any status) after `seconds`. */
  answered(w: Worker, status: number, seconds: number): void {
    const m = this.perWorker.get(w);
    if (!m) return; // removed while the request ran
    let counter = m.byStatus.get(status);
    if (!counter) {
      counter = this.requests.labels(w.id, String(status));
      m.byStatus.set(status, counter);
    }
    counter.inc();
    m.duration.observe(seconds);
  }

  error(code: ErrorCode | 'client_closed'): void {
    let counter = this.errorChildren.get(code);
    if (!counter) {
      counter = this.errors.labels(code);
      this.errorChildren.set(code, counter);
    }
    counter.inc();
  }

  retried(): void {
    this.retries.inc();
  }

  private codesSeen(w: Worker): number[] {
    return [...(this.perWorker.get(w)?.byStatus.keys() ?? [])];
  }
}
