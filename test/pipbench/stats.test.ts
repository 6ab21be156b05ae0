import t from 'tap';
import { bootstrapInterval, formatMs, formatSummary, meanLatencyByHandler, pairedDifferenceInterval, percentile, sortedAscending, summarize, type RequestRecord } from '../../pipbench/stats.js';
import { seededRandom } from '../../pipbench/random.js';

function record(handler: string, latencyMs: number, status = 200, offsetMs = 0): RequestRecord {
  return { startEpochMs: 1_700_000_000_000 + offsetMs, offsetMs, handler, status, latencyMs, worker: 'w0', error: status === 200 ? '' : `HTTP ${status}` };
}

t.test('nearest-rank percentiles on a known sample', async (t) => {
  // 1..100: the p-th percentile by nearest rank is exactly p.
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  for (const p of [1, 50, 80, 95, 99, 100]) t.equal(percentile(hundred, p), p, `p${p} of 1..100`);
  t.equal(percentile(hundred, 0), 1, 'p0 is the minimum');
  t.equal(percentile(hundred, 99.5), 100, 'ranks round up');

  // The classic textbook sample: 15, 20, 35, 40, 50.
  const five = [15, 20, 35, 40, 50];
  t.equal(percentile(five, 5), 15);
  t.equal(percentile(five, 30), 20);
  t.equal(percentile(five, 40), 20);
  t.equal(percentile(five, 50), 35);
  t.equal(percentile(five, 100), 50);

  t.ok(Number.isNaN(percentile([], 50)), 'empty sample has no percentile');
  t.throws(() => percentile(five, 101), RangeError);
  t.throws(() => percentile(five, -1), RangeError);
});

t.test('summary of a recorded sample: counts, throughput, latency over successes only', async (t) => {
  // Ten successes with latencies 10..100 plus two failures with huge latencies that must not count.
  const records: RequestRecord[] = [];
  for (let i = 1; i <= 10; i++) records.push(record(`h${i % 3}`, i * 10, 200, i * 100));
  records.push(record('h0', 99_999, 502, 50));
  records.push(record('h1', 88_888, 0, 60));
  const s = summarize(records, 5000);
  t.equal(s.requests, 12);
  t.equal(s.successes, 10);
  t.equal(s.failures, 2);
  t.equal(s.elapsedSec, 5);
  t.equal(s.throughputPerSec, 2, '10 successes in 5 s');
  t.equal(s.meanMs, 55);
  t.equal(s.minMs, 10);
  t.equal(s.p50Ms, 50);
  t.equal(s.p80Ms, 80);
  t.equal(s.p95Ms, 100);
  t.equal(s.p99Ms, 100);
  t.equal(s.maxMs, 100);

  const text = formatSummary(s);
  t.match(text, /^requests\s+12$/m);
  t.match(text, /^failures\s+2$/m);
  t.match(text, /^throughput\s+2\.00 req\/s$/m);
  t.match(text, /^p80\s+80 ms$/m);
});

t.test('a run with no successes has NaN latencies and prints dashes', async (t) => {
  const s = summarize([record('a', 5, 500)], 1000);
  t.equal(s.successes, 0);
  t.equal(s.failures, 1);
  t.ok(Number.isNaN(s.meanMs));
  t.match(formatSummary(s), /^mean\s+-$/m);
});

t.test('mean latency per handler ignores failures', async (t) => {
  const m = meanLatencyByHandler([record('a', 10), record('a', 30), record('b', 5), record('b', 1000, 503)]);
  t.same(m.get('a'), { mean: 20, count: 2 });
  t.same(m.get('b'), { mean: 5, count: 1 });
});

t.test('formatMs picks a readable unit', async (t) => {
  t.equal(formatMs(5.25), '5.3 ms');
  t.equal(formatMs(850), '850 ms');
  t.equal(formatMs(1234), '1.23 s');
  t.equal(formatMs(34_653), '34.7 s');
  t.equal(formatMs(Number.NaN), '-');
});

t.test('bootstrap intervals cover a known mean at about the nominal rate', async (t) => {
  const draw = seededRandom('coverage-data');
  const boot = seededRandom('coverage-resamples');
  // Exponential with mean 10: skewed, like latencies.
  const trueMean = 10;
  const trials = 200;
  let covered = 0;
  let pairedCovered = 0;
  for (let k = 0; k < trials; k++) {
    const sample = Array.from({ length: 30 }, () => -trueMean * Math.log(1 - draw.next()));
    const ci = bootstrapInterval(sample, { random: boot, resamples: 1000 });
    t.ok(ci.low <= ci.estimate && ci.estimate <= ci.high, 'the estimate lies inside its interval');
    if (ci.low <= trueMean && trueMean <= ci.high) covered++;
    // Paired: b = a + noise with known mean shift 3, so the difference a - b has mean -3.
    const other = sample.map((x) => x + 3 + draw.normal());
    const diff = pairedDifferenceInterval(sample, other, { random: boot, resamples: 1000 });
    if (diff.low <= -3 && -3 <= diff.high) pairedCovered++;
  }
  const rate = covered / trials;
  const pairedRate = pairedCovered / trials;
  t.ok(rate >= 0.9 && rate <= 0.99, `mean interval coverage ${rate} within 0.90..0.99`);
  t.ok(pairedRate >= 0.9 && pairedRate <= 0.99, `paired difference coverage ${pairedRate} within 0.90..0.99`);
});

t.test('bootstrap: repeatable with the same seed, other statistics, bad input named', async (t) => {
  const sample = [5, 1, 9, 3, 7, 2, 8];
  const a = bootstrapInterval(sample, { random: seededRandom(7) });
  const b = bootstrapInterval(sample, { random: seededRandom(7) });
  t.same(a, b, 'same seed, same interval');
  const median = bootstrapInterval(sample, { random: seededRandom(7) }, (xs) => percentile(sortedAscending(xs), 50));
  t.equal(median.estimate, 5);
  t.ok(median.low >= 1 && median.high <= 9, 'a percentile interval stays within the observed values');
  const constant = bootstrapInterval([4, 4, 4], { random: seededRandom(1) });
  t.same([constant.low, constant.high], [4, 4], 'no spread, no width');
  t.ok(Number.isNaN(bootstrapInterval([], { random: seededRandom(1) }).low));
  t.throws(() => pairedDifferenceInterval([1, 2], [1], { random: seededRandom(1) }), /same length/);
  t.throws(() => bootstrapInterval(sample, { random: seededRandom(1), confidence: 1.5 }), /confidence/);
  t.throws(() => bootstrapInterval(sample, { random: seededRandom(1), resamples: 3 }), /resamples/);
});
