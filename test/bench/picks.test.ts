// bench:picks run for real but small: both baselines measure, the replay follows the
// policy's own routing (the bench stops if it diverges), and a bad flag is a usage error.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { runBenchScript } from '../fixtures/bench-run.js';

const script = resolve('dist/bench/picks.js');

interface Summary {
  quick: boolean;
  settings: { baseline: string };
  results: { policy: string; workers: number; nsPerRequest: number; nsPerPick: number; waitedShare: number; requestsMeasured: number; warmup: { requests: number; ns: number }[] }[];
}

for (const baseline of ['replay', 'rotate']) {
  t.test(`--baseline ${baseline}: every policy asked for is measured at every size`, async (t) => {
    const out = t.testdir();
    const run = await runBenchScript(script, ['--quick', '--sizes', '40,80', '--policies', 'round-robin,cost-aware', '--baseline', baseline, '--out', out], { timeoutMs: 60_000 });
    t.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Summary;
    t.equal(summary.settings.baseline, baseline);
    t.same(
      summary.results.map((r) => `${r.policy}@${r.workers}`),
      ['round-robin@40', 'cost-aware@40', 'round-robin@80', 'cost-aware@80'],
    );
    for (const r of summary.results) {
      t.ok(r.nsPerRequest > 0 && r.requestsMeasured > 0, `${r.policy}@${r.workers}: requests were routed and timed`);
      t.ok(r.nsPerPick >= 0 && r.nsPerPick <= r.nsPerRequest, `${r.policy}@${r.workers}: the pick is a part of the request's cost`);
      // --quick warms up by count alone: chunks of 1,000, 2,000, ... until 20 requests per worker (1,600 at 80
      // workers, past the pool's steady load of 384) have been routed, so 3,000 at 80 workers and 1,000 at 40.
      const warmed = r.warmup.at(-1)?.requests ?? 0;
      t.equal(warmed, r.workers === 80 ? 3000 : 1000, `${r.policy}@${r.workers}: warmed up with ${warmed} requests, chunk by chunk in summary.json`);
      t.ok(warmed >= 20 * r.workers, `${r.policy}@${r.workers}: at least 20 requests per worker before timing`);
    }
    // cost-aware queues at its homes, round-robin does not: the routing the replay must follow is not a rotation's.
    t.ok(summary.results.some((r) => r.policy === 'cost-aware' && r.waitedShare > 0), 'cost-aware sends some requests to full workers');
    const report = readFileSync(join(out, 'summary.md'), 'utf8');
    t.match(report, baseline === 'replay' ? /the worker the policy picked/ : /--baseline rotate/);
  });
}

t.test('a bad --baseline is a usage error', async (t) => {
  const run = await runBenchScript(script, ['--baseline', 'nope']);
  t.equal(run.code, 2);
  t.match(run.stderr, /^bench\/picks: --baseline must be one of replay, rotate; got "nope"\n/);
});

t.test('--rounds: each round a fresh run of its own; the summary gives each row\'s median, range and rounds within the target', async (t) => {
  const out = t.testdir();
  const run = await runBenchScript(script, ['--quick', '--sizes', '40', '--policies', 'round-robin,cost-aware', '--rounds', '3', '--out', out], { timeoutMs: 120_000 });
  t.equal(run.code, 0, run.stderr);
  const rounds = [1, 2, 3].map((k) => JSON.parse(readFileSync(join(out, `round-${k}`, 'summary.json'), 'utf8')) as Summary);
  interface Spread { median: number; min: number; max: number; rounds: number[] }
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { rounds: number; results: { policy: string; workers: number; nsPerPick: Spread; nsPerRequest: Spread; pickTargetMetRounds: number | null }[] };
  t.equal(summary.rounds, 3);
  t.same(summary.results.map((r) => `${r.policy}@${r.workers}`), ['round-robin@40', 'cost-aware@40']);
  for (const [i, r] of summary.results.entries()) {
    const picks = rounds.map((s) => s.results[i]!.nsPerPick);
    t.same(r.nsPerPick.rounds, picks, `${r.policy}: every round's pick, in order`);
    const sorted = [...picks].sort((a, b) => a - b);
    t.same([r.nsPerPick.min, r.nsPerPick.median, r.nsPerPick.max], sorted, `${r.policy}: least, median and greatest of three`);
    t.same(r.nsPerRequest.rounds, rounds.map((s) => s.results[i]!.nsPerRequest), `${r.policy}: every round's request cost`);
    t.equal(r.pickTargetMetRounds, null, 'no target at 40 workers');
  }
  t.match(readFileSync(join(out, 'summary.md'), 'utf8'), /over 3 rounds[\s\S]*--rounds 3/);
});

t.test('a bad --rounds is a usage error', async (t) => {
  for (const value of ['0', '51', '1.5', 'two']) {
    const run = await runBenchScript(script, ['--rounds', value]);
    t.equal(run.code, 2, `--rounds ${value}: exit 2`);
    t.match(run.stderr, /^bench\/picks: --rounds must be /, `--rounds ${value}: the message names the flag`);
  }
});
