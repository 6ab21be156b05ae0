import t from 'tap';
import { VirtualClock } from '../../pipbench/simulate/virtual-clock.js';
import { seededRandom } from '../../pipbench/random.js';

t.test('timers fire in time order, ties in the order they were set, and time jumps to each', async (t) => {
  const clock = new VirtualClock();
  const fired: string[] = [];
  const at: number[] = [];
  const note = (name: string) => () => {
    fired.push(name);
    at.push(clock.now());
  };
  clock.setTimer(30, note('c'));
  clock.setTimer(10, note('a1'));
  clock.setTimer(10, note('a2'));
  clock.setTimer(20, note('b'));
  clock.setTimer(10, note('a3'));
  t.equal(clock.pending, 5);
  t.equal(clock.run(), 5);
  t.same(fired, ['a1', 'a2', 'a3', 'b', 'c']);
  t.same(at, [10, 10, 10, 20, 30]);
  t.equal(clock.now(), 30, 'run leaves the clock at the last timer');
  t.equal(clock.pending, 0);
});

t.test('a timer set while firing runs at its own time; cancel removes it', async (t) => {
  const clock = new VirtualClock(100);
  const seen: [string, number][] = [];
  const cancelled = clock.setTimer(5, () => seen.push(['cancelled', clock.now()]));
  clock.setTimer(1, () => {
    seen.push(['first', clock.now()]);
    clock.setTimer(0, () => seen.push(['zero-delay', clock.now()]));
    clock.setTimer(2, () => seen.push(['nested', clock.now()]));
    cancelled.cancel();
    cancelled.cancel();
  });
  clock.setTimer(-7, () => seen.push(['negative delay is now', clock.now()]));
  t.equal(clock.run(), 4);
  t.same(seen, [['negative delay is now', 100], ['first', 101], ['zero-delay', 101], ['nested', 103]]);
});

t.test('runUntil fires only what is due and leaves the clock at the bound', async (t) => {
  const clock = new VirtualClock();
  const fired: number[] = [];
  for (const ms of [5, 15, 10, 20]) clock.setTimer(ms, () => fired.push(ms));
  t.equal(clock.runUntil(10), 2);
  t.same(fired, [5, 10], 'a timer due exactly at the bound fires');
  t.equal(clock.now(), 10);
  t.equal(clock.runUntil(12), 0);
  t.equal(clock.now(), 12, 'time advances to the bound even with nothing due');
  t.equal(clock.pending, 2);
  clock.run();
  t.same(fired, [5, 10, 15, 20]);
  t.throws(() => clock.runUntil(Number.NaN), /NaN/);
  t.throws(() => clock.setTimer(Number.NaN, () => {}), /NaN/);
});

t.test('many random timers come out sorted by (time, insertion) and the order is deterministic', async (t) => {
  const order = (): string => {
    const clock = new VirtualClock();
    const random = seededRandom('virtual-clock');
    const out: { at: number; seq: number }[] = [];
    const timers = [];
    for (let seq = 0; seq < 2000; seq++) {
      const ms = random.int(200);
      timers.push(clock.setTimer(ms, () => out.push({ at: clock.now(), seq })));
    }
    for (let i = 0; i < timers.length; i += 7) timers[i]!.cancel();
    clock.run();
    t.equal(out.length, 2000 - Math.ceil(2000 / 7), 'cancelled timers never fire');
    for (let i = 1; i < out.length; i++) {
      const a = out[i - 1]!;
      const b = out[i]!;
      if (a.at > b.at || (a.at === b.at && a.seq > b.seq)) {
        t.fail(`out of order at ${i}: ${JSON.stringify(a)} then ${JSON.stringify(b)}`);
        break;
      }
    }
    return out.map((o) => o.seq).join(',');
  };
  t.equal(order(), order(), 'two runs fire in the same order');
});
