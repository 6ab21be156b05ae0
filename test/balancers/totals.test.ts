// Running totals kept by policies stay finite and equal to the sum of their parts, whatever workers report.
import fc from 'fast-check';
import t from 'tap';
import { countedPart, ExactTotals, FIXED_POINT, MAX_PART } from '../../balancers/exact-totals.js';
import { loadOf } from '../../balancers/free-heap.js';
import { createBalancer } from '../../balancers/index.js';
import { RoutableTotals } from '../../balancers/routable-totals.js';
import { slotsOf } from '../../balancers/service-time.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import { pool, TestTable, type TestWorker } from '../fixtures/views.js';

const absurd = [1.7e308, 1e12, Number.NaN, -5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53 + 1, 0.1, 3];
const value = fc.oneof(fc.constantFrom(...absurd), fc.integer({ min: 0, max: 50 }), fc.double({ noNaN: false }));
/** Weights come from the validated config (0 to 1000, fractions allowed); a ring places 100 points per unit. */
const weight = fc.oneof(fc.constantFrom(0, 0.1, 0.2, 0.3, 999.999, 1000), fc.double({ min: 0, max: 1000, noNaN: true }));

type Event =
  | { kind: 'take' | 'drop' | 'down' | 'up' | 'remove' | 'add'; at: number }
  | { kind: 'external' | 'weight' | 'cores'; at: number; value: number };

const event: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constantFrom('take', 'drop', 'down', 'up', 'remove', 'add') as fc.Arbitrary<'take'>, at: fc.nat(7) }),
  fc.record({ kind: fc.constantFrom('external', 'cores') as fc.Arbitrary<'external'>, at: fc.nat(7), value }),
  fc.record({ kind: fc.constant('weight') as fc.Arbitrary<'weight'>, at: fc.nat(7), value: weight }),
);

/** Applies one event to the table as the worker table would (view first, then the policy's hook). */
function apply(table: TestTable, spare: TestWorker[], e: Event): void {
  if (e.kind === 'add') {
    const w = spare.pop();
    if (w !== undefined) table.add(w);
    return;
  }
  const w = table.workers[e.at % Math.max(1, table.workers.length)];
  if (w === undefined) return;
  switch (e.kind) {
    case 'take':
      if (w.routable && w.inFlight < w.limit) table.take(w);
      return;
    case 'drop':
      if (w.inFlight > 0) table.drop(w);
      return;
    case 'down':
      if (w.routable) table.down(w);
      return;
    case 'up':
      if (!w.routable) table.up(w);
      return;
    case 'remove':
      table.remove(w);
      return;
    case 'external':
      w.external = e.value;
      table.balancer.changed?.(w);
      return;
    case 'weight':
      table.setWeight(w, e.value);
      return;
    case 'cores':
      w.cores = e.value;
      table.balancer.changed?.(w);
  }
}

function sumOver(workers: readonly TestWorker[], part: (w: TestWorker) => number): number {
  let sum = 0;
  for (const w of workers) if (w.routable) sum += part(w);
  return sum;
}

t.test('hashing-bounded: load and weight totals are finite and equal their parts after any sequence of events', async (t) => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 80 }), (events) => {
      const balancer = createBalancer('hashing-bounded', {}, { random: seededRandom(1), now: () => 0 });
      const workers = pool(8, { limit: 4 });
      const table = new TestTable(balancer, workers.slice(0, 5));
      const spare = workers.slice(5);
      for (const e of events) apply(table, spare, e);
      const d = balancer.describe?.() as { routableLoad: number; routableWeight: number };
      const load = sumOver(table.workers, (w) => countedPart(loadOf(w)));
      const weight = sumOver(table.workers, (w) => countedPart(w.weight, FIXED_POINT)) / FIXED_POINT;
      return Number.isFinite(d.routableLoad) && Number.isFinite(d.routableWeight) && d.routableLoad === load && d.routableWeight === weight;
    }),
    { numRuns: 300, seed: 16 },
  );
  t.pass('300 sequences');
});

t.test('cost-aware: capacity and in-flight totals are finite and equal their parts after any sequence of events', async (t) => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 80 }), (events) => {
      const balancer = createBalancer('cost-aware', {}, { random: seededRandom(1), now: () => 0 });
      const workers = pool(8, { limit: 4 });
      const table = new TestTable(balancer, workers.slice(0, 5));
      const spare = workers.slice(5);
      for (const e of events) apply(table, spare, e);
      const d = balancer.describe?.() as { routableCapacity: number; routableInFlight: number };
      const capacity = sumOver(table.workers, (w) => countedPart(w.weight > 0 ? slotsOf(w) * w.weight : 0, FIXED_POINT)) / FIXED_POINT;
      const inFlight = sumOver(table.workers, (w) => countedPart(w.inFlight));
      return Number.isFinite(d.routableCapacity) && d.routableCapacity === capacity && d.routableInFlight === inFlight;
    }),
    { numRuns: 300, seed: 16 },
  );
  t.pass('300 sequences');
});

t.test('exact totals: batches recompute from the parts; parts are clamped integers', async (t) => {
  const totals = new RoutableTotals();
  const workers = pool(3);
  workers[0]!.weight = 0.1;
  workers[1]!.weight = 0.2;
  workers[2]!.external = Number.NaN;
  totals.addMany(workers);
  t.equal(totals.weight, 0.3 + 1, 'weights in fixed point: 0.1 + 0.2 + 1 is 1.3, not 1.3000000000000003');
  t.equal(totals.load, 0, 'NaN counts 0');
  workers[2]!.external = Number.POSITIVE_INFINITY;
  totals.update(workers[2]!);
  t.equal(totals.load, MAX_PART);
  totals.removeMany([workers[2]!]);
  t.same(totals.sumOfParts(), { a: totals.a, b: totals.b });
  t.equal(totals.load, 0);
  const generic = new ExactTotals(() => -1, () => 2.6);
  generic.add(workers[0]!);
  t.same([generic.a, generic.b], [0, 3], 'negative counts 0, fractions round');
});
