import t from 'tap';
import { HashRing } from '../../balancers/hash-ring.js';
import { murmur3 } from '../../balancers/murmur3.js';
import { createPkgAware, FIRST_CANDIDATE_SEED, firstHealthyFrom, SECOND_CANDIDATE_SEED } from '../../balancers/pkg-aware.js';
import { routingKey } from '../../balancers/routing-key.js';
import type { Balancer, BalancerOptions, LambdaInfo, WorkerView } from '../../balancers/types.js';
import { pool, worker, type TestWorker } from '../fixtures/views.js';

function balancerFor(workers: readonly WorkerView[], overrides: Partial<BalancerOptions> = {}): Balancer {
  const balancer = createPkgAware({ loadThreshold: 3, balanceFactor: 1.25, ...overrides });
  for (const w of workers) balancer.added?.(w);
  return balancer;
}

/** Picks and counts the request in flight on the chosen worker, as the worker table does. */
function start(balancer: Balancer, fn: LambdaInfo, workers: readonly TestWorker[]): TestWorker {
  const view = balancer.pick(fn, workers);
  const picked = workers.find((w) => w === view);
  if (picked === undefined) throw new Error('pick returned no worker from the table');
  picked.inFlight++;
  return picked;
}

/** The two candidates the policy should consider, computed independently from a ring of the same workers. */
function candidatesOf(key: string, workers: readonly WorkerView[]): [WorkerView | undefined, WorkerView | undefined] {
  const ring = new HashRing();
  for (const w of workers) ring.add(w);
  const walker = ring.walker();
  const first = firstHealthyFrom(walker, murmur3(key, FIRST_CANDIDATE_SEED));
  return [first, firstHealthyFrom(walker, murmur3(key, SECOND_CANDIDATE_SEED), first)];
}

const numpyFn: LambdaInfo = { name: 'hdl7', packages: ['numpy', 'six', 'setuptools'] };

t.test('the routing key is the largest package, or the name when there are none', async (t) => {
  t.equal(routingKey(numpyFn), 'numpy');
  t.equal(routingKey({ name: 'bare', packages: [] }), 'bare');
});

t.test('sequential calls of one function hit one worker every time', async (t) => {
  const workers = pool(6);
  const balancer = balancerFor(workers);
  const [first] = candidatesOf('numpy', workers);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const picked = start(balancer, numpyFn, workers);
    seen.add(picked.id);
    picked.inFlight--;
  }
  t.same([...seen], [first?.id]);
});

t.test('functions sharing a largest package share a worker; a bare function hashes its name', async (t) => {
  const workers = pool(8);
  const balancer = balancerFor(workers);
  const home = balancer.pick(numpyFn, workers);
  t.equal(balancer.pick({ name: 'other', packages: ['numpy', 'pandas'] }, workers), home);
  t.equal(balancer.pick({ name: 'numpy', packages: [] }, workers), home);
  const [first] = candidatesOf('bare-fn', workers);
  t.equal(balancer.pick({ name: 'bare-fn', packages: [] }, workers), first);
});

t.test('two concurrent calls go to the two candidates, the first candidate first', async (t) => {
  const workers = pool(6);
  const balancer = balancerFor(workers);
  const [first, second] = candidatesOf('numpy', workers);
  t.not(first, second, 'the candidates are different workers');
  t.equal(start(balancer, numpyFn, workers), first);
  t.equal(start(balancer, numpyFn, workers), second, 'the second candidate is less loaded now');
  t.equal(start(balancer, numpyFn, workers), first, 'a tie goes to the first candidate');
});

t.test('threshold 3, six workers, eight concurrent calls: at most 3 on any worker, at most two above 1', async (t) => {
  const workers = pool(6);
  const balancer = balancerFor(workers);
  const [first, second] = candidatesOf('numpy', workers);
  for (let i = 0; i < 8; i++) start(balancer, numpyFn, workers);
  const loads = workers.map((w) => w.inFlight);
  t.equal(loads.reduce((a, b) => a + b, 0), 8);
  t.ok(Math.max(...loads) <= 3, `loads ${loads.join(',')}`);
  t.ok(loads.filter((n) => n > 1).length <= 2, `loads ${loads.join(',')}`);
  t.equal(first?.inFlight, 3);
  t.equal(second?.inFlight, 3);
});

t.test('the threshold is per unit of weight', async (t) => {
  const workers = [worker('heavy', 2), worker('light', 1)];
  const fn: LambdaInfo = { name: 'f', packages: [] };
  const balancer = balancerFor(workers);
  // With one candidate loaded to the threshold and the other a weight-2 worker, the weight-2 worker takes 2 x 3.
  for (let i = 0; i < 9; i++) start(balancer, fn, workers);
  t.equal(workers[0].inFlight, 6, 'weight 2 reaches 2 x 3');
  t.equal(workers[1].inFlight, 3);
});

t.test('a loaded home worker is passed over for the least-loaded healthy worker', async (t) => {
  const workers = pool(5);
  const balancer = balancerFor(workers, { loadThreshold: 2 });
  const [first, second] = candidatesOf('numpy', workers);
  for (const w of workers) w.inFlight = 1;
  const idle = workers.find((w) => w !== first && w !== second);
  if (first === undefined || second === undefined || idle === undefined) throw new Error('pool too small');
  (first as TestWorker).inFlight = 2;
  (second as TestWorker).inFlight = 2;
  idle.inFlight = 0;
  t.equal(balancer.pick(numpyFn, workers), idle);
  (second as TestWorker).inFlight = 1;
  t.equal(balancer.pick(numpyFn, workers), second, 'below the threshold the candidate keeps it');
});

t.test('a threshold of zero always takes the least-loaded worker', async (t) => {
  const workers = pool(4);
  const balancer = balancerFor(workers, { loadThreshold: 0 });
  for (let i = 0; i < 8; i++) start(balancer, numpyFn, workers);
  t.same(workers.map((w) => w.inFlight), [2, 2, 2, 2]);
});

t.test('with one healthy worker it is the only candidate', async (t) => {
  const workers = pool(4);
  const balancer = balancerFor(workers);
  for (const w of workers.slice(1)) w.healthy = false;
  for (let i = 0; i < 5; i++) t.equal(start(balancer, numpyFn, workers), workers[0]);
});

t.test('unhealthy candidates are skipped; none healthy or no workers gives undefined', async (t) => {
  const workers = pool(6);
  const balancer = balancerFor(workers);
  const [first, second] = candidatesOf('numpy', workers);
  (first as TestWorker).healthy = false;
  (second as TestWorker).healthy = false;
  const [third] = candidatesOf('numpy', workers);
  t.not(third, first);
  t.not(third, second);
  t.equal(balancer.pick(numpyFn, workers), third, 'the next healthy worker clockwise');
  for (const w of workers) w.healthy = false;
  t.equal(balancer.pick(numpyFn, workers), undefined);
  t.equal(createPkgAware({ loadThreshold: 3, balanceFactor: 1.25 }).pick(numpyFn, []), undefined);
});

t.test('functions with different largest packages spread over the workers', async (t) => {
  const workers = pool(6);
  const balancer = balancerFor(workers);
  const counts = new Map<string, number>();
  for (let i = 0; i < 600; i++) {
    const id = balancer.pick({ name: `hdl${i}`, packages: [`level0pkg${i}`] }, workers)?.id ?? '-';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  t.equal(counts.size, 6, 'every worker is some package\'s home');
  for (const [id, count] of counts) t.ok(count > 60 && count < 140, `${id} is home to ${count} of 600`);
});

t.test('a weight-3 worker is home to about three times the packages', async (t) => {
  const workers = [worker('heavy', 3), worker('a'), worker('b'), worker('c')];
  const balancer = balancerFor(workers);
  let heavy = 0;
  for (let i = 0; i < 6000; i++) {
    if (balancer.pick({ name: `f${i}`, packages: [`pkg${i}`] }, workers) === workers[0]) heavy++;
  }
  const ratio = heavy / ((6000 - heavy) / 3);
  t.ok(ratio > 2.4 && ratio < 3.6, `heavy / light = ${ratio.toFixed(2)}`);
});

t.test('removed workers leave the ring; added ones join it', async (t) => {
  const workers = pool(5);
  const balancer = balancerFor(workers);
  const home = balancer.pick(numpyFn, workers);
  balancer.removed?.(home as WorkerView);
  const remaining = workers.filter((w) => w !== home);
  const [expected] = candidatesOf('numpy', remaining);
  t.equal(balancer.pick(numpyFn, remaining), expected);
  balancer.added?.(home as WorkerView);
  t.equal(balancer.pick(numpyFn, workers), home, 'back home once re-added');
});

t.test('with no ring (no added calls) it still answers from the table', async (t) => {
  const workers = pool(3);
  const balancer = createPkgAware({ loadThreshold: 3, balanceFactor: 1.25 });
  t.ok(workers.includes(balancer.pick(numpyFn, workers) as TestWorker));
});
