// Do a committed cell's intervals cover reruns of the same command with fresh
// request sequences and placements?
//
//   node results/fresh-seeds/coverage.mjs COMMITTED/summary.json RERUN/summary.json [RERUN2/summary.json ...]
//
// Two checks per figure. The 95% confidence interval (CI) is a statement about
// the true mean: a rerun of the same size has an error of its own and falls
// inside it only about 83% of the time even when the CI is exact. The rerun
// interval is the statement about a rerun: it should hold a fresh rerun's
// estimate 95% of the time. Per row: each rerun's mean against both, and the
// mean pooled over the committed run and every rerun (equal weights: the runs
// have the same size), which estimates the true mean more closely than any one
// of them, against the CI. Then the paired ratios of cost-aware against
// pkg-aware's best threshold, the clairvoyant static row and the compared row
// (round-robin): each rerun's paired estimate against the committed ratio's CI
// and rerun interval, and the ratio of the pooled means (pkg-aware at the
// committed run's best threshold) against the CI.

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
if (committed.rows.some((r) => r.intervals?.meanMs?.rerun === undefined)) {
  console.error(`${committedFile}: no rerun intervals (rows[].intervals.meanMs.rerun); regenerate it with the current pipbench simulate`);
  process.exit(1);
}
const reruns = rerunFiles.map(load);
const all = [committed, ...reruns];
const rowOf = (summary, id) => summary.rows.find((r) => r.id === id);
const pooledMean = (id) => all.reduce((sum, s) => sum + rowOf(s, id).meanMs, 0) / all.length;
const rows = committed.rows.filter((row) => reruns.every((r) => rowOf(r, row.id) !== undefined));

console.log(`committed \`${committed.name}\`: ${sets(committed)}; ${reruns.map((r) => `\`${r.name}\`: ${sets(r)}`).join('; ')}\n`);
console.log(`| row | committed mean [95% CI] (s) | rerun interval (s) | ${reruns.map((r) => `${r.name} (s) | vs CI | vs rerun interval`).join(' | ')} | pooled over ${all.length} sets (s) | vs CI |`);
console.log(`| --- | ---: | ---: | ${reruns.map(() => '---: | --- | ---').join(' | ')} | ---: | --- |`);
const misses = reruns.map(() => ({ ci: 0, rerun: 0 }));
for (const row of rows) {
  const iv = row.intervals.meanMs;
  const cells = reruns.map((r, i) => {
    const mean = rowOf(r, row.id).meanMs;
    const ci = verdict(mean, iv);
    const rerun = verdict(mean, iv.rerun);
    if (ci !== 'inside') misses[i].ci += 1;
    if (rerun !== 'inside') misses[i].rerun += 1;
    return `${seconds(mean)} | ${ci} | ${rerun}`;
  });
  console.log(`| ${row.label} | ${seconds(row.meanMs)} [${seconds(iv.low)}, ${seconds(iv.high)}] | [${seconds(iv.rerun.low)}, ${seconds(iv.rerun.high)}] | ${cells.join(' | ')} | ${seconds(pooledMean(row.id))} | ${verdict(pooledMean(row.id), iv)} |`);
}
console.log(`\nRows outside the committed CI: ${reruns.map((r, i) => `${r.name} ${misses[i].ci} of ${rows.length}`).join(', ')}. Outside the committed rerun interval: ${reruns.map((r, i) => `${r.name} ${misses[i].rerun} of ${rows.length}`).join(', ')}.\n`);

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
console.log(`| paired ratio | committed [95% CI] | rerun interval | ${reruns.map((r) => `${r.name} [95% CI] | vs CI | vs rerun interval`).join(' | ')} | ratio of pooled means | vs CI |`);
console.log(`| --- | ---: | ---: | ${reruns.map(() => '---: | --- | ---').join(' | ')} | ---: | --- |`);
const rerunRatios = reruns.map(costAwareRatios);
const ratioMisses = reruns.map(() => ({ ci: 0, rerun: 0, of: 0 }));
for (const c of costAwareRatios(committed)) {
  const fresh = rerunRatios.map((list) => list.find((r) => r.key === c.key));
  if (fresh.some((f) => f === undefined)) continue;
  const cells = fresh.map((f, i) => {
    const ci = verdict(f.iv.estimate, c.iv);
    const rerun = verdict(f.iv.estimate, c.iv.rerun);
    ratioMisses[i].of += 1;
    if (ci !== 'inside') ratioMisses[i].ci += 1;
    if (rerun !== 'inside') ratioMisses[i].rerun += 1;
    return `${ratio(f.iv.estimate)} [${ratio(f.iv.low)}, ${ratio(f.iv.high)}]${c.key === 'best' ? ` (${f.best})` : ''} | ${ci} | ${rerun}`;
  });
  const pooled = pooledMean('cost-aware') / pooledMean(c.against ?? c.best);
  const label = c.key === 'best' ? `${c.name} (committed: ${c.best})` : c.name;
  console.log(`| ${label} | ${ratio(c.iv.estimate)} [${ratio(c.iv.low)}, ${ratio(c.iv.high)}] | [${ratio(c.iv.rerun.low)}, ${ratio(c.iv.rerun.high)}] | ${cells.join(' | ')} | ${ratio(pooled)} | ${verdict(pooled, c.iv)} |`);
}
console.log(`\nRatios outside the committed CI: ${reruns.map((r, i) => `${r.name} ${ratioMisses[i].ci} of ${ratioMisses[i].of}`).join(', ')}. Outside the committed rerun interval: ${reruns.map((r, i) => `${r.name} ${ratioMisses[i].rerun} of ${ratioMisses[i].of}`).join(', ')}.`);
