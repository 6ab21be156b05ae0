import t from 'tap';
import {
  bootstrapInterval, formatMs, formatSummary, hierarchicalInterval, pairedInterval, percentile, seedSpread, sortedAscending, summarize,
  type RequestRecord, type RunGrid,
} from '../../pipbench/stats.js';
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

t.test('formatMs picks a readable unit', async (t) => {
  t.equal(formatMs(5.25), '5.3 ms');
  t.equal(formatMs(850), '850 ms');
  t.equal(formatMs(1234), '1.23 s');
  t.equal(formatMs(34_653), '34.7 s');
  t.equal(formatMs(Number.NaN), '-');
});

t.test('bootstrap intervals of independent runs cover a known mean at about the nominal rate', async (t) => {
  const draw = seededRandom('coverage-data');
  const boot = seededRandom('coverage-resamples');
  // Exponential with mean 10: skewed, like latencies.
  const trueMean = 10;
  const trials = 200;
  let covered = 0;
  for (let k = 0; k < trials; k++) {
    const sample = Array.from({ length: 30 }, () => -trueMean * Math.log(1 - draw.next()));
    const ci = bootstrapInterval(sample, { random: boot, resamples: 1000 });
    t.ok(ci.low <= ci.estimate && ci.estimate <= ci.high, 'the estimate lies inside its interval');
    if (ci.low <= trueMean && trueMean <= ci.high) covered++;
  }
  const rate = covered / trials;
  t.ok(rate >= 0.9 && rate <= 0.99, `mean interval coverage ${rate} within 0.90..0.99`);
});

// Runs as simulate makes them: y[s][p] = mean + seed effect + placement effect
// + noise, placements crossed with request sequences (the same placements
// under every sequence). The truth is the mean over fresh sequences and
// placements, so both effects are part of what an interval must cover.
interface TwoLevel { readonly mean: number; readonly seedSd: number; readonly placementSd: number; readonly noiseSd: number }
function twoLevelGrid(m: TwoLevel, seeds: number, placements: number, draw: ReturnType<typeof seededRandom>): number[][] {
  const placementEffect = Array.from({ length: placements }, () => m.placementSd * draw.normal());
  return Array.from({ length: seeds }, () => {
    const seedEffect = m.seedSd * draw.normal();
    return placementEffect.map((p) => m.mean + seedEffect + p + m.noiseSd * draw.normal());
  });
}

function coverage(trials: number, truth: number, interval: () => { low: number; high: number }): number {
  let covered = 0;
  for (let k = 0; k < trials; k++) {
    const ci = interval();
    if (ci.low <= truth && truth <= ci.high) covered++;
  }
  return covered / trials;
}

t.test('hierarchical intervals cover the mean of a two-level model at about 95%; the flat bootstrap does not', async (t) => {
  const model: TwoLevel = { mean: 20, seedSd: 2, placementSd: 1, noiseSd: 1 };
  const draw = seededRandom('two-level-data');
  const boot = seededRandom('two-level-resamples');
  const grids: number[][][] = Array.from({ length: 200 }, () => twoLevelGrid(model, 10, 10, draw));
  let k = 0;
  const hierarchical = coverage(grids.length, model.mean, () => hierarchicalInterval(grids[k++] as RunGrid, { random: boot, resamples: 1000 }));
  k = 0;
  // The old procedure: the 100 runs resampled as if they were independent.
  const flat = coverage(grids.length, model.mean, () => bootstrapInterval((grids[k++] as number[][]).flat(), { random: boot, resamples: 1000 }));
  t.ok(hierarchical >= 0.9 && hierarchical <= 0.99, `hierarchical coverage ${hierarchical} within 0.90..0.99`);
  t.ok(flat < 0.9, `the flat bootstrap covers only ${flat} of the time`);

  // A row the placement does not change: one run per sequence, resampled over sequences only.
  const oneColumn = { ...model, placementSd: 0, noiseSd: 0 };
  const columns = coverage(200, model.mean, () => hierarchicalInterval(twoLevelGrid(oneColumn, 10, 1, draw), { random: boot, resamples: 1000 }));
  t.ok(columns >= 0.9 && columns <= 0.99, `one-column coverage ${columns} within 0.90..0.99`);
  // Counted once per placement, the same 10 values look like 100 independent runs.
  const copies = coverage(200, model.mean, () => {
    const g = twoLevelGrid(oneColumn, 10, 1, draw);
    return bootstrapInterval(g.flatMap((row) => new Array<number>(10).fill(row[0] as number)), { random: boot, resamples: 1000 });
  });
  t.ok(copies < 0.9, `ten copies of each sequence's run cover only ${copies} of the time`);
});

t.test('paired differences and ratios cover their truth at about 95%', async (t) => {
  const draw = seededRandom('paired-data');
  const boot = seededRandom('paired-resamples');
  const a: TwoLevel = { mean: 20, seedSd: 2, placementSd: 1.5, noiseSd: 1 };
  // b shares a's sequences and placements and adds effects of its own: the pairing cancels what they share.
  const shift: TwoLevel = { mean: -5, seedSd: 0.5, placementSd: 0.5, noiseSd: 0.5 };
  let differenceCovered = 0;
  let ratioCovered = 0;
  let pairedNarrower = 0;
  const trials = 200;
  for (let k = 0; k < trials; k++) {
    const ga = twoLevelGrid(a, 10, 10, draw);
    const gs = twoLevelGrid(shift, 10, 10, draw);
    const gb = ga.map((row, s) => row.map((v, p) => v + (gs[s]?.[p] as number)));
    const diff = pairedInterval(gb, ga, 'difference', { random: boot, resamples: 1000 });
    const ratio = pairedInterval(gb, ga, 'ratio', { random: boot, resamples: 1000 });
    if (diff.low <= shift.mean && shift.mean <= diff.high) differenceCovered++;
    const trueRatio = (a.mean + shift.mean) / a.mean;
    if (ratio.low <= trueRatio && trueRatio <= ratio.high) ratioCovered++;
    const unpairedWidth = hierarchicalInterval(gb, { random: boot, resamples: 1000 });
    if (diff.high - diff.low < unpairedWidth.high - unpairedWidth.low) pairedNarrower++;
  }
  t.ok(differenceCovered / trials >= 0.9 && differenceCovered / trials <= 0.99, `difference coverage ${differenceCovered / trials}`);
  t.ok(ratioCovered / trials >= 0.9 && ratioCovered / trials <= 0.99, `ratio coverage ${ratioCovered / trials}`);
  t.equal(pairedNarrower, trials, 'pairing removes the shared spread: every paired interval is narrower than the row\'s own');
});

t.test('seed spread, one-column pairing and bad grids', async (t) => {
  const grid: RunGrid = [[1, 3], [5, 7], [9, 11]];
  const spread = seedSpread(grid);
  t.same({ seeds: spread.seeds, min: spread.min, max: spread.max }, { seeds: 3, min: 2, max: 10 }, 'per-sequence means 2, 6, 10');
  t.equal(spread.sd, 4, 'sample SD of 2, 6, 10');
  // A one-column row pairs with every placement of the other: the difference is of the means.
  const column: RunGrid = [[1], [4], [7]];
  const d = pairedInterval(grid, column, 'difference', { random: seededRandom(3) });
  t.equal(d.estimate, 2, 'mean 6 minus mean 4');
  const r = pairedInterval(grid, column, 'ratio', { random: seededRandom(3) });
  t.equal(r.estimate, 1.5);
  t.ok(r.low <= 1.5 && 1.5 <= r.high);
  const one = hierarchicalInterval([[2, 4]], { random: seededRandom(1) });
  t.equal(one.estimate, 3);
  t.ok(Number.isNaN(one.low), 'one request sequence: no interval, its spread is unseen');
  t.throws(() => hierarchicalInterval([[1, 2], [3]], { random: seededRandom(1) }), /same number of placements/);
  t.throws(() => pairedInterval(grid, [[1], [2]], 'difference', { random: seededRandom(1) }), /same request sequences/);
  t.throws(() => pairedInterval(grid, [[1, 2, 3], [1, 2, 3], [1, 2, 3]], 'ratio', { random: seededRandom(1) }), /same placements/);
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
  t.throws(() => bootstrapInterval(sample, { random: seededRandom(1), confidence: 1.5 }), /confidence/);
  t.throws(() => bootstrapInterval(sample, { random: seededRandom(1), resamples: 3 }), /resamples/);
});

// A cell as simulate runs it: a row that depends on the placement (seed effect
// + placement effect + noise, placements crossed with sequences) and one that
// does not (one run per sequence, sharing the sequences' effects), 10 sequences
// x 30 placements. A fresh rerun draws new sequences and new placements.
function crossedCell(draw: ReturnType<typeof seededRandom>): { placed: number[][]; unplaced: number[][] } {
  const seedEffect = Array.from({ length: 10 }, () => 2 * draw.normal());
  const placementEffect = Array.from({ length: 30 }, () => 4 * draw.normal());
  return {
    placed: seedEffect.map((a) => placementEffect.map((b) => 20 + a + b + draw.normal())),
    unplaced: seedEffect.map((a) => [30 + 1.5 * a + draw.normal()]),
  };
}

t.test('rerun intervals hold a fresh rerun\'s estimate about 95% of the time; the confidence interval holds the truth, not the rerun', async (t) => {
  const draw = seededRandom('rerun-data');
  const boot = seededRandom('rerun-resamples');
  const opts = { random: boot, resamples: 1000 };
  const grandMean = (g: number[][]): number => g.flat().reduce((a, v) => a + v, 0) / g.flat().length;
  const inside = (x: number, r: { low: number; high: number }): boolean => r.low <= x && x <= r.high;
  const trials = 300;
  const count = { nested: 0, placedTruth: 0, placedRerun: 0, placedCiRerun: 0, unplacedTruth: 0, unplacedRerun: 0, unplacedCiRerun: 0, ratioRerun: 0, ratioCiRerun: 0 };
  for (let k = 0; k < trials; k++) {
    const run = crossedCell(draw);
    const fresh = crossedCell(draw);
    const placed = hierarchicalInterval(run.placed, opts);
    const unplaced = hierarchicalInterval(run.unplaced, opts);
    const ratio = pairedInterval(run.placed, run.unplaced, 'ratio', opts);
    if ([placed, unplaced, ratio].every((i) => i.rerun.low < i.low && i.high < i.rerun.high)) count.nested++;
    if (inside(20, placed)) count.placedTruth++;
    if (inside(grandMean(fresh.placed), placed.rerun)) count.placedRerun++;
    if (inside(grandMean(fresh.placed), placed)) count.placedCiRerun++;
    if (inside(30, unplaced)) count.unplacedTruth++;
    if (inside(grandMean(fresh.unplaced), unplaced.rerun)) count.unplacedRerun++;
    if (inside(grandMean(fresh.unplaced), unplaced)) count.unplacedCiRerun++;
    const freshRatio = grandMean(fresh.placed) / grandMean(fresh.unplaced);
    if (inside(freshRatio, ratio.rerun)) count.ratioRerun++;
    if (inside(freshRatio, ratio)) count.ratioCiRerun++;
  }
  t.equal(count.nested, trials, 'every rerun interval is wider than its confidence interval on both sides');
  const rate = (n: number): number => n / trials;
  const nominal = (name: string, n: number): void => { t.ok(rate(n) >= 0.9 && rate(n) <= 0.99, `${name} ${rate(n)} within 0.90..0.99`); };
  nominal('placement-dependent row: CI covers the true mean', count.placedTruth);
  nominal('placement-independent row: CI covers the true mean', count.unplacedTruth);
  nominal('placement-dependent row: rerun interval covers a fresh rerun', count.placedRerun);
  nominal('placement-independent row: rerun interval covers a fresh rerun', count.unplacedRerun);
  nominal('paired ratio: rerun interval covers a fresh rerun', count.ratioRerun);
  // The confidence interval alone is too narrow for a rerun: about 83% where it is exact (one level of
  // units, the placement-independent row); where placements add spread it is wider than exact (its
  // small-sample widening counts the sequences only), and still clearly short of the rerun interval.
  t.ok(rate(count.unplacedCiRerun) < 0.9, `placement-independent row: the CI alone covers a fresh rerun only ${rate(count.unplacedCiRerun)} of the time`);
  for (const [name, ci, rerun] of [
    ['placement-dependent row', count.placedCiRerun, count.placedRerun],
    ['placement-independent row', count.unplacedCiRerun, count.unplacedRerun],
    ['paired ratio', count.ratioCiRerun, count.ratioRerun],
  ] as const) {
    t.ok(rate(ci) <= rate(rerun) - 0.05, `${name}: the CI alone covers a fresh rerun ${rate(ci)} of the time, the rerun interval ${rate(rerun)}`);
  }
});
