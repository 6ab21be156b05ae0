// pkg-aware with loadThreshold "auto": bounds, and the threshold following capacity and service times.
import fc from 'fast-check';
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import { autoThreshold } from '../../balancers/load-cost.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import { loadThresholdSetting } from '../../balancers/settings.js';
import type { LambdaInfo, PackageLoadCost, PolicyEnv } from '../../balancers/types.js';
import { pool, TestTable, worker, type TestWorker } from '../fixtures/views.js';

class ManualClock {
  ms = 0;
  readonly now = (): number => this.ms;
}

const fn: LambdaInfo = { name: 'hdl1', packages: ['numpy', 'six'] };

function envOf(clock: ManualClock, costs?: Readonly<Record<string, PackageLoadCost>>): PolicyEnv {
  const table = costs === undefined ? undefined : new Map(Object.entries(costs));
  return { random: seededRandom(1), now: clock.now, packageCost: table && ((name: string) => table.get(name)) };
}

/**
 * How many requests of `fn`, none finishing, the policy keeps on its two home
 * candidates before the first goes elsewhere: twice the threshold it applies.
 */
function homeRequestsBeforeSpill(table: TestTable): number {
  const homes = new Set<TestWorker>();
  for (let i = 0; i < 10_000; i++) {
    const w = table.route(fn);
    if (homes.size === 2 && !homes.has(w)) {
      let count = 0;
      for (const h of homes) count += h.inFlight + h.queued;
      return count;
    }
    homes.add(w);
  }
  throw new Error('never spilled');
}

/** After `ms` of the clock, releases every request the test routed, so the next measure starts from an idle pool. */
function drainAll(table: TestTable, clock: ManualClock, ms = 200): void {
  clock.ms += ms;
  for (const w of table.workers) {
    w.queued = 0;
    while (w.inFlight > 0) table.drop(w);
  }
}

t.test('"auto" parses; other words are refused with what is allowed', async (t) => {
  t.equal(loadThresholdSetting.parse('auto'), 'auto');
  t.equal(loadThresholdSetting.parse('7'), 7);
  t.throws(() => loadThresholdSetting.parse('automatic'), /loadThreshold must be a number greater than 0 and at most 1000000, or "auto", got "automatic"/);
});

t.test('the auto threshold is at least 1 and at most the connection limit, whatever it is fed', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 10_000 }),
      fc.integer({ min: 0, max: 512 }),
      fc.oneof(fc.constant(undefined), fc.double({ min: 0, max: 1e9, noNaN: true })),
      fc.double({ min: 0, max: 1e9, noNaN: true }),
      (limit, cores, serviceMs, coldMs) => {
        const w = worker('w', 1, { limit });
        w.cores = cores;
        const threshold = autoThreshold(w, coldMs, serviceMs);
        return Number.isInteger(threshold) && threshold >= 1 && threshold <= limit;
      },
    ),
  );
  t.pass('1 <= threshold <= limit for every input');
});

for (const policy of ['pkg-aware', 'pkg-aware-ring'] as const) {
  t.test(`${policy} "auto" follows reported cores, the connection limit and learned service times`, async (t) => {
    const costs = { numpy: { sizeBytes: 1, installMs: 150, importMs: 50 }, six: { sizeBytes: 1, installMs: 0, importMs: 0 } };
    const fresh = (clock: ManualClock): TestTable => new TestTable(createBalancer(policy, { loadThreshold: 'auto' }, envOf(clock, costs)), pool(6, { limit: 8 }));

    t.equal(homeRequestsBeforeSpill(fresh(new ManualClock())), 16, 'no cores reported, nothing learned: the connection limit (8 per home)');

    const clock = new ManualClock();
    const table = fresh(clock);
    const workers = table.workers;
    for (const w of workers) w.cores = 2;
    t.equal(homeRequestsBeforeSpill(table), 4, 'cores reported as 2, nothing learned: 2 per home');
    drainAll(table, clock);

    // Every worker serves requests of 200 ms: a cold start of 200 ms is worth waiting one service time for.
    for (const w of workers) {
      for (let i = 0; i < 40; i++) {
        table.take(w);
        clock.ms += 200;
        table.drop(w);
      }
    }
    t.equal(homeRequestsBeforeSpill(table), 8, '2 slots x (1 + 200/200) = 4 per home');
    drainAll(table, clock);

    for (const w of workers) w.cores = 3;
    t.equal(homeRequestsBeforeSpill(table), 12, 'cores grow to 3: 6 per home');
    drainAll(table, clock);

    for (const w of workers) table.setLimit(w, 5);
    t.equal(homeRequestsBeforeSpill(table), 10, 'the connection limit caps it: 5 per home');
  });
}

t.test('a longer service time lowers the auto threshold; a dearer cold start raises it', async (t) => {
  const thresholds: number[] = [];
  for (const [serviceMs, coldMs] of [[100, 400], [400, 400], [400, 1600]] as const) {
    const w = worker('w', 1, { limit: 1000 });
    w.cores = 4;
    thresholds.push(autoThreshold(w, coldMs, serviceMs));
  }
  t.ok(thresholds[1] < thresholds[0], `service 100 -> 400 ms: ${thresholds[0]} -> ${thresholds[1]}`);
  t.ok(thresholds[2] > thresholds[1], `cold start 400 -> 1600 ms: ${thresholds[1]} -> ${thresholds[2]}`);
});

t.test('a fixed threshold is unchanged by reported cores', async (t) => {
  const clock = new ManualClock();
  const workers = pool(6, { limit: 8 });
  const table = new TestTable(createBalancer('pkg-aware', { loadThreshold: 3 }, envOf(clock)), workers);
  t.equal(homeRequestsBeforeSpill(table), 6);
  drainAll(table, clock);
  for (const w of workers) w.cores = 1;
  t.equal(homeRequestsBeforeSpill(table), 6);
});
