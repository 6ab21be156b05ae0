// Summarizes a folder of alternated bench:picks runs (before-K and after-K, each --rounds N, as the run.sh
// scripts of these folders write them) for one policy: per run its median over its rounds, and over all the
// rounds of each build the median (the lower of the middle two) and the rounds within the targets (pick:
// 1 us at 1,000 workers, 5 us at 10,000; start-up of 10,000 workers: 0.5 s).
// usage: node results/bench-picks/alternated.mjs DIR POLICY   (from the project root)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, policy] = process.argv.slice(2);
if (dir === undefined || policy === undefined) {
  process.stderr.write('usage: node results/bench-picks/alternated.mjs DIR POLICY\n');
  process.exit(2);
}
const pickTarget = { 1000: 1000, 10000: 5000 };
const startupTarget = 500;
const lowerMedian = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const us = (ns) => `${(ns / 1000).toFixed(2)} µs`;
const ms = (x) => `${x.toFixed(0)} ms`;
/** One run's rounds: picks by worker count, and the 10,000-worker start-ups. */
const rounds = (run) => {
  const found = { 1000: [], 10000: [], startup: [] };
  for (const round of readdirSync(join(dir, run)).filter((d) => d.startsWith('round-'))) {
    for (const r of JSON.parse(readFileSync(join(dir, run, round, 'summary.json'), 'utf8')).results) {
      if (r.policy !== policy) continue;
      found[r.workers].push(r.nsPerPick);
      if (r.workers === 10000) found.startup.push(r.startupMs);
    }
  }
  return found;
};
const runs = [...new Set(readdirSync(dir).filter((d) => /^(before|after)-\d+$/.test(d)).map((d) => Number(d.split('-')[1])))].sort((a, b) => a - b);
const all = { before: { 1000: [], 10000: [], startup: [] }, after: { 1000: [], 10000: [], startup: [] } };
console.log(`${policy}\n\n| run | pick, 1,000 workers: before | after | 10,000 workers: before | after | start-up, 10,000 workers: before | after |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |`);
for (const k of runs) {
  const b = rounds(`before-${k}`);
  const a = rounds(`after-${k}`);
  for (const key of ['1000', '10000', 'startup']) {
    all.before[key].push(...b[key]);
    all.after[key].push(...a[key]);
  }
  console.log(`| ${k} | ${us(lowerMedian(b[1000]))} | ${us(lowerMedian(a[1000]))} | ${us(lowerMedian(b[10000]))} | ${us(lowerMedian(a[10000]))} | ${ms(lowerMedian(b.startup))} | ${ms(lowerMedian(a.startup))} |`);
}
console.log('\n| | pick, 1,000 workers: median, rounds within 1 µs | 10,000 workers: median, rounds within 5 µs | start-up, 10,000 workers: median, rounds within 0.5 s |\n| --- | --- | --- | --- |');
for (const build of ['before', 'after']) {
  const x = all[build];
  const within = (xs, limit) => `${xs.filter((v) => v <= limit).length} of ${xs.length}`;
  console.log(`| ${build} | ${us(lowerMedian(x[1000]))}, ${within(x[1000], pickTarget[1000])} | ${us(lowerMedian(x[10000]))}, ${within(x[10000], pickTarget[10000])} | ${ms(lowerMedian(x.startup))}, ${within(x.startup, startupTarget)} |`);
}
