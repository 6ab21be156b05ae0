import t from 'tap';
import { createLeastLoaded, LeastLoadedPicker, loadOf, pickLeastLoaded } from '../../balancers/least-loaded.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { Balancer, LambdaInfo, WorkerView } from '../../balancers/types.js';
import { worker, type TestWorker } from '../fixtures/views.js';

const fn: LambdaInfo = { name: 'hdl0_0', packages: ['level0pkg1'] };
const options = { loadThreshold: 3, balanceFactor: 1.25 };

/** Keeps `concurrency` requests in flight: releases one (chosen by `releaseIndex`), then picks one, `steps` times. */
function steadyLoad(
  balancer: Balancer,
  workers: TestWorker[],
  concurrency: number,
  steps: number,
  releaseIndex: (inFlight: number) => number,
  afterPick: (picked: TestWorker) => void,
): void {
  const byView = new Map<WorkerView, TestWorker>(workers.map((w) => [w, w]));
  const open: TestWorker[] = [];
  const start = (): void => {
    const view = balancer.pick(fn, workers);
    if (view === undefined) throw new Error('no worker picked');
    const picked = byView.get(view);
    if (picked === undefined) throw new Error('picked a worker that is not in the table');
    picked.inFlight++;
    open.push(picked);
    afterPick(picked);
  };
  for (let i = 0; i < concurrency; i++) start();
  for (let i = 0; i < steps; i++) {
    const [done] = open.splice(releaseIndex(open.length), 1);
    done.inFlight--;
    start();
  }
}

t.test('loadOf is in-flight per unit of weight, infinite without a positive weight', async (t) => {
  t.equal(loadOf(worker('a', 2, 3)), 1.5);
  t.equal(loadOf(worker('b', 0, 0)), Infinity);
  t.equal(loadOf(worker('c', Number.NaN, 1)), Infinity);
});

t.test('pickLeastLoaded takes the lowest in-flight per weight among healthy workers', async (t) => {
  const workers = [worker('a', 1, 2), worker('b', 4, 4), worker('c', 1, 0), worker('d', 2, 1)];
  workers[2].healthy = false;
  t.equal(pickLeastLoaded(workers)?.id, 'd', 'd has 0.5 per weight; c is idle but unhealthy');
  t.equal(pickLeastLoaded(workers, 3)?.id, 'd');
  t.equal(pickLeastLoaded(workers, 99)?.id, 'd', 'any start is taken modulo the length');
  t.equal(pickLeastLoaded([]), undefined);
  for (const w of workers) w.healthy = false;
  t.equal(pickLeastLoaded(workers), undefined);
});

t.test('ties go to the first minimum from the start index', async (t) => {
  const workers = [worker('a', 1, 1), worker('b', 1, 0), worker('c', 2, 0), worker('d', 1, 1)];
  t.equal(pickLeastLoaded(workers, 0)?.id, 'b');
  t.equal(pickLeastLoaded(workers, 2)?.id, 'c');
  t.equal(pickLeastLoaded(workers, 3)?.id, 'b');
});

t.test('a worker without weight is picked only when it is the only healthy one', async (t) => {
  const weightless = worker('z', 0, 0);
  t.equal(pickLeastLoaded([weightless, worker('busy', 1, 50)])?.id, 'busy');
  t.equal(pickLeastLoaded([weightless])?.id, 'z');
});

t.test('idle equal workers take turns on sequential requests', async (t) => {
  const workers = [worker('a'), worker('b'), worker('c'), worker('d')];
  const balancer = createLeastLoaded(options);
  const counts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const id = balancer.pick(fn, workers)?.id ?? '-';
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  t.same([...counts.values()], [100, 100, 100, 100]);
});

t.test('under steady load, equal workers never differ by more than one in flight', async (t) => {
  const workers = Array.from({ length: 6 }, (_, i) => worker(`w${i}`));
  const random = seededRandom(11);
  let worstSpread = 0;
  steadyLoad(createLeastLoaded(options), workers, 23, 5000, (n) => Math.floor(random() * n), () => {
    const loads = workers.map((w) => w.inFlight);
    worstSpread = Math.max(worstSpread, Math.max(...loads) - Math.min(...loads));
  });
  t.ok(worstSpread <= 1, `largest spread after a pick: ${worstSpread}`);
});

t.test('under steady load a weight-3 worker holds and serves three times a weight-1 worker', async (t) => {
  const workers = [worker('heavy', 3), worker('a'), worker('b'), worker('c')];
  const picksOf = new Map<string, number>();
  const random = seededRandom(5);
  steadyLoad(createLeastLoaded(options), workers, 60, 6000, (n) => Math.floor(random() * n), (picked) => {
    picksOf.set(picked.id, (picksOf.get(picked.id) ?? 0) + 1);
  });
  t.ok(workers[0].inFlight >= 28 && workers[0].inFlight <= 32, `weight 3 holds ${workers[0].inFlight} of 60`);
  for (const w of workers.slice(1)) t.ok(w.inFlight >= 9 && w.inFlight <= 11, `weight 1 holds ${w.inFlight}`);
  const lightMean = ((picksOf.get('a') ?? 0) + (picksOf.get('b') ?? 0) + (picksOf.get('c') ?? 0)) / 3;
  const ratio = (picksOf.get('heavy') ?? 0) / lightMean;
  t.ok(ratio > 2.7 && ratio < 3.3, `picks heavy / light = ${ratio.toFixed(3)}`);
});

t.test('the picker rotates its start across calls and tolerates a shrinking table', async (t) => {
  const picker = new LeastLoadedPicker();
  const workers = [worker('a'), worker('b'), worker('c')];
  t.same([0, 1, 2, 3].map(() => picker.pick(workers)?.id), ['a', 'b', 'c', 'a']);
  t.equal(picker.pick(workers.slice(0, 1))?.id, 'a');
  t.equal(picker.pick([]), undefined);
});
