// What `pipbench calibrate` writes: the calibration table (every thesis log
// against the model), the fit's table (every candidate's error), and their
// charts, drawn by pipbench's one chart engine (charts.ts).
import { curveChart, estimateChart, type CurvePoint, type EstimateDatum } from '../charts.js';
import { markdownTable } from '../experiment/format.js';
import { THESIS_THRESHOLDS, type CalibrationResult, type CaseResult, type LatencyFigures } from './index.js';
import { FIT_FIGURES, FIT_LOGS, sameFit, type FitResult, type RealFitResult } from './fit.js';

const s = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 10_000 ? 2 : 1) : '-');
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '-');
const off = (model: number, log: number): string => `${model >= log ? '+' : ''}${(100 * (model / log - 1)).toFixed(0)}%`;
const modelJson = (r: CalibrationResult): string => JSON.stringify({ ...r.params, diskBytes: Number.isFinite(r.params.diskBytes) ? r.params.diskBytes : 'unbounded' });

export function calibrationMarkdown(r: CalibrationResult, command: string): string {
  const lines: string[] = [];
  lines.push('# Worker model calibration on the thesis logs', '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(`Model: ${modelJson(r)}`, '');
  lines.push(`Engine: \`pipbench simulate\`'s (the proxy's scheduler and policies on the virtual clock), set up as the thesis ran: ${r.host.workers} workers on ${r.host.cores} cores (${r.host.discipline}), one request every 200 ms for 300 s, handlers drawn from handlers_1000.txt, no drain. ${r.seeds} seeds per row (request sequence, random draws, placement); model figures are means over seeds, the mean with a bootstrap 95% interval over seeds. Answers are counted as the thesis runner counted them: those within the 5 minutes.`, '');
  lines.push('Round-robin and random are the calibration set (`pipbench calibrate --fit` chooses the model\'s parameters on them: `fit.md`); every other row is predicted without tuning.', '');
  lines.push(...markdownTable(['row', 'set', 'answers (log / model)', 'mean s (log / model [95% CI])', 'off', 'p50 s', 'off', 'p80 s', 'off', 'under 1 s'], r.cases.map((c) => {
    const m = c.model;
    const l = c.logFigures;
    // The log's figure beside the model's, and how far the model is off it.
    const vs = (log: number | undefined, model: number, modelText = s(model)): string[] => [`${log !== undefined ? s(log) : '-'} / ${modelText}`, log !== undefined ? off(model, log) : '-'];
    return [
      c.name, c.set, `${l ? l.answers : '-'} / ${m.answers.toFixed(0)}`, ...vs(l?.meanMs, m.meanMs.estimate, `${s(m.meanMs.estimate)} [${s(m.meanMs.low)}, ${s(m.meanMs.high)}]`),
      ...vs(l?.p50Ms, m.p50Ms), ...vs(l?.p80Ms, m.p80Ms), `${l ? pct(l.under1s) : '-'} / ${pct(m.under1s)}`,
    ];
  }), 2));
  const notes = r.cases.filter((c) => c.note !== undefined);
  if (notes.length > 0) lines.push('', ...notes.map((c) => `- **${c.name}**: ${c.note}.`));
  const perMinute = (title: string, pick: (f: LatencyFigures | CaseResult['model']) => number[], fmt: (x: number) => string): void => {
    lines.push('', title, '', ...markdownTable(['row', ...[1, 2, 3, 4, 5].map((m) => `minute ${m}`)], r.cases.map((c) => {
      const log = c.logFigures ? pick(c.logFigures) : [];
      return [c.name, ...pick(c.model).map((v, i) => `${log[i] !== undefined ? fmt(log[i] as number) : '-'} / ${fmt(v)}`)];
    })));
  };
  perMinute('Mean latency of the requests sent in each minute (s), log / model:', (f) => f.perMinuteMeanMs, s);
  perMinute('Share of the requests sent in each minute answered under 1 s, log / model:', (f) => f.perMinuteUnder1s, pct);
  lines.push('', 'Answers of 3 s or more per handler (how often a function met a cold worker or a queue), log / model:', '');
  lines.push(...markdownTable(['row', 'log', 'model'], r.cases.map((c) => [c.name, c.logFigures ? c.logFigures.slowPerHandler.toFixed(2) : '-', c.model.slowPerHandler.toFixed(2)])));
  lines.push('', 'Answers under 1 s to the requests sent in minutes 2 and 3, while the backlog lasts: p10 / p50 / p90 latency in s, log; model (median over seeds; - where there are none):', '');
  const q = (v: readonly number[]): string => v.map((x) => (Number.isFinite(x) ? (x / 1000).toFixed(2) : '-')).join(' / ');
  lines.push(...markdownTable(['row', 'log', 'model'], r.cases.map((c) => [c.name, c.logFigures ? q(c.logFigures.backlogFastMs) : '-', q(c.model.backlogFastMs)])));
  lines.push('', '![model against log](calibration-errors.svg)', '', '![calibration per minute](calibration-per-minute.svg)', '', '![validation per minute](validation-per-minute.svg)', '', '![threshold sweep](validation-threshold-sweep.svg)');
  return lines.join('\n') + '\n';
}

export function fitMarkdown(f: FitResult, command: string): string {
  const lines: string[] = [];
  lines.push('# The worker model\'s fit on the thesis\'s round-robin and random logs', '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(`Grid: installScale ${f.grid.installScale.join(', ')}; importScale ${f.grid.importScale.join(', ')}; sandboxMs ${f.grid.sandboxMs.join(', ')} (${f.candidates.length} candidates), ${f.seeds} seeds each (the same seeds for every candidate). The rest of the model is fixed by the set-up: 5 workers sharing one 4-core host (processor sharing), installs on the CPU, unbounded disk, no interpreter cache, handlerMs 10.`, '');
  lines.push(`Error: ${f.error}.`, '');
  lines.push(`Logs: ${FIT_LOGS.map((l) => `${l} mean ${s(f.logFigures[l]!.meanMs)} s, p50 ${s(f.logFigures[l]!.p50Ms)} s, p80 ${s(f.logFigures[l]!.p80Ms)} s, ${pct(f.logFigures[l]!.under1s)} under 1 s`).join('; ')}.`, '');
  const d = f.candidates.find((c) => sameFit(c.params, f.defaults));
  lines.push(`**Chosen: installScale ${f.chosen.params.installScale}, importScale ${f.chosen.params.importScale}, sandboxMs ${f.chosen.params.sandboxMs}** (error ${f.chosen.error.toFixed(3)}). ${f.landsOnDefaults ? 'These are MODEL_DEFAULTS\'.' : `MODEL_DEFAULTS hold installScale ${f.defaults.installScale}, importScale ${f.defaults.importScale}, sandboxMs ${f.defaults.sandboxMs}${d ? ` (error ${d.error.toFixed(3)} on this grid)` : ' (not on this grid)'}.`}`, '');
  lines.push('Every candidate, lowest error first (model figures in s, and the share under 1 s; means over the seeds):', '');
  const cols = FIT_LOGS.flatMap((l) => FIT_FIGURES.map((fig) => `${l} ${fig === 'under1s' ? 'under 1 s' : fig.replace('Ms', '')}`));
  lines.push(...markdownTable(['rank', 'installScale', 'importScale', 'sandboxMs', 'error', ...cols], [...f.candidates].sort((a, b) => a.error - b.error).map((c, i) => {
    const figs = FIT_LOGS.flatMap((l) => FIT_FIGURES.map((fig) => (fig === 'under1s' ? pct(c.logs[l]!.model[fig]) : s(c.logs[l]!.model[fig]))));
    return [String(i + 1), ...[c.params.installScale, c.params.importScale, c.params.sandboxMs].map(String), c.error.toFixed(3), ...figs];
  }), 0));
  lines.push('', '![fit error](fit-error.svg)');
  return lines.join('\n') + '\n';
}

/** The policy a row belongs to, for its colour. */
const policyOf = (name: string): string => name.split(/[.,]/)[0] as string;

export async function calibrationCharts(r: CalibrationResult): Promise<Record<string, string>> {
  const perMinute = (names: readonly string[], title: string): Promise<string> => {
    const points: CurvePoint[] = r.cases.filter((c) => names.includes(c.name)).flatMap((c) => [
      ...(c.logFigures ? c.logFigures.perMinuteMeanMs.map((y, i) => ({ series: c.name, source: 'thesis log', x: i + 1, estimate: y / 1000 })) : []),
      ...c.model.perMinuteMeanMs.map((y, i) => ({ series: c.name, source: 'model', x: i + 1, estimate: y / 1000 })),
    ]);
    return curveChart({
      title, subtitle: 'mean latency of the requests sent in each minute; thesis log solid, model dashed (mean over seeds)',
      xTitle: 'minute of the run', yTitle: 'mean latency (s)', points, xTicks: [1, 2, 3, 4, 5], yLog: true,
    });
  };
  const sweep = r.cases.filter((c) => c.name.startsWith('pkg-aware.'));
  const threshold = (name: string): number => Number(name.slice('pkg-aware.'.length));
  const ll = r.cases.find((c) => c.name === 'least-loaded');
  const errors: EstimateDatum[] = r.cases.filter((c) => c.logFigures).map((c) => {
    const log = (c.logFigures as LatencyFigures).meanMs;
    return { label: c.name, series: policyOf(c.name), estimate: c.model.meanMs.estimate / log, low: c.model.meanMs.low / log, high: c.model.meanMs.high / log };
  });
  return {
    'calibration-errors.svg': await estimateChart({
      title: 'Model mean over the thesis log\'s mean',
      subtitle: 'with the 95% interval over seeds; 1 = exact; round-robin and random are fitted, the rest predicted',
      xTitle: 'model mean / log mean', data: errors,
      references: [{ name: 'exact', value: 1 }, { name: '-25%', value: 0.75 }, { name: '+25%', value: 1.25 }],
    }),
    'calibration-per-minute.svg': await perMinute(['round-robin', 'random'], 'Calibration: round-robin and random'),
    'validation-per-minute.svg': await perMinute(['least-loaded', 'pkg-aware.100'], 'Validation: least-loaded, pkg-aware t=100'),
    'validation-threshold-sweep.svg': await curveChart({
      title: 'Validation: pkg-aware threshold sweep',
      subtitle: 'mean latency, answers within the 5 minutes; thesis log solid, model dashed with its 95% interval over placements and seeds',
      xTitle: 'load threshold', yTitle: 'mean latency (s)', xLog: true, xTicks: [...THESIS_THRESHOLDS],
      points: sweep.flatMap((c): CurvePoint[] => [
        ...(c.logFigures ? [{ series: 'pkg-aware', source: 'thesis log', x: threshold(c.name), estimate: c.logFigures.meanMs / 1000 }] : []),
        { series: 'pkg-aware', source: 'model', x: threshold(c.name), estimate: c.model.meanMs.estimate / 1000, low: c.model.meanMs.low / 1000, high: c.model.meanMs.high / 1000 },
      ]),
      references: ll ? [
        ...(ll.logFigures ? [{ series: 'least-loaded', name: 'least-loaded, log', value: ll.logFigures.meanMs / 1000 }] : []),
        { series: 'least-loaded', name: 'least-loaded, model', value: ll.model.meanMs.estimate / 1000 },
      ] : [],
    }),
  };
}

export async function fitCharts(f: FitResult): Promise<Record<string, string>> {
  const at = f.chosen.params.sandboxMs;
  const points: CurvePoint[] = f.candidates.filter((c) => c.params.sandboxMs === at).map((c) => ({
    series: `importScale ${c.params.importScale}`, x: c.params.installScale, estimate: c.error,
  }));
  return {
    'fit-error.svg': await curveChart({
      title: 'Fit error by installScale',
      subtitle: `one line per importScale, at sandboxMs ${at} (the chosen); error: mean |model / log - 1| of mean, p50, p80, share under 1 s; over round-robin and random`,
      // A log axis: the candidates near the best differ by hundredths, the worst by whole units.
      xTitle: 'installScale', yTitle: 'error (log scale)', points, xTicks: [...f.grid.installScale], yLog: true, paletteOrder: true,
      references: [{ series: `importScale ${f.chosen.params.importScale}`, name: `chosen: ${f.chosen.params.installScale}, ${f.chosen.params.importScale}`, value: f.chosen.error }],
    }),
  };
}

/** `calibrate --real`: the fit to one row of a real experiment, every candidate ranked. */
export function realFitMarkdown(f: RealFitResult, command: string, shown = 30): string {
  const g = f.grid;
  const lines: string[] = [];
  lines.push(`# The worker model's fit on a real worker's ${f.row} row`, '');
  lines.push(`Command: \`${command}\``, '');
  lines.push(`Source: \`${f.source}\`, row ${f.row}, request sequences ${f.seeds.join(', ')} (the real run's). Model workers: ${f.cores} cores each (the real workers' CPU quota), processor sharing, installs on the CPU, disk bound ${Number.isFinite(f.cacheMb) ? `${f.cacheMb} MiB of the package table's sizes` : 'none'}, no interpreter cache, handlerMs 10.`, '');
  lines.push(`Grid: installScale ${g.installScale.join(', ')}; importScale ${g.importScale.join(', ')}; sandboxMs ${g.sandboxMs.join(', ')}; installCallMs ${g.installCallMs.join(', ')} (${f.candidates.length} candidates).`, '');
  lines.push(`Error: ${f.error}.`, '');
  lines.push(`Real ${f.row}: mean ${s(f.real.meanMs)} s, p50 ${s(f.real.p50Ms)} s, p80 ${s(f.real.p80Ms)} s.`, '');
  const c = f.chosen;
  lines.push(`**Chosen: installScale ${c.params.installScale}, importScale ${c.params.importScale}, sandboxMs ${c.params.sandboxMs}, installCallMs ${c.params.installCallMs}** (error ${c.error.toFixed(3)}: model mean ${s(c.model.meanMs)} s, p50 ${s(c.model.p50Ms)} s, p80 ${s(c.model.p80Ms)} s).`, '');
  lines.push(`The ${Math.min(shown, f.candidates.length)} lowest errors of ${f.candidates.length} (model figures in s, means over the request sequences; real-fit.json has them all):`, '');
  lines.push(...markdownTable(['rank', 'installScale', 'importScale', 'sandboxMs', 'installCallMs', 'error', 'mean', 'p50', 'p80'], [...f.candidates].sort((a, b) => a.error - b.error).slice(0, shown).map((k, i) => {
    const p = k.params;
    return [String(i + 1), ...[p.installScale, p.importScale, p.sandboxMs, p.installCallMs].map(String), k.error.toFixed(3), s(k.model.meanMs), s(k.model.p50Ms), s(k.model.p80Ms)];
  }), 0));
  return lines.join('\n') + '\n';
}
