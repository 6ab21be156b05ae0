// Calibration of the worker model on the thesis's own logs. The thesis
// workload (one request every 200 ms for 5 minutes, 5 workers on one 4-vCPU
// host) is a `pipbench simulate` set-up: the proxy's real scheduler and
// policies route it over the worker model on the virtual clock
// (pipbench/simulate/index.ts; there is one simulator). Answers are counted as the
// thesis's runner counted them: those that came within the 5 minutes.
// Round-robin and random are the calibration set (fit.ts chooses the model's
// parameters on them); least-loaded and the package-aware threshold sweep are
// predicted without tuning.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataDir } from '../generate/index.js';
import { DEFAULT_HEALTH_INTERVAL_MS, loadExperimentWorkload, policyRows, type ExperimentParams, type PolicyName, type RowPlan } from '../experiment/plan.js';
import { MODEL_DEFAULTS, THESIS_HOST, type ModelParams } from '../model/index.js';
import { seededRandom } from '../random.js';
import { loadLambdas, simulateRun, type SimulationSetup } from '../simulate/index.js';
import { bootstrapInterval, mean, percentile, sortedAscending, type Interval, type RequestRecord } from '../stats.js';
import { parseTextLog } from '../textlog.js';

const THESIS_RUN = { waitMs: 200, durationMs: 300_000 } as const;
export const THESIS_THRESHOLDS = [5, 10, 50, 100, 150, 200, 250, 300] as const;

/** The model parameters a fit chooses; the rest of MODEL_DEFAULTS is fixed by the set-up (pipbench/README.md, "Worker model"). */
export type FittedParams = Pick<ModelParams, 'installScale' | 'importScale' | 'sandboxMs'>;

/** The project's copy of the thesis data. */
export function thesisDataDir(): string {
  return join(dataDir(), 'olscheduler-eval');
}

/**
 * The thesis experiment as `pipbench simulate` flags would give it:
 * `--registry registry_100_5.json --handlers handlers_1000.txt --workers 5
 * --host-cores 4 --wait 200 --duration 300 --drain 0` (no drain: the thesis's
 * runner logged nothing after the 5 minutes).
 */
export function thesisParams(dataDir: string, sharedHost = true): ExperimentParams {
  return {
    name: 'calibration',
    registry: join(dataDir, 'registry_100_5.json'),
    handlers: join(dataDir, 'handlers_1000.txt'),
    workers: THESIS_HOST.workers,
    policies: [],
    thresholds: [],
    durationSec: THESIS_RUN.durationMs / 1000,
    mode: 'async',
    waitMs: THESIS_RUN.waitMs,
    arrivals: { kind: 'fixed' },
    runners: 1,
    timeScale: 1,
    ...(sharedHost ? { hostCores: THESIS_HOST.cores } : {}),
    seed: 1,
    seeds: 1,
    placementSeed: 1,
    placements: 1,
    workloadSeed: 1,
    drainSec: 0,
    warmupSec: 0,
    balanceFactor: 1.25,
    connectionsPerWorker: 1000,
    healthIntervalMs: DEFAULT_HEALTH_INTERVAL_MS,
    outDir: 'results',
    command: 'pipbench calibrate',
    // Calibration compares the model with the logs' own rows: no reference rows.
    oneWorker: false,
    staticBudget: 0,
  };
}

/** The thesis's set-up in simulate's terms, with the proxy's registry parser. */
export async function thesisSetup(dataDir = thesisDataDir(), sharedHost = true): Promise<SimulationSetup> {
  const params = thesisParams(dataDir, sharedHost);
  const workload = await loadExperimentWorkload(params);
  return { params, workload, lambdas: await loadLambdas(params.registry, workload) };
}

/** The figures compared: latency statistics over answers within the run, in ms. */
export interface LatencyFigures {
  answers: number;
  meanMs: number;
  p50Ms: number;
  p80Ms: number;
  /** Share of answers under 1 s, 0..1. */
  under1s: number;
  /** Mean latency of the requests sent in each minute of the run. */
  perMinuteMeanMs: number[];
  /** Share of the requests sent in each minute answered under 1 s: warm answers while the backlog lasts. */
  perMinuteUnder1s: number[];
  /** Answers of 3 s or more per handler answered: how often a function met a cold worker (or a queue). */
  slowPerHandler: number;
  /** p10, p50, p90 latency of the answers under 1 s to requests sent in minutes 2 and 3, while the backlog lasts (NaN: none). */
  backlogFastMs: [number, number, number];
}

/** An answer as the thesis runner logged it: when it was sent (ms from the start), how long it took, which handler. */
export interface Answer {
  readonly sentMs: number;
  readonly latencyMs: number;
  readonly handler: string;
}

const SLOW_MS = 3000;

export function figures(answers: readonly Answer[], durationMs: number): LatencyFigures {
  const sorted = sortedAscending(answers.map((l) => l.latencyMs));
  const minutes = Math.ceil(durationMs / 60_000);
  const inMinute = Array.from({ length: minutes }, (_, m) => answers.filter((l) => l.sentMs >= m * 60_000 && l.sentMs < (m + 1) * 60_000).map((l) => l.latencyMs));
  const handlers = new Set(answers.map((a) => a.handler)).size;
  return {
    answers: sorted.length,
    meanMs: mean(sorted),
    p50Ms: percentile(sorted, 50),
    p80Ms: percentile(sorted, 80),
    under1s: sorted.filter((x) => x < 1000).length / sorted.length,
    perMinuteMeanMs: inMinute.map(mean),
    perMinuteUnder1s: inMinute.map((l) => l.filter((x) => x < 1000).length / l.length),
    slowPerHandler: answers.filter((a) => a.latencyMs >= SLOW_MS).length / Math.max(1, handlers),
    backlogFastMs: backlogFast(answers),
  };
}

function backlogFast(answers: readonly Answer[]): [number, number, number] {
  const fast = sortedAscending(answers.filter((a) => a.sentMs >= 60_000 && a.sentMs < 180_000 && a.latencyMs < 1000).map((a) => a.latencyMs));
  return fast.length === 0 ? [Number.NaN, Number.NaN, Number.NaN] : [percentile(fast, 10), percentile(fast, 50), percentile(fast, 90)];
}

/** A thesis log's answers: send time (completion minus latency, from the first send) and latency, ms. */
function logAnswers(text: string): Answer[] {
  const entries = parseTextLog(text).entries.filter((e) => e.status === 200);
  const done = entries.map((e) => ({ at: Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(e.time) ? e.time : `${e.time}Z`), latencyMs: e.latencyMs, handler: e.handler }));
  if (done.some((d) => Number.isNaN(d.at))) throw new Error('a log line has a time that does not parse');
  const start = Math.min(...done.map((d) => d.at - d.latencyMs));
  return done.map((d) => ({ sentMs: d.at - d.latencyMs - start, latencyMs: d.latencyMs, handler: d.handler }));
}

/** A thesis log's figures. */
export function logFigures(text: string, durationMs = THESIS_RUN.durationMs): LatencyFigures {
  return figures(logAnswers(text), durationMs);
}

/** The answers the thesis's runner would have logged: successes that came within the run. */
export function withinRun(records: readonly RequestRecord[], durationMs: number): Answer[] {
  return records.filter((r) => r.status === 200 && r.offsetMs + r.latencyMs <= durationMs).map((r) => ({ sentMs: r.offsetMs, latencyMs: r.latencyMs, handler: r.handler }));
}

export interface CalibrationCase {
  /** The row's name: the log's (`round-robin`, `pkg-aware.100`), or the log's with the variant run. */
  name: string;
  /** The thesis log it is compared with: `<log>.1000handlers.log`. */
  log: string;
  set: 'calibration' | 'validation';
  plan: RowPlan;
  /** Proxy settings of this row beyond the experiment's (least-loaded's tie rule). */
  proxySettings?: Readonly<Record<string, unknown>>;
  /** What the row is, when its name does not say. */
  note?: string;
}

const policyRow = (balancer: PolicyName, threshold?: number): RowPlan => policyRows([balancer], threshold === undefined ? [] : [threshold])[0] as RowPlan;

/** Every thesis log, each with the proxy's policy of the same name; least-loaded also with olscheduler's tie rule. */
export function thesisCases(): CalibrationCase[] {
  return [
    { name: 'round-robin', log: 'round-robin', set: 'calibration', plan: policyRow('round-robin') },
    { name: 'random', log: 'random', set: 'calibration', plan: policyRow('random') },
    { name: 'least-loaded', log: 'least-loaded', set: 'validation', plan: policyRow('least-loaded'), note: 'warmroute\'s least-loaded: ties go to the worker sent a request longest ago' },
    {
      name: 'least-loaded, list-order ties', log: 'least-loaded', set: 'validation', plan: policyRow('least-loaded'),
      proxySettings: { ties: 'list-order' }, note: 'olscheduler\'s least-loaded (2018): ties go to the first worker of the list',
    },
    ...THESIS_THRESHOLDS.map((threshold): CalibrationCase => ({ name: `pkg-aware.${threshold}`, log: `pkg-aware.${threshold}`, set: 'validation', plan: policyRow('pkg-aware', threshold) })),
  ];
}

/** One case at seeds 1..seeds (request sequence, random draws and placement), figures per seed. */
export function runCase(setup: SimulationSetup, c: CalibrationCase, seeds: number, model?: Partial<FittedParams>): LatencyFigures[] {
  const caseSetup: SimulationSetup = { ...setup, ...(model ? { model } : {}), ...(c.proxySettings ? { proxySettings: c.proxySettings } : {}) };
  const durationMs = setup.params.durationSec * 1000;
  const runs: LatencyFigures[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const { records } = simulateRun(caseSetup, c.plan, seed, seed);
    runs.push(figures(withinRun(records, durationMs), durationMs));
  }
  return runs;
}

export async function readLog(dataDir: string, log: string): Promise<string | undefined> {
  try {
    return await readFile(join(dataDir, 'logs', `${log}.1000handlers.log`), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The model's figures over seeds: the mean with its interval; backlogFastMs per seed, then the median over seeds of each quantile (seeds without such answers left out). */
export type ModelFigures = Omit<LatencyFigures, 'meanMs'> & { meanMs: Interval };

/** Figures over seeds: means, the mean latency with a bootstrap 95% interval over seeds. */
function overSeeds(runs: readonly LatencyFigures[], label: string): ModelFigures {
  const avg = (f: (r: LatencyFigures) => number): number => mean(runs.map(f));
  return {
    answers: avg((r) => r.answers),
    meanMs: bootstrapInterval(runs.map((r) => r.meanMs), { random: seededRandom(`calibrate\u0000${label}`) }),
    p50Ms: avg((r) => r.p50Ms),
    p80Ms: avg((r) => r.p80Ms),
    under1s: avg((r) => r.under1s),
    perMinuteMeanMs: (runs[0]?.perMinuteMeanMs ?? []).map((_, m) => mean(runs.map((r) => r.perMinuteMeanMs[m] as number))),
    perMinuteUnder1s: (runs[0]?.perMinuteUnder1s ?? []).map((_, m) => mean(runs.map((r) => r.perMinuteUnder1s[m] as number))),
    slowPerHandler: avg((r) => r.slowPerHandler),
    backlogFastMs: [0, 1, 2].map((q) => {
      const known = sortedAscending(runs.map((r) => r.backlogFastMs[q] as number).filter((v) => Number.isFinite(v)));
      return known.length === 0 ? Number.NaN : percentile(known, 50);
    }) as [number, number, number],
  };
}

export interface CaseResult {
  name: string;
  log: string;
  set: 'calibration' | 'validation';
  note?: string;
  logFigures: LatencyFigures | undefined;
  /** One entry per seed. */
  runs: LatencyFigures[];
  model: ModelFigures;
}

export interface CalibrationResult {
  params: ModelParams;
  host: { workers: number; discipline: string; cores: number };
  seeds: number;
  cases: CaseResult[];
}

export interface CalibrateOptions {
  seeds: number;
  /** Fitted parameters in place of MODEL_DEFAULTS'. */
  model?: Partial<FittedParams>;
  /** Run the workers on one shared host CPU (the thesis set-up); else each on MODEL_DEFAULTS.cores. */
  sharedHost?: boolean;
  dataDir?: string;
  /** Only the cases whose names are listed (default: all). */
  cases?: readonly string[];
}

export async function calibrate(opts: CalibrateOptions): Promise<CalibrationResult> {
  if (!Number.isInteger(opts.seeds) || opts.seeds < 1) throw new RangeError(`seeds must be a positive integer, got ${opts.seeds}`);
  const dir = opts.dataDir ?? thesisDataDir();
  const shared = opts.sharedHost ?? true;
  const setup = await thesisSetup(dir, shared);
  const cases: CaseResult[] = [];
  for (const c of thesisCases().filter((k) => opts.cases === undefined || opts.cases.includes(k.name))) {
    const text = await readLog(dir, c.log);
    const runs = runCase(setup, c, opts.seeds, opts.model);
    cases.push({ name: c.name, log: c.log, set: c.set, ...(c.note ? { note: c.note } : {}), logFigures: text === undefined ? undefined : logFigures(text), runs, model: overSeeds(runs, c.name) });
  }
  const params: ModelParams = { ...MODEL_DEFAULTS, ...opts.model, ...(shared ? { cores: THESIS_HOST.cores / THESIS_HOST.workers } : {}) };
  return {
    params,
    host: shared
      ? { workers: THESIS_HOST.workers, discipline: THESIS_HOST.discipline, cores: THESIS_HOST.cores }
      : { workers: THESIS_HOST.workers, discipline: MODEL_DEFAULTS.cpu, cores: MODEL_DEFAULTS.cores * THESIS_HOST.workers },
    seeds: opts.seeds,
    cases,
  };
}
