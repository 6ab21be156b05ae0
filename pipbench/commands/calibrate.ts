// pipbench calibrate: the worker model against the thesis's logs, and the fit that chooses its parameters; writes results/calibration/.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calibrate } from '../calibrate/index.js';
import { calibrationCharts, calibrationMarkdown, fitCharts, fitMarkdown, realFitMarkdown } from '../calibrate/report.js';
import { DEFAULT_FIT_GRID, DEFAULT_REAL_FIT_GRID, fitModel, fitReal, gridCandidates, type FitGrid, type Grid } from '../calibrate/fit.js';
import { MODEL_DEFAULTS } from '../model/index.js';
import { createProgressBar } from '../progress.js';
import { parseFlags, parseNumberFlag, parseNumberListFlag, PROCESS_IO, UsageError, reportingUsageErrors, type CommandIO } from './support.js';

const list = (xs: readonly number[]): string => xs.join(',');

const USAGE = `usage: pipbench calibrate [--seeds N] [--out-dir DIR] [--per-worker-cpu] [--json] [--quiet]
       pipbench calibrate --fit [--seeds N] [--install-scales LIST] [--import-scales LIST]
                          [--sandbox-ms LIST] [--out-dir DIR] [--json] [--quiet]
       pipbench calibrate --real DIR --cores N [--cache-mb N] [--install-scales LIST]
                          [--import-scales LIST] [--sandbox-ms LIST] [--install-call-ms LIST]
                          [--out-dir DIR] [--json] [--quiet]

Runs the thesis experiment (pipbench/data/olscheduler-eval: 100 handlers, one
request every 200 ms for 5 minutes, 5 workers sharing one 4-core host) through
pipbench simulate's engine (the proxy's scheduler and policies over the worker
model, on the virtual clock) under every policy the thesis measured, and sets
each beside the thesis's log: round-robin and random (the calibration set),
least-loaded and pkg-aware at each threshold (predicted without tuning).
Writes calibration.md, calibration.json and charts.

With --fit, reruns instead the search that chooses the model's parameters:
every candidate of the grid on the round-robin and random logs only, scored by
the mean of |model / log - 1| over their mean, p50, p80 and share under 1 s.
Writes fit.md (every candidate's error), fit.json and fit-error.svg.

With --real DIR, fits the model to a real worker instead: DIR is the results
folder of \`experiment --engine process\` (its summary.json); every candidate
of the grid (the three parameters above and installCallMs, the CPU of one
install process's start) runs that cell's round-robin row only, on the same
request sequences, each model worker with --cores processors (the real
--cpus-per-worker), scored by the mean of |model / real - 1| over the row's
mean, p50 and p80. Writes real-fit.md and real-fit.json, whose chosen
parameters \`simulate --fitted FILE\` runs with.

  --seeds N             seeds per row or candidate (request sequence, random
                        draws, placement)                  default 10
  --out-dir DIR         where the files go (created if missing)   default results/calibration
  --per-worker-cpu      each worker on its own ${MODEL_DEFAULTS.cores} cores instead of the
                        5 workers sharing one 4-core host (not with --fit)
  --fit                 the parameter search (above)
  --install-scales LIST installScale values of the grid     default ${list(DEFAULT_FIT_GRID.installScale)}
  --import-scales LIST  importScale values                  default ${list(DEFAULT_FIT_GRID.importScale)}
  --sandbox-ms LIST     sandboxMs values                    default ${list(DEFAULT_FIT_GRID.sandboxMs)}
  --real DIR            the real fit (above)
  --cores N             --real: processors of each model worker (the real CPU quota); required
  --cache-mb N          --real: the model's disk per worker, MiB of the package table's sizes
                        (default: the experiment's --cache-mb)
  --install-call-ms LIST --real: installCallMs values   default ${list(DEFAULT_REAL_FIT_GRID.installCallMs)}
                        (--real's defaults of the other lists: installScale ${list(DEFAULT_REAL_FIT_GRID.installScale)};
                        importScale ${list(DEFAULT_REAL_FIT_GRID.importScale)}; sandboxMs ${list(DEFAULT_REAL_FIT_GRID.sandboxMs)})
  --json                print the JSON instead of the table
  --quiet               write the files, print nothing
  -h, --help            this text
`;

const json = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (v === Number.POSITIVE_INFINITY ? 'Infinity' : v), 2) + '\n';

export async function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  return reportingUsageErrors('calibrate', io, async () => {
    const values = parseFlags(argv, {
      seeds: { type: 'string' },
      'out-dir': { type: 'string' },
      'per-worker-cpu': { type: 'boolean' },
      fit: { type: 'boolean' },
      'install-scales': { type: 'string' },
      'import-scales': { type: 'string' },
      'sandbox-ms': { type: 'string' },
      real: { type: 'string' },
      cores: { type: 'string' },
      'cache-mb': { type: 'string' },
      'install-call-ms': { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      io.stdout.write(USAGE);
      return 0;
    }
    const fit = values.fit === true;
    const real = values.real;
    if (real !== undefined) return realFit(real, values, argv, io);
    const realOnly = (['cores', 'cache-mb', 'install-call-ms'] as const).find((f) => values[f] !== undefined);
    if (realOnly !== undefined) throw new UsageError(`--${realOnly} is a flag of --real`);
    const gridFlags = (['install-scales', 'import-scales', 'sandbox-ms'] as const).filter((f) => values[f] !== undefined);
    if (!fit && gridFlags.length > 0) throw new UsageError(`--${gridFlags[0]} sets the grid of --fit; add --fit`);
    if (fit && values['per-worker-cpu']) throw new UsageError('--fit fits the thesis set-up (one shared host); --per-worker-cpu cannot be combined with it');
    const seeds = parseNumberFlag('seeds', values.seeds, { min: 1, max: 1000, integer: true }) ?? 10;
    const outDir = values['out-dir'] ?? join('results', 'calibration');
    const command = ['pipbench calibrate', ...argv].join(' ');
    const files: Record<string, string> = {};
    let text: string;
    if (fit) {
      const grid = parseGrid(values, DEFAULT_FIT_GRID);
      const result = await withProgress(grid, values, (onCandidate) => fitModel({ grid, seeds, onCandidate }));
      text = json(result);
      files['fit.md'] = fitMarkdown(result, command);
      files['fit.json'] = text;
      Object.assign(files, await fitCharts(result));
      if (!values.json) text = files['fit.md'];
    } else {
      const result = await calibrate({ seeds, sharedHost: !values['per-worker-cpu'] });
      text = json(result);
      files['calibration.md'] = calibrationMarkdown(result, command);
      files['calibration.json'] = text;
      Object.assign(files, await calibrationCharts(result));
      if (!values.json) text = files['calibration.md'];
    }
    await mkdir(outDir, { recursive: true });
    for (const [file, content] of Object.entries(files)) await writeFile(join(outDir, file), content);
    if (!values.quiet) io.stdout.write(text);
    return 0;
  });
}

type CalibrateValues = Partial<Record<'seeds' | 'out-dir' | 'install-scales' | 'import-scales' | 'sandbox-ms' | 'cores' | 'cache-mb' | 'install-call-ms', string>> & Partial<Record<'per-worker-cpu' | 'fit' | 'json' | 'quiet', boolean>>;

/** The grid flags --fit and --real share, over the defaults of each. */
function parseGrid(values: CalibrateValues, defaults: FitGrid): FitGrid {
  return {
    installScale: parseNumberListFlag('install-scales', values['install-scales'], { min: 0, max: 100 }) ?? defaults.installScale,
    importScale: parseNumberListFlag('import-scales', values['import-scales'], { min: 0, max: 100 }) ?? defaults.importScale,
    sandboxMs: parseNumberListFlag('sandbox-ms', values['sandbox-ms'], { min: 0, max: 60_000 }) ?? defaults.sandboxMs,
  };
}

/** A grid search with a progress bar over its candidates (none with --quiet or --json). */
async function withProgress<K extends string, T>(grid: Grid<K>, values: CalibrateValues, search: (onCandidate: (done: number) => void) => Promise<T>): Promise<T> {
  const bar = createProgressBar({ total: gridCandidates(grid).length, unit: 'candidates', quiet: values.quiet === true || values.json === true });
  try {
    return await search((done) => bar.update(done, ''));
  } finally {
    bar.stop();
  }
}

/** `calibrate --real DIR`: the fit to a real experiment's round-robin row; writes real-fit.md and real-fit.json. */
async function realFit(source: string, values: CalibrateValues, argv: string[], io: CommandIO): Promise<number> {
  const other = (['fit', 'per-worker-cpu', 'seeds'] as const).find((f) => values[f] !== undefined);
  if (other !== undefined) throw new UsageError(`--${other} cannot be combined with --real (the real row's set-up and request sequences are used)`);
  const cores = parseNumberFlag('cores', values.cores, { exclusiveMin: 0, max: 1024 });
  if (cores === undefined) throw new UsageError('--real needs --cores N: the real workers\' CPU quota (experiment --cpus-per-worker)');
  const cacheMb = parseNumberFlag('cache-mb', values['cache-mb'], { exclusiveMin: 0 });
  const grid = {
    ...parseGrid(values, DEFAULT_REAL_FIT_GRID),
    installCallMs: parseNumberListFlag('install-call-ms', values['install-call-ms'], { min: 0, max: 600_000 }) ?? DEFAULT_REAL_FIT_GRID.installCallMs,
  };
  let result;
  try {
    result = await withProgress(grid, values, (onCandidate) => fitReal({ source, cores, ...(cacheMb !== undefined ? { cacheMb } : {}), grid, onCandidate }));
  } catch (err) {
    if (err instanceof RangeError) throw new UsageError(err.message);
    throw new UsageError(`--real ${(err as Error).message}`);
  }
  const outDir = values['out-dir'] ?? join('results', 'calibration');
  const markdown = realFitMarkdown(result, ['pipbench calibrate', ...argv].join(' '));
  const text = json(result);
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'real-fit.md'), markdown);
  await writeFile(join(outDir, 'real-fit.json'), text);
  if (!values.quiet) io.stdout.write(values.json ? text : markdown);
  return 0;
}
