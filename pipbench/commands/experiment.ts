// `pipbench experiment`: compare routing policies on one workload in real time
// (HTTP workers and a warmroute proxy per row); writes results/<name>/.
// Its flags are shared with `pipbench simulate` (one parser, below).

import { access } from 'node:fs/promises';
import {
  DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_STATIC_BUDGET, DEFAULT_THRESHOLDS, loadExperimentWorkload, POLICIES, simulatedRows, thresholdPolicies,
  type ArrivalPattern, type ExperimentParams, type PolicyName, type RowPlan, type Threshold,
} from '../experiment/plan.js';
import { summaryJson, writeExperimentResults } from '../experiment/report.js';
import type { ExperimentResult } from '../experiment/result.js';
import { rowStats } from '../experiment/rows.js';
import { modelRows, runExperiment } from '../experiment/run.js';
import { processRows, ProcessExperiment, type ProcessWorkerParams } from '../experiment/run-process.js';
import { AUTO_THRESHOLD } from '../../balancers/settings.js';
import { parsePackageTableText } from '../../src/packages.js';
import { MAX_CONNECTIONS } from '../../src/worker-specs.js';
import { createProgressBar } from '../progress.js';
import { formatMs } from '../stats.js';
import type { Workload } from '../workload.js';
import {
  InputError, loadHandlerNames, LOAD_OPTIONS, parseChoice, parseFlags, parseHandlerChoice, parseLoadFlags, parseList, parseInputFile, parseNumberFlag, parseNumberList, readInputFile, reportingUsageErrors,
  shellQuote, STOP_SIGNALS, stringFlag, UsageError, PROCESS_IO, type CommandIO, type FlagValues,
} from './support.js';

export type Engine = ExperimentResult['engine'];

/** The proxy's largest loadThreshold (balancers/settings.ts). */
const MAX_THRESHOLD = 1e6;

const DEFAULTS = {
  workers: 5,
  durationSec: 300,
  waitMs: 200,
  runners: 10,
  timeScale: 0.1,
  seed: 1,
  drainSec: 600,
  warmupSec: 60,
  balanceFactor: 1.25,
  connectionsPerWorker: 1000,
  outDir: 'results',
} as const;

/** --quick (experiment): every row, briefly, at a small time scale: a smoke test of the whole pipeline. */
const QUICK = { durationSec: 60, timeScale: 0.01, drainSec: 300 } as const;

/** The flags both engines read, with their help lines. */
export function sharedFlagsHelp(engine: Engine): string {
  const quick = engine === 'experiment';
  return `  --name NAME             results folder name (default "${engine}"${quick ? '; "quick" with --quick' : ''})
  --registry FILE         olscheduler registry (required)
  --packages FILE         package table (default: costs drawn from the measured samples)
  --policy-packages FILE  the package table the proxy's policies weigh instead of --packages' (a
                          mis-estimated table), or "none" for no table (default: --packages')
  --handlers FILE         handler list to draw from (default: the registry's names)
  --workers N             simulated workers (default ${DEFAULTS.workers})
  --policies LIST         comma-separated, from ${POLICIES.join(', ')} (default: all)
  --thresholds LIST       load thresholds of ${[...thresholdPolicies].join(', ')}: numbers, and "auto" (the
                          proxy's per-worker threshold); one row each (default ${DEFAULT_THRESHOLDS.join(',')})
  --duration SECONDS      simulated seconds of sending per row (default ${DEFAULTS.durationSec}${quick ? `; --quick ${QUICK.durationSec}` : ''})
  --mode async|sync       open loop (default) or closed loop
  --wait MS               async: simulated ms between requests (default ${DEFAULTS.waitMs}); sync: think time (default 0)
  --rate N                async: requests per simulated second (instead of --wait)
  --runners N             sync: closed-loop runners (default ${DEFAULTS.runners})
  --cores N               processors per worker (default: the worker model's)
  --worker-cores LIST     processors of each worker, e.g. 2,2,1,1,0.5 (unequal workers)
  --host-cores N          one CPU of N processors shared by all workers (workers as processes
                          on one host; the thesis: 5 workers on 4 cores); not with --cores or --worker-cores
  --worker-weights LIST   routing weight of each worker, e.g. 2,2,1,1,1
  --cache-mb N            installed-package disk per worker in MiB (default: the model's, unbounded)
  --handler-ms N          handler run time, simulated ms (default: the model's)
  --drain SECONDS         simulated seconds to wait for outstanding answers (default ${DEFAULTS.drainSec}${quick ? `; --quick ${QUICK.drainSec}` : ''})
  --warmup SECONDS        requests sent before this are left out of the steady-state mean (default ${DEFAULTS.warmupSec})
  --balance-factor X      hashing-bounded balance factor (default ${DEFAULTS.balanceFactor})
  --connections-per-worker N  proxy connections per worker (default ${DEFAULTS.connectionsPerWorker}, so requests
                          queue in the workers, as with olscheduler)
  --health-interval MS    the proxy's status poll, simulated ms (default ${DEFAULT_HEALTH_INTERVAL_MS}, as the proxy)
  --choice uniform|rotate handler choice, as in pipbench run (default uniform)
  --rotation-period SECONDS  rotate: simulated seconds per window (default 60)
  --rotation-slice N      rotate: window size, fraction (0.2), percentage (20%) or count (default 0.2)
  --seed N                first request sequence (handler draw) and the random policy's draws (default ${DEFAULTS.seed})
  --placement-seed S      salts the worker ids (worker1~S ...), so rings place keys anew (default 0: worker1..N)
  --compare-to ROW        the row every other is paired against (default: the first policy row)
  --workload-seed N       package sizes and costs filled in when there is no --packages (default ${DEFAULTS.seed})
  --out-dir DIR           where <name>/ goes (default ${DEFAULTS.outDir})
  --quiet                 no progress output
  --help                  this text
`;
}

export const HELP = `usage: pipbench experiment --registry FILE [flags]

For each policy (and each threshold policy at each load threshold) starts
fresh simulated HTTP workers with cold caches and a warmroute proxy, runs the
same workload in real time, and writes results/<name>/: summary.md,
summary.json, requests-<row>.csv and SVG charts. Two last rows are lower
bounds: all-warm (workers that hold every package) and compulsory-install
(one pooled worker with every core and one cache). Times given here and
reported are simulated (time scale 1). \`pipbench simulate\` runs the same
rows in virtual time, with repeats and intervals.

${sharedFlagsHelp('experiment')}  --time-scale X          wall time per simulated time (default ${DEFAULTS.timeScale}; --quick ${QUICK.timeScale})
  --quick                 short run of every row (smoke test)

Real workers (--engine process): every row on fresh process-engine workers,
each with an empty cache folder of its own (deleted after the row), in real
time (time scale 1). Rows: the policies, all-warm (every package installed
before the clock starts, into unbounded caches) and one-worker (every request
to one worker of the same size).
  --engine model|process  who answers: the worker model (default) or real workers
  --repo DIR              process: the wheel repository (generate --wheels' repo/)
  --handlers-dir DIR      process: the handler folders (generate --wheels' handlers/)
  --cpus-per-worker N     process: a CPU quota of N processors per worker (a cgroup each)
  --import-cache-mb N     process: warm interpreters per worker, MiB (default: the engine's)
  --repeat N              process: paired repeats, request sequences seed..seed+N-1 (default 3)
  (--cache-mb bounds each real worker's package folder too)
`;

/** The options only one engine has; parseArgs rejects the other's. */
export type ExtraOptions = Record<string, { type: 'string' | 'boolean'; short?: string }>;

const SHARED_OPTIONS = {
  name: { type: 'string' },
  registry: { type: 'string' },
  packages: { type: 'string' },
  'policy-packages': { type: 'string' },
  handlers: { type: 'string' },
  workers: { type: 'string' },
  policies: { type: 'string' },
  thresholds: { type: 'string' },
  duration: { type: 'string' },
  ...LOAD_OPTIONS,
  cores: { type: 'string' },
  'worker-cores': { type: 'string' },
  'host-cores': { type: 'string' },
  'worker-weights': { type: 'string' },
  'cache-mb': { type: 'string' },
  'handler-ms': { type: 'string' },
  drain: { type: 'string' },
  warmup: { type: 'string' },
  'balance-factor': { type: 'string' },
  'connections-per-worker': { type: 'string' },
  'health-interval': { type: 'string' },
  seed: { type: 'string' },
  'placement-seed': { type: 'string' },
  'compare-to': { type: 'string' },
  'workload-seed': { type: 'string' },
  'out-dir': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parsePolicies(value: string | undefined): PolicyName[] {
  const items = parseList('policies', value);
  if (!items) return [...POLICIES];
  const unknown = items.filter((p) => !POLICIES.includes(p));
  if (unknown.length > 0) throw new UsageError(`--policies: unknown policy ${unknown.map((u) => `"${u}"`).join(', ')}; allowed: ${POLICIES.join(', ')}`);
  return [...new Set(items)];
}

/** Numbers above 0 (at most the proxy's limit), and "auto": one row each; numbers ascending, "auto" last. */
function parseThresholds(value: string | undefined): Threshold[] {
  const items = parseList('thresholds', value);
  if (!items) return [...DEFAULT_THRESHOLDS];
  let auto = false;
  const numbers = items.flatMap((item) => {
    if (item === AUTO_THRESHOLD) {
      auto = true;
      return [];
    }
    // Number('') and Number(' ') are 0, Number('0x10') is 16: accept plain decimals only.
    const n = /^[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?$/i.test(item) ? Number(item) : Number.NaN;
    if (!Number.isFinite(n)) throw new UsageError(`--thresholds: "${item}" is neither a number nor "auto"`);
    if (n <= 0 || n > MAX_THRESHOLD) throw new UsageError(`--thresholds: ${item} is out of range: a load threshold must be greater than 0 and at most ${MAX_THRESHOLD} (or "auto")`);
    return [n];
  });
  const sorted: Threshold[] = [...new Set(numbers)].sort((a, b) => a - b);
  return auto ? [...sorted, AUTO_THRESHOLD] : sorted;
}

/** Checks the inputs up front, so that a mistake fails in a second, not after a row has run. */
async function checkInputs(registry: string, handlers: string | undefined, packages: string | undefined): Promise<void> {
  // The registry alone first: an empty one is named as such even when --handlers is given.
  await loadHandlerNames(undefined, registry);
  if (handlers !== undefined) await loadHandlerNames(handlers, registry);
  if (packages !== undefined) await readInputFile('packages', packages);
}

/**
 * The table of --policy-packages, read as the proxy reads its config key
 * `packages`: a table it would refuse, or one that names none of the
 * workload's packages (another workload's, most likely), fails here rather
 * than running as if there were no table.
 */
async function checkPolicyTable(path: string, workload: Workload): Promise<void> {
  const names = (await parseInputFile('policy-packages', path, parsePackageTableText)).keys();
  const used = new Set<string>();
  for (const pkgs of workload.registry.values()) for (const p of pkgs) used.add(p);
  for (const name of names) if (used.has(name)) return;
  throw new InputError(`--policy-packages ${path}: names none of the ${used.size} packages the registry's functions use`);
}

export interface ParsedFlags {
  readonly params: ExperimentParams;
  readonly quiet: boolean;
  /** Values of the engine's own options. */
  readonly extra: FlagValues;
  readonly help: boolean;
}

/**
 * The one flag parser of both engines. `extra` holds the options only this
 * engine accepts; `onlySimulate` values (arrival patterns, repeats) are parsed
 * here too, so their meaning is one.
 */
export function parseComparisonFlags(engine: Engine, argv: string[], extra: ExtraOptions): ParsedFlags {
  const values: FlagValues = parseFlags(argv, { ...SHARED_OPTIONS, ...extra });
  const str = (key: string): string | undefined => stringFlag(values, key);
  const help = values.help === true;
  const quick = values.quick === true;
  const name = str('name') ?? (quick ? 'quick' : engine);
  if (!help) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new UsageError(`--name must be a plain folder name (letters, digits, . _ -), got "${name}"`);
    if (str('registry') === undefined) throw new UsageError('--registry FILE is required (an olscheduler registry)');
  }
  const { mode, waitMs, runners } = parseLoadFlags(values, { mode: 'async', waitMs: DEFAULTS.waitMs, runners: DEFAULTS.runners });
  const policies = parsePolicies(str('policies'));
  const thresholds = parseThresholds(str('thresholds'));
  const choice = parseHandlerChoice(values);
  if (str('thresholds') !== undefined && !policies.some((p) => thresholdPolicies.has(p))) {
    throw new UsageError(`--thresholds needs one of ${[...thresholdPolicies].join(', ')} among --policies`);
  }
  const workers = parseNumberFlag('workers', str('workers'), { min: 1, max: 1000, integer: true }) ?? DEFAULTS.workers;
  const arrivals = parseArrivals(str('arrivals'), str('burst'), mode);
  if (str('host-cores') !== undefined && (str('cores') !== undefined || str('worker-cores') !== undefined)) {
    throw new UsageError('--host-cores gives every worker one shared CPU; it cannot be combined with --cores or --worker-cores');
  }
  const hostCores = parseNumberFlag('host-cores', str('host-cores'), { exclusiveMin: 0 });
  const oneWorker = values['one-worker'] === true;
  const staticBudget = engine === 'simulate' ? parseNumberFlag('static-budget', str('static-budget'), { integer: true, min: 0, max: 100_000 }) ?? DEFAULT_STATIC_BUDGET : 0;
  if (staticBudget === 1) throw new UsageError('--static-budget must be 0 (no clairvoyant static row) or at least 2 (its two starts)');
  const compareTo = str('compare-to');
  const params: ExperimentParams = {
    name,
    registry: str('registry') ?? '',
    packages: str('packages'),
    policyPackages: str('policy-packages'),
    handlers: str('handlers'),
    workers,
    policies,
    thresholds,
    durationSec: parseNumberFlag('duration', str('duration'), { exclusiveMin: 0 }) ?? (quick ? QUICK.durationSec : DEFAULTS.durationSec),
    mode,
    waitMs,
    arrivals,
    runners,
    timeScale: parseNumberFlag('time-scale', str('time-scale'), { exclusiveMin: 0 }) ?? (quick ? QUICK.timeScale : DEFAULTS.timeScale),
    cores: parseNumberFlag('cores', str('cores'), { exclusiveMin: 0 }),
    workerCores: parseNumberList('worker-cores', str('worker-cores'), workers),
    hostCores,
    workerWeights: parseNumberList('worker-weights', str('worker-weights'), workers),
    cacheMb: parseNumberFlag('cache-mb', str('cache-mb'), { min: 0 }),
    handlerMs: parseNumberFlag('handler-ms', str('handler-ms'), { min: 0 }),
    choice,
    seed: parseNumberFlag('seed', str('seed'), { integer: true, min: 0 }) ?? DEFAULTS.seed,
    seeds: parseNumberFlag('seeds', str('seeds'), { integer: true, min: 1, max: 10_000 }) ?? 1,
    placementSeed: parseNumberFlag('placement-seed', str('placement-seed'), { integer: true, min: 0 }) ?? 0,
    placements: parseNumberFlag('placements', str('placements'), { integer: true, min: 1, max: 10_000 }) ?? 1,
    workloadSeed: parseNumberFlag('workload-seed', str('workload-seed'), { integer: true }) ?? DEFAULTS.seed,
    drainSec: parseNumberFlag('drain', str('drain'), { min: 0 }) ?? (quick ? QUICK.drainSec : DEFAULTS.drainSec),
    warmupSec: parseNumberFlag('warmup', str('warmup'), { min: 0 }) ?? DEFAULTS.warmupSec,
    balanceFactor: parseNumberFlag('balance-factor', str('balance-factor'), { min: 1 }) ?? DEFAULTS.balanceFactor,
    connectionsPerWorker: parseNumberFlag('connections-per-worker', str('connections-per-worker'), { min: 1, max: MAX_CONNECTIONS, integer: true }) ?? DEFAULTS.connectionsPerWorker,
    healthIntervalMs: parseNumberFlag('health-interval', str('health-interval'), { min: 0 }) ?? DEFAULT_HEALTH_INTERVAL_MS,
    compareTo,
    oneWorker,
    staticBudget,
    outDir: str('out-dir') ?? DEFAULTS.outDir,
    command: ['node', 'dist/pipbench/cli.js', engine, ...argv].map(shellQuote).join(' '),
  };
  // experiment's rows depend on its engine, known only once its own flags are read (experimentCommand checks them).
  if (engine === 'simulate') checkCompareTo(params, simulatedRows(params), 'simulate');
  return { params, quiet: values.quiet === true, extra: values, help };
}

/** --compare-to must name a row that the engine in use makes (`where` names that engine). */
function checkCompareTo(params: ExperimentParams, rows: readonly RowPlan[], where: string): void {
  const id = params.compareTo;
  if (id === undefined || rows.some((r) => r.id === id)) return;
  throw new UsageError(`--compare-to: no row "${id}" in ${where}; rows there: ${rows.map((r) => r.id).join(', ')}`);
}

function parseArrivals(kind: string | undefined, burst: string | undefined, mode: 'async' | 'sync'): ArrivalPattern {
  const name = parseChoice('arrivals', kind, ['fixed', 'poisson', 'bursty'] as const, 'fixed');
  if (name !== 'fixed' && mode !== 'async') throw new UsageError('--arrivals applies to --mode async only');
  if (name !== 'bursty') {
    if (burst !== undefined) throw new UsageError('--burst needs --arrivals bursty');
    return { kind: name };
  }
  const parts = (burst ?? '60,10,4').split(',').map((s) => Number(s.trim()));
  const [periodSec, burstSec, factor] = parts as [number, number, number];
  if (parts.length !== 3 || parts.some((n) => !Number.isFinite(n) || n <= 0)) {
    throw new UsageError(`--burst needs PERIOD,BURST,FACTOR (seconds, seconds, rate multiple), e.g. 60,10,4; got "${burst ?? ''}"`);
  }
  if (!(burstSec < periodSec) || factor < 1 || (burstSec / periodSec) * factor > 1) {
    throw new UsageError(`--burst ${burst ?? ''}: needs BURST < PERIOD, FACTOR >= 1 and FACTOR x BURST / PERIOD <= 1 (the rate between bursts cannot be negative)`);
  }
  return { kind: 'bursty', periodSec, burstSec, factor };
}

/** Checks files and the output folder, then loads the workload; every problem is an InputError naming it. */
export async function prepareInputs(params: ExperimentParams): Promise<Workload> {
  await checkInputs(params.registry, params.handlers, params.packages);
  try {
    await access(params.outDir);
  } catch {
    throw new InputError(`--out-dir ${params.outDir}: no such directory`);
  }
  let workload: Workload;
  try {
    workload = await loadExperimentWorkload(params);
  } catch (err) {
    // Content the parser rejects (malformed registry or package table) is bad input, not a crash.
    throw new InputError(err instanceof Error ? err.message : String(err));
  }
  if (params.policyPackages !== undefined && params.policyPackages !== 'none') await checkPolicyTable(params.policyPackages, workload);
  return workload;
}

export function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  return reportingUsageErrors('experiment', io, () => experimentCommand(argv, io));
}

async function experimentCommand(argv: string[], io: CommandIO): Promise<number> {
  const { params: parsed, quiet, help, extra } = parseComparisonFlags('experiment', argv, {
    'time-scale': { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'boolean' },
    engine: { type: 'string' }, repo: { type: 'string' }, 'handlers-dir': { type: 'string' }, 'cpus-per-worker': { type: 'string' },
    'import-cache-mb': { type: 'string' }, repeat: { type: 'string' },
  });
  if (help) {
    io.stdout.write(HELP);
    return 0;
  }
  const real = processWorkerParams(extra, parsed);
  if (real && extra['time-scale'] !== undefined) throw new UsageError('--time-scale: real workers run in real time (scale 1)');
  const params: ExperimentParams = real ? { ...parsed, timeScale: 1 } : parsed;
  const plans = real ? processRows(params) : modelRows(params);
  checkCompareTo(params, plans, real ? 'experiment --engine process' : 'experiment (the worker model in real time)');
  if (params.mode === 'async' && params.waitMs * params.timeScale < 1) {
    io.stderr.write(`pipbench experiment: note: ${(params.waitMs * params.timeScale).toFixed(2)} ms of wall time between requests is below timer resolution; arrivals will come in small bursts\n`);
  }
  const workload = await prepareInputs(params);

  const runs = plans.length * (real?.repeats ?? 1);
  const bar = createProgressBar({ total: runs, unit: 'rows', quiet });
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
  let result: ExperimentResult;
  const realRun = real ? new ProcessExperiment(params, real) : undefined;
  // Ctrl-C or SIGTERM (kill, a service manager, a CI timeout): every child process and cgroup goes with
  // the row's workers, and the exit status says which signal (128 + its number).
  const onSignal = (signal: NodeJS.Signals): void => {
    void realRun?.abort().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  if (realRun) for (const signal of STOP_SIGNALS) process.once(signal, onSignal);
  try {
    const hooks: Parameters<typeof runExperiment>[1] = {
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
        if (useLines) io.stderr.write(`[${i + 1}/${total}] ${row.plan.label}: ${row.runs[0]?.sentMs.length ?? 0} requests; ${(row.runs[0]?.wallSec ?? 0).toFixed(1)} s wall, ${((performance.now() - t0) / 1000).toFixed(0)} s total\n`);
      },
    };
    // Real rows take minutes: the results folder is written after every repeat, so a stopped run keeps what finished.
    result = realRun ? await realRun.run(hooks, workload, async (soFar) => { await writeExperimentResults(soFar); }) : await runExperiment(params, hooks, workload);
  } finally {
    if (realRun) for (const signal of STOP_SIGNALS) process.removeListener(signal, onSignal);
    clearInterval(ticker);
    bar.stop();
  }
  return report(result, io, extra.json === true);
}

/** The real workers' flags, or undefined for the worker model (and then none of them may be given). */
function processWorkerParams(extra: FlagValues, params: ExperimentParams): ProcessWorkerParams | undefined {
  const str = (key: string): string | undefined => stringFlag(extra, key);
  const engine = parseChoice('engine', str('engine'), ['model', 'process'] as const, 'model');
  const own = ['repo', 'handlers-dir', 'cpus-per-worker', 'import-cache-mb', 'repeat'];
  if (engine === 'model') {
    const given = own.find((k) => extra[k] !== undefined);
    if (given !== undefined) throw new UsageError(`--${given} needs --engine process`);
    return undefined;
  }
  const repo = str('repo');
  const handlersDir = str('handlers-dir');
  if (repo === undefined) throw new UsageError('--engine process needs --repo DIR (generate --wheels\' repo/)');
  if (handlersDir === undefined) throw new UsageError('--engine process needs --handlers-dir DIR (generate --wheels\' handlers/)');
  if (params.hostCores !== undefined || params.cores !== undefined || params.workerCores !== undefined) {
    throw new UsageError('--cores, --worker-cores and --host-cores describe the model; real workers take --cpus-per-worker');
  }
  const cpus = parseNumberFlag('cpus-per-worker', str('cpus-per-worker'), { exclusiveMin: 0 });
  const importCacheMb = parseNumberFlag('import-cache-mb', str('import-cache-mb'), { min: 0 });
  return {
    repo, handlersDir,
    repeats: parseNumberFlag('repeat', str('repeat'), { integer: true, min: 1, max: 100 }) ?? 3,
    ...(cpus !== undefined ? { cpusPerWorker: cpus } : {}),
    ...(params.cacheMb !== undefined ? { cacheMb: params.cacheMb } : {}),
    ...(importCacheMb !== undefined ? { importCacheMb } : {}),
  };
}

/** Writes the results folder and prints the summary (or summary.json with --json). */
export async function report(result: ExperimentResult, io: CommandIO, json: boolean): Promise<number> {
  const written = await writeExperimentResults(result);
  if (json) {
    io.stdout.write(JSON.stringify(summaryJson(result), null, 2) + '\n');
    return 0;
  }
  io.stdout.write(`wrote ${written.length} files to ${result.params.outDir}/${result.params.name}/${result.wallSec !== undefined ? ` in ${result.wallSec.toFixed(0)} s` : ''}\n`);
  io.stdout.write(summaryTable(result));
  return 0;
}

function summaryTable(result: ExperimentResult): string {
  const stats = rowStats(result);
  const width = Math.max(6, ...stats.map((s) => s.plan.label.length));
  const lines = [`${'row'.padEnd(width)}  ${'mean'.padStart(9)}  ${'95% CI'.padStart(21)}  ${'p80'.padStart(9)}  ${'window'.padStart(9)}  failures`];
  for (const s of stats) {
    const ci = s.intervals ? `[${formatMs(s.intervals.meanMs.low)}, ${formatMs(s.intervals.meanMs.high)}]` : '-';
    lines.push(`${s.plan.label.padEnd(width)}  ${formatMs(s.figures.meanMs).padStart(9)}  ${ci.padStart(21)}  ${formatMs(s.figures.p80Ms).padStart(9)}  ${formatMs(s.figures.windowMeanMs).padStart(9)}  ${s.figures.failures}`);
  }
  return `${lines.join('\n')}\n(simulated time at scale 1; "window": answers within the duration)\n`;
}
