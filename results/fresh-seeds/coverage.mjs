// Does a committed cell's 95% interval cover reruns of the same command with
// fresh request sequences and placements?
//
//   node results/fresh-seeds/coverage.mjs COMMITTED/summary.json RERUN/summary.json [RERUN2/summary.json ...]
//
// Per row: each rerun's mean against the committed mean's interval, and the
// mean pooled over the committed run and every rerun (equal weights: the runs
// have the same size), which estimates the true mean more closely than any one
// of them. Then the paired ratios of cost-aware against pkg-aware's best
// threshold, the clairvoyant static row and the compared row (round-robin):
// each rerun's paired estimate against the committed ratio's interval, and the
// ratio of the pooled means (pkg-aware at the committed run's best threshold).

import { readFileSync } from 'node:fs';

const [committedFile, ...rerunFiles] = process.argv.slice(2);
if (committedFile === undefined || rerunFiles.length === 0) {
  console.error('usage: node results/fresh-seeds/coverage.mjs COMMITTED/summary.json RERUN/summary.json [...]');
  process.exit(2);
}
const load = (file) => JSON.parse(readFileSync(file, 'utf8'));
const seconds = (ms) => { const s = ms / 1000; return s >= 100 ? s.toFixed(0) : s >= 10 ? s.toFixed(1) : s.toFixed(2); };
const ratio = (x) => x.toFixed(3);
const verdict = (value, iv) => (value < iv.low ? '**below**' : value > iv.high ? '**above**' : 'inside');
const sets = (summary) => `sequences ${summary.params.seed}..${summary.params.seed + summary.params.seeds - 1}, placements ${summary.params.placementSeed}..${summary.params.placementSeed + summary.params.placements - 1}`;

const committed = load(committedFile);
const reruns = rerunFiles.map(load);
const all = [committed, ...reruns];
const rowOf = (summary, id) => summary.rows.find((r) => r.id === id);
const pooledMean = (id) => all.reduce((sum, s) => sum + rowOf(s, id).meanMs, 0) / all.length;

console.log(`committed \`${committed.name}\`: ${sets(committed)}; ${reruns.map((r) => `\`${r.name}\`: ${sets(r)}`).join('; ')}\n`);
console.log(`| row | committed mean [95%] (s) | ${reruns.map((r) => `${r.name} (s)`).join(' | ')} | pooled over ${all.length} sets (s) |`);
console.log(`| --- | ---: | ${reruns.map(() => '---:').join(' | ')} | ---: |`);
const misses = reruns.map(() => 0);
for (const row of committed.rows) {
  if (reruns.some((r) => rowOf(r, row.id) === undefined)) continue;
  const iv = row.intervals.meanMs;
  const cells = reruns.map((r, i) => {
    const mean = rowOf(r, row.id).meanMs;
    if (verdict(mean, iv) !== 'inside') misses[i] += 1;
    return `${seconds(mean)} ${verdict(mean, iv)}`;
  });
  console.log(`| ${row.label} | ${seconds(row.meanMs)} [${seconds(iv.low)}, ${seconds(iv.high)}] | ${cells.join(' | ')} | ${seconds(pooledMean(row.id))} ${verdict(pooledMean(row.id), iv)} |`);
}
console.log(`\nRows outside the committed interval: ${reruns.map((r, i) => `${r.name} ${misses[i]} of ${committed.rows.length}`).join(', ')}.\n`);

/** The paired ratios a summary states for cost-aware, with the pooled means they divide. */
function costAwareRatios(summary) {
  const row = rowOf(summary, 'cost-aware');
  const best = summary.againstBestThreshold.find((a) => a.row === 'cost-aware');
  return [
    { key: 'best', name: 'cost-aware / pkg-aware best', iv: best?.meanOverBest, best: best?.best },
    { key: 'static', name: 'cost-aware / clairvoyant static', iv: row?.meanOverClairvoyant, against: 'clairvoyant-static' },
    { key: 'compared', name: `cost-aware / ${summary.repeats.pairedAgainst}`, iv: row?.meanOverCompared, against: summary.repeats.pairedAgainst },
  ].filter((r) => r.iv != null);
}
console.log(`| paired ratio | committed [95%] | ${reruns.map((r) => r.name).join(' | ')} | ratio of pooled means |`);
console.log(`| --- | ---: | ${reruns.map(() => '---:').join(' | ')} | ---: |`);
const rerunRatios = reruns.map(costAwareRatios);
for (const c of costAwareRatios(committed)) {
  const fresh = rerunRatios.map((list) => list.find((r) => r.key === c.key));
  if (fresh.some((f) => f === undefined)) continue;
  const cells = fresh.map((f) => `${ratio(f.iv.estimate)} [${ratio(f.iv.low)}, ${ratio(f.iv.high)}]${c.key === 'best' ? ` (${f.best})` : ''} ${verdict(f.iv.estimate, c.iv)}`);
  const pooled = pooledMean('cost-aware') / pooledMean(c.against ?? c.best);
  const label = c.key === 'best' ? `${c.name} (committed: ${c.best})` : c.name;
  console.log(`| ${label} | ${ratio(c.iv.estimate)} [${ratio(c.iv.low)}, ${ratio(c.iv.high)}] | ${cells.join(' | ')} | ${ratio(pooled)} ${verdict(pooled, c.iv)} |`);
}
