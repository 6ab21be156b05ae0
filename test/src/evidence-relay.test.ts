// A serving process's batches of observations to the primary: a batch goes after
// the interval or once full, one at a time; while the primary has not taken the
// last one, observations gather up to the capacity and the oldest then go, counted.
import t from 'tap';
import type { Observation } from '../../balancers/evidence.js';
import { VirtualClock } from '../../pipbench/simulate/virtual-clock.js';
import { EvidenceRelay } from '../../src/evidence-relay.js';

const work = (n: number): Observation => ({ kind: 'work', work: n, missing: 0 });

function relayOn(clock: VirtualClock, options = { intervalMs: 200, batch: 4, capacity: 8 }): {
  relay: EvidenceRelay;
  batches: number[][];
  written: (() => void)[];
  counts: { sent: number; dropped: number };
} {
  const batches: number[][] = [];
  const written: (() => void)[] = [];
  const counts = { sent: 0, dropped: 0 };
  const relay = new EvidenceRelay(clock, (batch, done) => {
    batches.push(batch.map((o) => (o.kind === 'work' ? o.work : -1)));
    written.push(done);
  }, { sent: (n) => { counts.sent += n; }, dropped: (n) => { counts.dropped += n; } }, options);
  return { relay, batches, written, counts };
}

t.test('a batch goes once the interval has passed since its first observation, or at once when full', async (t) => {
  const clock = new VirtualClock();
  const { relay, batches, written, counts } = relayOn(clock);
  relay.push(work(1));
  clock.runUntil(100);
  relay.push(work(2));
  t.same(batches, [], 'nothing before the interval');
  clock.runUntil(199);
  t.same(batches, []);
  clock.runUntil(200);
  t.same(batches, [[1, 2]], 'both, 200 ms after the first');
  written.shift()!();
  for (let i = 3; i <= 6; i++) relay.push(work(i));
  t.same(batches, [[1, 2], [3, 4, 5, 6]], 'a full batch goes at once');
  written.shift()!();
  t.equal(clock.pending, 0, 'no timer left with nothing to send');
  t.same(counts, { sent: 6, dropped: 0 });
});

t.test('one batch on its way at a time; past the capacity the oldest are dropped and counted', async (t) => {
  const clock = new VirtualClock();
  const { relay, batches, written, counts } = relayOn(clock);
  for (let i = 1; i <= 4; i++) relay.push(work(i));
  t.same(batches, [[1, 2, 3, 4]]);
  // The primary has not taken it: the next ones wait, whatever the clock says.
  for (let i = 5; i <= 12; i++) relay.push(work(i));
  clock.runUntil(1000);
  t.same(batches, [[1, 2, 3, 4]], 'nothing more while the last batch is on its way');
  relay.push(work(13));
  t.same(counts.dropped, 4, 'past 8 waiting, the oldest batch\'s worth is dropped');
  written.shift()!();
  t.same(batches[1], [9, 10, 11, 12, 13], 'once written, what waited goes, the newest kept');
  written.shift()!();
  t.same(counts, { sent: 9, dropped: 4 });
});

t.test('what gathers while a batch is on its way goes an interval after it was written', async (t) => {
  const clock = new VirtualClock();
  const { relay, batches, written } = relayOn(clock);
  relay.push(work(1));
  clock.runUntil(200);
  relay.push(work(2));
  written.shift()!();
  t.same(batches, [[1]]);
  clock.runUntil(400);
  t.same(batches, [[1], [2]]);
});
