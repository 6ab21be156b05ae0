import t from 'tap';
import { createRoundRobin } from '../../balancers/round-robin.js';
import type { Balancer, LambdaInfo, WorkerView } from '../../balancers/types.js';
import { worker, type TestWorker } from '../fixtures/views.js';

const fn: LambdaInfo = { name: 'hdl0_0', packages: ['level0pkg1'] };
const options = { loadThreshold: 3, balanceFactor: 1.25 };

function tableOf(workers: readonly WorkerView[]): Balancer {
  const balancer = createRoundRobin(options);
  for (const w of workers) balancer.added?.(w);
  return balancer;
}

function picks(balancer: Balancer, workers: readonly WorkerView[], count: number): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(balancer.pick(fn, workers)?.id ?? '-');
  return ids;
}

function countOf(ids: readonly string[], id: string): number {
  return ids.filter((x) => x === id).length;
}

t.test('weights 1 and 2 give exactly 100 and 200 of 300 picks', async (t) => {
  const workers = [worker('a', 1), worker('b', 2)];
  const ids = picks(tableOf(workers), workers, 300);
  t.equal(countOf(ids, 'a'), 100);
  t.equal(countOf(ids, 'b'), 200);
});

t.test('is smooth like nginx: weights 5,1,1 interleave as a a b a c a a', async (t) => {
  const workers = [worker('a', 5), worker('b', 1), worker('c', 1)];
  t.same(picks(tableOf(workers), workers, 14), ['a', 'a', 'b', 'a', 'c', 'a', 'a', 'a', 'a', 'b', 'a', 'c', 'a', 'a']);
});

t.test('equal weights rotate strictly', async (t) => {
  const workers = [worker('a'), worker('b'), worker('c')];
  t.same(picks(tableOf(workers), workers, 7), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
});

t.test('unhealthy workers are never picked and the rest keep their proportions', async (t) => {
  const workers = [worker('a', 1), worker('sick', 5), worker('b', 3)];
  workers[1].healthy = false;
  const ids = picks(tableOf(workers), workers, 400);
  t.equal(countOf(ids, 'sick'), 0);
  t.equal(countOf(ids, 'a'), 100);
  t.equal(countOf(ids, 'b'), 300);
});

t.test('a worker recovering or joining at runtime gets its share from then on', async (t) => {
  const workers = [worker('a'), worker('b')];
  const balancer = tableOf(workers);
  workers[1].healthy = false;
  t.same(picks(balancer, workers, 3), ['a', 'a', 'a']);
  workers[1].healthy = true;
  const joined = worker('c', 2);
  balancer.added?.(joined);
  const table = [...workers, joined];
  const ids = picks(balancer, table, 400);
  t.equal(countOf(ids, 'a'), 100);
  t.equal(countOf(ids, 'b'), 100);
  t.equal(countOf(ids, 'c'), 200);
});

t.test('a removed worker is forgotten and the others share its picks', async (t) => {
  const workers = [worker('a'), worker('b'), worker('c')];
  const balancer = tableOf(workers);
  picks(balancer, workers, 5);
  balancer.removed?.(workers[1]);
  const remaining = [workers[0], workers[2]];
  const ids = picks(balancer, remaining, 100);
  t.equal(countOf(ids, 'b'), 0);
  // The survivors keep the current weights they had, so the split may start one pick off even.
  t.ok(Math.abs(countOf(ids, 'a') - 50) <= 1, `a got ${countOf(ids, 'a')}`);
  t.equal(countOf(ids, 'a') + countOf(ids, 'c'), 100);
});

t.test('no workers or none healthy gives undefined; zero weights still get picked when alone', async (t) => {
  const balancer = createRoundRobin(options);
  t.equal(balancer.pick(fn, []), undefined);
  const sick = [worker('a'), worker('b')];
  for (const w of sick) w.healthy = false;
  t.equal(balancer.pick(fn, sick), undefined);
  const weightless = [worker('z', 0)];
  t.equal(balancer.pick(fn, weightless)?.id, 'z');
  const mixed = [worker('z0', 0), worker('one', 1)];
  t.same(picks(balancer, mixed, 4), ['one', 'one', 'one', 'one']);
});

t.test('state follows the worker, not its position, when the table is reordered or rebuilt', async (t) => {
  const workers = [worker('a', 1), worker('b', 2), worker('c', 3)];
  const balancer = tableOf(workers);
  const ids: string[] = [];
  for (let i = 0; i < 600; i++) {
    // A different order (and a fresh array) every pick must not disturb the proportions.
    const table = i % 2 === 0 ? workers : [workers[2], workers[0], workers[1]];
    ids.push(balancer.pick(fn, table)?.id ?? '-');
  }
  t.equal(countOf(ids, 'a'), 100);
  t.equal(countOf(ids, 'b'), 200);
  t.equal(countOf(ids, 'c'), 300);
});

t.test('a worker removed and added again starts from fresh state', async (t) => {
  const workers = [worker('a'), worker('b')];
  const balancer = tableOf(workers);
  t.equal(balancer.pick(fn, workers)?.id, 'a');
  balancer.removed?.(workers[0]);
  balancer.removed?.(workers[1]);
  balancer.added?.(workers[0]);
  balancer.added?.(workers[1]);
  t.same(picks(balancer, workers, 4), ['a', 'b', 'a', 'b'], 'the rotation restarts as for a new table');
});
