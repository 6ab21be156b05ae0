// Per-worker series read at scrape time as plain values: no label children to
// keep for every worker (or to remove when it goes), no label hashing per
// worker per scrape, and one metric per event-loop turn, so a scrape of 10,000
// workers never holds the loop for all its series at once.
import { Counter, Gauge, Histogram, type Aggregator, type LabelValues, type MetricValueWithName, type Registry } from 'prom-client';

/** Resolves when it is this metric's turn in a scrape (after the previous one's, on a later event-loop turn). */
export type ScrapeTurn = () => Promise<void>;

/** One value of a series, with its labels. */
export interface SeriesValue<L extends string> {
  readonly labels: LabelValues<L>;
  readonly value: number;
}

export interface SeriesOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly registers: Registry[];
  readonly aggregator: Aggregator;
}

/** A gauge whose values are listed at scrape time. */
export class ListedGauge<L extends string> extends Gauge<L> {
  constructor(options: SeriesOptions<L>, private readonly list: () => SeriesValue<L>[], private readonly turn: ScrapeTurn) {
    super(options);
  }

  override async get(): ReturnType<Gauge<L>['get']> {
    await this.turn();
    return { ...(await super.get()), values: this.list() };
  }
}

/** A counter whose counts are kept elsewhere and listed at scrape time. */
export class ListedCounter<L extends string> extends Counter<L> {
  constructor(options: SeriesOptions<L>, private readonly list: () => SeriesValue<L>[], private readonly turn: ScrapeTurn) {
    super(options);
  }

  override async get(): ReturnType<Counter<L>['get']> {
    await this.turn();
    return { ...(await super.get()), values: this.list() };
  }
}

/** One label set's observations of a ListedHistogram: per-bucket counts (not cumulative), sum and count. */
export class HistogramSeries<L extends string> {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly labels: LabelValues<L>, private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  /** Records one value: a scan of the bounds and three additions, no label hashing and no allocation. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    if (i < bounds.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

/**
 * A histogram whose observations go straight into its series' arrays and are
 * listed at scrape time in prom-client's format (so the registry, and the
 * AggregatorRegistry of a proxy of several processes, read it as any
 * histogram). prom-client's own `observe` builds and hashes a label object on
 * every call; on the request path that was a measurable share of the proxy's
 * own time.
 */
export class ListedHistogram<L extends string> extends Histogram<L> {
  private readonly bounds: readonly number[];
  private readonly series = new Set<HistogramSeries<L>>();
  private readonly metricName: string;
  private readonly helpText: string;

  /** Counts of several processes add up: aggregated with 'sum', as prom-client's histograms are. */
  constructor(options: { name: string; help: string; labelNames?: readonly L[]; buckets: readonly number[]; registers: Registry[] }, private readonly turn?: ScrapeTurn) {
    super({ ...options, buckets: [...options.buckets] });
    this.metricName = options.name;
    this.helpText = options.help;
    this.bounds = [...options.buckets].sort((a, b) => a - b);
  }

  /** A series for one label set, kept until `forget`; observe through it. */
  seriesFor(labels: LabelValues<L>): HistogramSeries<L> {
    const made = new HistogramSeries<L>(labels, this.bounds);
    this.series.add(made);
    return made;
  }

  forget(series: HistogramSeries<L>): void {
    this.series.delete(series);
  }

  /**
   * The values as prom-client's registry reads them for the text format: bucket
   * bounds in `labels`, the series' own labels in `sharedLabels` (so they print
   * after `le`, as prom-client's histograms do).
   */
  async getForPromString(): ReturnType<Histogram<L>['get']> {
    return this.listed(false);
  }

  /** The values with every label in `labels`, as prom-client's `get` gives them (and the AggregatorRegistry reads). */
  override async get(): ReturnType<Histogram<L>['get']> {
    return this.listed(true);
  }

  private async listed(splay: boolean): ReturnType<Histogram<L>['get']> {
    if (this.turn !== undefined) await this.turn();
    const values: MetricValueWithName<string>[] = [];
    const bucket = `${this.metricName}_bucket`;
    // No exemplars are kept: bucket entries carry `exemplar: null`, sum and count `undefined`, as prom-client's do.
    const entry = (value: number, metricName: string, own: Record<string, string | number>, labels: LabelValues<L>): void => {
      const exemplar = metricName === bucket ? null : undefined;
      values.push((splay ? { value, metricName, exemplar, labels: { ...own, ...labels } } : { value, metricName, exemplar, labels: own, sharedLabels: labels }) as unknown as MetricValueWithName<string>);
    };
    for (const s of this.series) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += s.counts[i]!;
        entry(cumulative, bucket, { le: this.bounds[i]! }, s.labels);
      }
      entry(s.count, bucket, { le: '+Inf' }, s.labels);
      entry(s.sum, `${this.metricName}_sum`, {}, s.labels);
      entry(s.count, `${this.metricName}_count`, {}, s.labels);
    }
    // The shape prom-client's own histograms return (its type also asks for the metric's collect hook, which no reader uses).
    return { name: this.metricName, help: this.helpText, type: 'histogram', values, aggregator: 'sum' } as unknown as Awaited<ReturnType<Histogram<L>['get']>>;
  }
}
