// Two rows of several real-worker runs, pooled: each run is one placement with its own request sequences, so the runs
// make one grid of sequences x placements in which a sequence has a mean only under its own run's placement. The
// paired ratio mean(A) / mean(B) over every run, with pipbench's two-stage bootstrap (sequences resampled, then
// placements, both rows with the same draws; cells not run are left out), as every summary's paired ratios are.
// Per run it prints the two rows' means per sequence, so each set's part can be seen.
//
//   node results/fresh-seeds/real-pooled.mjs ROW_A ROW_B RUN/summary.json [RUN2/summary.json ...]
//   (from the project root, after npm run build; ROW ids as in summary.json: cost-aware, pkg-aware-t8, ...)
//
// A run's summary.json must have per-sequence means (meanMsGrid): the committed results/real-thesis predates them.

import { readFileSync } from 'node:fs';
import { pairedInterval } from '../../dist/pipbench/stats.js';
import { seededRandom } from '../../dist/pipbench/random.js';

const [rowA, rowB, ...files] = process.argv.slice(2);
if (rowA === undefined || rowB === undefined || files.length === 0) {
  console.error('usage: node results/fresh-seeds/real-pooled.mjs ROW_A ROW_B RUN/summary.json [...]');
  process.exit(2);
}
/** Bad input: one line naming the problem, exit 2. */
function fail(message) {
  console.error(`real-pooled: ${message}`);
  process.exit(2);
}
const runs = files.map((file) => {
  try {
    return { file, summary: JSON.parse(readFileSync(file, 'utf8')) };
  } catch (err) {
    return fail(`${file}: ${err.message}`);
  }
});
/** Per run, the row's mean per sequence (its one placement). */
function sequenceMeans(run, id) {
  const row = run.summary.rows.find((r) => r.id === id);
  if (row === undefined) fail(`${run.file}: no row "${id}" (rows: ${run.summary.rows.map((r) => r.id).join(', ')})`);
  if (!Array.isArray(row.meanMsGrid)) fail(`${run.file}: row "${id}" has no per-sequence means (meanMsGrid)`);
  if (row.meanMsGrid.some((cells) => cells.length !== 1)) fail(`${run.file}: row "${id}" has more than one placement`);
  return row.meanMsGrid.map((cells) => cells[0]);
}
const perRun = runs.map((run) => ({ name: run.summary.name, a: sequenceMeans(run, rowA), b: sequenceMeans(run, rowB) }));
for (const r of perRun) if (r.a.length !== r.b.length) fail(`${r.name}: ${rowA} and ${rowB} ran on different sequences`);
const total = perRun.reduce((n, r) => n + r.a.length, 0);
/** Sequences x placements, NaN where a sequence did not run under that placement. */
function grid(key) {
  const rows = [];
  perRun.forEach((r, j) => {
    for (const v of r[key]) {
      const row = new Array(perRun.length).fill(Number.NaN);
      row[j] = v;
      rows.push(row);
    }
  });
  return rows;
}
const s = (ms) => (ms / 1000).toFixed(1);
const mean = (xs) => xs.reduce((x, y) => x + y, 0) / xs.length;
console.log(`| run | sequences | ${rowA} per sequence (s) | ${rowB} per sequence (s) | ${rowA} faster in | ratio of means |`);
console.log('| --- | ---: | --- | --- | ---: | ---: |');
for (const r of perRun) {
  const faster = r.a.filter((v, i) => v < r.b[i]).length;
  console.log(`| ${r.name} | ${r.a.length} | ${r.a.map(s).join(', ')} | ${r.b.map(s).join(', ')} | ${faster} of ${r.a.length} | ${(mean(r.a) / mean(r.b)).toFixed(2)}x |`);
}
const ratio = pairedInterval(grid('a'), grid('b'), 'ratio', { random: seededRandom(1) });
const fasterAll = perRun.reduce((n, r) => n + r.a.filter((v, i) => v < r.b[i]).length, 0);
console.log(`\nPooled over ${perRun.length} runs (${total} sequences, ${perRun.length} placements): ${rowA} / ${rowB} ${ratio.estimate.toFixed(2)}x [${ratio.low.toFixed(2)}, ${ratio.high.toFixed(2)}] (95%, paired, sequences then placements resampled); ${rowA} faster in ${fasterAll} of ${total} sequences.`);
