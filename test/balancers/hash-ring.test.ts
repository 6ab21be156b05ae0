import t from 'tap';
import { HashRing, murmur3Points, vnodeCount } from '../../balancers/hash-ring.js';
import { murmur3 } from '../../balancers/murmur3.js';
import type { WorkerView } from '../../balancers/types.js';
import { worker, type TestWorker } from '../fixtures/views.js';

function ringOf(workers: readonly WorkerView[]): HashRing {
  const ring = new HashRing();
  for (const w of workers) ring.add(w);
  return ring;
}

const keys = Array.from({ length: 10_000 }, (_, i) => `level${i % 3}pkg${i}`);

function ownersOf(ring: HashRing): (WorkerView | undefined)[] {
  return keys.map((key) => ring.ownerOfKey(key));
}

/** Fraction of the 32-bit hash space each worker owns, measured on evenly spaced points. */
function spaceShares(ring: HashRing, workers: readonly WorkerView[]): number[] {
  const samples = 200_000;
  const counts = new Map<WorkerView | undefined, number>();
  for (let i = 0; i < samples; i++) {
    const owner = ring.ownerOf(Math.floor((i * 0x100000000) / samples));
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return workers.map((w) => (counts.get(w) ?? 0) / samples);
}

t.test('vnodeCount is 100 x weight, rounded, at least one', async (t) => {
  t.equal(vnodeCount(1), 100);
  t.equal(vnodeCount(3), 300);
  t.equal(vnodeCount(0.5), 50);
  t.equal(vnodeCount(0.004), 1);
  t.equal(vnodeCount(0), 1);
  t.equal(vnodeCount(Number.NaN), 1);
  t.equal(vnodeCount(2, 10), 20);
});

t.test('an empty ring owns nothing', async (t) => {
  const ring = new HashRing();
  t.equal(ring.ownerOf(123), undefined);
  const walker = ring.walker();
  walker.start(123);
  t.equal(walker.next(), undefined);
});

// FNV-1a over the same labels gives shares from 0.04 to 0.21 for these ids, outside these bounds.
t.test('points are spread evenly: ten equal workers each own close to a tenth', async (t) => {
  const idStyles = [(i: number) => `http://10.0.0.${i + 1}:8080`, (i: number) => `w${i}`];
  for (const idOf of idStyles) {
    const workers = Array.from({ length: 10 }, (_, i) => worker(idOf(i)));
    const ring = ringOf(workers);
    t.equal(ring.pointCount, 1000);
    t.equal(ring.workerCount, 10);
    for (const share of spaceShares(ring, workers)) {
      t.ok(share > 0.07 && share < 0.13, `hash-space share ${share.toFixed(4)} within 30% of 0.1`);
    }
  }
  const workers = Array.from({ length: 10 }, (_, i) => worker(`http://10.0.0.${i + 1}:8080`));
  const ring = ringOf(workers);
  const counts = new Map<WorkerView | undefined, number>();
  for (const owner of ownersOf(ring)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  for (const w of workers) {
    const count = counts.get(w) ?? 0;
    t.ok(count > 700 && count < 1300, `${w.id} owns ${count} of 10000 keys`);
  }
});

t.test('a weight-3 worker owns about three times the keys of a weight-1 worker', async (t) => {
  const heavy = worker('heavy', 3);
  const light = [worker('light-a'), worker('light-b'), worker('light-c')];
  const ring = ringOf([heavy, ...light]);
  t.equal(ring.pointCount, 600);
  const owners = ownersOf(ring);
  const heavyKeys = owners.filter((o) => o === heavy).length;
  const lightMean = owners.filter((o) => o !== heavy).length / 3;
  const ratio = heavyKeys / lightMean;
  t.ok(ratio > 2.4 && ratio < 3.6, `weight-3 to weight-1 key ratio ${ratio.toFixed(2)}`);
});

t.test('removing one of ten workers moves only the keys that were on it', async (t) => {
  const workers = Array.from({ length: 10 }, (_, i) => worker(`w${i}`));
  const ring = ringOf(workers);
  const before = ownersOf(ring);
  const gone = workers[4];
  ring.remove(gone);
  t.equal(ring.workerCount, 9);
  t.equal(ring.pointCount, 900);
  const after = ownersOf(ring);
  let moved = 0;
  let wrongMoves = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    if (before[i] !== gone) wrongMoves++;
  }
  t.equal(wrongMoves, 0, 'no key moved off a worker that stayed');
  t.equal(moved, before.filter((o) => o === gone).length, 'every key of the removed worker moved');
  t.notOk(after.includes(gone), 'the removed worker owns nothing');
});

t.test('adding an eleventh worker moves about a tenth of the keys, all onto it', async (t) => {
  const workers = Array.from({ length: 10 }, (_, i) => worker(`w${i}`));
  const ring = ringOf(workers);
  const before = ownersOf(ring);
  const newcomer = worker('w10');
  ring.add(newcomer);
  const after = ownersOf(ring);
  let moved = 0;
  let elsewhere = 0;
  for (let i = 0; i < keys.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    if (after[i] !== newcomer) elsewhere++;
  }
  t.equal(elsewhere, 0, 'keys only move onto the new worker');
  const fraction = moved / keys.length;
  t.ok(fraction > 0.05 && fraction < 0.15, `moved fraction ${fraction.toFixed(4)}`);
});

t.test('the ring does not depend on the order workers were added in', async (t) => {
  const workers = Array.from({ length: 20 }, (_, i) => worker(`w${i}`, 1 + (i % 3)));
  const forward = ringOf(workers);
  const backward = ringOf([...workers].reverse());
  t.same(ownersOf(forward).map((w) => w?.id), ownersOf(backward).map((w) => w?.id));
});

t.test('adding a worker twice or removing an absent one changes nothing', async (t) => {
  const a = worker('a');
  const b = worker('b');
  const ring = ringOf([a, b]);
  const before = ownersOf(ring);
  ring.add(a);
  ring.remove(worker('stranger'));
  t.equal(ring.pointCount, 200);
  t.equal(ring.workerCount, 2);
  t.same(ownersOf(ring), before);
  t.ok(ring.has(a));
  ring.remove(a);
  t.notOk(ring.has(a));
  ring.add(a);
  t.same(ownersOf(ring), before, 'removing and re-adding restores the same ownership');
});

t.test('a walk yields every worker exactly once, starting with the owner, in clockwise order', async (t) => {
  const workers = Array.from({ length: 7 }, (_, i) => worker(`w${i}`, i === 0 ? 2 : 1));
  const ring = ringOf(workers);
  const walker = ring.walker();
  for (let k = 0; k < 50; k++) {
    const hash = murmur3(`key${k}`);
    walker.start(hash);
    const seen: WorkerView[] = [];
    for (let w = walker.next(); w !== undefined; w = walker.next()) seen.push(w);
    t.equal(seen.length, 7, 'all seven workers');
    t.equal(new Set(seen).size, 7, 'each once');
    t.equal(seen[0], ring.ownerOf(hash), 'the owner first');
    // With the owner gone, the key's new owner is the second worker of the walk.
    const smaller = ringOf(workers.filter((w) => w !== seen[0]));
    t.equal(smaller.ownerOf(hash)?.id, seen[1].id, 'then the next worker clockwise');
  }
});

t.test('a walk stops once the ring changes under it, and two walkers are independent', async (t) => {
  const workers = Array.from({ length: 4 }, (_, i) => worker(`w${i}`));
  const ring = ringOf(workers);
  const one = ring.walker();
  const two = ring.walker();
  one.start(1);
  two.start(1);
  t.ok(one.next());
  t.ok(two.next());
  t.ok(two.next());
  t.ok(one.next());
  ring.add(worker('w4'));
  t.equal(one.next(), undefined);
  one.start(1);
  let count = 0;
  while (one.next() !== undefined) count++;
  t.equal(count, 5);
});

t.test('walker stamps survive slot reuse and many walks', async (t) => {
  const ring = new HashRing(murmur3Points(4));
  const workers = Array.from({ length: 3 }, (_, i) => worker(`w${i}`));
  for (const w of workers) ring.add(w);
  const walker = ring.walker();
  for (let round = 0; round < 3; round++) {
    ring.remove(workers[round % 3]);
    ring.add(worker(`extra${round}`));
    for (let walk = 0; walk < 1000; walk++) {
      walker.start(walk * 7919);
      const seen = new Set<WorkerView>();
      for (let w = walker.next(); w !== undefined; w = walker.next()) seen.add(w);
      if (seen.size !== ring.workerCount) t.fail(`walk saw ${seen.size} of ${ring.workerCount}`);
    }
  }
  t.pass('every walk saw every worker');
});

t.test('colliding points are ordered by worker id, whatever the order of adding', async (t) => {
  // "w5426#0" and "w36094#0" have the same murmur3 hash (found by search).
  const point = murmur3('w5426#0');
  t.equal(murmur3('w36094#0'), point);
  for (const order of [['w5426', 'w36094'], ['w36094', 'w5426']]) {
    const ring = new HashRing(murmur3Points(1));
    const workers = order.map((id) => worker(id));
    for (const w of workers) ring.add(w);
    ring.add(worker('w1'));
    t.equal(ring.ownerOf(point)?.id, 'w36094', `added as ${order.join(', ')}: the smaller id comes first`);
    const walker = ring.walker();
    walker.start(point);
    t.equal(walker.next()?.id, 'w36094');
    t.equal(walker.next()?.id, 'w5426');
  }
});

t.test('colliding points land in id order when added in one batch too', async (t) => {
  const point = murmur3('w5426#0');
  for (const order of [['w5426', 'w36094', 'w1'], ['w1', 'w36094', 'w5426']]) {
    const ring = new HashRing(murmur3Points(1));
    ring.addMany(order.map((id) => worker(id)));
    const walker = ring.walker();
    walker.start(point);
    t.same([walker.next()?.id, walker.next()?.id], ['w36094', 'w5426'], `batch ${order.join(', ')}`);
  }
});

t.test('adding a batch builds the same ring as adding one by one, and a batch merges into a built ring', async (t) => {
  const workers = Array.from({ length: 300 }, (_, i) => worker(`w${i}`, 1 + (i % 3)));
  const oneByOne = ringOf(workers);
  const batch = new HashRing();
  batch.addMany(workers);
  const mixed = new HashRing();
  mixed.addMany(workers.slice(0, 100));
  for (const w of workers.slice(100, 150)) mixed.add(w);
  mixed.addMany([...workers.slice(150), workers[3]]);
  t.equal(batch.pointCount, oneByOne.pointCount);
  t.equal(mixed.pointCount, oneByOne.pointCount, 'a worker already on the ring is not added twice');
  t.equal(mixed.workerCount, 300);
  const expected = ownersOf(oneByOne);
  t.same(ownersOf(batch), expected);
  t.same(ownersOf(mixed), expected);
  // Positions between and on points, not only key hashes: walk orders agree as well.
  const a = oneByOne.walker();
  const b = mixed.walker();
  for (let i = 0; i < 50; i++) {
    a.start(i * 85_899_345);
    b.start(i * 85_899_345);
    for (let k = 0; k < 5; k++) if (a.next() !== b.next()) t.fail(`walk ${i} differs at step ${k}`);
  }
});

t.test('lookups match a brute-force ring of every point sorted as 64-bit numbers', async (t) => {
  // A ring with two-part points: each worker emits points whose low half differs, so
  // the order within equal high halves is exercised against BigInt comparison.
  const pointsOf = (w: WorkerView, emit: (hi: number, lo: number) => void): void => {
    for (let i = 0; i < 5; i++) emit(murmur3(`${w.id}/${i}`) & 0xffff0000, murmur3(`${w.id}:${i}`));
  };
  const workers = Array.from({ length: 40 }, (_, i) => worker(`n${i}`));
  const ring = new HashRing(pointsOf);
  ring.addMany(workers.slice(0, 25));
  for (const w of workers.slice(25)) ring.add(w);
  const all: { at: bigint; w: WorkerView }[] = [];
  for (const w of workers) pointsOf(w, (hi, lo) => all.push({ at: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), w }));
  all.sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : x.w.id < y.w.id ? -1 : 1));
  for (let i = 0; i < 2000; i++) {
    const hi = murmur3(`key${i}`) & 0xffff0000;
    const lo = murmur3(`low${i}`);
    const at = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    const expected = (all.find((p) => p.at >= at) ?? all[0]).w;
    if (ring.ownerOf(hi, lo) !== expected) t.fail(`position ${at} owned by ${ring.ownerOf(hi, lo)?.id}, brute force says ${expected.id}`);
  }
  t.pass('2000 positions agree');
});

t.test('re-weighting places or takes only the difference and builds the ring a fresh build would', async (t) => {
  const weights = [1, 2, 0.5, 3, 1, 0.004, 2.5];
  const workers = Array.from({ length: 200 }, (_, i) => worker(`w${i}`, 1));
  const ring = new HashRing();
  ring.addMany(workers);
  for (const round of [1, 2, 3]) {
    for (const [i, w] of workers.entries()) w.weight = weights[(i + round) % weights.length]!;
    const before = ring.rebuilds;
    ring.updateMany(workers);
    t.equal(ring.rebuilds - before, 1, `round ${round}: one rebuild`);
    const fresh = new HashRing();
    fresh.addMany(workers);
    t.equal(ring.pointCount, fresh.pointCount, `round ${round}: as many points as a fresh build`);
    t.same(ownersOf(ring), ownersOf(fresh), `round ${round}: every key has the owner a fresh build gives it`);
    const a = ring.walker();
    const b = fresh.walker();
    for (let i = 0; i < 50; i++) {
      a.start(i * 85_899_345);
      b.start(i * 85_899_345);
      for (let k = 0; k < 5; k++) if (a.next() !== b.next()) t.fail(`round ${round}: walk ${i} differs at step ${k}`);
    }
  }
  ring.removeMany(workers.slice(0, 100));
  const rest = new HashRing();
  rest.addMany(workers.slice(100));
  t.same(ownersOf(ring), ownersOf(rest), 'after re-weightings, removing workers leaves the ring of those that stay');
});

t.test('a ring of emitted points (no numbering) is placed again whole when a weight changes', async (t) => {
  const pointsOf = (w: WorkerView, emit: (hi: number, lo: number) => void): void => {
    for (let i = 0; i < Math.round(w.weight * 3); i++) emit(murmur3(`${w.id}/${i}`), murmur3(`${w.id}:${i}`));
  };
  const workers = Array.from({ length: 30 }, (_, i) => worker(`n${i}`));
  const ring = new HashRing(pointsOf);
  ring.addMany(workers);
  for (const w of workers.slice(0, 10)) w.weight = 2;
  ring.updateMany(workers);
  const fresh = new HashRing(pointsOf);
  fresh.addMany(workers);
  t.equal(ring.pointCount, 20 * 3 + 10 * 6);
  t.same(ownersOf(ring), ownersOf(fresh));
});

t.test('a batch worked out ahead builds the ring the batch alone builds, and is set aside when the ring moved meanwhile', async (t) => {
  const pause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const base = Array.from({ length: 50 }, (_, i) => worker(`b${i}`, 1 + (i % 3)));
  const fresh = Array.from({ length: 700 }, (_, i) => worker(`f${i}`, 1 + (i % 2)));
  const plain = new HashRing();
  const prepared = new HashRing();
  for (const ring of [plain, prepared]) {
    ring.addMany(base);
    ring.removeMany(base.slice(0, 10)); // free slots, which the additions take first
  }
  let pauses = 0;
  await prepared.prepare({ kind: 'add', workers: fresh }, async () => {
    pauses++;
    await pause();
  });
  t.ok(pauses > 0, `the work was done in slices (${pauses} pauses)`);
  const before = prepared.rebuilds;
  prepared.addMany(fresh);
  plain.addMany(fresh);
  t.equal(prepared.rebuilds - before, 1);
  t.equal(prepared.pointCount, plain.pointCount);
  t.same(ownersOf(prepared), ownersOf(plain), 'prepared additions: same owners');

  // Re-weighting, prepared: up for some, down for others.
  const planned = fresh.map((w, i) => ({ id: w.id, url: w.url, weight: i % 3 === 0 ? 3 : 0.5 }));
  await prepared.prepare({ kind: 'change', workers: planned }, pause);
  for (const [i, w] of fresh.entries()) w.weight = planned[i]!.weight;
  prepared.updateMany(fresh);
  plain.updateMany(fresh);
  t.equal(prepared.pointCount, plain.pointCount);
  t.same(ownersOf(prepared), ownersOf(plain), 'prepared re-weighting: same owners');
  const rebuilt = new HashRing();
  rebuilt.addMany([...base.slice(10), ...fresh]);
  t.same(ownersOf(prepared), ownersOf(rebuilt), 'and the owners a fresh build gives');

  // The ring moves while a preparation runs: the batch does its own work, and the ring is right.
  const late = Array.from({ length: 300 }, (_, i) => worker(`l${i}`));
  const preparing = prepared.prepare({ kind: 'add', workers: late }, pause);
  prepared.removeMany(fresh.slice(0, 5));
  await preparing;
  prepared.addMany(late);
  const expected = new HashRing();
  expected.addMany([...base.slice(10), ...fresh.slice(5), ...late]);
  t.same(ownersOf(prepared), ownersOf(expected), 'a preparation overtaken by a removal is not used');

  // A batch other than the one prepared does its own work too.
  const other = Array.from({ length: 20 }, (_, i) => worker(`o${i}`));
  await prepared.prepare({ kind: 'add', workers: other.slice(0, 10) }, pause);
  prepared.addMany(other);
  expected.addMany(other);
  t.same(ownersOf(prepared), ownersOf(expected), 'a different batch than the one prepared');

  // Removals, prepared: the ring of the workers that stay, also when the batch named some twice or not on the ring.
  const leaving = [...fresh.slice(5, 400), fresh[5]!, worker('never-added')];
  pauses = 0;
  await prepared.prepare({ kind: 'remove', workers: leaving.map((w) => ({ id: w.id, url: w.url, weight: w.weight })) }, async () => {
    pauses++;
    await pause();
  });
  t.ok(pauses > 0, 'a removal is worked out in slices too');
  const beforeRemoval = prepared.rebuilds;
  prepared.removeMany(leaving);
  t.equal(prepared.rebuilds - beforeRemoval, 1);
  const staying = new HashRing();
  staying.addMany([...base.slice(10), ...fresh.slice(400), ...late, ...other]);
  t.same(ownersOf(prepared), ownersOf(staying), 'prepared removal: the owners of a ring of those that stay');
  t.equal(prepared.workerCount, staying.workerCount);

  // A removal prepared, then overtaken by an addition, is not used.
  const gone = fresh.slice(400, 500);
  const preparingRemoval = prepared.prepare({ kind: 'remove', workers: gone.map((w) => ({ id: w.id, url: w.url, weight: w.weight })) }, pause);
  const extra = [worker('x1'), worker('x2')];
  prepared.addMany(extra);
  await preparingRemoval;
  prepared.removeMany(gone);
  const final = new HashRing();
  final.addMany([...base.slice(10), ...fresh.slice(500), ...late, ...other, ...extra]);
  t.same(ownersOf(prepared), ownersOf(final), 'a removal prepared before an addition is not used');
});

t.test('the layout moves with points and routability, not with load; marks follow each event; a walk from indexOf matches one from the position', async (t) => {
  const workers = Array.from({ length: 6 }, (_, i) => worker(`w${i}`, 1, { limit: 2 }));
  const ring = new HashRing(murmur3Points(), (w) => w.inFlight < w.limit);
  ring.addMany(workers);
  const slots = new Map<WorkerView, number>(workers.map((w) => [w, ring.slotIndex(w) as number]));
  let layout = ring.layout;
  const moved = (): boolean => {
    const changed = ring.layout !== layout;
    layout = ring.layout;
    return changed;
  };
  const w = workers[0];
  w.inFlight = 2;
  ring.update(w);
  t.notOk(moved(), 'a load change keeps the layout');
  t.notOk(ring.marked(slots.get(w) as number), 'full: unmarked');
  w.inFlight = 1;
  ring.update(w);
  t.ok(ring.marked(slots.get(w) as number), 'a free connection again: marked');
  w.routable = false;
  ring.update(w);
  t.ok(moved(), 'down moves the layout');
  w.routable = true;
  ring.update(w);
  t.ok(moved(), 'up moves it');
  (workers[1] as TestWorker).weight = 2;
  ring.update(workers[1]);
  t.ok(moved(), 're-weighting moves it');
  ring.remove(workers[2]);
  t.ok(moved(), 'a removal moves it');
  for (const position of [0, 12345, 0x80000000, 0xffffffff]) {
    const a = ring.walker();
    const b = ring.walker();
    a.start(position);
    b.startAt(ring.indexOf(position));
    const seen: [number, number][] = [];
    for (let v = a.next(), slot = b.nextSlot(); v !== undefined || slot >= 0; v = a.next(), slot = b.nextSlot()) {
      seen.push([slot, v === undefined ? -1 : (slots.get(v) as number)]);
      t.equal(ring.workerAt(slot), v, `from ${position}: the same worker in the same order`);
    }
    t.equal(seen.length, 5, 'every worker on the ring once');
  }
});
