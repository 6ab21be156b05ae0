// `pipbench calibrate --real DIR`: the worker model's parameters fitted to a
// real worker, from one row of a real experiment (`experiment --engine
// process`) and nothing else. Every candidate of an explicit grid runs that
// row's set-up (its workers, request sequences, cache bound, and the real
// workers' CPU quota as each model worker's cores) through simulate's engine,
// and is scored by one stated error against the row's measured figures.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FittedParams } from './calibrate.js';
import { runFigures } from './experiment/figures.js';
import { loadExperimentWorkload, planRows, type ExperimentParams, type PolicyName } from './experiment/plan.js';
import { gridCandidates, relativeErrors, searchGrid, validateGrid, type FitGrid, type Grid } from './fit.js';
import type { ModelParams } from './model.js';
import { PARALLEL_INSTALLS } from './process-engine/package-cache.js';
import { loadLambdas, loadPackageCosts, simulateRun, type SimulationSetup } from './simulate.js';
import { mean } from './stats.js';

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

export const REAL_FIT_FIGURES = ['meanMs', 'p50Ms', 'p80Ms'] as const;
export type RealFitFigure = (typeof REAL_FIT_FIGURES)[number];

export const REAL_FIT_ERROR = 'the mean, over three figures of the row (mean, p50 and p80 latency of the answered requests, each the mean over the repeats), of |model / real - 1|, the model run on the real row\'s request sequences, workers and cache bound, its cores the real workers\' CPU quota';

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
    throw new Error(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
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
export async function realCellSetup(params: ExperimentParams, row: PolicyName, cores: number, cacheMb: number | undefined): Promise<SimulationSetup> {
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
  let data: { chosen?: { params?: Record<string, unknown> } };
  try {
    data = JSON.parse(text) as typeof data;
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message})`);
  }
  const params = data.chosen?.params;
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
