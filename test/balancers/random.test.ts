import t from 'tap';
import { createRandom } from '../../balancers/random.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { LambdaInfo, WorkerView } from '../../balancers/types.js';
import { worker, type TestWorker } from '../fixtures/views.js';

const fn: LambdaInfo = { name: 'hdl0_0', packages: [] };

function shares(workers: readonly WorkerView[], count: number, seed: number): Map<string, number> {
  const balancer = createRandom({ loadThreshold: 3, balanceFactor: 1.25, random: seededRandom(seed) });
  const counts = new Map<string, number>();
  for (let i = 0; i < count; i++) {
    const id = balancer.pick(fn, workers)?.id ?? '-';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

t.test('weights 1:2 give a 1:2 split within 10% over 3,000 seeded picks', async (t) => {
  for (const seed of [1, 2, 3]) {
    const counts = shares([worker('a', 1), worker('b', 2)], 3000, seed);
    const ratio = (counts.get('b') ?? 0) / (counts.get('a') ?? 1);
    t.ok(ratio > 1.8 && ratio < 2.2, `seed ${seed}: b/a = ${ratio.toFixed(3)}`);
  }
});

t.test('a weight-3 worker gets about three times the picks of weight-1 workers', async (t) => {
  const counts = shares([worker('heavy', 3), worker('a'), worker('b'), worker('c')], 6000, 7);
  const ratio = (counts.get('heavy') ?? 0) / (((counts.get('a') ?? 0) + (counts.get('b') ?? 0) + (counts.get('c') ?? 0)) / 3);
  t.ok(ratio > 2.7 && ratio < 3.3, `heavy / light = ${ratio.toFixed(3)}`);
});

t.test('the same seed repeats the same picks', async (t) => {
  const workers = [worker('a'), worker('b'), worker('c')];
  t.same([...shares(workers, 500, 42)], [...shares(workers, 500, 42)]);
});

t.test('the draw maps onto cumulative weights: 0 picks the first, just under 1 the last', async (t) => {
  const workers = [worker('a', 1), worker('sick', 1), worker('b', 2)];
  workers[1].healthy = false;
  const low = createRandom({ loadThreshold: 3, balanceFactor: 1.25, random: () => 0 });
  const high = createRandom({ loadThreshold: 3, balanceFactor: 1.25, random: () => 0.9999999 });
  const middle = createRandom({ loadThreshold: 3, balanceFactor: 1.25, random: () => 0.34 });
  t.equal(low.pick(fn, workers)?.id, 'a');
  t.equal(high.pick(fn, workers)?.id, 'b');
  t.equal(middle.pick(fn, workers)?.id, 'b', '0.34 x 3 falls past a (weight 1) into b');
});

t.test('unhealthy workers are never picked; none healthy gives undefined', async (t) => {
  const workers = [worker('a'), worker('sick', 10), worker('b')];
  workers[1].healthy = false;
  const counts = shares(workers, 1000, 5);
  t.equal(counts.get('sick'), undefined);
  t.equal((counts.get('a') ?? 0) + (counts.get('b') ?? 0), 1000);
  for (const w of workers) w.healthy = false;
  t.equal(createRandom({ loadThreshold: 3, balanceFactor: 1.25 }).pick(fn, workers), undefined);
  t.equal(createRandom({ loadThreshold: 3, balanceFactor: 1.25 }).pick(fn, []), undefined);
});

t.test('a healthy worker without weight is still picked when it is the only one', async (t) => {
  const balancer = createRandom({ loadThreshold: 3, balanceFactor: 1.25, random: seededRandom(1) });
  t.equal(balancer.pick(fn, [worker('z', 0)])?.id, 'z');
});
