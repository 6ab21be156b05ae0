import t, { type Test } from 'tap';
import {
  barChart, categoryChart, cdfChart, cdfPoints, escapeXml, formatTick, lineChart, linearScale, logScale,
} from '../../pipbench/svg.js';

/** Checks that the markup nests properly: every opened element is closed, in order. */
function assertWellFormed(t: Test, svg: string): void {
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /, 'starts with <svg> in the SVG namespace');
  t.match(svg, /viewBox="0 0 \d+ \d+"/, 'has a viewBox');
  t.match(svg.trimEnd(), /<\/svg>$/, 'ends with </svg>');
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let m: RegExpExecArray | null;
  let last = 0;
  while ((m = tag.exec(svg)) !== null) {
    const between = svg.slice(last, m.index);
    if (/[<>]/.test(between)) t.fail(`stray markup in text: ${JSON.stringify(between.slice(0, 80))}`);
    if (/&(?!amp;|lt;|gt;|quot;|apos;)/.test(between)) t.fail(`unescaped & in text: ${JSON.stringify(between.slice(0, 80))}`);
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (selfClosing) continue;
    if (closing) {
      const open = stack.pop();
      if (open !== name) { t.fail(`</${name}> closes <${open}>`); return; }
    } else {
      stack.push(name as string);
    }
  }
  t.same(stack, [], 'every element closed');
  t.notMatch(svg, /NaN|undefined|Infinity/, 'no NaN/undefined/Infinity leaked into coordinates or text');
}

function count(svg: string, re: RegExp): number {
  return (svg.match(re) ?? []).length;
}

t.test('escapeXml escapes markup characters and drops control characters', async (t) => {
  t.equal(escapeXml(`a<b>&"c"'d'\u0001`), 'a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;');
});

t.test('bar chart: one rect per bar, title, axis labels, escaped text', async (t) => {
  const svg = barChart({
    title: 'Mean latency <by policy> & more',
    subtitle: 'simulated time',
    xLabel: 'policy',
    yLabel: 'mean latency (s)',
    bars: [{ label: 'round-robin', value: 34.7 }, { label: 'pkg-aware t=100', value: 13.2 }, { label: 'all-warm', value: 0.5 }],
    reference: { name: 'all-warm', value: 0.5 },
  });
  assertWellFormed(t, svg);
  t.match(svg, /<title>Mean latency &lt;by policy&gt; &amp; more<\/title>/, 'title element, escaped');
  t.equal(count(svg, /class="bar"/g), 3, 'one rect per bar');
  t.match(svg, /class="axis-label x-label"[^>]*>policy</);
  t.match(svg, /class="axis-label y-label"[^>]*>mean latency \(s\)</);
  t.match(svg, />round-robin</);
  t.match(svg, />pkg-aware t=100</);
  t.equal(count(svg, /class="reference"/g), 1);
  // The tallest bar reaches highest (smallest y).
  const ys = [...svg.matchAll(/class="bar" x="[\d.]+" y="([\d.]+)"/g)].map((m) => Number(m[1]));
  t.ok((ys[0] as number) < (ys[1] as number) && (ys[1] as number) < (ys[2] as number), 'bar heights follow values');
});

t.test('bar chart with NaN and no bars still renders', async (t) => {
  const svg = barChart({ title: 'x', xLabel: 'a', yLabel: 'b', bars: [{ label: 'none', value: Number.NaN }] });
  assertWellFormed(t, svg);
  t.match(svg, />n\/a</);
  const empty = barChart({ title: 'x', xLabel: 'a', yLabel: 'b', bars: [] });
  assertWellFormed(t, empty);
  t.match(empty, /no data/);
});

t.test('line chart: one path per series, reference lines, legend, log x', async (t) => {
  const svg = lineChart({
    title: 'Mean latency against load threshold',
    xLabel: 'load threshold',
    yLabel: 'mean latency (s)',
    xScale: 'log',
    xTicks: [1, 2, 3, 5, 10, 100],
    series: [{ name: 'pkg-aware', points: [{ x: 1, y: 30 }, { x: 3, y: 20 }, { x: 100, y: 12 }] }],
    references: [{ name: 'round-robin', value: 34.7 }, { name: 'least-loaded', value: 28 }],
  });
  assertWellFormed(t, svg);
  t.equal(count(svg, /<path class="series"/g), 1);
  t.equal(count(svg, /class="marker"/g), 3);
  t.equal(count(svg, /<line class="reference"/g), 2);
  t.match(svg, /<g class="legend">[\s\S]*>pkg-aware<[\s\S]*>round-robin<[\s\S]*>least-loaded</);
  for (const tick of ['1', '2', '3', '5', '10', '100']) t.match(svg, new RegExp(`class="tick-label"[^>]*>${tick}<`), `x tick ${tick}`);
});

t.test('CDF chart: one path per series, y from 0 to 1, monotone steps', async (t) => {
  const a = Array.from({ length: 1000 }, (_, i) => 10 + i);
  const b = Array.from({ length: 50 }, (_, i) => 1000 * (i + 1));
  const svg = cdfChart({ title: 'Latency CDF', xLabel: 'latency (ms)', series: [{ name: 'a', values: a }, { name: 'b', values: b }] });
  assertWellFormed(t, svg);
  t.equal(count(svg, /<path class="series"/g), 2);
  t.match(svg, /fraction of requests/);
  const pts = cdfPoints(a, 100);
  t.ok(pts.length <= 202, 'downsampled');
  t.equal(pts[0]?.x, 10);
  t.equal(pts[pts.length - 1]?.y, 1);
  for (let i = 1; i < pts.length; i++) {
    if ((pts[i] as { y: number }).y < (pts[i - 1] as { y: number }).y) t.fail('CDF must not decrease');
  }
  t.same(cdfPoints([]), []);
});

t.test('category chart: lines or grouped bars per series, labels thinned and escaped', async (t) => {
  const categories = Array.from({ length: 100 }, (_, i) => `hdl${i}_0`);
  const series = [
    { name: 'all-warm', values: categories.map((_, i) => 10 + i) },
    { name: 'round-robin', values: categories.map((_, i) => (i % 7 === 0 ? undefined : 1000 + i * 10)) },
  ];
  const svg = categoryChart({ title: 'Latency per handler', xLabel: 'handler', yLabel: 'mean latency (ms)', categories, series, yScale: 'log' });
  assertWellFormed(t, svg);
  t.equal(count(svg, /<path class="series"/g), 2, 'one path per series');
  t.match(svg, /d="M[^"]* M/, 'gaps break the line');
  const bars = categoryChart({ title: 'b', xLabel: 'x', yLabel: 'y', categories: ['a&b', 'c'], style: 'bars', series: [{ name: 's1', values: [1, 2] }, { name: 's2', values: [3, undefined] }] });
  assertWellFormed(t, bars);
  t.equal(count(bars, /class="bar"/g), 3, 'one rect per present value');
  t.match(bars, />a&amp;b</);
});

t.test('scales and ticks', async (t) => {
  const lin = linearScale(0, 34.7);
  t.equal(lin.lo, 0);
  t.ok(lin.hi >= 34.7 && lin.hi <= 50, `nice top ${lin.hi}`);
  t.ok(lin.ticks.length >= 3 && lin.ticks.length <= 11);
  const log = logScale(3, 45_000);
  t.equal(log.lo, 1);
  t.equal(log.hi, 100_000);
  t.ok(log.ticks.includes(1000));
  t.equal(log.map(1000, 0, 500), 300, 'log spacing');
  t.equal(formatTick(34_653), '34.7k');
  t.equal(formatTick(0.25), '0.25');
  t.equal(formatTick(2_500_000), '2.5M');
});

t.test('comparison charts: fixed policy colours, intervals, log axis, deterministic', async (t) => {
  const { estimateChart, cdfCurves, heatMap, curveChart, policyColor, POLICY_COLORS, needsLog } = await import('../../pipbench/svg.js');
  t.equal(policyColor('pkg-aware'), POLICY_COLORS['pkg-aware'], 'a policy has its fixed colour');
  t.equal(policyColor('some-new-policy'), policyColor('some-new-policy'), 'a new policy gets a stable colour');
  t.ok(needsLog([0.013, 37]) && !needsLog([10, 20]), 'log axis only where values span orders of magnitude');
  const data = [
    { label: 'round-robin', series: 'round-robin', estimate: 37.2, low: 36.9, high: 37.5 },
    { label: 'pkg-aware t=100', series: 'pkg-aware', estimate: 21.5, low: 21.0, high: 22.0 },
  ];
  const svg = await estimateChart({ title: 'Mean <latency>', xTitle: 'mean latency (s)', data, references: [{ name: 'all-warm', value: 0.013 }] });
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*><title>Mean &lt;latency&gt;<\/title>/, 'titled, escaped');
  t.match(svg, new RegExp(POLICY_COLORS['round-robin'] as string, 'i'), 'round-robin in its colour');
  t.match(svg, new RegExp(POLICY_COLORS['pkg-aware'] as string, 'i'), 'pkg-aware in its colour');
  t.match(svg, /all-warm/, 'the all-warm reference is labelled');
  t.match(svg, /0\.01|0\.1/, 'a log axis reaches down to the all-warm line');
  const width = Number(/width="(\d+(?:\.\d+)?)"/.exec(svg)?.[1]);
  t.ok(width > 200 && width <= 480, `one column wide: ${width}`);
  t.equal(await estimateChart({ title: 'Mean <latency>', xTitle: 'mean latency (s)', data, references: [{ name: 'all-warm', value: 0.013 }] }), svg, 'the same chart is the same bytes');
  const heat = await heatMap({ title: 'h', xTitle: 'key', legendTitle: 's', rows: ['a'], columns: ['k1', 'k2'], cells: [{ row: 'a', column: 'k1', value: 2, text: '2.0' }, { row: 'a', column: 'k2', value: 30, text: '30' }] });
  t.equal(heat, await heatMap({ title: 'h', xTitle: 'key', legendTitle: 's', rows: ['a'], columns: ['k1', 'k2'], cells: [{ row: 'a', column: 'k1', value: 2, text: '2.0' }, { row: 'a', column: 'k2', value: 30, text: '30' }] }), 'gradient ids do not depend on earlier charts');
  const cdf = await cdfCurves({ title: 'c', xTitle: 's', series: [{ name: 'random', values: [0.01, 0.1, 1, 10, 100] }] });
  t.notMatch(cdf, /NaN|undefined/);
  const curve = await curveChart({ title: 'k', xTitle: 't', yTitle: 's', points: [{ series: 'pkg-aware', x: 1, estimate: 30, low: 29, high: 31 }, { series: 'pkg-aware', x: 100, estimate: 20, low: 19, high: 21 }], xLog: true, xTicks: [1, 100] });
  t.notMatch(curve, /NaN|undefined/);
});
