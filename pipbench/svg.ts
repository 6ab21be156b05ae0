// Small hand-written SVG charts for benchmark results: bar, line, CDF and
// per-category charts. Standalone files (no scripts, no external fonts) that
// open in any browser. Every text is escaped; every chart carries a <title>,
// a visible title, axis labels and, when it has several series, a legend.
// Marks carry classes (bar, series, reference) so that tests and stylesheets
// can find them.

import { parse as parseVega, View } from 'vega';
import { compile as compileVegaLite, type TopLevelSpec } from 'vega-lite';

export type AxisScale = 'linear' | 'log';

export interface BarDatum {
  readonly label: string;
  readonly value: number;
  readonly color?: string;
}

export interface BarChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly bars: readonly BarDatum[];
  /** Text printed above each bar; default: the tick format. */
  readonly formatValue?: (value: number) => string;
  /** A horizontal dashed line across the plot, e.g. a baseline. */
  readonly reference?: ReferenceLine;
  readonly width?: number;
  readonly height?: number;
}

export interface Point { readonly x: number; readonly y: number }

export interface Series {
  readonly name: string;
  readonly points: readonly Point[];
  readonly color?: string;
}

export interface ReferenceLine {
  readonly name: string;
  readonly value: number;
  readonly color?: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Horizontal dashed lines with a legend entry each. */
  readonly references?: readonly ReferenceLine[];
  readonly xScale?: AxisScale;
  readonly yScale?: AxisScale;
  /** Put ticks exactly here (e.g. the thresholds of a sweep) instead of computed ones. */
  readonly xTicks?: readonly number[];
  readonly width?: number;
  readonly height?: number;
}

export interface CdfSeries {
  readonly name: string;
  readonly values: readonly number[];
  readonly color?: string;
}

export interface CdfChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly series: readonly CdfSeries[];
  /** Default log: latencies of warm and cold invocations differ by orders of magnitude. */
  readonly xScale?: AxisScale;
  readonly width?: number;
  readonly height?: number;
}

export interface CategorySeries {
  readonly name: string;
  /** One value per category, in category order; undefined or NaN leaves a gap. */
  readonly values: readonly (number | undefined)[];
  readonly color?: string;
}

export interface CategoryChartOptions {
  readonly title: string;
  readonly subtitle?: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly categories: readonly string[];
  readonly series: readonly CategorySeries[];
  /** 'bars': grouped bars; 'lines': one line with markers per series (better for many categories). */
  readonly style?: 'bars' | 'lines';
  readonly yScale?: AxisScale;
  readonly width?: number;
  readonly height?: number;
}

/** Colour-blind-friendly palette (Tableau 10, then a few more); series past it repeat colours with dashes. */
export const PALETTE: readonly string[] = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
  '#1b9e77', '#7570b3',
];

export function seriesColor(index: number): string {
  return PALETTE[index % PALETTE.length] as string;
}

function seriesDash(index: number): string | undefined {
  return index >= PALETTE.length ? '6 3' : undefined;
}

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    // Control characters are not allowed in XML 1.0 at all.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

/** Short tick text: 3 significant digits, k/M suffixes for large values. */
export function formatTick(value: number): string {
  if (!Number.isFinite(value)) return '';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${trimNumber(value / 1e6)}M`;
  if (abs >= 1e4) return `${trimNumber(value / 1e3)}k`;
  return trimNumber(value);
}

function trimNumber(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(abs)));
  return String(Number(value.toFixed(digits)));
}

function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

// ---------------------------------------------------------------- scales

interface Scale {
  readonly kind: AxisScale;
  readonly lo: number;
  readonly hi: number;
  readonly ticks: number[];
  map(value: number, r0: number, r1: number): number;
}

function niceStep(rough: number): number {
  const power = 10 ** Math.floor(Math.log10(rough));
  const f = rough / power;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power;
}

/** Linear scale over [min, max] widened to round ticks (about `count` of them). */
export function linearScale(min: number, max: number, count = 5): Scale {
  let lo = Number.isFinite(min) ? min : 0;
  let hi = Number.isFinite(max) ? max : 1;
  if (hi <= lo) hi = lo === 0 ? 1 : lo + Math.abs(lo) * 0.5;
  const step = niceStep((hi - lo) / count);
  lo = Math.floor(lo / step + 1e-9) * step;
  hi = Math.ceil(hi / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(Number(v.toPrecision(12)));
  return {
    kind: 'linear', lo, hi, ticks,
    map: (v, r0, r1) => r0 + ((v - lo) / (hi - lo)) * (r1 - r0),
  };
}

/** Log10 scale over [min, max] (positive values), widened to whole decades. */
export function logScale(min: number, max: number): Scale {
  const safeMin = Number.isFinite(min) && min > 0 ? min : 1;
  const safeMax = Number.isFinite(max) && max > safeMin ? max : safeMin * 10;
  const loExp = Math.floor(Math.log10(safeMin) + 1e-9);
  let hiExp = Math.ceil(Math.log10(safeMax) - 1e-9);
  if (hiExp <= loExp) hiExp = loExp + 1;
  const lo = 10 ** loExp;
  const hi = 10 ** hiExp;
  const ticks: number[] = [];
  const decades = hiExp - loExp;
  for (let e = loExp; e <= hiExp; e++) {
    ticks.push(Number((10 ** e).toPrecision(12)));
    if (decades <= 3 && e < hiExp) {
      ticks.push(Number((2 * 10 ** e).toPrecision(12)), Number((5 * 10 ** e).toPrecision(12)));
    }
  }
  ticks.sort((a, b) => a - b);
  return {
    kind: 'log', lo, hi, ticks,
    map: (v, r0, r1) => r0 + ((Math.log10(Math.max(v, lo / 10)) - loExp) / (hiExp - loExp)) * (r1 - r0),
  };
}

function scaleFor(kind: AxisScale, values: readonly number[], zeroBased: boolean): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (kind === 'linear' || v > 0));
  const min = finite.length ? Math.min(...finite) : Number.NaN;
  const max = finite.length ? Math.max(...finite) : Number.NaN;
  if (kind === 'log') return logScale(min, max);
  return linearScale(zeroBased ? Math.min(0, Number.isFinite(min) ? min : 0) : min, max);
}

function usable(kind: AxisScale, v: number | undefined): v is number {
  return v !== undefined && Number.isFinite(v) && (kind === 'linear' || v > 0);
}

// ---------------------------------------------------------------- frame

interface Frame {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly top: number;
  readonly right: number;
  readonly bottom: number;
}

interface LegendEntry { readonly name: string; readonly color: string; readonly dash?: string; readonly kind: 'swatch' | 'line' }

function legendWidth(entries: readonly LegendEntry[]): number {
  if (entries.length === 0) return 0;
  const longest = Math.max(...entries.map((e) => e.name.length));
  return Math.min(260, 40 + longest * 7);
}

const LEFT_MARGIN = 78;
const RIGHT_PAD = 20;

function plotWidth(width: number, legendEntries: readonly LegendEntry[]): number {
  return width - LEFT_MARGIN - RIGHT_PAD - legendWidth(legendEntries);
}

function makeFrame(width: number, height: number, legend: readonly LegendEntry[], bottomMargin: number, subtitle: boolean): Frame {
  const top = subtitle ? 66 : 50;
  const left = LEFT_MARGIN;
  const right = width - RIGHT_PAD - legendWidth(legend);
  const bottom = height - bottomMargin;
  return { width, height, left, top, right, bottom };
}

function header(f: Frame, title: string, subtitle: string | undefined): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" role="img" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${f.width}" height="${f.height}" fill="#ffffff"/>`,
    `<text class="chart-title" x="${num(f.width / 2)}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  if (subtitle) out.push(`<text class="chart-subtitle" x="${num(f.width / 2)}" y="46" text-anchor="middle" fill="#555555">${escapeXml(subtitle)}</text>`);
  return out;
}

function yAxis(f: Frame, scale: Scale, label: string): string[] {
  const out: string[] = [];
  for (const t of scale.ticks) {
    const y = scale.map(t, f.bottom, f.top);
    out.push(`<line class="grid" x1="${f.left}" y1="${num(y)}" x2="${num(f.right)}" y2="${num(y)}" stroke="#e5e5e5"/>`);
    out.push(`<text class="tick-label" x="${f.left - 6}" y="${num(y + 4)}" text-anchor="end" fill="#333333">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(`<line class="axis" x1="${f.left}" y1="${f.top}" x2="${f.left}" y2="${f.bottom}" stroke="#333333"/>`);
  const cy = (f.top + f.bottom) / 2;
  out.push(`<text class="axis-label y-label" x="18" y="${num(cy)}" text-anchor="middle" transform="rotate(-90 18 ${num(cy)})">${escapeXml(label)}</text>`);
  return out;
}

function xAxisNumeric(f: Frame, scale: Scale, label: string, explicitTicks?: readonly number[]): string[] {
  const out: string[] = [];
  const ticks = explicitTicks ?? scale.ticks;
  for (const t of ticks) {
    const x = scale.map(t, f.left, f.right);
    out.push(`<line class="grid" x1="${num(x)}" y1="${f.top}" x2="${num(x)}" y2="${f.bottom}" stroke="#f0f0f0"/>`);
    out.push(`<text class="tick-label" x="${num(x)}" y="${f.bottom + 16}" text-anchor="middle" fill="#333333">${escapeXml(formatTick(t))}</text>`);
  }
  out.push(...xAxisLine(f, label, 42));
  return out;
}

function xAxisLine(f: Frame, label: string, labelOffset: number): string[] {
  return [
    `<line class="axis" x1="${f.left}" y1="${f.bottom}" x2="${num(f.right)}" y2="${f.bottom}" stroke="#333333"/>`,
    `<text class="axis-label x-label" x="${num((f.left + f.right) / 2)}" y="${num(f.bottom + labelOffset)}" text-anchor="middle">${escapeXml(label)}</text>`,
  ];
}

const CHAR_WIDTH = 6.5;

/** Whether category labels must be rotated to fit their slots. */
function rotatesLabels(labels: readonly string[], slot: number): boolean {
  const longest = Math.max(1, ...labels.map((l) => l.length));
  return longest * CHAR_WIDTH > slot;
}

/** Space below the plot for category labels (rotated 45° when crowded) and the axis title. */
function categoryAxisMargin(labels: readonly string[], plotWidth: number): number {
  const slot = labels.length > 0 ? plotWidth / labels.length : plotWidth;
  if (!rotatesLabels(labels, slot)) return 60;
  const longest = Math.min(28, Math.max(1, ...labels.map((l) => l.length)));
  return Math.ceil(14 + longest * CHAR_WIDTH * Math.SQRT1_2 + 14 + 30);
}

/** Category labels, rotated when crowded and thinned when they would overlap. */
function xAxisCategories(f: Frame, labels: readonly string[], centerOf: (i: number) => number, label: string): string[] {
  const out: string[] = [];
  const slot = labels.length > 0 ? (f.right - f.left) / labels.length : 0;
  const rotate = rotatesLabels(labels, slot);
  const every = rotate ? Math.max(1, Math.ceil(14 / Math.max(slot, 1))) : 1;
  labels.forEach((text, i) => {
    if (i % every !== 0) return;
    const x = centerOf(i);
    const y = f.bottom + 14;
    const shown = text.length > 28 ? `${text.slice(0, 27)}…` : text;
    out.push(rotate
      ? `<text class="tick-label" x="${num(x)}" y="${y}" text-anchor="end" fill="#333333" transform="rotate(-45 ${num(x)} ${y})">${escapeXml(shown)}</text>`
      : `<text class="tick-label" x="${num(x)}" y="${y + 2}" text-anchor="middle" fill="#333333">${escapeXml(shown)}</text>`);
  });
  out.push(...xAxisLine(f, label, f.height - f.bottom - 14));
  return out;
}

function legend(f: Frame, entries: readonly LegendEntry[]): string[] {
  if (entries.length === 0) return [];
  const x = f.right + 16;
  const out = [`<g class="legend">`];
  entries.forEach((e, i) => {
    const y = f.top + 4 + i * 18;
    const dash = e.dash ? ` stroke-dasharray="${e.dash}"` : '';
    out.push(e.kind === 'swatch'
      ? `<rect class="legend-swatch" x="${num(x)}" y="${y}" width="14" height="10" fill="${e.color}"/>`
      : `<line class="legend-line" x1="${num(x)}" y1="${y + 5}" x2="${num(x + 14)}" y2="${y + 5}" stroke="${e.color}" stroke-width="2.5"${dash}/>`);
    out.push(`<text x="${num(x + 20)}" y="${y + 9}">${escapeXml(e.name)}</text>`);
  });
  out.push('</g>');
  return out;
}

function noData(f: Frame): string {
  return `<text class="no-data" x="${num((f.left + f.right) / 2)}" y="${num((f.top + f.bottom) / 2)}" text-anchor="middle" fill="#999999">no data</text>`;
}

function referenceMarks(f: Frame, yScale: Scale, refs: readonly ReferenceLine[], firstColorIndex: number): { marks: string[]; entries: LegendEntry[] } {
  const marks: string[] = [];
  const entries: LegendEntry[] = [];
  refs.forEach((r, i) => {
    if (!usable(yScale.kind, r.value)) return;
    const color = r.color ?? seriesColor(firstColorIndex + i);
    const y = yScale.map(r.value, f.bottom, f.top);
    marks.push(`<line class="reference" x1="${f.left}" y1="${num(y)}" x2="${num(f.right)}" y2="${num(y)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="6 4"><title>${escapeXml(`${r.name}: ${formatTick(r.value)}`)}</title></line>`);
    entries.push({ name: r.name, color, dash: '6 4', kind: 'line' });
  });
  return { marks, entries };
}

// ---------------------------------------------------------------- charts

/** One bar per datum, value printed above it. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? Math.max(640, 120 + o.bars.length * 64);
  const height = o.height ?? 440;
  const refEntries: LegendEntry[] = o.reference ? [{ name: o.reference.name, color: '#333333', dash: '6 4', kind: 'line' }] : [];
  const labels = o.bars.map((b) => b.label);
  const f = makeFrame(width, height, refEntries, categoryAxisMargin(labels, plotWidth(width, refEntries)), o.subtitle !== undefined);
  const values = o.bars.map((b) => b.value).concat(o.reference ? [o.reference.value] : []);
  const y = scaleFor('linear', values, true);
  const fmt = o.formatValue ?? formatTick;
  const slot = o.bars.length ? (f.right - f.left) / o.bars.length : 0;
  const barWidth = slot * 0.7;
  const out = header(f, o.title, o.subtitle);
  out.push(...yAxis(f, y, o.yLabel));
  out.push(...xAxisCategories(f, o.bars.map((b) => b.label), (i) => f.left + slot * (i + 0.5), o.xLabel));
  if (o.bars.length === 0) out.push(noData(f));
  o.bars.forEach((b, i) => {
    const x = f.left + slot * i + (slot - barWidth) / 2;
    const v = Number.isFinite(b.value) ? b.value : 0;
    const top = y.map(v, f.bottom, f.top);
    const base = y.map(0, f.bottom, f.top);
    const color = b.color ?? seriesColor(i);
    out.push(`<rect class="bar" x="${num(x)}" y="${num(Math.min(top, base))}" width="${num(barWidth)}" height="${num(Math.abs(base - top))}" fill="${color}"><title>${escapeXml(`${b.label}: ${fmt(b.value)}`)}</title></rect>`);
    out.push(`<text class="bar-value" x="${num(x + barWidth / 2)}" y="${num(Math.min(top, base) - 4)}" text-anchor="middle" font-size="11">${escapeXml(Number.isFinite(b.value) ? fmt(b.value) : 'n/a')}</text>`);
  });
  if (o.reference) {
    const ref = referenceMarks(f, y, [{ ...o.reference, color: o.reference.color ?? '#333333' }], 0);
    out.push(...ref.marks);
  }
  out.push(...legend(f, refEntries));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** One line (with point markers) per series, plus optional horizontal reference lines. */
export function lineChart(o: LineChartOptions): string {
  const xKind = o.xScale ?? 'linear';
  const yKind = o.yScale ?? 'linear';
  const refs = o.references ?? [];
  const entries: LegendEntry[] = o.series.map((s, i) => ({ name: s.name, color: s.color ?? seriesColor(i), dash: seriesDash(i), kind: 'line' }));
  const width = o.width ?? 760;
  const height = o.height ?? 440;
  const refLegend = refs.map((r, i) => ({ name: r.name, color: r.color ?? seriesColor(o.series.length + i), dash: '6 4', kind: 'line' as const }));
  const f = makeFrame(width, height, [...entries, ...refLegend], 60, o.subtitle !== undefined);
  const xs = o.series.flatMap((s) => s.points.map((p) => p.x)).concat(o.xTicks ?? []);
  const ys = o.series.flatMap((s) => s.points.map((p) => p.y)).concat(refs.map((r) => r.value));
  const x = scaleFor(xKind, xs, false);
  const y = scaleFor(yKind, ys, yKind === 'linear');
  const out = header(f, o.title, o.subtitle);
  out.push(...yAxis(f, y, o.yLabel));
  out.push(...xAxisNumeric(f, x, o.xLabel, o.xTicks?.filter((t) => usable(xKind, t))));
  if (o.series.every((s) => s.points.length === 0) && refs.length === 0) out.push(noData(f));
  const ref = referenceMarks(f, y, refs, o.series.length);
  out.push(...ref.marks);
  o.series.forEach((s, i) => {
    const color = s.color ?? seriesColor(i);
    const pts = s.points.filter((p) => usable(xKind, p.x) && usable(yKind, p.y)).sort((a, b) => a.x - b.x);
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${num(x.map(p.x, f.left, f.right))},${num(y.map(p.y, f.bottom, f.top))}`).join(' ');
    const dash = seriesDash(i) ? ` stroke-dasharray="${seriesDash(i)}"` : '';
    out.push(`<path class="series" data-series="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    for (const p of pts) {
      out.push(`<circle class="marker" cx="${num(x.map(p.x, f.left, f.right))}" cy="${num(y.map(p.y, f.bottom, f.top))}" r="3.5" fill="${color}"><title>${escapeXml(`${s.name}: ${formatTick(p.x)} → ${formatTick(p.y)}`)}</title></circle>`);
    }
  });
  out.push(...legend(f, [...entries, ...ref.entries]));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Points of an empirical CDF as a step function, at most `maxPoints` of them. */
export function cdfPoints(values: readonly number[], maxPoints = 400): Point[] {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [];
  const stride = Math.max(1, Math.ceil(n / maxPoints));
  const points: Point[] = [];
  for (let i = 0; i < n; i += stride) {
    points.push({ x: sorted[i] as number, y: i / n }, { x: sorted[i] as number, y: Math.min(n, i + stride) / n });
  }
  const last = points[points.length - 1] as Point;
  if (last.y < 1) points.push({ x: sorted[n - 1] as number, y: 1 });
  return points;
}

/** Empirical CDFs of several samples on one chart; y is the fraction of requests at or below x. */
export function cdfChart(o: CdfChartOptions): string {
  const xKind = o.xScale ?? 'log';
  const entries: LegendEntry[] = o.series.map((s, i) => ({ name: s.name, color: s.color ?? seriesColor(i), dash: seriesDash(i), kind: 'line' }));
  const f = makeFrame(o.width ?? 760, o.height ?? 460, entries, 60, o.subtitle !== undefined);
  const all = o.series.flatMap((s) => s.values);
  const x = scaleFor(xKind, all, false);
  const y = linearScale(0, 1, 5);
  const out = header(f, o.title, o.subtitle);
  out.push(...yAxis(f, y, 'fraction of requests ≤ x'));
  out.push(...xAxisNumeric(f, x, o.xLabel));
  if (all.length === 0) out.push(noData(f));
  o.series.forEach((s, i) => {
    const color = s.color ?? seriesColor(i);
    const pts = cdfPoints(s.values.filter((v) => usable(xKind, v)));
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${num(x.map(p.x, f.left, f.right))},${num(y.map(p.y, f.bottom, f.top))}`).join(' ');
    const dash = seriesDash(i) ? ` stroke-dasharray="${seriesDash(i)}"` : '';
    out.push(`<path class="series" data-series="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
  });
  out.push(...legend(f, entries));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Values per category (e.g. per handler) for several series: grouped bars or lines with markers. */
export function categoryChart(o: CategoryChartOptions): string {
  const style = o.style ?? 'lines';
  const yKind = o.yScale ?? 'linear';
  const entries: LegendEntry[] = o.series.map((s, i) => ({
    name: s.name, color: s.color ?? seriesColor(i), dash: seriesDash(i), kind: style === 'bars' ? 'swatch' : 'line',
  }));
  const perCategory = style === 'bars' ? Math.max(12, o.series.length * 6) : 12;
  const width = o.width ?? Math.max(760, 140 + legendWidth(entries) + o.categories.length * perCategory);
  const f = makeFrame(width, o.height ?? 480, entries, categoryAxisMargin(o.categories, plotWidth(width, entries)), o.subtitle !== undefined);
  const ys = o.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const y = scaleFor(yKind, ys, yKind === 'linear');
  const slot = o.categories.length ? (f.right - f.left) / o.categories.length : 0;
  const center = (i: number): number => f.left + slot * (i + 0.5);
  const out = header(f, o.title, o.subtitle);
  out.push(...yAxis(f, y, o.yLabel));
  out.push(...xAxisCategories(f, o.categories, center, o.xLabel));
  if (o.categories.length === 0 || ys.length === 0) out.push(noData(f));
  o.series.forEach((s, si) => {
    const color = s.color ?? seriesColor(si);
    if (style === 'bars') {
      const groupWidth = slot * 0.8;
      const barWidth = o.series.length ? groupWidth / o.series.length : 0;
      const base = yKind === 'log' ? f.bottom : y.map(0, f.bottom, f.top);
      s.values.forEach((v, ci) => {
        if (ci >= o.categories.length || !usable(yKind, v)) return;
        const x = f.left + slot * ci + (slot - groupWidth) / 2 + barWidth * si;
        const top = y.map(v, f.bottom, f.top);
        out.push(`<rect class="bar" data-series="${escapeXml(s.name)}" x="${num(x)}" y="${num(Math.min(top, base))}" width="${num(barWidth)}" height="${num(Math.abs(base - top))}" fill="${color}"><title>${escapeXml(`${s.name}, ${o.categories[ci]}: ${formatTick(v)}`)}</title></rect>`);
      });
      return;
    }
    // Lines break at missing values rather than bridging them.
    let d = '';
    let penDown = false;
    const markers: string[] = [];
    s.values.forEach((v, ci) => {
      if (ci >= o.categories.length || !usable(yKind, v)) { penDown = false; return; }
      const px = num(center(ci));
      const py = num(y.map(v, f.bottom, f.top));
      d += `${d ? ' ' : ''}${penDown ? 'L' : 'M'}${px},${py}`;
      penDown = true;
      markers.push(`<circle class="marker" cx="${px}" cy="${py}" r="2.5" fill="${color}"><title>${escapeXml(`${s.name}, ${o.categories[ci]}: ${formatTick(v)}`)}</title></circle>`);
    });
    const dash = seriesDash(si) ? ` stroke-dasharray="${seriesDash(si)}"` : '';
    out.push(`<path class="series" data-series="${escapeXml(s.name)}" d="${d}" fill="none" stroke="${color}" stroke-width="1.5" stroke-opacity="0.85"${dash}/>`);
    out.push(...markers);
  });
  out.push(...legend(f, entries));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------- comparison charts (vega-lite)
//
// The charts of an experiment or simulation are vega-lite specs rendered to SVG
// without a browser (vega's headless view): declarative, so each chart is a few
// lines, and deterministic. Sized for one column of a paper (about 3.3 in).


/** One colour per policy, the same in every chart and experiment; bounds in greys. */
export const POLICY_COLORS: Readonly<Record<string, string>> = Object.freeze({
  'round-robin': '#4e79a7',
  random: '#76b7b2',
  'least-loaded': '#f28e2b',
  'pkg-aware': '#e15759',
  'hashing-bounded': '#59a14f',
  'pkg-aware-ring': '#b07aa1',
  'pkg-aware auto': '#ff9da7',
  'cost-aware': '#9c755f',
  'all-warm': '#222222',
  'compulsory-install': '#8c8c8c',
});

/** The colour of a policy (by balancer name) or bound; a policy added later gets a stable colour from its name. */
export function policyColor(name: string): string {
  const fixed = POLICY_COLORS[name];
  if (fixed !== undefined) return fixed;
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return seriesColor(6 + (h % (PALETTE.length - 6)));
}

const COLUMN_WIDTH = 300;
const FONT = { titleFontSize: 11, labelFontSize: 9, font: 'Helvetica, Arial, sans-serif' };

/** Renders a vega-lite spec to a standalone SVG string. */
export async function renderVegaLite(spec: TopLevelSpec): Promise<string> {
  const vega = compileVegaLite(spec).spec;
  const view = new View(parseVega(vega), { renderer: 'none' });
  try {
    let svg = renumberIds(await view.toSVG());
    // A <title> names the chart for screen readers and file browsers.
    const title = typeof spec.title === 'object' && spec.title !== null && 'text' in spec.title ? String(spec.title.text) : '';
    if (title !== '') svg = svg.replace(/^(<svg[^>]*>)/, `$1<title>${escapeXml(title)}</title>`);
    return svg.endsWith('\n') ? svg : `${svg}\n`;
  } finally {
    view.finalize();
  }
}

/**
 * vega numbers gradients and clip paths with counters that live as long as the
 * process; renumbered from 0 per document, the same chart is the same bytes
 * whatever was rendered before it.
 */
function renumberIds(svg: string): string {
  const ids = new Map<string, string>();
  return svg.replace(/\b(gradient|clip|pattern)(_?)(\d+)\b/g, (whole, kind: string, sep: string) => {
    let id = ids.get(whole);
    if (id === undefined) {
      id = `${kind}${sep}${ids.size}`;
      ids.set(whole, id);
    }
    return id;
  });
}

function baseConfig(title: string, subtitle?: string): Pick<TopLevelSpec, 'title' | 'config' | 'background'> {
  return {
    // Subtitle parts on lines of their own, so that a long one never widens the chart past a column.
    title: { text: title, subtitle: (subtitle ?? '').split('; ').filter((l) => l !== ''), fontSize: 12, subtitleFontSize: 9, anchor: 'start', limit: 320 },
    background: 'white',
    config: {
      font: FONT.font,
      axis: { titleFontSize: FONT.titleFontSize, labelFontSize: FONT.labelFontSize, titleFontWeight: 'normal' },
      legend: { titleFontSize: FONT.titleFontSize, labelFontSize: FONT.labelFontSize, orient: 'bottom', columns: 2, symbolSize: 60 },
      view: { stroke: '#ccc' },
    },
  };
}

export interface EstimateDatum {
  readonly label: string;
  /** Legend/colour key: the policy or bound. */
  readonly series: string;
  readonly estimate: number;
  /** Interval bounds; equal to the estimate when there is none. */
  readonly low: number;
  readonly high: number;
}

export interface ReferenceValue {
  readonly name: string;
  readonly value: number;
}

/** A log scale cannot start at zero; a linear one here need not. */
function scaleOf(type: 'log' | 'linear'): { type: 'log' | 'linear'; zero?: boolean } {
  return type === 'log' ? { type } : { type, zero: false };
}

function colorScale(names: readonly string[]): { domain: string[]; range: string[] } {
  const domain = [...new Set(names)];
  return { domain, range: domain.map(policyColor) };
}

/** Whether a positive range spans enough to need a log axis (milliseconds to minutes). */
export function needsLog(values: readonly number[]): boolean {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  return pos.length > 1 && Math.max(...pos) / Math.min(...pos) >= 30;
}

/** Rows as dots with interval bars, seconds on the x axis; references as labelled vertical rules. */
export function estimateChart(o: { title: string; subtitle?: string; xTitle: string; data: readonly EstimateDatum[]; references?: readonly ReferenceValue[] }): Promise<string> {
  const refs = o.references ?? [];
  const values = o.data.flatMap((d) => [d.low, d.high, d.estimate]).concat(refs.map((r) => r.value));
  const type = needsLog(values) ? 'log' : 'linear';
  const color = colorScale(o.data.map((d) => d.series));
  const order = o.data.map((d) => d.label);
  const x = { field: 'estimate', type: 'quantitative' as const, title: o.xTitle, scale: scaleOf(type) };
  return renderVegaLite({
    ...baseConfig(o.title, o.subtitle),
    width: COLUMN_WIDTH,
    height: Math.max(60, 16 * o.data.length),
    layer: [
      {
        data: { values: o.data.map((d) => ({ ...d })) },
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { y: { field: 'label', type: 'nominal', sort: order, title: null }, x: { ...x, field: 'low' }, x2: { field: 'high' }, color: { field: 'series', type: 'nominal', scale: color, legend: null } },
      },
      {
        data: { values: o.data.map((d) => ({ ...d })) },
        mark: { type: 'point', filled: true, size: 40 },
        encoding: { y: { field: 'label', type: 'nominal', sort: order, title: null }, x, color: { field: 'series', type: 'nominal', scale: color, legend: null } },
      },
      ...(refs.length > 0 ? [{
        data: { values: refs.map((r) => ({ ...r })) },
        layer: [
          { mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#555' }, encoding: { x: { field: 'value', type: 'quantitative' as const } } },
          { mark: { type: 'text' as const, angle: 270, align: 'right' as const, baseline: 'bottom' as const, dy: -2, fontSize: 8, color: '#555', y: 0 }, encoding: { x: { field: 'value', type: 'quantitative' as const }, text: { field: 'name' } } },
        ],
      }] : []),
    ],
  } as TopLevelSpec);
}

export interface CurvePoint {
  readonly series: string;
  readonly x: number;
  readonly estimate: number;
  readonly low: number;
  readonly high: number;
}

/** Lines with points and interval bars; references as labelled horizontal rules. */
export function curveChart(o: {
  title: string; subtitle?: string; xTitle: string; yTitle: string; points: readonly CurvePoint[];
  references?: readonly (ReferenceValue & { series: string })[]; xLog?: boolean; xTicks?: readonly number[];
}): Promise<string> {
  const refs = o.references ?? [];
  const yType = needsLog(o.points.flatMap((p) => [p.low, p.high, p.estimate]).concat(refs.map((r) => r.value))) ? 'log' : 'linear';
  const color = colorScale([...o.points.map((p) => p.series), ...refs.map((r) => r.series)]);
  const x = { field: 'x', type: 'quantitative' as const, title: o.xTitle, scale: scaleOf(o.xLog ? 'log' : 'linear'), axis: o.xTicks ? { values: [...o.xTicks] } : {} };
  const y = { field: 'estimate', type: 'quantitative' as const, title: o.yTitle, scale: scaleOf(yType) };
  const col = { field: 'series', type: 'nominal' as const, scale: color, title: null };
  return renderVegaLite({
    ...baseConfig(o.title, o.subtitle),
    width: COLUMN_WIDTH,
    height: 180,
    layer: [
      { data: { values: o.points.map((p) => ({ ...p })) }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y, color: col } },
      { data: { values: o.points.map((p) => ({ ...p })) }, mark: { type: 'point', filled: true, size: 25 }, encoding: { x, y, color: { ...col, legend: null } } },
      { data: { values: o.points.map((p) => ({ ...p })) }, mark: { type: 'rule' }, encoding: { x, y: { ...y, field: 'low' }, y2: { field: 'high' }, color: { ...col, legend: null } } },
      ...(refs.length > 0 ? [{
        data: { values: refs.map((r) => ({ ...r })) },
        mark: { type: 'rule' as const, strokeDash: [4, 3] },
        encoding: { y: { field: 'value', type: 'quantitative' as const }, color: col },
      }] : []),
    ],
  } as TopLevelSpec);
}

/** Empirical CDFs, x on a log axis when latencies span ms to minutes; at most `maxPoints` per series. */
export function cdfCurves(o: { title: string; subtitle?: string; xTitle: string; series: readonly { name: string; values: readonly number[] }[]; maxPoints?: number }): Promise<string> {
  const rows: { series: string; x: number; p: number }[] = [];
  for (const s of o.series) for (const pt of cdfPoints(s.values, o.maxPoints ?? 150)) rows.push({ series: s.name, x: pt.x, p: pt.y });
  const type = needsLog(rows.map((r) => r.x)) ? 'log' : 'linear';
  return renderVegaLite({
    ...baseConfig(o.title, o.subtitle),
    width: COLUMN_WIDTH,
    height: 180,
    data: { values: rows },
    mark: { type: 'line', strokeWidth: 1.5, interpolate: 'step-after' },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.xTitle, scale: scaleOf(type) },
      y: { field: 'p', type: 'quantitative', title: 'share of requests', scale: { domain: [0, 1] } },
      color: { field: 'series', type: 'nominal', scale: colorScale(o.series.map((s) => s.name)), title: null },
    },
  } as TopLevelSpec);
}

/** A heat map: one row per policy, one column per group, colour = value on a log scale, the value printed. */
export function heatMap(o: { title: string; subtitle?: string; xTitle: string; cells: readonly { row: string; column: string; value: number; text: string }[]; rows: readonly string[]; columns: readonly string[]; legendTitle: string }): Promise<string> {
  const cells = o.cells.filter((c) => Number.isFinite(c.value) && c.value > 0).map((c) => ({ ...c }));
  return renderVegaLite({
    ...baseConfig(o.title, o.subtitle),
    width: COLUMN_WIDTH - 80,
    height: Math.max(40, 18 * o.rows.length),
    data: { values: cells },
    encoding: {
      x: { field: 'column', type: 'nominal', sort: [...o.columns], title: o.xTitle, axis: { labelAngle: -45, labelLimit: 120 } },
      y: { field: 'row', type: 'nominal', sort: [...o.rows], title: null },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'value', type: 'quantitative', scale: { type: 'log', scheme: 'yelloworangered' }, title: o.legendTitle, legend: { orient: 'bottom', gradientLength: 120 } } } },
      { mark: { type: 'text', fontSize: 7 }, encoding: { text: { field: 'text' }, color: { value: '#111' } } },
    ],
  } as TopLevelSpec);
}
