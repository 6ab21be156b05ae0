// Per-worker series read at scrape time as plain values: no label children to
// keep for every worker (or to remove when it goes), no label hashing per
// worker per scrape, and one metric per event-loop turn, so a scrape of 10,000
// workers never holds the loop for all its series at once.
import { Counter, Gauge, type Aggregator, type LabelValues, type Registry } from 'prom-client';

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
