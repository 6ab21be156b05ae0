// pipbench's one chart engine: vega-lite specs rendered to SVG.
import t from 'tap';
import { cdfCurves, curveChart, estimateChart, heatMap, needsLog, policyColor, POLICY_COLORS } from '../../pipbench/charts.js';

const axisLabels = (svg: string): number[] =>
  [...svg.matchAll(/<text[^>]*>([0-9.]+)<\/text>/g)].map((m) => Number(m[1])).filter((n) => Number.isFinite(n));

t.test('estimate chart: fixed policy colours, an axis fitted to the rows, labelled references, deterministic', async (t) => {
  t.equal(policyColor('pkg-aware'), POLICY_COLORS['pkg-aware'], 'a policy has its fixed colour');
  t.equal(policyColor('some-new-policy'), policyColor('some-new-policy'), 'a new policy gets a stable colour');
  t.ok(needsLog([0.013, 37]) && !needsLog([10, 20]), 'log axis only where values span orders of magnitude');
  const data = [
    { label: 'round-robin', series: 'round-robin', estimate: 37.2, low: 36.9, high: 37.5 },
    { label: 'pkg-aware t=100', series: 'pkg-aware', estimate: 21.5, low: 21.0, high: 22.0 },
  ];
  const chart = () => estimateChart({ title: 'Mean <latency>', xTitle: 'mean latency (s)', data, references: [{ name: 'all-warm', value: 0.013 }, { name: 'bound', value: 30 }] });
  const svg = await chart();
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*><title>Mean &lt;latency&gt;<\/title>/, 'titled, escaped');
  t.match(svg, new RegExp(POLICY_COLORS['round-robin'] as string, 'i'), 'round-robin in its colour');
  t.match(svg, new RegExp(POLICY_COLORS['pkg-aware'] as string, 'i'), 'pkg-aware in its colour');
  t.match(svg, /\u2190 all-warm 0\.013/, 'a reference below the rows is labelled with its value and drawn at the edge');
  t.match(svg, />bound 30</, 'a reference among the rows is labelled with its value');
  const ticks = axisLabels(svg);
  t.ok(ticks.length > 0 && Math.min(...ticks) >= 15, `the axis starts near the rows, not at the far reference: ${ticks.join(', ')}`);
  const width = Number(/width="(\d+(?:\.\d+)?)"/.exec(svg)?.[1]);
  t.ok(width > 200 && width <= 480, `one column wide: ${width}`);
  t.equal(await chart(), svg, 'the same chart is the same bytes');
});

t.test('curve chart: sources dashed apart, references labelled', async (t) => {
  const points = [
    { series: 'round-robin', source: 'thesis log', x: 1, estimate: 89, low: 89, high: 89 },
    { series: 'round-robin', source: 'thesis log', x: 2, estimate: 50, low: 50, high: 50 },
    { series: 'round-robin', source: 'model', x: 1, estimate: 100, low: 95, high: 105 },
    { series: 'round-robin', source: 'model', x: 2, estimate: 48, low: 45, high: 51 },
  ];
  const svg = await curveChart({ title: 'Per minute', xTitle: 'minute', yTitle: 's', points, references: [{ series: 'least-loaded', name: 'least-loaded, log', value: 28 }] });
  t.notMatch(svg, /NaN|undefined/);
  t.match(svg, /stroke-dasharray="5,3"/, 'the second source is dashed');
  t.match(svg, />thesis log</, 'the sources are in the legend');
  t.match(svg, />least-loaded, log</, 'the reference line carries its name');
  const plain = await curveChart({ title: 'k', xTitle: 't', yTitle: 's', points: [{ series: 'pkg-aware', x: 1, estimate: 30, low: 29, high: 31 }, { series: 'pkg-aware', x: 100, estimate: 20, low: 19, high: 21 }], xLog: true, xTicks: [1, 100] });
  t.notMatch(plain, /NaN|undefined|stroke-dasharray="5,3"/, 'without sources, no dashes');
});

t.test('heat map and CDF render, ids independent of earlier charts', async (t) => {
  const heat = () => heatMap({ title: 'h', xTitle: 'key', legendTitle: 's', rows: ['a'], columns: ['k1', 'k2'], cells: [{ row: 'a', column: 'k1', value: 2, text: '2.0' }, { row: 'a', column: 'k2', value: 30, text: '30' }] });
  t.equal(await heat(), await heat(), 'gradient ids do not depend on earlier charts');
  const cdf = await cdfCurves({ title: 'c', xTitle: 's', series: [{ name: 'random', values: [0.01, 0.1, 1, 10, 100] }] });
  t.notMatch(cdf, /NaN|undefined/);
});
