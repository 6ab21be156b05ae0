// The report of a comparison: summary.json, summary.md, the per-request CSV
// files and the charts, written to <outDir>/<name>/.

import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MODEL_DEFAULTS } from '../model/index.js';
import { formatRecordsCsv, rotationWindowSize, type HandlerChoice } from '../runner.js';
import type { RequestRecord } from '../stats.js';
import { againstTable } from './against.js';
import { CHART_FILES, experimentCharts } from './charts.js';
import { differenceText, finite, finiteFields, fixed, markdownTable, gridJson, intervalJson, rangeText, ratioRangeText, ratioText, runsIntervalJson, seconds, spreadText, summaryJsonText, withInterval } from './format.js';
import type { ExperimentParams, RowPlan } from './plan.js';
import type { ExperimentResult, RowResult } from './result.js';
import { againstBestThresholds, bestOfSweeps, comparedRow, comparedRows, INTERVAL_METRICS, rowStats, type PairedFigures, type RowStats } from './rows.js';

/** Per-request files above this size are written with less detail. */
export const MAX_REQUEST_FILE_BYTES = 2 * 1024 * 1024;

function requestFileName(plan: RowPlan): string {
  return `requests-${plan.id}.csv`;
}

/** The files of a row's later request sequences (real workers keep every sequence's), named by seed; the first sequence's is requestFileName. */
function laterFileNames(row: RowResult, firstSeed: number): string[] {
  return (row.laterRecords ?? []).map((_, k) => `requests-${row.plan.id}-seq${firstSeed + 1 + k}.csv`);
}

/** CSV of a row's requests, less detailed when the full file would be too large. */
export function requestFileContent(records: readonly RequestRecord[]): { content: string; note: string } {
  const full = formatRecordsCsv(records);
  if (Buffer.byteLength(full) <= MAX_REQUEST_FILE_BYTES) return { content: full, note: '' };
  // Keep what analysis needs (when, what, outcome, how long, where), in fewer bytes.
  const compact = (list: readonly RequestRecord[]): string => ['offset_ms,handler,status,latency_ms,worker']
    .concat(list.map((r) => `${r.offsetMs.toFixed(0)},${r.handler},${r.status},${r.latencyMs.toFixed(0)},${r.worker}`))
    .join('\n') + '\n';
  let content = compact(records);
  if (Buffer.byteLength(content) <= MAX_REQUEST_FILE_BYTES) return { content, note: 'compact columns (whole milliseconds, no start time or error text)' };
  const stride = Math.ceil(Buffer.byteLength(content) / MAX_REQUEST_FILE_BYTES);
  content = compact(records.filter((_, i) => i % stride === 0));
  return { content, note: `compact columns, every ${stride}th request only` };
}

function describeArrivals(p: ExperimentParams): string {
  if (p.mode === 'sync') return `sync (closed loop), ${p.runners} runners${p.waitMs > 0 ? `, ${p.waitMs} ms think time` : ''}`;
  const rate = `${fixed(1000 / p.waitMs, 2)} req/s`;
  const a = p.arrivals;
  if (a.kind === 'fixed') return `async (open loop), one request every ${fixed(p.waitMs, 1)} ms (${rate})`;
  if (a.kind === 'poisson') return `async (open loop), Poisson arrivals, mean ${rate}`;
  return `async (open loop), bursty Poisson arrivals, mean ${rate}: ${a.factor}x the mean rate for the first ${a.burstSec} s of every ${a.periodSec} s, less in between`;
}

function describeChoice(choice: HandlerChoice | undefined, handlerListLength: number): string {
  if (!choice || choice.kind === 'uniform') return 'uniform over the handler list';
  const size = rotationWindowSize(choice.slice, handlerListLength);
  return `rotation: uniform over a window of ${size} consecutive entries of the handler list, moving every ${choice.periodMs / 1000} s`;
}

export function summaryJson(result: ExperimentResult): unknown {
  const stats = rowStats(result);
  const warm = stats.find((s) => s.plan.bound === 'all-warm');
  const compared = comparedRow(result);
  const w = result.workload;
  const p = result.params;
  return {
    name: p.name,
    engine: result.engine,
    workerEngine: result.workerEngine ?? 'model',
    command: p.command,
    ...(result.startedAt !== undefined ? { startedAt: result.startedAt, wallSec: finite(result.wallSec ?? Number.NaN) } : {}),
    timeUnit: result.engine === 'simulate'
      ? 'simulated milliseconds (virtual time, scale 1)'
      : 'simulated milliseconds at time scale 1 (measured wall time divided by timeScale)',
    workload: {
      handlers: w.handlers, handlerListLength: w.handlerListLength, packages: w.packages,
      ...finiteFields(w, ['footprintMb', 'warmCpuMs', 'totalCores', 'capacityPerSec', 'arrivalRatePerSec', 'offeredLoad']),
    },
    params: { ...p, command: undefined, outDir: undefined, timeScale: result.engine === 'simulate' ? undefined : p.timeScale },
    repeats: { placements: p.placements, seeds: p.seeds, runsPerRow: p.placements * p.seeds, pairedAgainst: compared?.plan.id ?? null, meanMsGrid: MEAN_GRID_NOTE },
    againstBestThreshold: againstBestThresholds(result, stats).map((c) => ({
      row: c.row.id, best: c.best.id, meanMinusBest: runsIntervalJson(c.figures.difference), meanOverBest: runsIntervalJson(c.figures.ratio),
    })),
    rows: stats.map((s, i) => {
      const f = s.figures;
      const row = result.rows[i] as RowResult;
      return {
        id: s.plan.id,
        label: s.plan.label,
        balancer: s.plan.balancer,
        loadThreshold: s.plan.threshold ?? null,
        baseline: s.plan.baseline,
        bound: s.plan.bound ?? null,
        repeats: s.repeats,
        ...finiteFields(f, ['requests', 'successes', 'failures', 'unansweredAtDrain', 'backlogAtEnd', 'throughputPerSec', 'meanMs', 'p50Ms', 'p80Ms', 'p95Ms', 'p99Ms', 'maxMs', 'steadyMeanMs']),
        perMinuteMeanMs: s.perMinute.map((m) => finite(m.estimate)),
        meanVsAllWarm: warm ? finite(f.meanMs / warm.figures.meanMs) : null,
        coldInvocationShare: finite(f.coldShare),
        answeredWithinDuration: { requests: finite(f.windowAnswers), meanMs: finite(f.windowMeanMs), p50Ms: finite(f.windowP50Ms), p80Ms: finite(f.windowP80Ms), p99Ms: finite(f.windowP99Ms) },
        intervals: s.intervals ? Object.fromEntries(INTERVAL_METRICS.map((m) => [m, m === 'meanMs' ? runsIntervalJson(s.intervals?.[m]) : intervalJson(s.intervals?.[m])])) : null,
        seeds: s.seeds,
        placements: s.placements,
        seedSpread: { meanMsSd: finite(s.seedSpread.sd), meanMsMin: finite(s.seedSpread.min), meanMsMax: finite(s.seedSpread.max) },
        meanMinusCompared: runsIntervalJson(s.vsCompared?.difference),
        meanOverCompared: runsIntervalJson(s.vsCompared?.ratio),
        meanOverClairvoyant: runsIntervalJson(s.vsClairvoyant?.ratio),
        ...(row.staticSearches !== undefined ? { staticSearches: row.staticSearches.map((x) => ({ ...x, meanMs: finite(x.meanMs) })) } : {}),
        workers: row.runs[0]?.workers ?? [],
        ...(result.engine === 'experiment' ? { wallSec: finite(row.runs[0]?.wallSec ?? Number.NaN) } : {}),
        requestsFile: row.records.length > 0 ? requestFileName(s.plan) : null,
        ...(row.laterRecords !== undefined ? { laterRequestsFiles: laterFileNames(row, result.params.seed) } : {}),
        meanMsGrid: gridJson(s.meanGrid),
      };
    }),
  };
}

function describeParams(p: ExperimentParams, result: ExperimentResult): [string, string][] {
  const w = result.workload;
  const cores = p.workerCores ? p.workerCores.join(', ') : String(p.cores ?? MODEL_DEFAULTS.cores);
  return [
    ['registry', `\`${p.registry}\` (${w.handlers} handlers, ${w.packages} packages, ${fixed(w.footprintMb, 1)} MiB installed)`],
    ['package table', p.packages ? `\`${p.packages}\`` : `none: sizes and costs filled in from the measured samples, workload seed ${p.workloadSeed}`],
    ...(p.policyPackages !== undefined ? [['package table the policies weigh', p.policyPackages === 'none' ? 'none (every package counts the same)' : `\`${p.policyPackages}\``] as [string, string]] : []),
    ['handler list', p.handlers ? `\`${p.handlers}\`` : 'the registry\'s handlers'],
    ['workers', result.workerEngine === 'process' ? `${p.workers} real process workers, each with an empty cache folder; CPU quota as in the command (--cpus-per-worker)` : `${p.workers}, cold caches; ${p.hostCores !== undefined ? `one ${MODEL_DEFAULTS.cpu} CPU of ${p.hostCores} cores for them all (one host)` : `cores ${cores} (${MODEL_DEFAULTS.cpu} CPU)`}; weights ${p.workerWeights ? p.workerWeights.join(', ') : '1 each'}`],
    ['installed-package disk', p.cacheMb !== undefined ? `${p.cacheMb} MiB per worker` : 'unbounded (model default)'],
    ['load', describeArrivals(p)],
    ['offered load', result.workerEngine === 'process' ? '- (real workers: the model\'s capacity does not apply)' : p.mode === 'async' ? `${fixed(w.offeredLoad, 2)} of capacity: ${fixed(w.arrivalRatePerSec, 2)} req/s against ${fixed(w.capacityPerSec, 2)} req/s (${fixed(w.totalCores, 1)} cores / ${fixed(w.warmCpuMs, 0)} CPU ms per request with its packages installed; installs come on top)` : '- (closed loop)'],
    ['handler choice', describeChoice(p.choice, w.handlerListLength)],
    ['duration', `${p.durationSec} s of sending, then up to ${p.drainSec} s for outstanding answers`],
    ['repeats', `${p.placements} placement(s) (seeds ${p.placementSeed}..${p.placementSeed + p.placements - 1}) x ${p.seeds} request sequence(s) (seeds ${p.seed}..${p.seed + p.seeds - 1}), every row on the same ones`],
    ['proxy', `${p.connectionsPerWorker} connections per worker, status poll every ${p.healthIntervalMs} ms, balance factor ${p.balanceFactor} (hashing-bounded)`],
    ...(result.engine === 'experiment' ? [['time scale', `${p.timeScale} (real time: HTTP workers and a warmroute proxy per row)`] as [string, string]] : []),
  ];
}

/** `notes`: by request file, how it was cut down (requestFileContent), for the files that were. */
export function summaryMarkdown(result: ExperimentResult, notes: ReadonlyMap<string, string> = new Map()): string {
  const p = result.params;
  const stats = rowStats(result);
  const warm = stats.find((s) => s.plan.bound === 'all-warm');
  const compared = comparedRow(result);
  const best = bestOfSweeps(stats);
  const label = (s: RowStats): string => (best.has(s) ? `${s.plan.label} (best)` : s.plan.label);
  const lines: string[] = [];
  lines.push(`# ${result.engine === 'simulate' ? 'Simulation' : 'Experiment'} \`${p.name}\``, '');
  lines.push('Produced by:', '', '```sh', p.command, '```', '');
  if (result.engine === 'experiment') lines.push(`Started ${result.startedAt ?? '-'}; took ${fixed(result.wallSec ?? Number.NaN, 0)} s of wall time.`, '');
  lines.push(result.engine === 'simulate'
    ? '**Virtual time**: the worker model, the proxy\'s worker table, queues and policies run on a virtual clock; times are simulated seconds at scale 1.'
    : '**Simulated time at time scale 1**: measured wall-clock latency divided by the time scale.');
  lines.push(`Latency statistics cover successful requests; percentiles are nearest-rank. ${p.seeds > 1
    ? `Every figure is the mean over a row's runs: ${p.placements} placement(s) x ${p.seeds} request sequences, or one run per sequence for a row the placement does not change (${stats.filter((s) => s.placements === 1).map((s) => s.plan.id).join(', ') || 'none here'}). Brackets are 95% intervals of that mean from a hierarchical bootstrap (request sequences resampled, then placements; the expanded percentile interval); "seed SD" is the standard deviation of the per-sequence means, with their range. Ratios and differences are paired: both rows resampled on the same sequences and placements.`
    : 'One request sequence per row: no intervals (the spread between sequences is unseen).'}`, '');
  lines.push('## Parameters', '', ...markdownTable(['parameter', 'value'], describeParams(p, result), 2), '');
  lines.push('## Latency (every request, the backlog drained)', '');
  const clairvoyant = stats.find((s) => s.plan.bound === 'clairvoyant-static');
  const cmp = compared?.plan.label ?? 'the compared row';
  const pairedCell = (x: PairedFigures | null, self: boolean, pick: (x: PairedFigures) => string): string => (x ? pick(x) : self ? '(reference)' : '-');
  const latencyHead = ['row', 'mean (s)', 'seed SD (range) (s)', 'p50 (s)', 'p80 (s)', 'p99 (s)', 'mean / all-warm', `mean - ${cmp} (s)`, `mean / ${cmp}`, ...(clairvoyant ? ['mean / clairvoyant static'] : []), 'cold invocations'];
  lines.push(...markdownTable(latencyHead, stats.map((s) => {
    const f = s.figures;
    const iv = s.intervals;
    const self = s.plan.id === compared?.plan.id;
    return [
      label(s), withInterval(iv?.meanMs, f.meanMs), spreadText(s.seedSpread), withInterval(iv?.p50Ms, f.p50Ms), withInterval(iv?.p80Ms, f.p80Ms), withInterval(iv?.p99Ms, f.p99Ms),
      warm ? `${fixed(f.meanMs / warm.figures.meanMs, 1)}x` : '-', pairedCell(s.vsCompared, self, (x) => differenceText(x.difference)), pairedCell(s.vsCompared, self, (x) => ratioText(x.ratio)),
      ...(clairvoyant ? [pairedCell(s.vsClairvoyant, s === clairvoyant, (x) => ratioText(x.ratio))] : []), Number.isFinite(f.coldShare) ? `${(f.coldShare * 100).toFixed(0)}%` : '-',
    ];
  })), '');
  lines.push('"cold invocations": share of invocations that installed or imported at least one package. all-warm: every package installed and imported on every worker, routed least-loaded. compulsory-install: one pooled worker with every core and one unbounded disk, so each package is installed once; what no placement can beat on installs.', '');
  lines.push(...referenceRowsText(result, stats));
  lines.push(...againstBestText(result, stats, label));
  lines.push(...rerunText(result, stats, label));
  lines.push('## Within the window, the backlog, the cold-start transient', '');
  lines.push(`pipbench's own async runner stops logging when the duration ends; the thesis's figures were counted that way ("window": answers within the ${p.durationSec} s). "backlog": requests sent and not answered when the duration ended. "steady": requests sent after the first ${p.warmupSec} s (the warm-up, left out).`, '');
  lines.push(...markdownTable(['row', 'window mean (s)', 'window answers', 'drained mean (s)', 'steady mean (s)', 'backlog at end', 'throughput (req/s)', 'failures'], stats.map((s) => {
    const f = s.figures;
    const iv = s.intervals;
    const backlog = `${fixed(f.backlogAtEnd, 1)}${iv ? ` [${fixed(iv.backlogAtEnd.low, 1)}, ${fixed(iv.backlogAtEnd.high, 1)}]` : ''}`;
    return [label(s), withInterval(iv?.windowMeanMs, f.windowMeanMs), `${fixed(f.windowAnswers, 0)} of ${fixed(f.requests, 0)}`, seconds(f.meanMs), withInterval(iv?.steadyMeanMs, f.steadyMeanMs), backlog, fixed(f.throughputPerSec, 2), fixed(f.failures, 1)];
  })));
  lines.push('', 'Mean latency (s) of the requests sent in each minute:', '');
  const minutes = Array.from({ length: stats[0]?.perMinute.length ?? 0 }, (_, m) => `min ${m + 1}`);
  lines.push(...markdownTable(['row', ...minutes], comparedRows(stats).map((s) => [label(s), ...s.perMinute.map((m) => seconds(m.estimate))])));
  lines.push('', ...againstTable(result, stats));
  lines.push('## Charts', '');
  const charts: [string, string][] = [
    [CHART_FILES.meanLatency, 'Mean latency per row'],
    [CHART_FILES.thresholdSweep, 'Mean latency against the load threshold'],
    [CHART_FILES.perMinute, 'Mean latency per minute: the cold-start transient'],
    [CHART_FILES.latencyCdf, 'Latency CDF of the compared policies'],
    [CHART_FILES.perHandler, 'Mean latency per handler group'],
  ];
  for (const [file, title] of charts) lines.push(`![${title}](${file})`, '');
  lines.push('## Files', '');
  lines.push('- `summary.json`: the numbers above (means over repeats, intervals and rerun intervals, per-worker counts of the first run), parameters, and each row\'s mean latency run by run (`meanMsGrid`: by request sequence and placement), from which any statistic of the means can be recomputed without simulating again.');
  if (result.rows.some((r) => r.records.length > 0)) {
    lines.push('- `requests-<row>.csv`: every request of the first run of a row (columns start, offset_ms, handler, status, latency_ms, worker, error; offset and latency in simulated ms).');
    if (result.rows.some((r) => (r.laterRecords?.length ?? 0) > 0)) lines.push('- `requests-<row>-seq<N>.csv`: the same for each later request sequence N (real workers keep every sequence\'s requests).');
    for (const [file, note] of notes) lines.push(`  - \`${file}\` has ${note}.`);
  }
  lines.push('');
  return lines.join('\n');
}

/** What the table-routed reference rows are, and what the clairvoyant search found. */
function referenceRowsText(result: ExperimentResult, stats: readonly RowStats[]): string[] {
  const lines: string[] = [];
  if (stats.some((s) => s.plan.bound === 'one-worker')) {
    lines.push('one-worker (reference, not a policy): every request to one worker (the one with the most cores). Where the workers share one CPU it has the whole host and one disk, so spreading gains nothing and a policy that does not beat it measures cache pooling, not balancing.', '');
  }
  const searches = result.rows.find((r) => r.plan.bound === 'clairvoyant-static')?.staticSearches ?? [];
  if (searches.length > 0) {
    const converged = searches.filter((x) => x.localOptimum).length;
    const runs = searches.map((x) => x.evaluations);
    const fromOne = searches.filter((x) => x.start === 'one-worker').length;
    lines.push(`clairvoyant static (offline, not a policy): per request sequence, the best fixed table from routing key (largest package) to worker that a search finds while seeing the whole sequence: the better of a greedy spread and one-worker, then single-key moves kept when the simulated mean improves, at most ${result.params.staticBudget} runs. ${converged} of ${searches.length} searches ended at a local optimum, the rest when the budget ran out; ${Math.min(...runs) === Math.max(...runs) ? `${Math.min(...runs)} runs each` : `${Math.min(...runs)} to ${Math.max(...runs)} runs each`}; ${fromOne} kept the one-worker start. A policy that adapts online could beat it; one that does not is beaten by a fixed placement chosen in hindsight. The tables are in summary.json.`, '');
  }
  return lines;
}

const MEAN_GRID_NOTE = 'rows[].meanMsGrid[s][p]: the mean latency (ms, to 0.1 ms) of the run at request sequence params.seed + s and placement params.placementSeed + p; one column for a row the placement does not change';

/** Where a fresh rerun of the same size would put each mean and each paired ratio (the rerun intervals). */
function rerunText(result: ExperimentResult, stats: readonly RowStats[], label: (s: RowStats) => string): string[] {
  if (result.params.seeds < 2) return [];
  const compared = comparedRow(result);
  const clairvoyant = stats.find((s) => s.plan.bound === 'clairvoyant-static');
  const cmp = compared?.plan.label ?? 'the compared row';
  const lines = ['## What a rerun would give', '',
    'The brackets above are 95% intervals of the true mean. A rerun of the same command with fresh request sequences and placements (other `--seed` and `--placement-seed`) has an error of its own, so its estimate falls inside them only about 83% of the time. The rerun interval holds such a rerun\'s estimate 95% of the time: each side of the bootstrap interval widened by sqrt(2) around the estimate (pipbench/README.md, "What the intervals mean").', ''];
  const ratioCells = (x: PairedFigures | null): string[] => (x ? [ratioText(x.ratio), ratioRangeText(x.ratio.rerun)] : ['-', '-']);
  const head = ['row', 'mean (s) [95%]', 'rerun interval (s)', `mean / ${cmp}`, 'its rerun interval', ...(clairvoyant ? ['mean / clairvoyant static', 'its rerun interval'] : [])];
  lines.push(...markdownTable(head, stats.map((s) => {
    const iv = s.intervals?.meanMs;
    return [label(s), withInterval(iv, s.figures.meanMs), iv ? rangeText(iv.rerun) : '-', ...ratioCells(s.vsCompared), ...(clairvoyant ? ratioCells(s.vsClairvoyant) : [])];
  })));
  const best = againstBestThresholds(result, stats);
  if (best.length > 0) {
    const bestRows = best.map((r) => [r.row.label, r.best.label, ratioText(r.figures.ratio), ratioRangeText(r.figures.ratio.rerun)]);
    lines.push('', ...markdownTable(['row', 'against the best threshold', 'mean / best [95%]', 'its rerun interval'], bestRows, 2));
  }
  lines.push('');
  return lines;
}

/** Every policy outside the sweeps against each sweep's best hand-tuned threshold, paired. */
function againstBestText(result: ExperimentResult, stats: readonly RowStats[], label: (s: RowStats) => string): string[] {
  const rows = againstBestThresholds(result, stats);
  if (rows.length === 0) return [];
  const byId = new Map(stats.map((s) => [s.plan.id, s]));
  const lines = ['## Against the best hand-tuned threshold', '', 'Each policy without a hand-tuned threshold against the best threshold of each sweep, paired. The best is chosen on these same runs, which favours it slightly.', ''];
  const cells = rows.map((r) => [r.row.label, label(byId.get(r.best.id) as RowStats), differenceText(r.figures.difference), ratioText(r.figures.ratio)]);
  lines.push(...markdownTable(['row', 'against', 'mean - best (s)', 'mean / best'], cells, 2), '');
  return lines;
}

const OWN_FILE = /^(summary\.(md|json)|requests-.+\.csv|[a-z-]+\.svg)$/;

/** Writes <outDir>/<name>/ and returns the paths written. Removes files of an earlier run of the same name first. */
export async function writeExperimentResults(result: ExperimentResult): Promise<string[]> {
  const dir = join(result.params.outDir, result.params.name);
  await mkdir(dir, { recursive: true });
  for (const file of await readdir(dir)) {
    if (OWN_FILE.test(file)) await rm(join(dir, file));
  }
  const written: string[] = [];
  const put = async (file: string, content: string): Promise<void> => {
    const path = join(dir, file);
    await writeFile(path, content);
    written.push(path);
  };
  const notes = new Map<string, string>();
  for (const row of result.rows) {
    if (row.records.length === 0) continue;
    const files = [requestFileName(row.plan), ...laterFileNames(row, result.params.seed)];
    for (const [k, records] of [row.records, ...(row.laterRecords ?? [])].entries()) {
      const { content, note } = requestFileContent(records);
      if (note) notes.set(files[k] as string, note);
      await put(files[k] as string, content);
    }
  }
  for (const [file, svg] of await experimentCharts(result)) await put(file, svg);
  await put('summary.json', summaryJsonText(summaryJson(result)));
  await put('summary.md', summaryMarkdown(result, notes));
  return written;
}
