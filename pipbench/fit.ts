// The search that chooses the worker model's fitted parameters (MODEL_DEFAULTS'
// installScale, importScale, sandboxMs): every candidate of an explicit grid
// runs the thesis's round-robin and random set-ups (and nothing else) through
// simulate's engine on the same seeds, and is scored by one stated error
// against the two logs. The other model parameters are fixed by the set-up
// (pipbench/README.md, "Worker model").
import { MODEL_DEFAULTS } from './model.js';
import { logFigures, readLog, runCase, thesisCases, thesisDataDir, thesisSetup, type FittedParams } from './calibrate.js';
import { mean } from './stats.js';

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

export function validateGrid<K extends string>(grid: Grid<K>): void {
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
export function relativeErrors<F extends string>(runs: readonly Record<F, number>[], measured: Record<F, number>, figures: readonly F[]): { model: Record<F, number>; relativeError: Record<F, number> } {
  const model = {} as Record<F, number>;
  const relativeError = {} as Record<F, number>;
  for (const f of figures) {
    model[f] = mean(runs.map((r) => r[f]));
    relativeError[f] = Math.abs(model[f] / measured[f] - 1);
  }
  return { model, relativeError };
}

/** Scores every candidate in order; the chosen is the lowest error, the first among equals. */
export function searchGrid<P, C extends { readonly error: number }>(all: readonly P[], score: (params: P) => C, onCandidate?: (done: number, total: number, candidate: C) => void): { candidates: C[]; chosen: C } {
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
