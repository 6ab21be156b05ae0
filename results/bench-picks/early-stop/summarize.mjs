// Per build (before-K, after-K runs of run.sh): each run's median over its rounds, and over all its rounds the
// median (the lower of the middle two) and the rounds within the targets (1 us at 1,000 workers, 5 us at 10,000).
// usage: node results/bench-picks/early-stop/summarize.mjs   (from the project root)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = 'results/bench-picks/early-stop';
const target = { 1000: 1000, 10000: 5000 };
const lowerMedian = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const us = (ns) => `${(ns / 1000).toFixed(2)} µs`;
const picks = (run) => {
  const bySize = { 1000: [], 10000: [] };
  for (const round of readdirSync(join(dir, run)).filter((d) => d.startsWith('round-'))) {
    for (const r of JSON.parse(readFileSync(join(dir, run, round, 'summary.json'), 'utf8')).results) bySize[r.workers].push(r.nsPerPick);
  }
  return bySize;
};
const runs = readdirSync(dir).filter((d) => /^(before|after)-\d+$/.test(d)).sort((a, b) => Number(a.split('-')[1]) - Number(b.split('-')[1]));
const all = { before: { 1000: [], 10000: [] }, after: { 1000: [], 10000: [] } };
console.log('| run | 1,000 workers before | after | 10,000 workers before | after |\n| --- | ---: | ---: | ---: | ---: |');
for (const k of [...new Set(runs.map((r) => r.split('-')[1]))]) {
  const b = picks(`before-${k}`);
  const a = picks(`after-${k}`);
  for (const size of [1000, 10000]) {
    all.before[size].push(...b[size]);
    all.after[size].push(...a[size]);
  }
  console.log(`| ${k} | ${us(lowerMedian(b[1000]))} | ${us(lowerMedian(a[1000]))} | ${us(lowerMedian(b[10000]))} | ${us(lowerMedian(a[10000]))} |`);
}
console.log('\n| | 1,000 workers: median, rounds within 1 µs | 10,000 workers: median, rounds within 5 µs |\n| --- | --- | --- |');
for (const build of ['before', 'after']) {
  const cell = (size) => `${us(lowerMedian(all[build][size]))}, ${all[build][size].filter((ns) => ns <= target[size]).length} of ${all[build][size].length}`;
  console.log(`| ${build} | ${cell(1000)} | ${cell(10000)} |`);
}
