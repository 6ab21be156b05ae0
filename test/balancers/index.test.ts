import t from 'tap';
import { balancerNames, createBalancer, isBalancerName } from '../../balancers/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { Balancer, BalancerOptions, LambdaInfo, WorkerView } from '../../balancers/types.js';
import { worker, type TestWorker } from '../fixtures/views.js';

const options: BalancerOptions = { loadThreshold: 3, balanceFactor: 1.25, random: seededRandom(3) };

function balancerFor(name: string, workers: readonly WorkerView[]): Balancer {
  const balancer = createBalancer(name, options);
  for (const w of workers) balancer.added?.(w);
  return balancer;
}

const functions: LambdaInfo[] = Array.from({ length: 1000 }, (_, i) => ({
  name: `hdl${i}`,
  packages: i % 10 === 0 ? [] : [`level${i % 3}pkg${i}`, 'six'],
}));

/** Keeps `concurrency` requests in flight over many functions, releasing a random one before each new pick. */
function steadyShares(balancer: Balancer, workers: TestWorker[], concurrency: number, steps: number): Map<WorkerView, number> {
  const random = seededRandom(99);
  const picks = new Map<WorkerView, number>();
  const open: TestWorker[] = [];
  for (let i = 0; i < concurrency + steps; i++) {
    if (open.length >= concurrency) open.splice(Math.floor(random() * open.length), 1)[0].inFlight--;
    const view = balancer.pick(functions[i % functions.length], workers);
    const picked = workers.find((w) => w === view);
    if (picked === undefined) throw new Error(`${balancer.name} picked no worker from the table`);
    picked.inFlight++;
    open.push(picked);
    picks.set(picked, (picks.get(picked) ?? 0) + 1);
  }
  return picks;
}

t.test('lists exactly the five policies, under olscheduler names', async (t) => {
  t.same([...balancerNames].sort(), ['hashing-bounded', 'least-loaded', 'pkg-aware', 'pkg-aware-ring', 'random', 'round-robin']);
  t.ok(Object.isFrozen(balancerNames));
  for (const name of balancerNames) {
    t.ok(isBalancerName(name));
    t.equal(createBalancer(name, options).name, name, 'each policy reports its own name');
  }
  t.notOk(isBalancerName('toString'));
});

t.test('an unknown name is an error naming it and the allowed names', async (t) => {
  t.throws(() => createBalancer('least-connections', options), /unknown balancer "least-connections"; allowed: round-robin, random, least-loaded, pkg-aware, hashing-bounded/);
  t.throws(() => createBalancer('constructor', options), /unknown balancer "constructor"/);
  t.throws(() => createBalancer('', options), /unknown balancer ""/);
});

t.test('every policy instance is independent', async (t) => {
  const workers = [worker('a'), worker('b')];
  for (const name of balancerNames) {
    const one = balancerFor(name, workers);
    const two = balancerFor(name, workers);
    t.not(one, two);
  }
  const rrA = balancerFor('round-robin', workers);
  const rrB = balancerFor('round-robin', workers);
  t.equal(rrA.pick(functions[0], workers)?.id, 'a');
  t.equal(rrA.pick(functions[0], workers)?.id, 'b');
  t.equal(rrB.pick(functions[0], workers)?.id, 'a', 'a second round-robin starts its own rotation');
});

for (const name of balancerNames) {
  t.test(`${name}: no workers or none healthy gives undefined`, async (t) => {
    t.equal(createBalancer(name, options).pick(functions[1], []), undefined);
    const workers = [worker('a'), worker('b'), worker('c')];
    const balancer = balancerFor(name, workers);
    for (const w of workers) w.healthy = false;
    for (const fn of functions.slice(0, 20)) t.equal(balancer.pick(fn, workers), undefined);
  });

  t.test(`${name}: unhealthy workers are never picked, whatever the load`, async (t) => {
    const workers = Array.from({ length: 8 }, (_, i) => worker(`w${i}`, 1 + (i % 2)));
    const sick = new Set([workers[0], workers[3], workers[6]]);
    for (const w of sick) w.healthy = false;
    const picks = steadyShares(balancerFor(name, workers), workers, 15, 2000);
    for (const w of sick) t.equal(picks.get(w), undefined, `${w.id} never picked`);
    t.equal(picks.size, 5, 'every healthy worker is used');
  });

  t.test(`${name}: workers removed from the table are never picked, added ones are`, async (t) => {
    const workers = Array.from({ length: 5 }, (_, i) => worker(`w${i}`));
    const balancer = balancerFor(name, workers);
    const gone = workers.splice(2, 1)[0];
    balancer.removed?.(gone);
    const newcomer = worker('w5');
    workers.push(newcomer);
    balancer.added?.(newcomer);
    const picks = steadyShares(balancer, workers, 10, 1000);
    t.equal(picks.get(gone), undefined);
    t.ok((picks.get(newcomer) ?? 0) > 0, 'the new worker takes requests');
  });

  t.test(`${name}: a weight-3 worker serves about three times a weight-1 worker`, async (t) => {
    const workers = [worker('heavy', 3), worker('a'), worker('b'), worker('c')];
    const picks = steadyShares(balancerFor(name, workers), workers, 24, 6000);
    const heavy = picks.get(workers[0]) ?? 0;
    const lightMean = ((picks.get(workers[1]) ?? 0) + (picks.get(workers[2]) ?? 0) + (picks.get(workers[3]) ?? 0)) / 3;
    const ratio = heavy / lightMean;
    t.ok(ratio > 2.4 && ratio < 3.6, `heavy / light = ${ratio.toFixed(2)}`);
  });
}
