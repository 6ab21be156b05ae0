// `pipbench simulate`: the policy comparison of `pipbench experiment` in virtual
// time, repeated over placements and request sequences; writes results/<name>/.

import { simulateExperiment, simulationRunCount, loadLambdas, loadPackageCosts } from '../simulate/index.js';
import { parseAgainst } from '../experiment/against.js';
import { fittedParamsOf } from '../calibrate/fit.js';
import { DEFAULT_STATIC_BUDGET } from '../experiment/plan.js';
import { createProgressBar } from '../progress.js';
import { InputError, parseInputFile, reportingUsageErrors, PROCESS_IO, type CommandIO } from './support.js';
import { parseComparisonFlags, prepareInputs, report, sharedFlagsHelp } from './experiment.js';

export const HELP = `usage: pipbench simulate --registry FILE [flags]

The rows of \`pipbench experiment\` (every policy, each threshold policy at each
load threshold, then the all-warm and compulsory-install lower bounds), plus
the reference rows one-worker (with --host-cores or --one-worker) and
clairvoyant static (offline), in virtual time: the worker model, the proxy's
worker table, queues and policies on a virtual clock, no sockets. Every row
runs on the same placements and the same request sequences (paired); tables
give hierarchical bootstrap 95% intervals (request sequences, then
placements) and the seed-to-seed spread. Deterministic: the same command
writes the same summary.json.

${sharedFlagsHelp('simulate')}  --placements N          placements per row: placement seeds S..S+N-1 (default 1)
  --seeds N               request sequences per row: seeds seed..seed+N-1 (default 1)
  --arrivals fixed|poisson|bursty  async arrival times (default fixed: one every --wait)
  --burst PERIOD,BURST,FACTOR  bursty: FACTOR x the mean rate for the first BURST s of every
                          PERIOD s, less in between, same mean (default 60,10,4)
  --against FILE          a summary.json of the same cell (e.g. from pipbench experiment): its
                          means and ranking are set beside these in summary.md
  --fitted FILE           the worker model's parameters from a fit's JSON (calibrate --fit's fit.json
                          or calibrate --real's real-fit.json: its chosen installScale, importScale,
                          sandboxMs, installCallMs, installSlots) in place of the defaults
  --one-worker            also the one-worker reference row (every request to the worker with the
                          most cores); always there with --host-cores
  --static-budget N       simulated runs per request sequence for the clairvoyant static row (the
                          best fixed key -> worker table an offline search finds; default ${DEFAULT_STATIC_BUDGET});
                          0: no such row
  --requests-csv          also write requests-<row>.csv (the first run of each row)
  --json                  print summary.json instead of the table
`;

/** simulate's own flags, beside those it shares with experiment (results/tail-requests.mjs reads a cell's flags with them). */
export const SIMULATE_FLAGS = {
  placements: { type: 'string' },
  seeds: { type: 'string' },
  arrivals: { type: 'string' },
  burst: { type: 'string' },
  'requests-csv': { type: 'boolean' },
  against: { type: 'string' },
  fitted: { type: 'string' },
  json: { type: 'boolean' },
  'one-worker': { type: 'boolean' },
  'static-budget': { type: 'string' },
} as const;

export function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  return reportingUsageErrors('simulate', io, () => simulateCommand(argv, io));
}

async function simulateCommand(argv: string[], io: CommandIO): Promise<number> {
  const { params, quiet, help, extra } = parseComparisonFlags('simulate', argv, SIMULATE_FLAGS);
  if (help) {
    io.stdout.write(HELP);
    return 0;
  }
  const workload = await prepareInputs(params);
  let lambdas;
  let packageTable;
  try {
    lambdas = await loadLambdas(params.registry, workload);
    packageTable = await loadPackageCosts(params);
  } catch (err) {
    throw new InputError(err instanceof Error ? err.message : String(err));
  }
  const against = typeof extra.against === 'string' ? await parseInputFile('against', extra.against, parseAgainst) : undefined;
  const model = typeof extra.fitted === 'string' ? await parseInputFile('fitted', extra.fitted, fittedParamsOf) : undefined;
  const total = simulationRunCount(params);
  const bar = createProgressBar({ total, unit: 'runs', quiet });
  const t0 = performance.now();
  let result;
  try {
    result = simulateExperiment({ params, workload, lambdas, packageTable, ...(model ? { model } : {}) }, {
      keepRecords: extra['requests-csv'] === true,
      onRun: (done, _total, plan) => { if (done % 10 === 0 || done === total) bar.update(done, `${plan.label} | ${((performance.now() - t0) / 1000).toFixed(0)} s`); },
    });
  } finally {
    bar.stop();
  }
  if (against !== undefined) result = { ...result, against };
  if (!quiet) io.stderr.write(`pipbench simulate: ${total} runs in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  return report(result, io, extra.json === true);
}
