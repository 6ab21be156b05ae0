// The real-worker cell against its reruns on fresh request sequences and placements.
//
//   node results/fresh-seeds/real-compare.mjs COMMITTED/summary.json RERUN/summary.json [RERUN2/summary.json ...]
//
// A real-worker cell has 3 request sequences, so its interval is close to the range of three runs,
// and the committed one has no rerun interval (coverage.mjs is for the simulated cells). Per row:
// the committed mean with its interval; each rerun's mean, whether it is inside the committed
// interval, and its request sequences' means; and the mean pooled over every set (equal weights:
// same size). Then each run's paired ratio of cost-aware to pkg-aware's best threshold in that run,
// and the ratio of the pooled means (pkg-aware at the committed run's best threshold).

import { readFileSync } from 'node:fs';

const [committedFile, ...rerunFiles] = process.argv.slice(2);
if (committedFile === undefined || rerunFiles.length === 0) {
  console.error('usage: node results/fresh-seeds/real-compare.mjs COMMITTED/summary.json RERUN/summary.json [...]');
  process.exit(2);
}
const load = (file) => JSON.parse(readFileSync(file, 'utf8'));
const committed = load(committedFile);
const reruns = rerunFiles.map(load);
const all = [committed, ...reruns];
const s = (ms) => (ms / 1000).toFixed(1);
const iv = (x) => `${s(x.estimate)} [${s(x.low)}, ${s(x.high)}]`;
const sets = (summary) => `sequences ${summary.params.seed}..${summary.params.seed + summary.params.seeds - 1}, placement seed ${summary.params.placementSeed}`;
const rowOf = (summary, id) => summary.rows.find((r) => r.id === id);
const pooled = (id) => all.reduce((sum, run) => sum + rowOf(run, id).meanMs, 0) / all.length;

console.log(`committed \`${committed.name}\`: ${sets(committed)}; ${reruns.map((r) => `\`${r.name}\`: ${sets(r)}`).join('; ')}\n`);
console.log(`| row | committed mean [95%] (s) | ${reruns.map((r) => `${r.name} mean [95%] (s) | vs committed interval | per sequence (s)`).join(' | ')} | pooled over ${all.length} sets (s) |`);
console.log(`| --- | ---: | ${reruns.map(() => '---: | --- | ---:').join(' | ')} | ---: |`);
for (const row of committed.rows) {
  if (row.intervals?.meanMs === undefined || reruns.some((r) => rowOf(r, row.id)?.intervals?.meanMs === undefined)) continue;
  const c = row.intervals.meanMs;
  const cells = reruns.map((r) => {
    const other = rowOf(r, row.id);
    const mean = other.intervals.meanMs.estimate;
    const where = mean < c.low ? '**below**' : mean > c.high ? '**above**' : 'inside';
    const perSequence = (other.meanMsGrid ?? []).map((placements) => placements.map(s).join('/')).join(', ');
    return `${iv(other.intervals.meanMs)} | ${where} | ${perSequence}`;
  });
  console.log(`| ${row.label} | ${iv(c)} | ${cells.join(' | ')} | ${s(pooled(row.id))} |`);
}
console.log('\n| run | cost-aware / pkg-aware best, paired [95%] | best threshold |');
console.log('| --- | ---: | --- |');
for (const run of all) {
  const a = run.againstBestThreshold.find((x) => x.row === 'cost-aware');
  if (a === undefined) continue;
  const r = a.meanOverBest;
  console.log(`| ${run.name} | ${r.estimate.toFixed(2)}x [${r.low.toFixed(2)}, ${r.high.toFixed(2)}] | ${a.best} |`);
}
const best = committed.againstBestThreshold.find((x) => x.row === 'cost-aware')?.best;
if (best !== undefined) console.log(`\nPooled over the ${all.length} sets: cost-aware ${s(pooled('cost-aware'))} s against ${best} ${s(pooled(best))} s, ratio ${(pooled('cost-aware') / pooled(best)).toFixed(2)}x.`);
