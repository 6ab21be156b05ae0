// The real-worker cell against its rerun on fresh request sequences and a fresh placement.
//
//   node results/fresh-seeds/real-compare.mjs COMMITTED/summary.json RERUN/summary.json
//
// A real-worker cell has 3 request sequences, so its interval is close to the range of three runs
// and the committed one has no rerun interval (coverage.mjs is for the simulated cells). Per row:
// each run's mean with its interval, whether the rerun's mean is inside the committed interval, each
// request sequence's mean in the rerun, and the mean pooled over both runs (equal weights: same
// size). Then each run's paired ratio of cost-aware to pkg-aware's best threshold in that run, and
// the ratio of the pooled means (pkg-aware at the committed run's best threshold).

import { readFileSync } from 'node:fs';

const [committedFile, rerunFile] = process.argv.slice(2);
if (committedFile === undefined || rerunFile === undefined) {
  console.error('usage: node results/fresh-seeds/real-compare.mjs COMMITTED/summary.json RERUN/summary.json');
  process.exit(2);
}
const load = (file) => JSON.parse(readFileSync(file, 'utf8'));
const committed = load(committedFile);
const rerun = load(rerunFile);
const s = (ms) => (ms / 1000).toFixed(1);
const iv = (x) => `${s(x.estimate)} [${s(x.low)}, ${s(x.high)}]`;
const sets = (summary) => `sequences ${summary.params.seed}..${summary.params.seed + summary.params.seeds - 1}, placement seed ${summary.params.placementSeed}`;

console.log(`committed \`${committed.name}\`: ${sets(committed)}; rerun \`${rerun.name}\`: ${sets(rerun)}\n`);
console.log('| row | committed mean [95%] (s) | rerun mean [95%] (s) | rerun vs committed interval | rerun, per sequence (s) | pooled (s) |');
console.log('| --- | ---: | ---: | --- | ---: | ---: |');
const pooled = (id) => (committed.rows.find((r) => r.id === id).meanMs + rerun.rows.find((r) => r.id === id).meanMs) / 2;
for (const row of committed.rows) {
  const other = rerun.rows.find((r) => r.id === row.id);
  if (other === undefined || row.intervals?.meanMs === undefined || other.intervals?.meanMs === undefined) continue;
  const c = row.intervals.meanMs;
  const mean = other.intervals.meanMs.estimate;
  const where = mean < c.low ? '**below**' : mean > c.high ? '**above**' : 'inside';
  const perSequence = (other.meanMsGrid ?? []).map((placements) => placements.map(s).join('/')).join(', ');
  console.log(`| ${row.label} | ${iv(c)} | ${iv(other.intervals.meanMs)} | ${where} | ${perSequence} | ${s(pooled(row.id))} |`);
}
console.log('\n| run | cost-aware / pkg-aware best, paired [95%] | best threshold |');
console.log('| --- | ---: | --- |');
for (const run of [committed, rerun]) {
  const a = run.againstBestThreshold.find((x) => x.row === 'cost-aware');
  if (a === undefined) continue;
  const r = a.meanOverBest;
  console.log(`| ${run.name} | ${r.estimate.toFixed(2)}x [${r.low.toFixed(2)}, ${r.high.toFixed(2)}] | ${a.best} |`);
}
const best = committed.againstBestThreshold.find((x) => x.row === 'cost-aware')?.best;
if (best !== undefined) console.log(`\nPooled over both runs: cost-aware ${s(pooled('cost-aware'))} s against ${best} ${s(pooled(best))} s, ratio ${(pooled('cost-aware') / pooled(best)).toFixed(2)}x.`);
