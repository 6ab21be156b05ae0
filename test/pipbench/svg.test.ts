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
