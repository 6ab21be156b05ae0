// The search that chooses the worker model's fitted parameters: every candidate
// of an explicit grid runs through simulate's engine on the same seeds and is
// scored by one stated error. `fitModel` (`calibrate --fit`) fits
// MODEL_DEFAULTS' installScale, importScale and sandboxMs on the thesis's
// round-robin and random set-ups (and nothing else) against their two logs;
// the other model parameters are fixed by the set-up (pipbench/README.md,
// "Worker model"). `fitReal` (`calibrate --real DIR`) fits them and
// installCallMs to one row of a real experiment (`experiment --engine
// process`): that row's workers, request sequences and cache bound, the real
// workers' CPU quota as each model worker's cores.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseJsonText } from '../../src/config-error.js';
import { logFigures, readLog, runCase, thesisCases, thesisDataDir, thesisSetup, type FittedParams } from './index.js';
import { runFigures } from '../experiment/figures.js';
import { loadExperimentWorkload, planRows, type ExperimentParams, type PolicyName } from '../experiment/plan.js';
import { MODEL_DEFAULTS, type ModelParams } from '../model/index.js';
import { PARALLEL_INSTALLS } from '../process-engine/package-cache.js';
import { loadLambdas, loadPackageCosts, simulateRun, type SimulationSetup } from '../simulate/index.js';
import { mean } from '../stats.js';
import { fileErrorReason } from '../workload.js';

/** The values a grid tries for each parameter, in the grid's key order (the first outermost). */
export type Grid<K extends string> = Readonly<Record<K, readonly number[]>>;
export type FitGrid = Grid<keyof FittedParams>;

/** The default grid: steps of 0.05 and 25 ms, wide enough that MODEL_DEFAULTS and the best candidate lie inside it, not on its edge. */
export const DEFAULT_FIT_GRID: FitGrid = Object.freeze({
  installScale: [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8],
  importScale: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
  sandboxMs: [0, 25, 50, 75, 100],
});

/** The logs the fit sees: the calibration set, and only it. */
export const FIT_LOGS = ['round-robin', 'random'] as const;
/** The figures of each log the error compares. */
export const FIT_FIGURES = ['meanMs', 'p50Ms', 'p80Ms', 'under1s'] as const;
export type FitFigure = (typeof FIT_FIGURES)[number];

export const FIT_ERROR = 'the mean, over the round-robin and random logs and over four figures of each (mean, p50 and p80 latency, share of answers under 1 s), of |model / log - 1|, the model figure being the mean over the seeds (answers within the 300 s, as the thesis runner logged them). The share under 1 s is there because the p50 of these logs falls in the gap between the warm and the cold answers: alone, a p50 can be matched by slowing warm answers rather than by the right mix of warm and cold ones';

export interface FitCandidate {
  readonly params: FittedParams;
  /** The stated error (FIT_ERROR), 0 = exact. */
  readonly error: number;
  /** Per log: the model's figures (means over seeds) and their relative errors. */
  readonly logs: Readonly<Record<string, { model: Record<FitFigure, number>; relativeError: Record<FitFigure, number> }>>;
}

export interface FitResult {
  readonly grid: FitGrid;
  readonly seeds: number;
  readonly error: string;
  readonly logFigures: Readonly<Record<string, Record<FitFigure, number>>>;
  /** In grid order: installScale, then importScale, then sandboxMs. */
  readonly candidates: readonly FitCandidate[];
  /** The lowest error; the first in grid order among equals. */
  readonly chosen: FitCandidate;
  readonly defaults: FittedParams;
  /** Whether the chosen parameters are MODEL_DEFAULTS'. */
  readonly landsOnDefaults: boolean;
}

export interface FitOptions {
  grid?: FitGrid;
  seeds: number;
  dataDir?: string;
  /** After each candidate: done of total. */
  onCandidate?(done: number, total: number, candidate: FitCandidate): void;
}

function validateGrid<K extends string>(grid: Grid<K>): void {
  for (const [key, values] of Object.entries(grid) as [K, readonly number[]][]) {
    if (values.length === 0) throw new RangeError(`the fit grid's ${key} list is empty`);
    const bad = values.find((v) => !Number.isFinite(v) || v < 0);
    if (bad !== undefined) throw new RangeError(`the fit grid's ${key} values must be non-negative numbers, got ${bad}`);
  }
}

/** Every candidate of the grid, its first parameter outermost. */
export function gridCandidates<K extends string>(grid: Grid<K>): Record<K, number>[] {
  let out: Record<string, number>[] = [{}];
  for (const [key, values] of Object.entries(grid) as [K, readonly number[]][]) out = out.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  return out as Record<K, number>[];
}

/** The model's figures (each the mean over runs) against measured ones, and each |model / measured - 1|. */
function relativeErrors<F extends string>(runs: readonly Record<F, number>[], measured: Record<F, number>, figures: readonly F[]): { model: Record<F, number>; relativeError: Record<F, number> } {
  const model = {} as Record<F, number>;
  const relativeError = {} as Record<F, number>;
  for (const f of figures) {
    model[f] = mean(runs.map((r) => r[f]));
    relativeError[f] = Math.abs(model[f] / measured[f] - 1);
  }
  return { model, relativeError };
}

/** Scores every candidate in order; the chosen is the lowest error, the first among equals. */
function searchGrid<P, C extends { readonly error: number }>(all: readonly P[], score: (params: P) => C, onCandidate?: (done: number, total: number, candidate: C) => void): { candidates: C[]; chosen: C } {
  const candidates: C[] = [];
  for (const params of all) {
    candidates.push(score(params));
    onCandidate?.(candidates.length, all.length, candidates[candidates.length - 1] as C);
  }
  return { candidates, chosen: candidates.reduce((best, c) => (c.error < best.error ? c : best)) };
}

export const sameFit = (a: FittedParams, b: FittedParams): boolean =>
  a.installScale === b.installScale && a.importScale === b.importScale && a.sandboxMs === b.sandboxMs;

export const MODEL_FITTED: FittedParams = Object.freeze({
  installScale: MODEL_DEFAULTS.installScale,
  importScale: MODEL_DEFAULTS.importScale,
  sandboxMs: MODEL_DEFAULTS.sandboxMs,
});

export async function fitModel(opts: FitOptions): Promise<FitResult> {
  const grid = opts.grid ?? DEFAULT_FIT_GRID;
  validateGrid(grid);
  if (!Number.isInteger(opts.seeds) || opts.seeds < 1) throw new RangeError(`seeds must be a positive integer, got ${opts.seeds}`);
  const dir = opts.dataDir ?? thesisDataDir();
  const setup = await thesisSetup(dir, true);
  const cases = thesisCases().filter((c) => (FIT_LOGS as readonly string[]).includes(c.name));
  const logs: Record<string, Record<FitFigure, number>> = {};
  for (const c of cases) {
    const text = await readLog(dir, c.log);
    if (text === undefined) throw new Error(`the thesis log ${c.log}.1000handlers.log is missing from ${dir}/logs`);
    const f = logFigures(text);
    logs[c.name] = { meanMs: f.meanMs, p50Ms: f.p50Ms, p80Ms: f.p80Ms, under1s: f.under1s };
  }
  const { candidates, chosen } = searchGrid(gridCandidates(grid), (params): FitCandidate => {
    const perLog: Record<string, { model: Record<FitFigure, number>; relativeError: Record<FitFigure, number> }> = {};
    const errors: number[] = [];
    for (const c of cases) {
      perLog[c.name] = relativeErrors(runCase(setup, c, opts.seeds, params), logs[c.name] as Record<FitFigure, number>, FIT_FIGURES);
      errors.push(...FIT_FIGURES.map((f) => perLog[c.name]!.relativeError[f]));
    }
    return { params, error: mean(errors), logs: perLog };
  }, opts.onCandidate);
  return { grid, seeds: opts.seeds, error: FIT_ERROR, logFigures: logs, candidates, chosen, defaults: MODEL_FITTED, landsOnDefaults: sameFit(chosen.params, MODEL_FITTED) };
}

// ---------------------------------------------------------------- calibrate --real

/**
 * What the real fit chooses: the thesis fit's three parameters and the start-up
 * of one install process; plus, not fitted, the real worker's limit of pip
 * processes at once (PARALLEL_INSTALLS), which the model then keeps too.
 */
export type RealFittedParams = FittedParams & Pick<ModelParams, 'installCallMs' | 'installSlots'>;

export type RealFitGrid = Grid<keyof FitGrid | 'installCallMs'>;

/** The default grid, for workers of a few tenths of a core and wheels at cost scales of a few hundredths. */
export const DEFAULT_REAL_FIT_GRID: RealFitGrid = Object.freeze({
  installScale: [0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
  importScale: [0.02, 0.05, 0.1, 0.2],
  sandboxMs: [50, 100, 200, 300, 400],
  installCallMs: [0, 250, 500, 1000, 1500, 2000],
});

const REAL_FIT_FIGURES = ['meanMs', 'p50Ms', 'p80Ms'] as const;
export type RealFitFigure = (typeof REAL_FIT_FIGURES)[number];

const REAL_FIT_ERROR = 'the mean, over three figures of the row (mean, p50 and p80 latency of the answered requests, each the mean over the repeats), of |model / real - 1|, the model run on the real row\'s request sequences, workers and cache bound, its cores the real workers\' CPU quota';

export interface RealFitCandidate {
  readonly params: RealFittedParams;
  readonly error: number;
  readonly model: Record<RealFitFigure, number>;
}

export interface RealFitResult {
  readonly source: string;
  readonly row: string;
  readonly cores: number;
  /** The model's disk bound, MiB of the package table's sizes (Infinity: unbounded). */
  readonly cacheMb: number;
  readonly seeds: readonly number[];
  readonly real: Record<RealFitFigure, number>;
  readonly grid: RealFitGrid;
  readonly error: string;
  readonly candidates: readonly RealFitCandidate[];
  /** The lowest error; the first in grid order among equals. */
  readonly chosen: RealFitCandidate;
}

export interface RealFitOptions {
  /** A results folder (or its summary.json) of a real experiment. */
  readonly source: string;
  /** The real workers' CPU quota (experiment's --cpus-per-worker): each model worker's cores. */
  readonly cores: number;
  /** The model's disk bound in MiB of the table's sizes; default the experiment's --cache-mb. */
  readonly cacheMb?: number;
  /** The row fitted to; default round-robin. */
  readonly row?: PolicyName;
  readonly grid?: RealFitGrid;
  onCandidate?(done: number, total: number): void;
}

interface SummaryRow {
  id: string;
  meanMs: number;
  p50Ms: number;
  p80Ms: number;
  repeats?: number;
}

/** The experiment's parameters and the row's figures from its summary.json; an Error naming the file and what is missing. */
async function readSummary(source: string, row: string): Promise<{ path: string; params: ExperimentParams; figures: Record<RealFitFigure, number> }> {
  const path = source.endsWith('.json') ? source : join(source, 'summary.json');
  let data: { params?: ExperimentParams; rows?: SummaryRow[] };
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as typeof data;
  } catch (err) {
    throw new Error(`${path}: ${fileErrorReason(err)}`);
  }
  if (typeof data.params !== 'object' || !Array.isArray(data.rows)) throw new Error(`${path}: not a summary.json of pipbench experiment (no "params" and "rows")`);
  const found = data.rows.find((r) => r.id === row);
  if (found === undefined) throw new Error(`${path}: no "${row}" row to fit to`);
  const figures = {} as Record<RealFitFigure, number>;
  for (const f of REAL_FIT_FIGURES) {
    if (!(typeof found[f] === 'number' && found[f] > 0)) throw new Error(`${path}: the "${row}" row has no positive ${f}`);
    figures[f] = found[f];
  }
  return { path, params: data.params, figures };
}

/** The simulation set-up of a real experiment's cell, its workers given `cores` each and the model disk `cacheMb`. */
async function realCellSetup(params: ExperimentParams, row: PolicyName, cores: number, cacheMb: number | undefined): Promise<SimulationSetup> {
  const cell: ExperimentParams = {
    ...params, policies: [row], thresholds: [], cores, placements: 1,
    ...(cacheMb !== undefined ? { cacheMb } : {}),
  };
  const workload = await loadExperimentWorkload(cell);
  const lambdas = await loadLambdas(cell.registry, workload);
  const packageTable = await loadPackageCosts(cell);
  return { params: cell, workload, lambdas, ...(packageTable ? { packageTable } : {}) };
}

export async function fitReal(opts: RealFitOptions): Promise<RealFitResult> {
  const grid = opts.grid ?? DEFAULT_REAL_FIT_GRID;
  validateGrid(grid);
  if (!(opts.cores > 0)) throw new RangeError(`cores must be positive, got ${opts.cores}`);
  const row = opts.row ?? 'round-robin';
  const { path, params, figures: real } = await readSummary(opts.source, row);
  const setup = await realCellSetup(params, row, opts.cores, opts.cacheMb);
  const plan = planRows([row], [], { pooled: false })[0];
  if (plan === undefined) throw new Error(`no row plan for ${row}`);
  const seeds = Array.from({ length: params.seeds }, (_, i) => params.seed + i);
  const warmupMs = params.warmupSec * 1000;
  const all: RealFittedParams[] = gridCandidates(grid).map((c) => ({ ...c, installSlots: PARALLEL_INSTALLS }));
  const { candidates, chosen } = searchGrid(all, (candidate): RealFitCandidate => {
    const runs = seeds.map((seed) => runFigures(simulateRun({ ...setup, model: candidate }, plan, params.placementSeed, seed).run, warmupMs));
    const { model, relativeError } = relativeErrors(runs, real, REAL_FIT_FIGURES);
    return { params: candidate, error: mean(REAL_FIT_FIGURES.map((f) => relativeError[f])), model };
  }, opts.onCandidate);
  return {
    source: path, row, cores: opts.cores, cacheMb: setup.params.cacheMb ?? Number.POSITIVE_INFINITY, seeds, real, grid,
    error: REAL_FIT_ERROR, candidates, chosen,
  };
}

/** The fitted parameters a fit's JSON (calibrate --fit's or --real's) chose; an Error naming the file when it has none. */
export function fittedParamsOf(text: string, path: string): Partial<RealFittedParams> {
  const data = parseJsonText(text, path) as { chosen?: { params?: Record<string, unknown> } } | null;
  const params = data?.chosen?.params;
  if (typeof params !== 'object' || params === null) throw new Error(`${path}: not the JSON of pipbench calibrate --fit or --real (no "chosen.params")`);
  const out: Partial<RealFittedParams> = {};
  for (const key of ['installScale', 'importScale', 'sandboxMs', 'installCallMs', 'installSlots'] as const) {
    const v = params[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < (key === 'installSlots' ? 1 : 0)) throw new Error(`${path}: chosen.params.${key} must be a ${key === 'installSlots' ? 'number of at least 1' : 'non-negative number'}`);
    out[key] = v;
  }
  return out;
}
