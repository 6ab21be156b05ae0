// The rules of round-robin, random, least-loaded and hashing-bounded, case by case.
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { LambdaInfo } from '../../balancers/types.js';
import { WeightTree } from '../../balancers/weight-tree.js';
import { TestTable, worker, type TestWorker } from '../fixtures/views.js';

const fn: LambdaInfo = { name: 'hdl0', packages: ['numpy'] };
const env = { random: seededRandom(17), now: () => 0 };

function tableOf(name: string, workers: readonly TestWorker[], settings: Record<string, unknown> = {}): TestTable {
  return new TestTable(createBalancer(name, settings, env), workers);
}

function ids(table: TestTable, count: number): string[] {
  return Array.from({ length: count }, () => table.pick(fn)?.id ?? '-');
}

t.test('round-robin is smooth like nginx: weights 5,1,1 interleave as a a b a c a a', async (t) => {
  const table = tableOf('round-robin', [worker('a', 5), worker('b'), worker('c')]);
  t.same(ids(table, 14), ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a']);
});

t.test('round-robin: equal weights rotate strictly; weights 1 and 2 split 300 picks 100/200', async (t) => {
  t.same(ids(tableOf('round-robin', [worker('a'), worker('b'), worker('c')]), 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
  const split = ids(tableOf('round-robin', [worker('a'), worker('b', 2)]), 300);
  t.equal(split.filter((x) => x === 'a').length, 100);
});

t.test('round-robin skips a full worker and gives it its turn back when it frees, as nginx with max_conns', async (t) => {
  const a = worker('a', 1, { limit: 1 });
  const b = worker('b');
  const c = worker('c');
  const table = tableOf('round-robin', [a, b, c]);
  t.equal(table.route(fn), a);
  t.same(ids(table, 4), ['b', 'c', 'b', 'c'], 'a is full: b and c alternate');
  table.finish(a);
  const after = ids(table, 6);
  for (const id of ['a', 'b', 'c']) t.equal(after.filter((x) => x === id).length, 2, `${id} gets its third of the next six (${after.join(' ')})`);
});

t.test('random draws the free workers in proportion to their weights, never a full one', async (t) => {
  const full = worker('full', 10, { limit: 1 });
  const table = tableOf('random', [worker('one', 1), worker('three', 3), full]);
  table.take(full);
  const counts = new Map<string, number>();
  for (let i = 0; i < 20_000; i++) {
    const id = table.pick(fn)?.id ?? '-';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  t.equal(counts.get('full'), undefined);
  const ratio = (counts.get('three') ?? 0) / (counts.get('one') ?? 1);
  t.ok(ratio > 2.8 && ratio < 3.2, `three / one = ${ratio.toFixed(3)}`);
});

t.test('the weight tree keeps exact sums over many updates and draws free workers whose weights are all 0', async (t) => {
  const tree = new WeightTree();
  const workers = Array.from({ length: 37 }, (_, i) => worker(`w${i}`, 0.1 * (1 + (i % 7)), { limit: 2 }));
  tree.addMany(workers);
  const random = seededRandom(8);
  for (let i = 0; i < 50_000; i++) {
    const w = workers[Math.floor(random() * workers.length)];
    w.inFlight = Math.floor(random() * 3);
    w.weight = 0.1 * (1 + Math.floor(random() * 7));
    tree.update(w);
  }
  const free = workers.filter((w) => w.inFlight < w.limit);
  let sum = 0;
  for (const w of free) sum += w.weight;
  t.ok(Math.abs(tree.totalWeight - sum) < 1e-9, `tree ${tree.totalWeight}, scan ${sum}`);
  t.equal(tree.freeCount, free.length);
  for (let f = 0; f < 1; f += 0.01) if (!free.includes(tree.draw(f) as TestWorker)) t.fail(`draw(${f}) gave a full worker`);
  for (const w of workers) w.weight = 0;
  for (const w of workers) tree.update(w);
  t.equal(tree.totalWeight, 0);
  t.ok(free.includes(tree.draw(0.5) as TestWorker), 'weights all 0: still a free worker');
});

t.test('least-loaded: equal workers take turns, lower inFlight/weight first, full workers never', async (t) => {
  const workers = [worker('a'), worker('b'), worker('c')];
  const table = tableOf('least-loaded', workers);
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const w = table.route(fn);
    seen.push(w.id);
    table.finish(w);
  }
  t.same(seen, ['a', 'b', 'c', 'a', 'b', 'c'], 'idle equal workers share rather than the first taking all');
  const heavy = worker('heavy', 4, { limit: 3 });
  const light = worker('light', 1);
  const t2 = tableOf('least-loaded', [light, heavy]);
  t.same(Array.from({ length: 5 }, () => t2.route(fn).id), ['light', 'heavy', 'heavy', 'heavy', 'light'], 'heavy has 3/4 < 1 until it is full at its limit of 3');
});

t.test('least-loaded with ties "list-order": the first equally loaded worker of the list, as olscheduler', async (t) => {
  const table = tableOf('least-loaded', [worker('a'), worker('b', 3), worker('c')], { ties: 'list-order' });
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) {
    const w = table.route(fn);
    seen.push(w.id);
    table.finish(w);
  }
  t.same(seen, ['a', 'a', 'a', 'a'], 'at light load every request goes to the first worker');
  t.same([table.route(fn).id, table.route(fn).id, table.route(fn).id, table.route(fn).id], ['a', 'b', 'c', 'a'], 'counts, not weights, decide; ties to the earliest in the list');
  t.throws(() => tableOf('least-loaded', [worker('a')], { ties: 'first' }), /ties must be one of "least-recent", "list-order", got "first"/);
});

t.test('hashing-bounded: a key stays home under light load and spills clockwise at the bound', async (t) => {
  const workers = Array.from({ length: 6 }, (_, i) => worker(`w${i}`, 1, { limit: 10 }));
  const table = tableOf('hashing-bounded', workers, { balanceFactor: 1.25 });
  const home = table.route(fn);
  table.finish(home);
  for (let i = 0; i < 5; i++) {
    const w = table.route(fn);
    t.equal(w, home, 'sequential calls stay home');
    table.finish(w);
  }
  // Bound for the k-th concurrent request over 6 workers of weight 1: ceil(1.25 x k / 6), which is 1 until k = 5.
  t.equal(table.route(fn), home);
  const second = table.route(fn);
  t.not(second, home, 'the second concurrent call spills: home is at its bound of 1');
  t.equal(table.route(fn), table.workers.find((w) => w !== home && w !== second && w.inFlight === 1), 'the third goes to yet another worker');
  for (let k = 4; k <= 5; k++) table.route(fn);
  t.ok(home.inFlight <= 2, 'home never goes past ceil(1.25 x 5 / 6) = 2');

  const lenient = tableOf('hashing-bounded', Array.from({ length: 6 }, (_, i) => worker(`w${i}`, 1, { limit: 10 })), { balanceFactor: 6 });
  const first = lenient.route(fn);
  t.equal(lenient.route(fn), first, 'with balanceFactor 6 the bound for k = 2 is ceil(6 x 2 / 6) = 2: the second stays home');
});

t.test('hashing-bounded never waits: a full home is passed over even below the bound', async (t) => {
  const workers = Array.from({ length: 4 }, (_, i) => worker(`w${i}`, 1, { limit: 1 }));
  const table = tableOf('hashing-bounded', workers, { balanceFactor: 100 });
  const home = table.route(fn);
  const next = table.route(fn);
  t.not(next, home);
  t.equal(next.queued, 0);
});
