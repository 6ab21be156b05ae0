// What every policy owes the table, whatever its rule.
import t from 'tap';
import { balancerNames, createBalancer, isBalancerName, policiesReading, policySettings } from '../../balancers/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { Balancer, LambdaInfo, WorkerView } from '../../balancers/types.js';
import { TestTable, worker, type TestWorker } from '../fixtures/views.js';

const env = { random: seededRandom(3), now: () => 0 };
const settings = { loadThreshold: 3, balanceFactor: 1.25 };
const neverWaits = ['round-robin', 'random', 'least-loaded', 'hashing-bounded'];

const functions: LambdaInfo[] = Array.from({ length: 500 }, (_, i) => ({ name: `hdl${i}`, packages: i % 10 === 0 ? [] : [`level${i % 3}pkg${i}`, 'six'] }));

function tableOf(name: string, workers: readonly TestWorker[]): TestTable {
  return new TestTable(createBalancer(name, settings, { random: seededRandom(11), now: () => 0 }), workers);
}

/** Keeps `concurrency` requests open over many functions, finishing a random one before each new request. */
function steadyShares(table: TestTable, concurrency: number, steps: number): Map<WorkerView, number> {
  const random = seededRandom(99);
  const shares = new Map<WorkerView, number>();
  const open: TestWorker[] = [];
  for (let i = 0; i < concurrency + steps; i++) {
    if (open.length >= concurrency) table.finish(open.splice(Math.floor(random() * open.length), 1)[0]);
    const w = table.route(functions[i % functions.length]);
    open.push(w);
    shares.set(w, (shares.get(w) ?? 0) + 1);
  }
  return shares;
}

t.test('lists the seven policies: olscheduler names and cost-aware', async (t) => {
  t.same([...balancerNames].sort(), ['cost-aware', 'hashing-bounded', 'least-loaded', 'pkg-aware', 'pkg-aware-ring', 'random', 'round-robin']);
  t.ok(Object.isFrozen(balancerNames));
  for (const name of balancerNames) t.equal(createBalancer(name, settings, env).name, name);
  t.notOk(isBalancerName('toString'));
  t.throws(() => createBalancer('least-connections', settings, env), /unknown balancer "least-connections"; allowed: round-robin, random/);
});

t.test('settings are declared once each, with defaults, and bad values name what is allowed', async (t) => {
  const byKey = new Map(policySettings().map((s) => [s.key, s]));
  t.same([...byKey.keys()].sort(), ['balanceFactor', 'costCandidates', 'loadThreshold', 'packageTtlMs', 'ring', 'ties']);
  t.same(policiesReading('ties'), ['least-loaded']);
  t.same(policiesReading('loadThreshold'), ['pkg-aware', 'pkg-aware-ring']);
  t.same(policiesReading('ring'), ['pkg-aware', 'pkg-aware-ring']);
  t.same(policiesReading('balanceFactor'), ['hashing-bounded', 'cost-aware']);
  t.same(policiesReading('costCandidates'), ['cost-aware']);
  t.same(policiesReading('packageTtlMs'), ['cost-aware']);
  const threshold = byKey.get('loadThreshold');
  const factor = byKey.get('balanceFactor');
  const ring = byKey.get('ring');
  if (threshold === undefined || factor === undefined || ring === undefined) throw new Error('setting missing');
  t.equal(threshold.default, 3);
  t.equal(threshold.parse('2.5'), 2.5, 'numbers from the environment arrive as strings');
  for (const bad of [0, -1, 1e6 + 1, 'x', '', null, true, 'Auto']) t.throws(() => threshold.parse(bad), /loadThreshold must be a number greater than 0 and at most 1000000, or "auto"/);
  t.equal(threshold.parse('auto'), 'auto');
  t.equal(factor.default, 1.25);
  t.equal(factor.parse(1), 1);
  for (const bad of [0.99, 101, Number.NaN]) t.throws(() => factor.parse(bad), /balanceFactor must be a number from 1 to 100/);
  t.equal(ring.default, 'murmur3');
  t.equal(ring.parse('olscheduler'), 'olscheduler');
  t.throws(() => ring.parse('blake2b'), /ring must be one of "murmur3", "olscheduler", got "blake2b"/);
  t.throws(() => createBalancer('pkg-aware', { ring: 'Murmur3' }, env), /ring must be one of/, 'a policy refuses a bad value at creation');
});

for (const name of balancerNames) {
  t.test(`${name}: no workers, or none routable, gives undefined`, async (t) => {
    t.equal(createBalancer(name, settings, env).pick(functions[1], []), undefined);
    const table = tableOf(name, [worker('a'), worker('b')]);
    for (const w of [...table.workers]) table.down(w);
    for (const fn of functions.slice(0, 20)) t.equal(table.pick(fn), undefined);
  });

  t.test(`${name}: workers that are down or removed are never picked; added ones are`, async (t) => {
    const workers = Array.from({ length: 8 }, (_, i) => worker(`w${i}`, 1 + (i % 2), { limit: 4 }));
    const table = tableOf(name, workers);
    table.down(workers[0]);
    table.down(workers[3]);
    table.remove(workers[6]);
    const newcomer = worker('w8', 1, { limit: 4 });
    table.add(newcomer);
    const shares = steadyShares(table, 12, 2000);
    for (const w of [workers[0], workers[3], workers[6]]) t.equal(shares.get(w), undefined, `${w.id} never picked`);
    t.ok((shares.get(newcomer) ?? 0) > 0, 'the new worker takes requests');
  });

  t.test(`${name}: a weight-3 worker serves about three times a weight-1 worker`, async (t) => {
    const workers = [worker('heavy', 3), worker('a'), worker('b'), worker('c')];
    const shares = steadyShares(tableOf(name, workers), 24, 6000);
    const light = ((shares.get(workers[1]) ?? 0) + (shares.get(workers[2]) ?? 0) + (shares.get(workers[3]) ?? 0)) / 3;
    const ratio = (shares.get(workers[0]) ?? 0) / light;
    t.ok(ratio > 2.4 && ratio < 3.6, `heavy / light = ${ratio.toFixed(2)}`);
  });

  t.test(`${name}: a batch of 2000 workers is placed at once and every one can be picked`, async (t) => {
    const workers = Array.from({ length: 2000 }, (_, i) => worker(`b${i}`, 1, { limit: 1 }));
    const balancer: Balancer = createBalancer(name, settings, env);
    const table = new TestTable(balancer, workers);
    // With limit 1 a non-waiting policy must fill every worker before the table stops picking.
    for (let i = 0; i < 4000 && table.anyFree(); i++) table.route(functions[i % functions.length]);
    const used = workers.filter((w) => w.inFlight > 0).length;
    if (neverWaits.includes(name)) t.equal(used, 2000, 'all 2000 filled while none ever waited');
    else t.ok(used > 1000, `${used} of 2000 used`);
  });
}

for (const name of neverWaits) {
  t.test(`${name}: never returns a full worker while one is free (2 workers x 2 connections, weights 1 and 5)`, async (t) => {
    const slow = worker('slow', 1, { limit: 2 });
    const heavy = worker('heavy', 5, { limit: 2 });
    const table = tableOf(name, [slow, heavy]);
    const random = seededRandom(5);
    let routed = 0;
    for (let i = 0; i < 3000; i++) {
      if (table.anyFree() && random() < 0.6) {
        const w = table.route(functions[i % functions.length]);
        routed++;
        if (w.queued > 0) {
          t.fail(`request ${i} queued at full ${w.id} while ${w === slow ? heavy.id : slow.id} had ${(w === slow ? heavy : slow).inFlight} of 2`);
          return;
        }
      } else {
        const busy = table.workers.filter((w) => w.inFlight > 0);
        if (busy.length > 0) table.finish(busy[Math.floor(random() * busy.length)]);
      }
    }
    t.ok(routed > 1000, `${routed} requests, none waited for a full worker`);
  });
}
