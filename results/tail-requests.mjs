// Which requests make a simulated row's slowest 1%: by worker and by the minute
// they were sent, over the same placements x seeds as `pipbench simulate`.
//
//   node results/tail-requests.mjs --row ID [any flags of pipbench simulate for the cell]
//
// Run from the project root after `npm run build`. Deterministic, as simulate is.

import { parseComparisonFlags, prepareInputs } from '../dist/pipbench/commands/experiment.js';
import { SIMULATE_FLAGS } from '../dist/pipbench/commands/simulate.js';
import { PROCESS_IO, reportingUsageErrors, UsageError } from '../dist/pipbench/commands/support.js';
import { planRows, repeats } from '../dist/pipbench/experiment/plan.js';
import { loadLambdas, loadPackageCosts, simulateRun } from '../dist/pipbench/simulate/index.js';

/** Counts by key, keys in natural order (worker2 before worker10, minute 2 before minute 10). */
function countBy(list, key) {
  const out = new Map();
  for (const r of list) out.set(key(r), (out.get(key(r)) ?? 0) + 1);
  return Object.fromEntries([...out].sort((a, b) => a[0].localeCompare(b[0], undefined, { numeric: true })));
}

async function tailRequests(argv) {
  const rowAt = argv.indexOf('--row');
  const rowId = rowAt < 0 ? undefined : argv[rowAt + 1];
  if (rowId === undefined || rowId.startsWith('--')) throw new UsageError('--row ID is required: the row to look into, e.g. --row cost-aware');
  const { params } = parseComparisonFlags('simulate', [...argv.slice(0, rowAt), ...argv.slice(rowAt + 2)], SIMULATE_FLAGS);
  const plan = planRows(params.policies, params.thresholds).find((r) => r.id === rowId);
  if (plan === undefined) throw new UsageError(`--row: no row "${rowId}"; rows: ${planRows(params.policies, params.thresholds).map((r) => r.id).join(', ')}`);
  // The workload and tables exactly as pipbench simulate loads them.
  const workload = await prepareInputs(params);
  const setup = { params, workload, lambdas: await loadLambdas(params.registry, workload), packageTable: await loadPackageCosts(params) };

  const records = [];
  for (const { placementSeed, seed } of repeats(params)) {
    for (const r of simulateRun(setup, plan, placementSeed, seed).records) if (r.status === 200) records.push(r);
  }
  if (records.length === 0) {
    process.stderr.write(`${rowId}: no request was answered in this cell; nothing to rank\n`);
    return 1;
  }
  records.sort((a, b) => b.latencyMs - a.latencyMs);
  const top = records.slice(0, Math.ceil(records.length / 100));
  const minute = (r) => `minute ${Math.floor(r.offsetMs / 60_000) + 1}`;
  console.log(`${rowId}: ${records.length} answered requests over ${params.placements} placements x ${params.seeds} seeds; the slowest 1% (${top.length}) took ${(top[top.length - 1].latencyMs / 1000).toFixed(0)} to ${(top[0].latencyMs / 1000).toFixed(0)} s`);
  console.log('slowest 1% by worker:', JSON.stringify(countBy(top, (r) => r.worker)));
  console.log('all requests by worker:', JSON.stringify(countBy(records, (r) => r.worker)));
  console.log('slowest 1% by minute sent:', JSON.stringify(countBy(top, minute)));
  return 0;
}

process.exitCode = await reportingUsageErrors('tail-requests', PROCESS_IO, () => tailRequests(process.argv.slice(2)));
