// Calibration of the worker model on the thesis's own logs: the thesis workload
// (one request every 200 ms for 5 minutes, 5 workers on one 4-vCPU host) runs
// through the model in virtual time under each policy the thesis measured, and
// the answers are counted as the thesis's runner counted them (those within
// the 5 minutes). Round-robin and random are the calibration set; least-loaded
// and the package-aware threshold sweep are predicted without further tuning.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fixedRateArrivals, leastLoadedRoute, packageAwareRoute, randomRoute, roundRobinRoute, simulateCluster, type Route, type SimulatedRequest,
} from './cluster-sim.js';
import { MODEL_DEFAULTS, THESIS_HOST, type ModelParams } from './model.js';
import { seededRandom } from './random.js';
import { bootstrapInterval, mean, percentile, sortedAscending, type Interval } from './stats.js';
import { lineChart } from './svg.js';
import { parseTextLog } from './textlog.js';
import { loadWorkload, type Workload } from './workload.js';

export const THESIS_RUN = { waitMs: 200, durationMs: 300_000 } as const;
export const THESIS_THRESHOLDS = [5, 10, 50, 100, 150, 200, 250, 300] as const;

/** Where the project's copy of the thesis data lives, from source or from dist/. */
export function thesisDataDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const fromSource = join(here, 'data', 'olscheduler-eval');
  return here.includes(`${join('dist', 'pipbench')}`) ? join(here, '..', '..', 'pipbench', 'data', 'olscheduler-eval') : fromSource;
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
}

export function figures(latencies: readonly { sentMs: number; latencyMs: number }[], durationMs: number): LatencyFigures {
  const sorted = sortedAscending(latencies.map((l) => l.latencyMs));
  const minutes = Math.ceil(durationMs / 60_000);
  const perMinute = Array.from({ length: minutes }, (_, m) =>
    mean(latencies.filter((l) => l.sentMs >= m * 60_000 && l.sentMs < (m + 1) * 60_000).map((l) => l.latencyMs)));
  return {
    answers: sorted.length,
    meanMs: mean(sorted),
    p50Ms: percentile(sorted, 50),
    p80Ms: percentile(sorted, 80),
    under1s: sorted.filter((x) => x < 1000).length / sorted.length,
    perMinuteMeanMs: perMinute,
  };
}

/** A thesis log's figures; send times are recovered as completion minus latency. */
export function logFigures(text: string, durationMs = THESIS_RUN.durationMs): LatencyFigures {
  const entries = parseTextLog(text).entries.filter((e) => e.status === 200);
  const done = entries.map((e) => ({ at: Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(e.time) ? e.time : `${e.time}Z`), latencyMs: e.latencyMs }));
  if (done.some((d) => Number.isNaN(d.at))) throw new Error('a log line has a time that does not parse');
  const start = Math.min(...done.map((d) => d.at - d.latencyMs));
  return figures(done.map((d) => ({ sentMs: d.at - d.latencyMs - start, latencyMs: d.latencyMs })), durationMs);
}

/** The answers the thesis's runner would have logged: those that came within the run. */
export function withinRun(requests: readonly SimulatedRequest[], durationMs: number): SimulatedRequest[] {
  return requests.filter((r) => r.sentMs + r.latencyMs <= durationMs);
}

export interface CalibrationCase {
  /** `round-robin`, `random`, `least-loaded`, `pkg-aware.<threshold>`: the log's name. */
  name: string;
  set: 'calibration' | 'validation';
  route: (seed: number, workload: Workload) => Route;
}

export function thesisCases(workers = THESIS_HOST.workers): CalibrationCase[] {
  return [
    { name: 'round-robin', set: 'calibration', route: () => roundRobinRoute(workers) },
    { name: 'random', set: 'calibration', route: (seed) => randomRoute(workers, seed) },
    { name: 'least-loaded', set: 'validation', route: () => leastLoadedRoute() },
    ...THESIS_THRESHOLDS.map((threshold): CalibrationCase => ({
      name: `pkg-aware.${threshold}`,
      set: 'validation',
      route: (seed, workload) => packageAwareRoute(workload, threshold, seed),
    })),
  ];
}

export interface CaseResult {
  name: string;
  set: 'calibration' | 'validation';
  log: LatencyFigures | undefined;
  /** One entry per seed (arrival sequence, random draws and placement). */
  runs: LatencyFigures[];
  model: { answers: number; meanMs: Interval; p50Ms: number; p80Ms: number; under1s: number; perMinuteMeanMs: number[] };
}

export interface CalibrationResult {
  params: ModelParams;
  host: { workers: number; discipline: string; cores: number };
  seeds: number;
  cases: CaseResult[];
}

export interface CalibrateOptions {
  seeds: number;
  params?: ModelParams;
  /** Run the workers on one shared host CPU (the thesis set-up); else each on `params.cores`. */
  sharedHost?: boolean;
  dataDir?: string;
}

export async function calibrate(opts: CalibrateOptions): Promise<CalibrationResult> {
  if (!Number.isInteger(opts.seeds) || opts.seeds < 1) throw new RangeError(`seeds must be a positive integer, got ${opts.seeds}`);
  const dir = opts.dataDir ?? thesisDataDir();
  const params = opts.params ?? { ...MODEL_DEFAULTS };
  const shared = opts.sharedHost ?? true;
  const workload = await loadWorkload({ registry: join(dir, 'registry_100_5.json'), handlers: join(dir, 'handlers_1000.txt') });
  const cases: CaseResult[] = [];
  for (const c of thesisCases()) {
    let log: LatencyFigures | undefined;
    try {
      log = logFigures(await readFile(join(dir, 'logs', `${c.name}.1000handlers.log`), 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const runs: LatencyFigures[] = [];
    for (let seed = 1; seed <= opts.seeds; seed++) {
      const arrivals = fixedRateArrivals(workload.handlers, THESIS_RUN.waitMs, THESIS_RUN.durationMs, seed);
      const requests = simulateCluster(workload, arrivals, c.route(seed, workload), {
        workers: THESIS_HOST.workers,
        params,
        ...(shared ? { sharedHost: { discipline: THESIS_HOST.discipline, cores: THESIS_HOST.cores } } : {}),
      });
      runs.push(figures(withinRun(requests, THESIS_RUN.durationMs), THESIS_RUN.durationMs));
    }
    const avg = (f: (r: LatencyFigures) => number): number => mean(runs.map(f));
    cases.push({
      name: c.name,
      set: c.set,
      log,
      runs,
      model: {
        answers: avg((r) => r.answers),
        meanMs: bootstrapInterval(runs.map((r) => r.meanMs), { random: seededRandom(`calibrate\u0000${c.name}`) }),
        p50Ms: avg((r) => r.p50Ms),
        p80Ms: avg((r) => r.p80Ms),
        under1s: avg((r) => r.under1s),
        perMinuteMeanMs: runs[0]!.perMinuteMeanMs.map((_, m) => mean(runs.map((r) => r.perMinuteMeanMs[m] as number))),
      },
    });
  }
  return {
    params,
    host: shared ? { workers: THESIS_HOST.workers, discipline: THESIS_HOST.discipline, cores: THESIS_HOST.cores } : { workers: THESIS_HOST.workers, discipline: params.cpu, cores: params.cores * THESIS_HOST.workers },
    seeds: opts.seeds,
    cases,
  };
}

const s = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) : '-');
const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
const off = (model: number, log: number): string => `${model >= log ? '+' : ''}${(100 * (model / log - 1)).toFixed(0)}%`;

export function calibrationMarkdown(r: CalibrationResult, command: string): string {
  const lines: string[] = [];
  lines.push('# Worker model calibration on the thesis logs', '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(`Model: ${JSON.stringify({ ...r.params, diskBytes: Number.isFinite(r.params.diskBytes) ? r.params.diskBytes : 'unbounded' })}`, '');
  lines.push(`Host: ${r.host.workers} workers on ${r.host.cores} cores (${r.host.discipline}). ${r.seeds} seeds per row (arrival sequence, random draws, placement); model figures are means over seeds, the mean with a bootstrap 95% interval over seeds. Answers are counted as the thesis runner counted them: those within the 5 minutes.`, '');
  lines.push('Targets on round-robin: mean, p50, p80 within 25%; share under 1 s within 10 points.', '');
  lines.push('| log | set | answers (log / model) | mean s (log / model [95% CI]) | off | p50 s | off | p80 s | off | under 1 s |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const c of r.cases) {
    const m = c.model;
    const l = c.log;
    lines.push(`| ${c.name} | ${c.set} | ${l ? l.answers : '-'} / ${m.answers.toFixed(0)} | ${l ? s(l.meanMs) : '-'} / ${s(m.meanMs.estimate)} [${s(m.meanMs.low)}, ${s(m.meanMs.high)}] | ${l ? off(m.meanMs.estimate, l.meanMs) : '-'} | ${l ? s(l.p50Ms) : '-'} / ${s(m.p50Ms)} | ${l ? off(m.p50Ms, l.p50Ms) : '-'} | ${l ? s(l.p80Ms) : '-'} / ${s(m.p80Ms)} | ${l ? off(m.p80Ms, l.p80Ms) : '-'} | ${l ? pct(l.under1s) : '-'} / ${pct(m.under1s)} |`);
  }
  lines.push('', 'Mean latency of the requests sent in each minute (s), log / model:', '');
  lines.push('| log | ' + [1, 2, 3, 4, 5].map((m) => `minute ${m}`).join(' | ') + ' |');
  lines.push('| --- |' + ' ---: |'.repeat(5));
  for (const c of r.cases) {
    lines.push(`| ${c.name} | ${c.model.perMinuteMeanMs.map((v, i) => `${c.log ? s(c.log.perMinuteMeanMs[i] as number) : '-'} / ${s(v)}`).join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

export function calibrationCharts(r: CalibrationResult): Record<string, string> {
  const perMinute = (names: string[], title: string): string =>
    lineChart({
      title,
      subtitle: 'mean latency of the requests sent in each minute: thesis log (solid) against the model (mean over seeds)',
      xLabel: 'minute of the run',
      yLabel: 'mean latency (s)',
      xTicks: [1, 2, 3, 4, 5],
      series: r.cases.filter((c) => names.includes(c.name)).flatMap((c) => [
        ...(c.log ? [{ name: `${c.name} log`, points: c.log.perMinuteMeanMs.map((y, i) => ({ x: i + 1, y: y / 1000 })) }] : []),
        { name: `${c.name} model`, points: c.model.perMinuteMeanMs.map((y, i) => ({ x: i + 1, y: y / 1000 })) },
      ]),
    });
  const sweep = r.cases.filter((c) => c.name.startsWith('pkg-aware.'));
  const threshold = (name: string): number => Number(name.slice('pkg-aware.'.length));
  return {
    'calibration-per-minute.svg': perMinute(['round-robin', 'random'], 'Calibration: round-robin and random'),
    'validation-per-minute.svg': perMinute(['least-loaded', 'pkg-aware.100'], 'Validation: least-loaded and pkg-aware (threshold 100)'),
    'validation-threshold-sweep.svg': lineChart({
      title: 'Validation: pkg-aware threshold sweep',
      subtitle: 'mean latency (answers within 5 minutes): thesis logs against the model (mean over placements)',
      xLabel: 'load threshold',
      yLabel: 'mean latency (s)',
      xScale: 'log',
      xTicks: [...THESIS_THRESHOLDS],
      series: [
        { name: 'thesis log', points: sweep.filter((c) => c.log).map((c) => ({ x: threshold(c.name), y: (c.log as LatencyFigures).meanMs / 1000 })) },
        { name: 'model', points: sweep.map((c) => ({ x: threshold(c.name), y: c.model.meanMs.estimate / 1000 })) },
      ],
    }),
  };
}
