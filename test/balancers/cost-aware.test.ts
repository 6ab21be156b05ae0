// cost-aware: what a worker lacks, what waiting there costs, the bound, ageing, and learned service times.
import t from 'tap';
import { AT_LEAST, CostModel } from '../../balancers/cost-aware.js';
import { createBalancer } from '../../balancers/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import { ServiceTimes } from '../../balancers/service-time.js';
import type { Balancer, LambdaInfo, PackageLoadCost, PolicyEnv, WorkerView } from '../../balancers/types.js';
import { eventHooks } from '../../balancers/worker-index.js';
import { TestTable, worker, type TestWorker } from '../fixtures/views.js';

/** A clock the test moves by hand, as the simulator's virtual clock does. */
class ManualClock {
  ms = 0;
  readonly now = (): number => this.ms;
}

const fn: LambdaInfo = { name: 'hdl1', packages: ['numpy', 'scipy', 'six'] };

function envOf(clock: ManualClock, costs?: Readonly<Record<string, PackageLoadCost>>): PolicyEnv {
  const table = costs === undefined ? undefined : new Map(Object.entries(costs));
  return { random: seededRandom(1), now: clock.now, packageCost: table && ((name: string) => table.get(name)) };
}

function costAware(env: PolicyEnv, workers: readonly TestWorker[], settings: Record<string, unknown> = {}): TestTable {
  return new TestTable(createBalancer('cost-aware', settings, env), workers);
}

/** The worker reports its packages: a new set replaces the old one, as the worker table does. */
function report(w: TestWorker, packages: readonly string[]): void {
  w.packages = new Set(packages);
}

/** The table's guess between reports: packages routed to a worker are added to its current set. */
function routed(w: TestWorker, f: LambdaInfo): void {
  for (const p of f.packages) (w.packages as Set<string>).add(p);
}

const seconds = (install: number, importS = 0): PackageLoadCost => ({ sizeBytes: 1, installMs: install * 1000, importMs: importS * 1000 });
const fnCosts = { numpy: seconds(20, 1), scipy: seconds(10, 1), six: seconds(0.1) };

/** Runs one request at a time on `w`, each taking `ms` of the clock. */
function serve(table: TestTable, clock: ManualClock, w: TestWorker, count: number, ms: number): void {
  for (let i = 0; i < count; i++) {
    table.take(w);
    clock.ms += ms;
    table.drop(w);
  }
}

t.test('two idle workers, one holding every package: the holder is picked, with or without a package table', async (t) => {
  for (const costs of [undefined, fnCosts]) {
    for (const holderIndex of [0, 1]) {
      const clock = new ManualClock();
      const workers = [worker('a'), worker('b')];
      const holder = workers[holderIndex];
      report(holder, fn.packages);
      report(workers[1 - holderIndex], ['six']);
      const table = costAware(envOf(clock, costs), workers);
      t.equal(table.pick(fn), holder, `${costs ? 'table' : 'no table'}: ${holder.id} holds everything`);
    }
  }
});

t.test('a holder saturated beyond the bound is passed over; within it, a short wait there beats a cold start', async (t) => {
  const clock = new ManualClock();
  const [holder, other] = [worker('holder', 1, { limit: 2 }), worker('other', 1, { limit: 2 })];
  report(holder, fn.packages);
  const table = costAware(envOf(clock, fnCosts), [holder, other]);
  serve(table, clock, holder, 5, 100);
  serve(table, clock, other, 5, 100);
  table.take(holder);
  t.equal(table.pick(fn), holder, 'one free slot left on the holder: it runs there');
  table.take(holder);
  // 2 of 2 connections busy and 2 in flight over 4 slots: ceil(1.25 x 3 x 2/4) = 2 is the bound.
  t.equal(table.pick(fn), other, 'the holder is full and at the bound: the other worker, cold as it is');

  // Three workers: the holder's queue is within the bound (ceil(1.25 x 6 x 2/6) = 3 > 2 pending).
  const clock3 = new ManualClock();
  const three = [worker('holder', 1, { limit: 2 }), worker('busy', 1, { limit: 2 }), worker('spare', 1, { limit: 2 })];
  report(three[0], fn.packages);
  const expensive = costAware(envOf(clock3, fnCosts), three);
  for (const w of three) serve(expensive, clock3, w, 5, 100);
  for (const w of [three[0], three[0], three[1], three[1], three[2]]) expensive.take(w);
  const waited = expensive.pick(fn);
  t.equal(waited, three[0], 'a wait of about 50 ms in the holder\'s queue beats 32 s of installs on the spare worker');
  t.ok(waited !== undefined && waited.inFlight >= waited.limit, 'the pick is a full worker: the request waits in its queue');

  const clock4 = new ManualClock();
  const cheap = [worker('holder', 1, { limit: 2 }), worker('busy', 1, { limit: 2 }), worker('spare', 1, { limit: 2 })];
  report(cheap[0], fn.packages);
  const cheapTable = costAware(envOf(clock4, { numpy: seconds(0.001), scipy: seconds(0.001), six: seconds(0.001) }), cheap);
  for (const w of cheap) serve(cheapTable, clock4, w, 5, 100);
  for (const w of [cheap[0], cheap[0], cheap[1], cheap[1], cheap[2]]) cheapTable.take(w);
  t.equal(cheapTable.pick(fn), cheap[2], 'when installs cost 3 ms, waiting 50 ms is not worth it');
});

t.test('a package evicted on a worker stops counting as held there', async (t) => {
  const clock = new ManualClock();
  const [a, b] = [worker('a'), worker('b')];
  report(a, fn.packages);
  report(b, ['numpy', 'six']);
  const table = costAware(envOf(clock, fnCosts), [a, b]);
  t.equal(table.pick(fn), a);
  clock.ms += 1000;
  report(a, ['six']);
  t.equal(table.pick(fn), b, 'a reported numpy and scipy gone: b, missing only scipy, is cheaper');
});

t.test('a package routed to a worker but never reported ages out after the TTL; a fresh report does not', async (t) => {
  const clock = new ManualClock();
  const ttl = 5000;
  const [guessed, reporting] = [worker('guessed'), worker('reporting')];
  report(reporting, ['numpy', 'six']);
  const table = costAware(envOf(clock, fnCosts), [guessed, reporting], { packageTtlMs: ttl });
  // The table's guess: fn was routed to `guessed`, which never reports.
  routed(guessed, fn);
  t.equal(table.pick(fn), guessed, 'no use recorded yet: the guess counts from when the policy first saw the worker');
  t.equal(table.pick(fn), guessed, 'and again; that pick is a use');
  clock.ms += ttl - 1;
  report(reporting, ['numpy', 'six']);
  t.equal(table.pick(fn), guessed, 'within the TTL of its last use the guess still holds');
  const lastUse = clock.ms;
  clock.ms = lastUse + ttl + 1;
  report(reporting, ['numpy', 'six']);
  t.equal(table.pick(fn), reporting, 'past the TTL the guessed packages count as gone; the freshly reported ones do not');
});

t.test('packages the table adds to a worker\'s set between picks count at once, though a pick keeps what it read of each candidate', async (t) => {
  const clock = new ManualClock();
  const workers = [worker('a', 1, { limit: 1 }), worker('b', 1, { limit: 1 })];
  const table = costAware(envOf(clock, fnCosts), workers, { costCandidates: 2 });
  for (const w of workers) serve(table, clock, w, 3, 100);
  const first = table.pick(fn) as TestWorker;
  const other = workers.find((w) => w !== first) as TestWorker;
  table.take(first);
  t.equal(table.pick(fn), first, 'a 100 ms wait where fn is installing beats a 32 s cold start');
  // Added with no pick of this policy behind it (another policy's dispatch, say): held from the last report.
  routed(other, fn);
  t.equal(table.pick(fn), other, 'the other worker\'s set now lists every package: no wait, no load');
});

t.test('evictions seen in reports teach the TTL', async (t) => {
  const clock = new ManualClock();
  const initial = 600_000;
  const w = worker('a');
  report(w, []);
  const balancer = createBalancer('cost-aware', { packageTtlMs: initial }, envOf(clock, fnCosts));
  const table = new TestTable(balancer, [w]);
  table.route(fn);
  routed(w, fn);
  clock.ms += 1000;
  report(w, fn.packages);
  t.equal(table.pick({ name: 'other', packages: [] }), w, 'a report confirming the packages');
  const idle = 30_000;
  clock.ms += idle;
  report(w, ['six']);
  table.pick(fn);
  const ttl = balancer.describe?.().packageTtlMs as number;
  t.ok(ttl < initial && ttl > idle, `numpy and scipy were evicted ${idle + 1000} ms after their last use: the TTL moved from ${initial} toward it (${ttl})`);
});

t.test('a candidate passed over without reading its holdings (its cost even warm reaches the best) still has its report taken in at its turn', async (t) => {
  const clock = new ManualClock();
  const a = worker('a');
  const b = worker('b');
  b.cores = 1;
  // A function whose first ring candidate is a, so that b is weighed after a's cost is known.
  const probe = createBalancer('cost-aware', { costCandidates: 1 }, envOf(new ManualClock())); // the same ring, fed nothing else
  probe.addedMany?.([a, b]);
  const f = Array.from({ length: 64 }, (_, i): LambdaInfo => ({ name: `probe${i}`, packages: ['p1', 'p2'] })).find((x) => probe.isHome?.(x, a) === true);
  if (f === undefined) throw new Error('no function has a as its first candidate');
  const balancer = createBalancer('cost-aware', { costCandidates: 2 }, envOf(clock));
  const table = new TestTable(balancer, [a, b]);
  // With a down, f goes to b: a cold run there (the processor-sharing model prices from then on), then a report.
  table.down(a);
  t.equal(table.pick(f), b);
  b.inFlight++;
  balancer.taken?.(b, f);
  routed(b, f);
  clock.ms += 5000;
  b.inFlight--;
  balancer.dropped?.(b, f);
  report(b, f.packages);
  clock.ms += 1000;
  t.equal(table.pick(f), b, 'b again, its report taken in: it holds p1 and p2');
  table.up(a);
  report(a, f.packages);
  // b evicts both and is busy: a request there would share its one core, so even warm it costs more than a's.
  report(b, []);
  table.take(b);
  clock.ms += 1000;
  const before = balancer.describe?.().packageTtlObservations as number;
  t.equal(table.pick(f), a, 'a, idle and warm');
  t.equal(balancer.describe?.().packageTtlObservations, before + 2, 'b\'s report was taken in: both evictions taught the TTL');
});

/** A balancer that only learns service times, so the test reads them directly. */
function learner(clock: ManualClock): { service: ServiceTimes; balancer: Balancer } {
  const service = new ServiceTimes(clock.now);
  return { service, balancer: { name: 'service-times', ...eventHooks(service), pick: (_fn, ws: readonly WorkerView[]) => ws[0] } };
}

t.test('the learned service time converges on a worker whose service time changes', async (t) => {
  const clock = new ManualClock();
  const { service, balancer } = learner(clock);
  const w = worker('a');
  const table = new TestTable(balancer, [w]);
  t.equal(service.of(w), undefined, 'nothing learned before the first completion');
  serve(table, clock, w, 60, 100);
  t.ok(Math.abs((service.of(w) as number) - 100) < 1, `steady 100 ms: ${service.of(w)}`);
  const estimates: number[] = [];
  for (let i = 0; i < 80; i++) {
    serve(table, clock, w, 1, 300);
    estimates.push(service.of(w) as number);
  }
  t.ok(estimates.every((e, i) => i === 0 || e >= estimates[i - 1]), 'rises steadily toward the new time');
  t.ok(Math.abs(estimates[estimates.length - 1] - 300) < 3, `after 80 requests of 300 ms: ${estimates[estimates.length - 1]}`);
  // Idle time between requests is not service time.
  clock.ms += 1_000_000;
  serve(table, clock, w, 1, 300);
  t.ok(Math.abs((service.of(w) as number) - 300) < 3, 'a long idle gap does not inflate it');
  // Two at a time, each 200 ms: Little's law counts both.
  for (let i = 0; i < 80; i++) {
    table.take(w);
    table.take(w);
    clock.ms += 200;
    table.drop(w);
    table.drop(w);
  }
  t.ok(Math.abs((service.of(w) as number) - 200) < 3, `two concurrent 200 ms requests: ${service.of(w)}`);
});

t.test('a worker with more cores gets proportionally more', async (t) => {
  const clock = new ManualClock();
  const big = worker('big', 1, { limit: 100 });
  const small = worker('small', 1, { limit: 100 });
  big.cores = 4;
  small.cores = 2;
  const table = costAware(envOf(clock), [big, small]);
  serve(table, clock, big, 20, 100);
  serve(table, clock, small, 20, 100);
  const bare: LambdaInfo = { name: 'bare', packages: [] };
  const total = 60;
  for (let i = 0; i < total; i++) table.route(bare);
  const ratio = big.inFlight / small.inFlight;
  t.equal(big.inFlight + small.inFlight, total);
  t.ok(ratio > 1.7 && ratio < 2.4, `4 cores against 2: ${big.inFlight} to ${small.inFlight} (ratio ${ratio.toFixed(2)})`);

  // The same when the cores come from a report after start: the bound re-reads them on the worker's next event.
  const clock2 = new ManualClock();
  const later = [worker('x', 1, { limit: 100 }), worker('y', 1, { limit: 100 })];
  const table2 = costAware(envOf(clock2), later);
  serve(table2, clock2, later[0], 20, 100);
  serve(table2, clock2, later[1], 20, 100);
  later[0].cores = 6;
  later[1].cores = 2;
  serve(table2, clock2, later[0], 1, 100);
  serve(table2, clock2, later[1], 1, 100);
  for (let i = 0; i < 80; i++) table2.route(bare);
  const ratio2 = later[0].inFlight / later[1].inFlight;
  t.ok(ratio2 > 2.5 && ratio2 < 3.6, `6 cores against 2: ${later[0].inFlight} to ${later[1].inFlight}`);
});

t.test('isHome names the shortlist; describe shows the model\'s state', async (t) => {
  const clock = new ManualClock();
  const workers = Array.from({ length: 8 }, (_, i) => worker(`w${i}`));
  const balancer = createBalancer('cost-aware', { costCandidates: 3 }, envOf(clock, fnCosts));
  const table = new TestTable(balancer, workers);
  const homes = workers.filter((w) => balancer.isHome?.(fn, w));
  t.equal(homes.length, 3);
  t.ok(homes.includes(table.pick(fn) as TestWorker), 'an idle cluster runs the function at home');
  t.match(balancer.describe?.(), { candidates: 3, balanceFactor: 1.25, packageCosts: 'table' });
});

t.test('bad settings are refused with the key named', async (t) => {
  const env = envOf(new ManualClock());
  t.throws(() => createBalancer('cost-aware', { costCandidates: 0 }, env), /costCandidates must be a number from 1 to 64/);
  t.throws(() => createBalancer('cost-aware', { packageTtlMs: -1 }, env), /packageTtlMs must be a number greater than 0/);
});

t.test('after removals, re-adds and weight changes (which move workers to other ring slots), picks match a policy built fresh on the same workers', async (t) => {
  const clock = new ManualClock();
  const workers = Array.from({ length: 8 }, (_, i) => worker(`w${i}`));
  workers.forEach((w, i) => report(w, [`pkg${i}`, `pkg${(i + 1) % 8}`]));
  // Every worker is a candidate, so an idle cluster's pick is the one worker holding both packages.
  const churned = costAware(envOf(clock), workers, { costCandidates: 16 });
  churned.remove(workers[2]);
  churned.remove(workers[5]);
  const late = worker('late');
  report(late, ['pkg2', 'pkg5']);
  churned.add(late);
  churned.add(workers[5]);
  churned.setWeight(workers[0], 3);
  churned.setWeight(workers[6], 2);
  const fresh = costAware(envOf(clock), churned.workers, { costCandidates: 16 });
  for (const w of churned.workers) {
    const held = [...w.packages];
    t.equal(churned.pick({ name: `held-by-${w.id}`, packages: held })?.id, w.id, `${w.id} holds ${held.join(', ')} and is picked for them`);
  }
  // Records follow their workers: a stale slot would price one worker's holdings for another.
  let compared = 0;
  for (let i = 0; i < 40; i++) {
    const f: LambdaInfo = { name: `f${i}`, packages: [`pkg${i % 8}`, `pkg${(i * 3) % 8}`] };
    t.equal(churned.pick(f)?.id, fresh.pick(f)?.id, `${f.name} goes where a fresh policy sends it`);
    compared++;
  }
  t.equal(compared, 40);
});

/**
 * Routes a seeded stream through a fresh cost-aware policy, as the proxy would: a dispatch or a wait in the
 * picked worker's queue, the table adding the function's packages to the worker's set, a random open request
 * finishing before each new one once the pool is busy. `reports`: now and then a worker's report replaces its
 * set, keeping some of what it held (the rest evicted), so dispatches run cold and the processor-sharing
 * model prices; without them every worker starts holding every package and keeps it, so every dispatch is warm
 * and the slot model prices, with packages ageing out of what the policy counts as held after 100 ms unused.
 * Returns the picks, as worker indexes.
 */
function routeStream(requests: number, reports: boolean): number[] {
  const clock = new ManualClock();
  const random = seededRandom(42);
  const functions = Array.from({ length: 40 }, (_, i): LambdaInfo => ({ name: `sf${i}`, packages: [`a${i % 11}`, `b${i % 7}`, 'six'] }));
  const workers = Array.from({ length: 24 }, (_, i) => worker(`s${i}`, 1 + (i % 3 === 0 ? 1 : 0), { limit: 3 }));
  workers.forEach((w, i) => {
    w.cores = 1 + (i % 2);
    if (!reports) report(w, functions.flatMap((f) => f.packages));
  });
  const balancer = createBalancer('cost-aware', reports ? {} : { packageTtlMs: 100 }, { random: seededRandom(7), now: clock.now });
  balancer.addedMany?.(workers);
  const lines = new Map(workers.map((w) => [w, { running: [] as LambdaInfo[], queued: [] as LambdaInfo[] }]));
  const open: TestWorker[] = [];
  const picks: number[] = [];
  for (let i = 0; i < requests; i++) {
    if (open.length >= 40) {
      const w = open.splice(Math.floor(random() * open.length), 1)[0]!;
      const line = lines.get(w)!;
      w.inFlight--;
      balancer.dropped?.(w, line.running.shift());
      const next = line.queued.shift();
      if (next !== undefined) {
        w.queued--;
        w.inFlight++;
        line.running.push(next);
        balancer.taken?.(w, next);
      }
    }
    if (reports && i % 25 === 0) {
      const w = workers[Math.floor(random() * workers.length)]!;
      report(w, [...w.packages].filter(() => random() < 0.6));
    }
    const f = functions[Math.floor(random() * functions.length)]!;
    const w = balancer.pick(f, workers) as TestWorker;
    picks.push(workers.indexOf(w));
    clock.ms += 2 + random() * 20;
    const line = lines.get(w)!;
    if (w.inFlight < w.limit) {
      w.inFlight++;
      line.running.push(f);
      balancer.taken?.(w, f);
    } else {
      w.queued++;
      line.queued.push(f);
    }
    routed(w, f);
    open.push(w);
  }
  return picks;
}

t.test('passing over a candidate without reading its holdings never changes a pick: the same stream priced in full picks the same', async (t) => {
  const prototype = CostModel.prototype;
  const { psCostMs, costMs, missMs } = prototype;
  for (const reports of [true, false]) {
    const model = reports ? 'processor-sharing' : 'slot';
    // Counted as the policy runs: a candidate priced with a bound (a best so far) and its holdings not read.
    let read = false;
    const skipped = { 'processor-sharing': 0, slot: 0 };
    prototype.missMs = function (this: CostModel, ...args: Parameters<typeof missMs>) {
      read = true;
      return missMs.apply(this, args);
    };
    prototype.psCostMs = function (this: CostModel, ...args: Parameters<typeof psCostMs>) {
      read = false;
      psCostMs.apply(this, args);
      if (this.pickArgs[AT_LEAST] !== Infinity && !read) skipped['processor-sharing']++;
    };
    prototype.costMs = function (this: CostModel, ...args: Parameters<typeof costMs>) {
      read = false;
      costMs.apply(this, args);
      if (this.pickArgs[AT_LEAST] !== Infinity && !read) skipped.slot++;
    };
    let withSkips: number[];
    try {
      withSkips = routeStream(6000, reports);
    } finally {
      Object.assign(prototype, { psCostMs, costMs, missMs });
    }
    // The reference: every candidate priced in full (no bound), so its holdings are always read.
    prototype.psCostMs = function (this: CostModel, ...args: Parameters<typeof psCostMs>) {
      this.pickArgs[AT_LEAST] = Infinity;
      psCostMs.apply(this, args);
    };
    prototype.costMs = function (this: CostModel, ...args: Parameters<typeof costMs>) {
      this.pickArgs[AT_LEAST] = Infinity;
      costMs.apply(this, args);
    };
    let inFull: number[];
    try {
      inFull = routeStream(6000, reports);
    } finally {
      Object.assign(prototype, { psCostMs, costMs });
    }
    t.ok(skipped[model] > 500, `${model} model: the bound passed over candidates without reading their holdings (${skipped[model]} times; the other model ${reports ? skipped.slot : skipped['processor-sharing']})`);
    t.ok(new Set(withSkips).size > 12, `${model} model: the stream spread over the workers (${new Set(withSkips).size} of 24)`);
    const firstDifference = withSkips.findIndex((w, i) => w !== inFull[i]);
    t.equal(firstDifference, -1, `${model} model: ${firstDifference === -1 ? 'all 6000 picks the same' : `pick ${firstDifference} differs`}`);
  }
});
