// The calibration claim, checked: the default model reproduces the round-robin log.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { calibrate, logFigures, thesisDataDir } from '../../pipbench/calibrate.js';

t.test('the thesis logs read as their README states', async (t) => {
  const rr = logFigures(await readFile(join(thesisDataDir(), 'logs', 'round-robin.1000handlers.log'), 'utf8'));
  t.equal(rr.answers, 1433);
  t.equal(Math.round(rr.meanMs), 34653, 'the log\'s own aggregate, 34653 ms');
  t.equal(rr.p50Ms, 1851);
  t.ok(Math.abs(rr.under1s - 0.46) < 0.005);
  t.throws(() => logFigures('[not a time] handler: h status: 200 in: 5 ms\n\nAggregate: \n\tAvg latency: 5\n\tThroughput: 1\n\tFailed requests: 0\n'), /time/);
});

t.test('defaults reproduce round-robin: mean, p50, p80 within 25%, under 1 s within 10 points', async (t) => {
  const result = await calibrate({ seeds: 4 });
  const rr = result.cases.find((c) => c.name === 'round-robin')!;
  const log = rr.log!;
  const within = (model: number, real: number): boolean => Math.abs(model / real - 1) <= 0.25;
  t.ok(within(rr.model.meanMs.estimate, log.meanMs), `mean ${rr.model.meanMs.estimate} vs ${log.meanMs}`);
  t.ok(within(rr.model.p50Ms, log.p50Ms), `p50 ${rr.model.p50Ms} vs ${log.p50Ms}`);
  t.ok(within(rr.model.p80Ms, log.p80Ms), `p80 ${rr.model.p80Ms} vs ${log.p80Ms}`);
  t.ok(Math.abs(rr.model.under1s - log.under1s) <= 0.1, `under 1 s ${rr.model.under1s} vs ${log.under1s}`);
  t.equal(result.cases.filter((c) => c.log !== undefined).length, 11, 'every thesis log found in the project');
  t.rejects(calibrate({ seeds: 0 }), /seeds/);
});
