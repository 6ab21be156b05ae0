import { Counter, Gauge, Registry, collectDefaultMetrics, type Aggregator } from 'prom-client';
import type { Scheduler } from './admission.js';
import type { ErrorCode } from './errors.js';
import type { Decision, Lease } from './lease.js';
import type { TableListener, Worker, WorkerTable } from './workers.js';
import { nextTurn } from './clock.js';
import { HistogramSeries, ListedCounter, ListedGauge, ListedHistogram, type SeriesValue } from './worker-series.js';

/**
 * Duration buckets from 1 ms to 5 minutes: fine below a second where warm
 * invocations land, dense between 1 and 300 s where cold starts land.
 */
export const DURATION_BUCKETS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
  1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300,
];

/**
 * Metric children of one worker, each made on its first use (a histogram child
 * is 27 series: made for every one of 10,000 idle workers they would dominate
 * /metrics and the proxy's memory), and removed with the worker.
 */
/**
 * A worker's series, each made on its first use: a batch of 10,000 new workers
 * then costs one small record each, not three maps each (tens of milliseconds
 * of one event-loop turn, measured).
 */
interface WorkerMetrics {
  duration: HistogramSeries<'worker'> | undefined;
  /** Answers by HTTP status (`warmroute_requests_total`, listed at scrape time). */
  byStatus: Map<number, { count: number }> | undefined;
  upstreamErrors: Map<string, Counter.Internal> | undefined;
  /** How often the worker moved to each health state (`warmroute_health_transitions_total`, listed at scrape time). */
  transitions: Map<string, number> | undefined;
}

const decisions: readonly Decision[] = ['home', 'spill', 'wait', 'shared', 'direct'];
type Held = 'all' | 'key' | 'miss';
const helds: readonly Held[] = ['all', 'key', 'miss'];

/** Every metric the proxy exports, on a registry of its own (many proxies can live in one process). */
export class ProxyMetrics implements TableListener {
  readonly registry = new Registry();
  private readonly duration: ListedHistogram<'worker'>;
  /** The one series of the unlabelled wait histogram. */
  private readonly wait: HistogramSeries<never>;
  private readonly errors: Counter<'code'>;
  private readonly upstream: Counter<'worker' | 'reason'>;
  private readonly retries: Counter;
  // Counted on every request as plain numbers and listed at scrape time: a bound
  // prom-client child still hashes and checks its labels on every inc().
  private readonly decisionCounts: Record<Decision, number> = { home: 0, spill: 0, wait: 0, shared: 0, direct: 0 };
  private readonly affinityCounts: Record<Held, number> = { all: 0, key: 0, miss: 0 };
  private readonly perWorker = new Map<Worker, WorkerMetrics>();
  private readonly errorChildren = new Map<string, Counter.Internal>();
  /** The per-worker metrics of the scrape under way take turns, one per event-loop turn. */
  private scrapeTurn: Promise<void> = Promise.resolve();
  private readonly turn = (): Promise<void> => (this.scrapeTurn = this.scrapeTurn.then(nextTurn));

  constructor(table: WorkerTable, scheduler: () => Scheduler) {
    const registers = [this.registry];
    new ListedCounter({
      name: 'warmroute_requests_total',
      help: 'Invocations answered by a worker, by worker and HTTP status',
      labelNames: ['worker', 'code'] as const,
      registers,
      aggregator: 'sum',
    }, () => this.statusCounts(), this.turn);
    // Both histograms are observed on every request: their series are plain arrays (ListedHistogram).
    this.duration = new ListedHistogram({
      name: 'warmroute_request_duration_seconds',
      help: 'Time from dispatch to a worker to the end of its response, by worker',
      labelNames: ['worker'] as const,
      buckets: DURATION_BUCKETS,
      registers,
    }, this.turn);
    this.wait = new ListedHistogram<never>({
      name: 'warmroute_wait_seconds',
      help: 'Time from admission to dispatch (0 for requests that did not wait)',
      buckets: DURATION_BUCKETS,
      registers,
    }).seriesFor({});
    this.errors = new Counter({
      name: 'warmroute_errors_total',
      help: 'Error responses the proxy made itself, by code; queue_full, queue_timeout and no_healthy_worker are the rejections',
      labelNames: ['code'] as const,
      registers,
    });
    this.upstream = new Counter({
      name: 'warmroute_upstream_errors_total',
      help: 'Worker failures by worker and reason (connect_failed, connect_timeout, tls, reset, headers_timeout, body_timeout, response_timeout, protocol_error, status_5xx)',
      labelNames: ['worker', 'reason'] as const,
      registers,
    });
    this.retries = new Counter({
      name: 'warmroute_retries_total',
      help: 'Requests retried on another worker after a connect or TLS handshake failure',
      registers,
    });
    new ListedCounter({
      name: 'warmroute_health_transitions_total',
      help: 'Health changes by worker and new state (up, down, ejected, draining)',
      labelNames: ['worker', 'to'] as const,
      registers,
      // Every process of a proxy sees the same changes: across processes they count once.
      aggregator: 'max',
    }, () => this.transitionCounts(), this.turn);
    new ListedCounter({
      name: 'warmroute_decisions_total',
      help: 'Placements by outcome: home (the policy\'s preferred worker), spill (elsewhere, home loaded), wait (queued for a chosen full worker), shared (waited for any connection), direct (policy without a home)',
      labelNames: ['outcome'] as const,
      registers,
      aggregator: 'sum',
    }, () => decisions.map((outcome) => ({ labels: { outcome }, value: this.decisionCounts[outcome] })), this.turn);
    new ListedCounter({
      name: 'warmroute_package_affinity_total',
      help: 'Dispatches of functions with packages, by what the chosen worker held: all (every package), key (the routing key, not all), miss (not the key)',
      labelNames: ['held'] as const,
      registers,
      aggregator: 'sum',
    }, () => helds.map((held) => ({ labels: { held }, value: this.affinityCounts[held] })), this.turn);

    // Across the processes of one proxy, counts of requests add up ('sum', prom-client's default);
    // facts about a worker that every process shares (routable, weight) do not ('max').
    const gauge = (name: string, help: string, value: () => number, aggregator: Aggregator = 'sum'): void => {
      new Gauge({ name, help, registers, aggregator, collect() { this.set(value()); } });
    };
    gauge('warmroute_queue_waiting', 'Requests waiting in any queue (shared and per worker)', () => scheduler().waiting);
    gauge('warmroute_queue_shared_waiting', 'Requests waiting in the shared queue', () => scheduler().sharedWaiting);
    gauge('warmroute_in_flight', 'Requests holding a worker connection', () => scheduler().running);
    gauge('warmroute_workers_routable', 'Workers in routing', () => table.routableCount, 'max');
    gauge('warmroute_workers_free', 'Workers in routing with a free connection (with several processes: in the process with most)', () => table.freeCount, 'max');
    const perWorkerGauge = (name: string, help: string, value: (w: Worker) => number, aggregator: Aggregator = 'sum'): void => {
      new ListedGauge({ name, help, labelNames: ['worker'] as const, registers, aggregator }, () => table.workers.map((w) => ({ labels: { worker: w.id }, value: value(w) })), this.turn);
    };
    perWorkerGauge('warmroute_worker_in_flight', 'Requests in flight on each worker', (w) => w.inFlight);
    perWorkerGauge('warmroute_worker_queued', 'Requests waiting in each worker\'s own queue', (w) => w.queued);
    perWorkerGauge('warmroute_worker_limit', 'Connection limit of each worker', (w) => w.limit);
    perWorkerGauge('warmroute_worker_routable', '1 while the worker is in routing (up, not ejected, not draining)', (w) => (w.routable ? 1 : 0), 'max');
    perWorkerGauge('warmroute_worker_weight', 'Weight of each worker', (w) => w.weight, 'max');
    perWorkerGauge('warmroute_worker_packages', 'Packages each worker holds (reported, else believed)', (w) => w.packages.size, 'max');
    // Node's process metrics under their standard names, so stock dashboards work.
    collectDefaultMetrics({ register: this.registry });
    table.listen(this);
  }

  /** The worker's series, made on its first event (a batch of 10,000 new workers makes none); undefined once it is removed. */
  private seriesOf(w: Worker): WorkerMetrics | undefined {
    let m = this.perWorker.get(w);
    if (m === undefined && !w.removed) {
      m = { duration: undefined, byStatus: undefined, upstreamErrors: undefined, transitions: undefined };
      this.perWorker.set(w, m);
    }
    return m;
  }

  removed(w: Worker): void {
    const m = this.perWorker.get(w);
    if (!m) return;
    for (const reason of m.upstreamErrors?.keys() ?? []) this.upstream.remove(w.id, reason);
    this.perWorker.delete(w);
    if (m.duration !== undefined) this.duration.forget(m.duration);
  }

  health(w: Worker, _from: string, to: string): void {
    // A worker's last move (to "removed") is not counted: its series go with it.
    if (to === 'removed') return;
    const m = this.seriesOf(w);
    if (!m) return;
    m.transitions ??= new Map();
    m.transitions.set(to, (m.transitions.get(to) ?? 0) + 1);
  }

  private statusCounts(): SeriesValue<'worker' | 'code'>[] {
    const values: SeriesValue<'worker' | 'code'>[] = [];
    for (const [w, m] of this.perWorker) for (const [code, c] of m.byStatus ?? []) values.push({ labels: { worker: w.id, code: String(code) }, value: c.count });
    return values;
  }

  private transitionCounts(): SeriesValue<'worker' | 'to'>[] {
    const values: SeriesValue<'worker' | 'to'>[] = [];
    for (const [w, m] of this.perWorker) for (const [to, count] of m.transitions ?? []) values.push({ labels: { worker: w.id, to }, value: count });
    return values;
  }

  /** A lease was dispatched to `w` after waiting `waitSeconds`. */
  dispatched(lease: Lease, w: Worker, waitSeconds: number): void {
    this.wait.observe(waitSeconds);
    this.decisionCounts[lease.decision]++;
    const pkgs = lease.fn.packages;
    if (pkgs.length === 0) return;
    if (!w.packages.has(pkgs[0]!)) {
      this.affinityCounts.miss++;
      return;
    }
    for (let i = 1; i < pkgs.length; i++) {
      if (!w.packages.has(pkgs[i]!)) {
        this.affinityCounts.key++;
        return;
      }
    }
    this.affinityCounts.all++;
  }

  /** A worker answered (any status) after `seconds`. */
  answered(w: Worker, status: number, seconds: number): void {
    const m = this.seriesOf(w);
    if (!m) return; // removed while the request ran
    m.byStatus ??= new Map();
    const cell = m.byStatus.get(status);
    if (cell === undefined) m.byStatus.set(status, { count: 1 });
    else cell.count++;
    m.duration ??= this.duration.seriesFor({ worker: w.id });
    m.duration.observe(seconds);
  }

  upstreamError(w: Worker, reason: string): void {
    const m = this.seriesOf(w);
    if (!m) return;
    m.upstreamErrors ??= new Map();
    let counter = m.upstreamErrors.get(reason);
    if (!counter) {
      counter = this.upstream.labels(w.id, reason);
      m.upstreamErrors.set(reason, counter);
    }
    counter.inc();
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

  /** Counters of the connections a serving process of several receives from the primary and hands back (made only there). */
  slotCounts(): { received(n: number): void; handedBack(n: number): void } {
    const registers = [this.registry];
    const received = new Counter({ name: 'warmroute_connection_slots_received_total', help: 'Worker connections this proxy\'s processes received from the primary beyond what they held (borrowed, or their share given back); processes above 1 only', registers });
    const handedBack = new Counter({ name: 'warmroute_connection_slots_handed_back_total', help: 'Free worker connections this proxy\'s processes handed back to the primary for another process whose requests waited; processes above 1 only', registers });
    return { received: (n) => received.inc(n), handedBack: (n) => handedBack.inc(n) };
  }

  /** Counters of the observations a serving process of several shares with the others for its policy's models (made only there). */
  evidenceCounts(): { sent(n: number): void; dropped(n: number): void; received(n: number): void } {
    const registers = [this.registry];
    const sent = new Counter({ name: 'warmroute_learning_observations_sent_total', help: 'Observations of the policy\'s learned models (dispatches, completions) this proxy\'s processes sent to the primary, which relays them to every process; processes above 1 only', registers });
    const dropped = new Counter({ name: 'warmroute_learning_observations_dropped_total', help: 'Observations a process dropped, oldest first, because the primary had not taken its previous batch and its buffer was full; processes above 1 only', registers });
    const received = new Counter({ name: 'warmroute_learning_observations_received_total', help: 'Observations (every process\'s, their own included) this proxy\'s processes received from the primary for their policy\'s models; processes above 1 only', registers });
    return { sent: (n) => sent.inc(n), dropped: (n) => dropped.inc(n), received: (n) => received.inc(n) };
  }
}
