import t from 'tap';
import { HashRing } from '../../balancers/hash-ring.js';
import { createHashingBounded } from '../../balancers/hashing-bounded.js';
import { murmur3 } from '../../balancers/murmur3.js';
import type { Balancer, LambdaInfo, WorkerView } from '../../balancers/types.js';
import { pool, worker, type TestWorker } from '../fixtures/views.js';

function balancerFor(workers: readonly WorkerView[], balanceFactor = 1.25): Balancer {
  const balancer = createHashingBounded({ loadThreshold: 3, balanceFactor });
  for (const w of workers) balancer.added?.(w);
  return balancer;
}

/** The workers clockwise from the key's hash, computed independently from a ring of the same workers. */
function walkOrder(key: string, workers: readonly WorkerView[]): WorkerView[] {
  const ring = new HashRing();
  for (const w of workers) ring.add(w);
  const walker = ring.walker();
  walker.start(murmur3(key));
  const order: WorkerView[] = [];
  for (let w = walker.next(); w !== undefined; w = walker.next()) order.push(w);
  return order;
}

function capacityOf(w: WorkerView, workers: readonly WorkerView[], balanceFactor: number): number {
  const healthy = workers.filter((x) => x.healthy);
  const total = healthy.reduce((sum, x) => sum + x.inFlight, 0);
  const weight = healthy.reduce((sum, x) => sum + x.weight, 0);
  return Math.ceil((balanceFactor * (total + 1) * w.weight) / weight);
}

const fn: LambdaInfo = { name: 'hdl3', packages: ['scipy', 'numpy'] };

t.test('an idle ring sends a key to its owner, hashing the largest package or the name', async (t) => {
  const workers = pool(8);
  const balancer = balancerFor(workers);
  t.equal(balancer.pick(fn, workers), walkOrder('scipy', workers)[0]);
  t.equal(balancer.pick({ name: 'bare', packages: [] }, workers), walkOrder('bare', workers)[0]);
});

t.test('concurrent calls of one key fill its owner to capacity, then spill clockwise', async (t) => {
  const workers = pool(8);
  const balancer = balancerFor(workers);
  const order = walkOrder('scipy', workers);
  const picked: WorkerView[] = [];
  for (let i = 0; i < 40; i++) {
    const w = balancer.pick(fn, workers) as TestWorker;
    const capacity = capacityOf(w, workers, 1.25);
    t.ok(w.inFlight < capacity, `pick ${i}: ${w.id} at ${w.inFlight} is under its capacity ${capacity}`);
    // Every worker earlier in the walk must have been at capacity.
    for (const earlier of order.slice(0, order.indexOf(w))) {
      t.ok(earlier.inFlight >= capacityOf(earlier, workers, 1.25), `${earlier.id} was full before ${w.id}`);
    }
    w.inFlight++;
    picked.push(w);
  }
  t.equal(picked[0], order[0]);
  const loads = workers.map((w) => w.inFlight);
  // The last pick saw 39 in flight: no worker may exceed ceil(1.25 x 40 / 8) = 7.
  t.ok(Math.max(...loads) <= 7, `loads ${loads.join(',')} stay within 1.25 x the average`);
});

t.test('a weight-3 worker may hold three times as much before spilling', async (t) => {
  const heavy = worker('heavy', 3);
  const workers = [heavy, worker('a'), worker('b'), worker('c')];
  const balancer = balancerFor(workers, 1);
  // Find a key homed on the heavy worker.
  let key = '';
  for (let i = 0; key === ''; i++) if (walkOrder(`k${i}`, workers)[0] === heavy) key = `k${i}`;
  const keyed: LambdaInfo = { name: 'f', packages: [key] };
  for (let i = 0; i < 60; i++) (balancer.pick(keyed, workers) as TestWorker).inFlight++;
  t.ok(heavy.inFlight >= 29 && heavy.inFlight <= 31, `heavy holds ${heavy.inFlight} of 60`);
});

t.test('a weight-3 worker is home to about three times the keys on an idle ring', async (t) => {
  const workers = [worker('heavy', 3), worker('a'), worker('b'), worker('c')];
  const balancer = balancerFor(workers);
  let heavy = 0;
  for (let i = 0; i < 6000; i++) if (balancer.pick({ name: `f${i}`, packages: [] }, workers) === workers[0]) heavy++;
  const ratio = heavy / ((6000 - heavy) / 3);
  t.ok(ratio > 2.4 && ratio < 3.6, `heavy / light = ${ratio.toFixed(2)}`);
});

t.test('unhealthy workers are skipped and their load does not count', async (t) => {
  const workers = pool(5);
  const balancer = balancerFor(workers);
  const order = walkOrder('scipy', workers);
  (order[0] as TestWorker).healthy = false;
  (order[0] as TestWorker).inFlight = 100;
  t.equal(balancer.pick(fn, workers), order[1]);
  for (const w of workers) w.healthy = false;
  t.equal(balancer.pick(fn, workers), undefined);
  t.equal(createHashingBounded({ loadThreshold: 3, balanceFactor: 1.25 }).pick(fn, []), undefined);
});

t.test('a balance factor below one still returns a healthy worker', async (t) => {
  const workers = pool(3);
  const balancer = balancerFor(workers, 0.1);
  for (let i = 0; i < 9; i++) (balancer.pick(fn, workers) as TestWorker).inFlight++;
  t.same(workers.map((w) => w.inFlight), [3, 3, 3], 'falls back to least-loaded');
});

t.test('removing the home worker moves its keys to the next worker clockwise', async (t) => {
  const workers = pool(6);
  const balancer = balancerFor(workers);
  const order = walkOrder('scipy', workers);
  balancer.removed?.(order[0]);
  t.equal(balancer.pick(fn, workers.filter((w) => w !== order[0])), order[1]);
});
