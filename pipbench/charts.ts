// The one chart engine of pipbench: vega-lite specs rendered to standalone SVG
// without a browser (vega's headless view). Declarative, so each chart is a few
// lines, and deterministic: the same chart is the same bytes. Sized for one
// column of a paper (about 3.3 in).

import { parse as parseVega, View } from 'vega';
import { compile as compileVegaLite, type TopLevelSpec } from 'vega-lite';

/** Colour-blind-friendly palette (Tableau 10, then a few more). */
const PALETTE: readonly string[] = [
  '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f',
  '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
  '#1b9e77', '#7570b3',
];

function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    // Control characters are not allowed in XML 1.0 at all.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

/** Points of an empirical CDF as a step function, at most `maxPoints` of them. */
function cdfPoints(values: readonly number[], maxPoints: number): { x: number; y: number }[] {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return [];
  const stride = Math.max(1, Math.ceil(n / maxPoints));
  const points: { x: number; y: number }[] = [];
  for (let i = 0; i < n; i += stride) {
    points.push({ x: sorted[i] as number, y: i / n }, { x: sorted[i] as number, y: Math.min(n, i + stride) / n });
  }
  const last = points[points.length - 1] as { x: number; y: number };
  if (last.y < 1) points.push({ x: sorted[n - 1] as number, y: 1 });
  return points;
}
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
  return PALETTE[6 + (h % (PALETTE.length - 6))] as string;
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
    title: { text: title, subtitle: (subtitle ?? '').split('; ').filter((l) => l !== ''), fontSize: 12, subtitleFontSize: 9, anchor: 'start', limit: 0 },
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

/** Policies in their fixed colours; other series (a parameter's values, say) in the palette's order, so that neighbours differ. */
function colorScale(names: readonly string[], byOrder = false): { domain: string[]; range: string[] } {
  const domain = [...new Set(names)];
  return { domain, range: domain.map((name, i) => (byOrder ? PALETTE[i % PALETTE.length] as string : policyColor(name))) };
}

/** Whether a positive range spans enough to need a log axis (milliseconds to minutes). */
export function needsLog(values: readonly number[]): boolean {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  return pos.length > 1 && Math.max(...pos) / Math.min(...pos) >= 30;
}

/** Three significant digits, no trailing zeros: a reference line's value in its label. */
function shortNumber(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

/**
 * Rows as dots with interval bars, on an x axis fitted to the rows (log only
 * when the rows themselves span orders of magnitude), so that differences
 * between rows stay visible; references as vertical rules labelled with name
 * and value, drawn at the axis' edge when they lie beyond the rows (an
 * all-warm bound in milliseconds would otherwise squeeze rows of tens of
 * seconds into one corner).
 */
export function estimateChart(o: { title: string; subtitle?: string; xTitle: string; data: readonly EstimateDatum[]; references?: readonly ReferenceValue[] }): Promise<string> {
  const values = o.data.flatMap((d) => [d.low, d.high, d.estimate]).filter((v) => Number.isFinite(v));
  const type = needsLog(values) ? 'log' : 'linear';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  // A reference within one span of the rows (a factor of their spread on a log axis) widens the axis to include it.
  const near = (o.references ?? []).map((r) => r.value).filter((v) => (type === 'log' ? v >= lo / (hi / lo) && v <= hi * (hi / lo) : v >= lo - (hi - lo) && v <= hi + (hi - lo)));
  const low = Math.min(lo, ...near);
  const high = Math.max(hi, ...near);
  const pad = type === 'log' ? 0 : (high - low) * 0.05 || Math.abs(high) * 0.05 || 1;
  const domain = type === 'log' ? [low / 1.25, high * 1.25] : [low - pad, high + pad];
  const refs = (o.references ?? []).map((r) => ({
    ...r,
    label: `${r.value < (domain[0] as number) ? '\u2190 ' : r.value > (domain[1] as number) ? '\u2192 ' : ''}${r.name} ${shortNumber(r.value)}`,
  }));
  const color = colorScale(o.data.map((d) => d.series));
  const order = o.data.map((d) => d.label);
  const x = { field: 'estimate', type: 'quantitative' as const, title: o.xTitle, scale: { ...scaleOf(type), domain, clamp: true, nice: false } };
  return renderVegaLite({
    ...baseConfig(o.title, o.subtitle),
    width: COLUMN_WIDTH,
    height: Math.max(60, 16 * o.data.length),
    layer: [
      {
        data: { values: o.data.map((d) => ({ ...d })) },
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { y: { field: 'label', type: 'nominal', sort: order, title: null, axis: { labelLimit: 0 } }, x: { ...x, field: 'low' }, x2: { field: 'high' }, color: { field: 'series', type: 'nominal', scale: color, legend: null } },
      },
      {
        data: { values: o.data.map((d) => ({ ...d })) },
        mark: { type: 'point', filled: true, size: 40 },
        encoding: { y: { field: 'label', type: 'nominal', sort: order, title: null, axis: { labelLimit: 0 } }, x, color: { field: 'series', type: 'nominal', scale: color, legend: null } },
      },
      ...(refs.length > 0 ? [{
        data: { values: refs },
        layer: [
          { mark: { type: 'rule' as const, strokeDash: [4, 3], color: '#555' }, encoding: { x: { field: 'value', type: 'quantitative' as const } } },
          { mark: { type: 'text' as const, angle: 270, align: 'right' as const, baseline: 'bottom' as const, dy: -2, fontSize: 8, color: '#555', y: 0 }, encoding: { x: { field: 'value', type: 'quantitative' as const }, text: { field: 'label' } } },
        ],
      }] : []),
    ],
  } as TopLevelSpec);
}

export interface CurvePoint {
  readonly series: string;
  /** Where the point comes from when a chart sets sources side by side (`log`, `model`): one dash pattern each. */
  readonly source?: string;
  readonly x: number;
  readonly estimate: number;
  /** Interval bounds; the estimate when absent (a measured point without an interval). */
  readonly low?: number;
  readonly high?: number;
}

/**
 * Lines with points and interval bars, coloured by series and, where points
 * name a source, dashed by source; references as horizontal rules labelled
 * with their names.
 */
export function curveChart(o: {
  title: string; subtitle?: string; xTitle: string; yTitle: string; points: readonly CurvePoint[];
  references?: readonly (ReferenceValue & { series: string })[]; xLog?: boolean; xTicks?: readonly number[]; yLog?: boolean;
  /** Colour series in the palette's order rather than as policies. */
  paletteOrder?: boolean;
}): Promise<string> {
  const refs = o.references ?? [];
  const points = o.points.map((p) => ({ ...p, low: p.low ?? p.estimate, high: p.high ?? p.estimate, source: p.source ?? '' }));
  const yType = (o.yLog ?? needsLog(points.flatMap((p) => [p.low, p.high, p.estimate]).concat(refs.map((r) => r.value)))) ? 'log' : 'linear';
  const color = colorScale([...points.map((p) => p.series), ...refs.map((r) => r.series)], o.paletteOrder === true);
  const x = { field: 'x', type: 'quantitative' as const, title: o.xTitle, scale: scaleOf(o.xLog ? 'log' : 'linear'), axis: o.xTicks ? { values: [...o.xTicks] } : {} };
  const y = { field: 'estimate', type: 'quantitative' as const, title: o.yTitle, scale: scaleOf(yType) };
  const col = { field: 'series', type: 'nominal' as const, scale: color, title: null };
  const sources = [...new Set(o.points.flatMap((p) => (p.source === undefined ? [] : [p.source])))];
  const dash = sources.length > 0
    ? { strokeDash: { field: 'source', type: 'nominal' as const, title: null, scale: { domain: sources, range: sources.map((_, i) => (i === 0 ? [1, 0] : [5, 3])) } } }
    : {};
  return renderVegaLite({
    ...baseConfig(o.title, o.subtitle),
    width: COLUMN_WIDTH,
    height: 180,
    layer: [
      { data: { values: points }, mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y, color: col, ...dash, detail: { field: 'source' } } },
      // Every layer keeps the colour's legend: vega-lite merges the legends of a shared scale, and one layer's null would remove it.
      { data: { values: points }, mark: { type: 'point', filled: true, size: 25 }, encoding: { x, y, color: col } },
      { data: { values: points }, mark: { type: 'rule' }, encoding: { x, y: { ...y, field: 'low' }, y2: { field: 'high' }, color: col } },
      ...(refs.length > 0 ? [{
        data: { values: refs.map((r) => ({ ...r })) },
        layer: [
          { mark: { type: 'rule' as const, strokeDash: [4, 3] }, encoding: { y: { field: 'value', type: 'quantitative' as const }, color: col } },
          {
            mark: { type: 'text' as const, align: 'right' as const, baseline: 'bottom' as const, dy: -2, fontSize: 8, x: COLUMN_WIDTH - 2 },
            encoding: { y: { field: 'value', type: 'quantitative' as const }, text: { field: 'name' }, color: col },
          },
        ],
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
