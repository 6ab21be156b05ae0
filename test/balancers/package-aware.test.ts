// pkg-aware and pkg-aware-ring on the default ring, and with ring "olscheduler".
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import { blake2bPosition64, olschedulerPoints } from '../../balancers/olscheduler-ring.js';
import { murmur3 } from '../../balancers/murmur3.js';
import { FIRST_CANDIDATE_SEED, RING_SPILL_CANDIDATES, SECOND_CANDIDATE_SEED } from '../../balancers/package-aware.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { LambdaInfo, WorkerView } from '../../balancers/types.js';
import { pool, TestTable, worker, type TestWorker } from '../fixtures/views.js';
import { blake64, murmurPointsOf, olschedulerPointsOf, refLeastLoaded, refRing, refWalk } from './reference.js';

const env = { random: seededRandom(1), now: () => 0 };
const numpyFn: LambdaInfo = { name: 'hdl7', packages: ['numpy', 'six', 'setuptools'] };

function tableOf(name: string, workers: readonly TestWorker[], settings: Record<string, unknown> = {}): TestTable {
  return new TestTable(createBalancer(name, { loadThreshold: 3, ...settings }, env), workers);
}

/** The two murmur3 candidates of a key, from a brute-force ring. */
function murmurCandidates(key: string, workers: readonly WorkerView[]): [WorkerView, WorkerView] {
  const ring = refRing(workers, murmurPointsOf);
  const first = refWalk(ring, BigInt(murmur3(key, FIRST_CANDIDATE_SEED)) << 32n)[0];
  const second = refWalk(ring, BigInt(murmur3(key, SECOND_CANDIDATE_SEED)) << 32n).find((w) => w !== first) as WorkerView;
  return [first, second];
}

t.test('sequential calls of one function hit its first candidate every time', async (t) => {
  const table = tableOf('pkg-aware', pool(6));
  const [first] = murmurCandidates('numpy', table.workers);
  for (let i = 0; i < 20; i++) {
    const w = table.route(numpyFn);
    if (w !== first) t.fail(`call ${i} went to ${w.id}, not ${first.id}`);
    table.finish(w);
  }
  t.pass('all on the first candidate');
});

t.test('functions sharing a largest package share a worker; a function without packages hashes its name', async (t) => {
  const table = tableOf('pkg-aware', pool(8));
  const home = table.pick(numpyFn);
  t.equal(table.pick({ name: 'other', packages: ['numpy', 'pandas'] }), home);
  t.equal(table.pick({ name: 'numpy', packages: [] }), home);
  t.equal(table.pick({ name: 'bare-fn', packages: [] }), murmurCandidates('bare-fn', table.workers)[0]);
});

t.test('below the threshold a full home is still chosen: the request waits in its queue', async (t) => {
  const table = tableOf('pkg-aware', pool(6, { limit: 1 }));
  const [first, second] = murmurCandidates('numpy', table.workers);
  t.equal(table.route(numpyFn), first);
  t.equal(table.route(numpyFn), second, 'the second candidate is less loaded now');
  t.equal(table.route(numpyFn), first, 'a tie goes to the first candidate, full as it is');
  t.equal(first.queued, 1, 'and the request waits there');
  t.equal(table.route(numpyFn), second);
  t.equal(second.queued, 1);
  table.route(numpyFn);
  table.route(numpyFn);
  t.same([first.inFlight + first.queued, second.inFlight + second.queued], [3, 3], 'both candidates at the threshold of 3');
  const spilled = table.route(numpyFn);
  t.not(spilled, first);
  t.not(spilled, second);
  t.equal(spilled.inFlight, 1, 'past the threshold: a free worker, at once');
  t.equal(spilled.queued, 0);
});

t.test('pkg-aware-ring spills to the next worker clockwise under the threshold, pkg-aware to the least loaded', async (t) => {
  const ringTable = tableOf('pkg-aware-ring', pool(10), { loadThreshold: 1 });
  const walk = refWalk(refRing(ringTable.workers, murmurPointsOf), BigInt(murmur3('numpy')) << 32n);
  const [first, second] = murmurCandidates('numpy', ringTable.workers);
  const picks = Array.from({ length: 5 }, () => ringTable.route(numpyFn));
  const expectedSpill = walk.filter((w) => w !== first && w !== second);
  t.same(picks.slice(0, 2), [first, second]);
  t.same(picks.slice(2), expectedSpill.slice(0, 3), 'overflow follows the ring from the key, skipping busy workers');
});

t.test(`pkg-aware-ring looks at ${RING_SPILL_CANDIDATES} workers along the ring, then takes the least-loaded free one`, async (t) => {
  const table = tableOf('pkg-aware-ring', pool(80), { loadThreshold: 1 });
  const walk = refWalk(refRing(table.workers, murmurPointsOf), BigInt(murmur3('numpy')) << 32n) as TestWorker[];
  const [, second] = murmurCandidates('numpy', table.workers);
  for (const w of new Set([...walk.slice(0, RING_SPILL_CANDIDATES), second as TestWorker])) table.take(w);
  const expected = refLeastLoaded(table);
  t.not(expected, walk[RING_SPILL_CANDIDATES], 'the next worker on the ring is not the least loaded one (else the test shows nothing)');
  t.equal(table.route(numpyFn), expected);
});

// --- ring "olscheduler" ---

t.test('BLAKE2b-512 positions: RFC 7693 test vector, read little-endian', async (t) => {
  // RFC 7693 Appendix A: BLAKE2b-512("abc") = BA 80 A5 3F 98 1C 4D 0D 6A 27 ...;
  // the first 8 bytes read as a little-endian integer are 0x0D4D1C983FA580BA.
  t.equal(blake2bPosition64('abc'), 0x0d4d1c983fa580ban);
  t.equal(blake2bPosition64('abc'), blake64('abc'));
});

t.test('BLAKE2b-512 positions and olscheduler\'s points equal the digest read from a Buffer, over 2,000 strings (high bytes, non-ASCII input)', async (t) => {
  let wrong = 0;
  let highBit = 0;
  for (let i = 0; i < 2000; i++) {
    const text = i % 3 === 0 ? `http://10.0.${i >> 8}.${i & 255}:8080` : i % 3 === 1 ? `wörker-${i}-ñ` : `k${i}`;
    const expected = blake64(text);
    if (blake2bPosition64(text) !== expected) wrong++;
    if (expected >> 63n === 1n || ((expected >> 31n) & 1n) === 1n) highBit++;
    const points: bigint[] = [];
    olschedulerPoints(worker(`w${i}`, 1, { url: text }), (hi, lo) => points.push((BigInt(hi) << 32n) | BigInt(lo)));
    if (points.join() !== olschedulerPointsOf(worker(`w${i}`, 1, { url: text })).join()) wrong++;
  }
  t.equal(wrong, 0, 'every position and every point the same');
  t.ok(highBit > 500, `digests whose 32-bit halves have their top bit set are among them (${highBit})`);
});

t.test('placement over olscheduler configs equals the ring derived independently (10 BLAKE2b points per URL string)', async (t) => {
  // The thesis config writes workers as olscheduler pairs ("localhost:8080", "1"): the URL string
  // olscheduler hashes is "localhost:8080" itself. The README form writes "http://localhost:9021".
  const configs = [
    Array.from({ length: 5 }, (_, i) => `localhost:${8080 + i}`),
    ['http://localhost:9021', 'http://localhost:9022', 'http://10.0.0.7:8080'],
  ];
  for (const urls of configs) {
    const workers = urls.map((url, i) => worker(`w${i}`, 1 + (i % 2), { url }));
    const table = tableOf('pkg-aware', workers, { ring: 'olscheduler', loadThreshold: 1000 });
    const ring = refRing(workers, olschedulerPointsOf);
    let checked = 0;
    for (let i = 0; i < 300; i++) {
      const key = `level${i % 4}pkg${i}`;
      // Idle workers: both loads 0, so olscheduler takes the second candidate, Get(key + "salty").
      const expected = refWalk(ring, blake64(`${key}salty`))[0];
      const got = table.pick({ name: `f${i}`, packages: [key] });
      if (got !== expected) t.fail(`${key}: ${got?.url}, olscheduler: ${expected.url}`);
      checked++;
    }
    t.equal(checked, 300, `${urls.length} workers: 300 keys placed as olscheduler, weights ignored`);
  }
});

t.test("olscheduler's own pkg-aware integration test, replayed (test/pkg-aware.test.js)", async (t) => {
  // Workers http://localhost:9021 and :9022, threshold 3; "bar" has largest package "z17922!", "foo" has "pkg0".
  const a = worker('a', 1, { url: 'http://localhost:9021' });
  const b = worker('b', 1, { url: 'http://localhost:9022' });
  const table = tableOf('pkg-aware', [a, b], { ring: 'olscheduler' });
  const bar: LambdaInfo = { name: 'bar', packages: ['z17922!', 'pkg2'] };
  const foo: LambdaInfo = { name: 'foo', packages: ['pkg0', 'pkg1'] };
  const sequential = (fns: LambdaInfo[]): string[] =>
    fns.map((fn) => {
      const w = table.route(fn);
      table.finish(w);
      return w.url;
    });
  t.same(sequential([bar, bar, bar]), Array(3).fill('http://localhost:9022'), 'same package list, same worker');
  t.same(sequential([foo, foo, bar, foo, bar]), ['http://localhost:9021', 'http://localhost:9021', 'http://localhost:9022', 'http://localhost:9021', 'http://localhost:9022']);
  // Threshold 3: three concurrent requests of one function go to its home, the fourth to the least-loaded worker.
  const concurrent = Array.from({ length: 4 }, () => table.route(foo).url);
  t.same(concurrent, ['http://localhost:9021', 'http://localhost:9021', 'http://localhost:9021', 'http://localhost:9022']);
});

t.test('olscheduler rules: ties to the second candidate, counts not weights, fallback in worker-list order', async (t) => {
  const urls = Array.from({ length: 5 }, (_, i) => `localhost:${8080 + i}`);
  const workers = urls.map((url, i) => worker(`w${i}`, i === 4 ? 9 : 1, { url }));
  const ring = refRing(workers, olschedulerPointsOf);
  // A key whose two candidates differ, found by scanning keys against the independent ring.
  let key = '';
  let c1: WorkerView | undefined;
  let c2: WorkerView | undefined;
  for (let i = 0; c1 === c2; i++) {
    key = `pkg${i}`;
    c1 = refWalk(ring, blake64(key))[0];
    c2 = refWalk(ring, blake64(`${key}salty`))[0];
  }
  const table = tableOf('pkg-aware', workers, { ring: 'olscheduler', loadThreshold: 3 });
  const fn: LambdaInfo = { name: 'f', packages: [key] };
  const six = Array.from({ length: 6 }, () => table.route(fn));
  t.same(six, [c2, c1, c2, c1, c2, c1], 'equal loads go to the second candidate; loads alternate the two');
  const rest = workers.filter((w) => w !== c1 && w !== c2);
  t.equal(table.route(fn), rest[0], 'both at 3: the first idle worker in list order, whatever its weight');
  t.equal(table.route(fn), rest[1]);
});

t.test('a candidate that is down is replaced by the next routable worker clockwise', async (t) => {
  const table = tableOf('pkg-aware', pool(6), { ring: 'olscheduler' });
  const home = table.pick(numpyFn) as TestWorker;
  table.down(home);
  const ring = refRing(table.workers, olschedulerPointsOf);
  const expected = refWalk(ring, blake64('numpysalty')).find((w) => w.routable);
  t.equal(table.pick(numpyFn), expected, 'idle: the second candidate, skipping the down worker');
  table.up(home);
  t.equal(table.pick(numpyFn), home, 'back up, its keys come back');
});

t.test('isHome names the two ring candidates; a request spilled past the threshold is not home', async (t) => {
  for (const name of ['pkg-aware', 'pkg-aware-ring']) {
    const table = tableOf(name, pool(6), { loadThreshold: 1 });
    const [first, second] = murmurCandidates('numpy', table.workers);
    const balancer = table.balancer;
    const homes = table.workers.filter((w) => balancer.isHome?.(numpyFn, w));
    t.same(homes.map((w) => w.id).sort(), [first.id, second.id].sort(), `${name}: the homes are the two candidates`);
    const a = table.route(numpyFn);
    t.ok(a === first && balancer.isHome?.(numpyFn, a), `${name}: the first request runs at home`);
    const b = table.route(numpyFn);
    t.ok(b === second && balancer.isHome?.(numpyFn, b), `${name}: the second too, on the other candidate`);
    const c = table.route(numpyFn);
    t.ok(c !== first && c !== second, `${name}: both homes at the threshold, the third spills`);
    t.notOk(balancer.isHome?.(numpyFn, c), `${name}: and is not counted as home`);
    // Asked again after a home went down, with no pick in between: the homes follow routability.
    table.down(first);
    t.notOk(balancer.isHome?.(numpyFn, first), `${name}: a home that went down is no longer home`);
    const replacement = table.workers.filter((w) => w !== second && balancer.isHome?.(numpyFn, w));
    t.equal(replacement.length, 1, `${name}: the next routable worker clockwise takes its place`);
    table.up(first);
    t.ok(balancer.isHome?.(numpyFn, first), `${name}: back up, home again`);
  }
});
