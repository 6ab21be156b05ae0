// ListedHistogram (src/worker-series.ts) stands in for prom-client's Histogram on the
// request path: for the same observations its /metrics text, its JSON and the
// AggregatorRegistry's sum over processes must be exactly prom-client's.
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { DURATION_BUCKETS } from '../../src/metrics.js';
import { ListedHistogram } from '../../src/worker-series.js';

t.test('the same text, JSON and aggregate as prom-client for the same observations, and after a series goes', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const byWorker = new Histogram({ name: 'd', help: 'duration', labelNames: ['worker'], buckets: DURATION_BUCKETS, registers: [theirs] });
  const unlabelled = new Histogram({ name: 'w', help: 'wait', buckets: DURATION_BUCKETS, registers: [theirs] });
  const listedByWorker = new ListedHistogram({ name: 'd', help: 'duration', labelNames: ['worker'], buckets: DURATION_BUCKETS, registers: [ours] });
  const listedUnlabelled = new ListedHistogram<never>({ name: 'w', help: 'wait', buckets: DURATION_BUCKETS, registers: [ours] }).seriesFor({});
  const x = listedByWorker.seriesFor({ worker: 'x' });
  const y = listedByWorker.seriesFor({ worker: 'y' });
  // On a bound, between bounds, below the first, past the last.
  for (const v of [0, 0.0005, 0.001, 0.0011, 0.3, 2, 299, 300, 301, 1e6]) {
    byWorker.labels('x').observe(v);
    x.observe(v);
    unlabelled.observe(v / 2);
    listedUnlabelled.observe(v / 2);
  }
  byWorker.labels('y').observe(0.02);
  y.observe(0.02);

  const text = await ours.metrics();
  t.equal(text, await theirs.metrics(), '/metrics text');
  t.match(text, /^d_bucket\{le="0\.001",worker="x"\} 3$/m, 'cumulative buckets, le first');
  t.match(text, /^d_count\{worker="x"\} 10$/m);
  t.same(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON(), 'JSON');
  const aggregate = async (r: Registry): Promise<string> => AggregatorRegistry.aggregate([await r.getMetricsAsJSON(), await r.getMetricsAsJSON()]).metrics();
  const summed = await aggregate(ours);
  t.equal(summed, await aggregate(theirs), 'two processes summed');
  t.match(summed, /^d_count\{worker="x"\} 20$/m);

  byWorker.remove('y');
  listedByWorker.forget(y);
  t.equal(await ours.metrics(), await theirs.metrics(), 'a removed series is gone from both');
  t.notMatch(await ours.metrics(), /worker="y"/);
});
