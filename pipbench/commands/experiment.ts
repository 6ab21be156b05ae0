// `pipbench experiment`: compare routing policies on one workload; writes results/<name>/.

import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  loadExperimentWorkload, planRows, runExperiment, writeExperimentResults, thresholdPolicies, DEFAULT_THRESHOLDS, POLICIES,
  type ExperimentParams, type PolicyName, type RowPlan,
} from '../experiment.js';
import { createProgressBar } from '../progress.js';
import { formatMs } from '../stats.js';
import { parseHandlerList, parseRegistryNames, unknownHandlers } from '../runner.js';
import {
  InputError, parseChoice, parseNumberFlag, parseRotationSlice, readInputFile, reportingUsageErrors, UsageError, PROCESS_IO, type CommandIO,
} from './run.js';
import type { HandlerChoice } from '../runner.js';

const DEFAULTS = {
  workers: 5,
  durationSec: 300,
  waitMs: 200,
  runners: 10,
  timeScale: 0.1,
  seed: 1,
  drainSec: 600,
  balanceFactor: 1.25,
  connectionsPerWorker: 1000,
  outDir: 'results',
} as const;

/** --quick: every row, briefly, at a small time scale: a smoke test of the whole pipeline. */
const QUICK = { durationSec: 60, timeScale: 0.01, drainSec: 300 } as const;

export const HELP = `usage: pipbench experiment --registry FILE [flags]

For each policy (and pkg-aware at each load threshold) starts fresh simulated
workers with cold caches and a warmroute proxy, runs the same workload, and
writes results/<name>/: summary.md, summary.json, requests-<row>.csv and SVG
charts. A last row, all-warm, runs on workers that hold every package.
Times given here and reported are simulated (time scale 1).

  --name NAME             results folder name (default "experiment"; "quick" with --quick)
  --registry FILE         olscheduler registry (required)
  --packages FILE         package table (default: costs drawn from the measured samples)
  --handlers FILE         handler list to draw from (default: the registry's names)
  --workers N             simulated workers (default ${DEFAULTS.workers})
  --policies LIST         comma-separated, from ${POLICIES.join(', ')} (default: all)
  --thresholds LIST       pkg-aware load thresholds (default ${DEFAULT_THRESHOLDS.join(',')})
  --duration SECONDS      simulated seconds per row (default ${DEFAULTS.durationSec}; --quick ${QUICK.durationSec})
  --mode async|sync       open loop (default) or closed loop
  --wait MS               async: simulated ms between requests (default ${DEFAULTS.waitMs}); sync: think time (default 0)
  --rate N                async: requests per simulated second (instead of --wait)
  --runners N             sync: closed-loop runners (default ${DEFAULTS.runners})
  --time-scale X          wall time per simulated time (default ${DEFAULTS.timeScale}; --quick ${QUICK.timeScale})
  --cores N               cores per worker (default: the worker's)
  --cache-mb N            package cache per worker in MB (default: the worker's)
  --handler-ms N          handler run time, simulated ms (default: the worker's)
  --drain SECONDS         simulated seconds to wait for outstanding answers (default ${DEFAULTS.drainSec}; --quick ${QUICK.drainSec})
  --balance-factor X      hashing-bounded balance factor (default ${DEFAULTS.balanceFactor})
  --connections-per-worker N  proxy connections per worker (default ${DEFAULTS.connectionsPerWorker}, so requests
                          queue in the workers, as with olscheduler)
  --choice uniform|rotate handler choice, as in pipbench run (default uniform)
  --rotation-period SECONDS  rotate: simulated seconds per window (default 60)
  --rotation-slice N      rotate: window size, fraction (0.2), percentage (20%) or count (default 0.2)
  --seed N                handler draw and the random policy (default ${DEFAULTS.seed})
  --workload-seed N       package sizes and costs filled in when there is no --packages
                          (default ${DEFAULTS.seed}, as pipbench worker and generate)
  --out-dir DIR           where <name>/ goes (default ${DEFAULTS.outDir})
  --quick                 short run of every row (smoke test)
  --quiet                 no progress output
  --help                  this text
`;

function parseList(flag: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${flag} needs a comma-separated list, got "${value}"`);
  return items;
}

function parsePolicies(value: string | undefined): PolicyName[] {
  const items = parseList('policies', value);
  if (!items) return [...POLICIES];
  const unknown = items.filter((p) => !(POLICIES as readonly string[]).includes(p));
  if (unknown.length > 0) throw new UsageError(`--policies: unknown policy ${unknown.map((u) => `"${u}"`).join(', ')}; allowed: ${POLICIES.join(', ')}`);
  return [...new Set(items)] as PolicyName[];
}

function parseThresholds(value: string | undefined): number[] {
  const items = parseList('thresholds', value);
  if (!items) return [...DEFAULT_THRESHOLDS];
  const thresholds = items.map((item) => {
    const n = Number(item);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--thresholds: "${item}" is not a positive number`);
    return n;
  });
  return [...new Set(thresholds)].sort((a, b) => a - b);
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

async function assertReadable(flag: string, path: string | undefined): Promise<void> {
  if (path === undefined) return;
  await readInputFile(flag, path);
}

/** Checks the inputs up front, so that a mistake fails in a second, not after a row has run. */
async function checkInputs(registry: string, handlers: string | undefined, packages: string | undefined): Promise<void> {
  const registryText = await readInputFile('registry', registry);
  let names: string[];
  try {
    names = parseRegistryNames(registryText);
  } catch (err) {
    throw new InputError(`--registry ${registry}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (names.length === 0) throw new InputError(`--registry ${registry}: no functions in it`);
  if (handlers !== undefined) {
    const list = parseHandlerList(await readInputFile('handlers', handlers));
    if (list.length === 0) throw new InputError(`--handlers ${handlers}: no handler names in it`);
    const unknown = unknownHandlers(list, new Set(names));
    if (unknown.length > 0) {
      throw new InputError(`--handlers ${handlers}: ${unknown.length} handler(s) not in registry ${registry}: ${unknown.slice(0, 5).map((h) => `"${h}"`).join(', ')}${unknown.length > 5 ? ', ...' : ''}`);
    }
  }
  await assertReadable('packages', packages);
}

export function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  return reportingUsageErrors('experiment', io, () => experimentCommand(argv, io));
}

async function experimentCommand(argv: string[], io: CommandIO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        name: { type: 'string' },
        registry: { type: 'string' },
        packages: { type: 'string' },
        handlers: { type: 'string' },
        workers: { type: 'string' },
        policies: { type: 'string' },
        thresholds: { type: 'string' },
        duration: { type: 'string' },
        mode: { type: 'string' },
        wait: { type: 'string' },
        rate: { type: 'string' },
        runners: { type: 'string' },
        'time-scale': { type: 'string' },
        cores: { type: 'string' },
        'cache-mb': { type: 'string' },
        'handler-ms': { type: 'string' },
        drain: { type: 'string' },
        'balance-factor': { type: 'string' },
        'connections-per-worker': { type: 'string' },
        choice: { type: 'string' },
        'rotation-period': { type: 'string' },
        'rotation-slice': { type: 'string' },
        seed: { type: 'string' },
        'workload-seed': { type: 'string' },
        'out-dir': { type: 'string' },
        quick: { type: 'boolean' },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const quick = values.quick === true;
  const name = values.name ?? (quick ? 'quick' : 'experiment');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`--name must be a plain folder name (letters, digits, . _ -), got "${name}"`);
  if (values.registry === undefined) throw new UsageError('--registry FILE is required (an olscheduler registry)');
  const mode = parseChoice('mode', values.mode, ['async', 'sync'] as const, 'async');
  const wait = parseNumberFlag('wait', values.wait, { min: 0 });
  const rate = parseNumberFlag('rate', values.rate, { exclusiveMin: 0 });
  const runnersFlag = parseNumberFlag('runners', values.runners, { min: 1, integer: true });
  let waitMs: number;
  if (mode === 'async') {
    if (wait !== undefined && rate !== undefined) throw new UsageError('give either --wait or --rate, not both');
    if (runnersFlag !== undefined) throw new UsageError('--runners applies to --mode sync only');
    waitMs = rate !== undefined ? 1000 / rate : (wait ?? DEFAULTS.waitMs);
    if (!(waitMs > 0)) throw new UsageError('--wait must be greater than 0 in async mode');
  } else {
    if (rate !== undefined) throw new UsageError('--rate applies to --mode async only');
    waitMs = wait ?? 0;
  }
  const policies = parsePolicies(values.policies);
  const thresholds = parseThresholds(values.thresholds);
  const choiceName = parseChoice('choice', values.choice, ['uniform', 'rotate'] as const, 'uniform');
  let choice: HandlerChoice = { kind: 'uniform' };
  if (choiceName === 'rotate') {
    const periodSec = parseNumberFlag('rotation-period', values['rotation-period'], { exclusiveMin: 0 }) ?? 60;
    choice = { kind: 'rotate', periodMs: periodSec * 1000, slice: parseRotationSlice(values['rotation-slice'] ?? '0.2') };
  } else if (values['rotation-period'] !== undefined || values['rotation-slice'] !== undefined) {
    throw new UsageError('--rotation-period and --rotation-slice need --choice rotate');
  }
  if (values.thresholds !== undefined && !policies.some((p) => thresholdPolicies.has(p))) {
    throw new UsageError(`--thresholds needs one of ${[...thresholdPolicies].join(', ')} among --policies`);
  }

  const params: ExperimentParams = {
    name,
    registry: values.registry,
    packages: values.packages,
    handlers: values.handlers,
    workers: parseNumberFlag('workers', values.workers, { min: 1, max: 1000, integer: true }) ?? DEFAULTS.workers,
    policies,
    thresholds,
    durationSec: parseNumberFlag('duration', values.duration, { exclusiveMin: 0 }) ?? (quick ? QUICK.durationSec : DEFAULTS.durationSec),
    mode,
    waitMs,
    runners: runnersFlag ?? DEFAULTS.runners,
    timeScale: parseNumberFlag('time-scale', values['time-scale'], { exclusiveMin: 0 }) ?? (quick ? QUICK.timeScale : DEFAULTS.timeScale),
    cores: parseNumberFlag('cores', values.cores, { min: 1, integer: true }),
    cacheMb: parseNumberFlag('cache-mb', values['cache-mb'], { min: 0 }),
    handlerMs: parseNumberFlag('handler-ms', values['handler-ms'], { min: 0 }),
    choice,
    seed: parseNumberFlag('seed', values.seed, { integer: true }) ?? DEFAULTS.seed,
    workloadSeed: parseNumberFlag('workload-seed', values['workload-seed'], { integer: true }) ?? DEFAULTS.seed,
    drainSec: parseNumberFlag('drain', values.drain, { min: 0 }) ?? (quick ? QUICK.drainSec : DEFAULTS.drainSec),
    balanceFactor: parseNumberFlag('balance-factor', values['balance-factor'], { min: 1 }) ?? DEFAULTS.balanceFactor,
    connectionsPerWorker: parseNumberFlag('connections-per-worker', values['connections-per-worker'], { min: 1, integer: true }) ?? DEFAULTS.connectionsPerWorker,
    outDir: values['out-dir'] ?? DEFAULTS.outDir,
    command: ['node', 'dist/pipbench/cli.js', 'experiment', ...argv].map(shellQuote).join(' '),
  };
  if (params.mode === 'async' && params.waitMs * params.timeScale < 1) {
    io.stderr.write(`pipbench experiment: note: ${fixedMs(params.waitMs * params.timeScale)} of wall time between requests is below timer resolution; arrivals will come in small bursts\n`);
  }
  await checkInputs(params.registry, params.handlers, params.packages);
  try {
    await access(params.outDir);
  } catch {
    throw new InputError(`--out-dir ${params.outDir}: no such directory`);
  }

  let workload;
  try {
    workload = await loadExperimentWorkload(params);
  } catch (err) {
    // Content the parser rejects (malformed registry or package table) is bad input, not a crash.
    throw new InputError(err instanceof Error ? err.message : String(err));
  }

  const quiet = values.quiet === true;
  const plans = planRows(params.policies, params.thresholds);
  const bar = createProgressBar({ total: plans.length, unit: 'rows', quiet });
  const useLines = !quiet && !process.stderr.isTTY;
  const rowWallSec = params.durationSec * params.timeScale;
  const t0 = performance.now();
  let rowStart = t0;
  let current: RowPlan | undefined;
  let currentIndex = 0;
  let answered = 0;
  const status = (): string => {
    const now = performance.now();
    return `${current?.label ?? ''} | row ${((now - rowStart) / 1000).toFixed(0)}/${rowWallSec.toFixed(0)} s | ${answered} answered | total ${((now - t0) / 1000).toFixed(0)} s`;
  };
  const ticker = setInterval(() => bar.update(currentIndex, status()), 500);
  let result;
  try {
    result = await runExperiment(params, {
      onRowStart: (plan, i, total) => {
        current = plan;
        currentIndex = i;
        answered = 0;
        rowStart = performance.now();
        bar.update(i, status());
        if (useLines) io.stderr.write(`[${i + 1}/${total}] ${plan.label} ...\n`);
      },
      onRecord: () => { answered++; },
      onRowEnd: (row, i, total) => {
        bar.update(i + 1, status());
        if (useLines) {
          const s = row.summary;
          io.stderr.write(`[${i + 1}/${total}] ${row.plan.label}: ${s.requests} requests, ${s.failures} failed, mean ${formatMs(s.meanMs)}, p80 ${formatMs(s.p80Ms)} (simulated); ${row.wallSec.toFixed(1)} s wall, ${((performance.now() - t0) / 1000).toFixed(0)} s total\n`);
        }
      },
    }, workload);
  } finally {
    clearInterval(ticker);
    bar.stop();
  }
  const written = await writeExperimentResults(result);
  io.stdout.write(`wrote ${written.length} files to ${params.outDir}/${params.name}/ in ${result.wallSec.toFixed(0)} s\n`);
  io.stdout.write(summaryTable(result.rows.map((r) => [r.plan.label, r.summary.meanMs, r.summary.p80Ms, r.summary.failures])));
  return 0;
}

function fixedMs(ms: number): string {
  return `${ms.toFixed(2)} ms`;
}

function summaryTable(rows: [string, number, number, number][]): string {
  const width = Math.max(6, ...rows.map(([label]) => label.length));
  const lines = [`${'policy'.padEnd(width)}  ${'mean'.padStart(9)}  ${'p80'.padStart(9)}  failures`];
  for (const [label, mean, p80, failures] of rows) {
    lines.push(`${label.padEnd(width)}  ${formatMs(mean).padStart(9)}  ${formatMs(p80).padStart(9)}  ${failures}`);
  }
  return `${lines.join('\n')}\n(simulated time at scale 1)\n`;
}
