import t from 'tap';
import type { WorkerView } from '../../balancers/index.js';
import { largestWorker, routingKeyOf, searchStaticAssignment, staticBalancer, type StaticAssignment } from '../../pipbench/simulate/static-assignment.js';

const keys = [{ key: 'a', requests: 40 }, { key: 'b', requests: 30 }, { key: 'c', requests: 20 }, { key: 'd', requests: 10 }];

t.test('the search reaches an assignment it can only find by moving keys, and says it stopped at a local optimum', async (t) => {
  const target = new Map([['a', 2], ['b', 2], ['c', 0], ['d', 1]]);
  let calls = 0;
  // Keys away from their target worker; single-key moves reach it one key at a time.
  const misplaced = (a: StaticAssignment): number => {
    calls++;
    return [...target].filter(([k, w]) => a.get(k) !== w).length;
  };
  const found = searchStaticAssignment({ keys, capacity: [1, 1, 1], budget: 1000, evaluate: misplaced });
  t.same([...found.assignment].sort(), [...target].sort(), 'every key on its target worker');
  t.equal(found.objective, 0);
  t.ok(found.localOptimum, 'a whole pass found nothing better');
  t.equal(found.evaluations, calls, 'every evaluation counted');

  const bounded = searchStaticAssignment({ keys, capacity: [1, 1, 1], budget: 5, evaluate: misplaced });
  t.equal(bounded.evaluations, 5, 'the budget bounds the runs');
  t.notOk(bounded.localOptimum, 'a search cut short by the budget does not claim a local optimum');
  t.throws(() => searchStaticAssignment({ keys, capacity: [1], budget: 1, evaluate: misplaced }), /budget of at least 2/);
});

t.test('the search is never worse than every key on the largest worker', async (t) => {
  // Fewer workers used is better: the one-worker start wins and no move improves it.
  const used = (a: StaticAssignment): number => new Set(a.values()).size;
  const found = searchStaticAssignment({ keys, capacity: [0.5, 2, 1], budget: 100, evaluate: used });
  t.equal(found.start, 'one-worker');
  t.same([...new Set(found.assignment.values())], [1], 'everything on worker 1, the largest');
  t.equal(largestWorker([0.5, 2, 2]), 1, 'the first of equal largest workers');
  // Balanced load per processor is better: the greedy start wins.
  const imbalance = (a: StaticAssignment): number => {
    const load = [0, 0];
    for (const { key, requests } of keys) load[a.get(key) as number] += requests;
    return Math.abs((load[0] as number) - (load[1] as number));
  };
  const spread = searchStaticAssignment({ keys, capacity: [1, 1], budget: 100, evaluate: imbalance });
  t.equal(spread.start, 'greedy');
  t.equal(spread.objective, 0, '40+10 against 30+20');
});

t.test('the static balancer routes each key to its worker by id, unknown keys to the first', async (t) => {
  const view = (id: string, routable = true): WorkerView => ({ id, url: `http://${id}`, weight: 1, limit: 1, inFlight: 1, queued: 0, external: 0, routable, packages: new Set(), cores: 0 });
  const workers = [view('w1~3'), view('w2~3'), view('w3~3')];
  const balancer = staticBalancer(new Map([['numpy', 2], ['pandas', 1]]), ['w1~3', 'w2~3', 'w3~3']);
  t.equal(balancer.pick({ name: 'f', packages: ['numpy', 'six'] }, workers)?.id, 'w3~3', 'by the largest package, even when the worker is full');
  t.equal(balancer.pick({ name: 'g', packages: ['pandas'] }, workers)?.id, 'w2~3');
  t.equal(balancer.pick({ name: 'h', packages: [] }, workers)?.id, 'w1~3', 'a key the table lacks: the first worker');
  t.equal(routingKeyOf({ name: 'h', packages: [] }), 'h', 'no packages: the name is the key');
  t.equal(balancer.pick({ name: 'f', packages: ['numpy'] }, [view('w1~3'), view('w2~3'), view('w3~3', false)]), undefined, 'its worker down: nowhere');
});
