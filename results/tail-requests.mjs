// Which requests make a simulated row's slowest 1%: by worker and by the minute
// they were sent, over the same placements x seeds as `pipbench simulate`.
//
//   node results/tail-requests.mjs --row ID [simulate's flags: --registry, --handlers,
//        --policies, --thresholds, --worker-cores, --placements, --seeds, ...]
//
// Run from the project root after `npm run build`. Deterministic, as simulate is.

import { parseComparisonFlags } from '../dist/pipbench/commands/experiment.js';
import { planRows, repeats } from '../dist/pipbench/experiment.js';
import { loadLambdas, loadPackageCosts, simulateRun } from '../dist/pipbench/simulate.js';
import { loadWorkload } from '../dist/pipbench/workload.js';

const argv = process.argv.slice(2);
const rowAt = argv.indexOf('--row');
if (rowAt < 0 || argv[rowAt + 1] === undefined) {
  console.error('usage: node results/tail-requests.mjs --row ID [pipbench simulate flags]');
  process.exit(2);
}
const rowId = argv[rowAt + 1];
argv.splice(rowAt, 2);
const { params } = parseComparisonFlags('simulate', argv, { placements: { type: 'string' }, seeds: { type: 'string' } });
const plan = planRows(params.policies, params.thresholds).find((r) => r.id === rowId);
if (plan === undefined) {
  console.error(`--row: no row "${rowId}"; rows: ${planRows(params.policies, params.thresholds).map((r) => r.id).join(', ')}`);
  process.exit(2);
}
const workload = await loadWorkload({ registry: params.registry, packages: params.packages, handlers: params.handlers, seed: params.workloadSeed });
const setup = { params, workload, lambdas: await loadLambdas(params.registry, workload), packageTable: await loadPackageCosts(params) };

const records = [];
for (const { placementSeed, seed } of repeats(params)) {
  for (const r of simulateRun(setup, plan, placementSeed, seed).records) if (r.status === 200) records.push(r);
}
records.sort((a, b) => b.latencyMs - a.latencyMs);
const top = records.slice(0, Math.ceil(records.length / 100));
const count = (list, key) => {
  const out = {};
  for (const r of list) out[key(r)] = (out[key(r)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort());
};
const minute = (r) => `minute ${Math.floor(r.offsetMs / 60_000) + 1}`;
console.log(`${rowId}: ${records.length} answered requests over ${params.placements} placements x ${params.seeds} seeds; the slowest 1% (${top.length}) took ${(top[top.length - 1].latencyMs / 1000).toFixed(0)} to ${(top[0].latencyMs / 1000).toFixed(0)} s`);
console.log('slowest 1% by worker:', JSON.stringify(count(top, (r) => r.worker)));
console.log('all requests by worker:', JSON.stringify(count(records, (r) => r.worker)));
console.log('slowest 1% by minute sent:', JSON.stringify(count(top, minute)));
