import t from 'tap';
import { HashRing } from '../../balancers/hash-ring.js';
import { murmur3 } from '../../balancers/murmur3.js';
import { createPkgAware, FIRST_CANDIDATE_SEED, firstHealthyFrom, SECOND_CANDIDATE_SEED } from '../../balancers/pkg-aware.js';
import { createPkgAwareRing } from '../../balancers/pkg-aware-ring.js';
import type { Balancer, LambdaInfo, WorkerView } from '../../balancers/types.js';
import { pool, type TestWorker } from '../fixtures/views.js';

function withWorkers(balancer: Balancer, workers: readonly WorkerView[]): Balancer {
  for (const w of workers) balancer.added?.(w);
  return balancer;
}

/** Workers in ring order clockwise from the key's home point, and the two candidates, as an independent ring sees them. */
function ringOrder(key: string, workers: readonly WorkerView[]): { order: TestWorker[]; candidates: [TestWorker, TestWorker] } {
  const ring = new HashRing();
  for (const w of workers) ring.add(w);
  const walker = ring.walker();
  const first = firstHealthyFrom(walker, murmur3(key, FIRST_CANDIDATE_SEED))!;
  const second = firstHealthyFrom(walker, murmur3(key, SECOND_CANDIDATE_SEED), first)!;
  walker.start(murmur3(key, FIRST_CANDIDATE_SEED));
  const order: TestWorker[] = [];
  for (let w = walker.next(); w !== undefined; w = walker.next()) order.push(w as TestWorker);
  return { order, candidates: [first as TestWorker, second as TestWorker] };
}

const options = { loadThreshold: 2, balanceFactor: 1.25 };
const fn: LambdaInfo = { name: 'f', packages: ['tensorflow', 'numpy'] };

t.test('below the threshold it picks exactly as pkg-aware', async (t) => {
  const workers = pool(6);
  const ring = withWorkers(createPkgAwareRing(options), workers);
  const plain = withWorkers(createPkgAware(options), workers);
  for (let i = 0; i < 50; i++) {
    const f = { name: `f${i}`, packages: [`pkg${i}`] };
    t.equal(ring.pick(f, workers), plain.pick(f, workers), f.name);
  }
});

t.test('overflow follows the ring from the key, the same workers every time', async (t) => {
  const workers = pool(8);
  const balancer = withWorkers(createPkgAwareRing(options), workers);
  const { order, candidates } = ringOrder('tensorflow', workers);
  const picks: string[] = [];
  for (let i = 0; i < 10; i++) {
    const w = balancer.pick(fn, workers) as TestWorker;
    w.inFlight++;
    picks.push(w.id);
  }
  t.ok(workers.every((w) => w.inFlight <= 2), `never over the threshold: ${workers.map((w) => w.inFlight).join(',')}`);
  t.same(new Set(picks.slice(0, 4)), new Set(candidates.map((w) => w.id)), 'the two candidates fill first');
  const spillOrder = order.filter((w) => !candidates.includes(w)).map((w) => w.id);
  t.same(picks.slice(4), [spillOrder[0], spillOrder[0], spillOrder[1], spillOrder[1], spillOrder[2], spillOrder[2]], 'then the ring, in order from the key');
});

t.test('plain pkg-aware spills to the least-loaded worker anywhere; pkg-aware-ring along the ring', async (t) => {
  const workers = pool(8);
  const { order, candidates } = ringOrder('tensorflow', workers);
  for (const w of workers) w.inFlight = 1;
  for (const w of candidates) w.inFlight = 2;
  const far = order.filter((w) => !candidates.includes(w)).at(-1)!;
  far.inFlight = 0;
  const plain = withWorkers(createPkgAware(options), workers);
  const ring = withWorkers(createPkgAwareRing(options), workers);
  t.equal(plain.pick(fn, workers), far, 'pkg-aware: the idle worker, wherever it is');
  t.equal(ring.pick(fn, workers), order.find((w) => w.inFlight < 2), 'pkg-aware-ring: the first ring worker under the threshold');
  t.not(ring.pick(fn, workers), far);
});

t.test('all at the threshold: the least-loaded; unhealthy never; none healthy: undefined', async (t) => {
  const workers = pool(4);
  const balancer = withWorkers(createPkgAwareRing(options), workers);
  for (const w of workers) w.inFlight = 5;
  workers[2]!.inFlight = 3;
  t.equal(balancer.pick(fn, workers), workers[2]);
  workers[2]!.healthy = false;
  t.not(balancer.pick(fn, workers), workers[2]);
  for (const w of workers) w.healthy = false;
  t.equal(balancer.pick(fn, workers), undefined);
});
