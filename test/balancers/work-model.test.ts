// The processor-sharing work model: measured work, warm/cold classification, the stretch, and what the two policies do with it.
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import { psAutoThreshold } from '../../balancers/load-cost.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import type { LambdaInfo, PolicyEnv } from '../../balancers/types.js';
import { psStretch, WorkModel } from '../../balancers/work-model.js';
import { TestTable, worker, type TestWorker } from '../fixtures/views.js';

class ManualClock {
  ms = 0;
  readonly now = (): number => this.ms;
}

const fn: LambdaInfo = { name: 'hdl1', packages: ['numpy', 'scipy', 'six'] };

function envOf(clock: ManualClock): PolicyEnv {
  return { random: seededRandom(1), now: clock.now };
}

/** A work model over one worker of one core whose first report lists `six` only. */
function oneCoreModel(): { clock: ManualClock; model: WorkModel; w: TestWorker } {
  const clock = new ManualClock();
  const model = new WorkModel(clock.now);
  const w = worker('w');
  w.cores = 1;
  model.add(w);
  w.packages = new Set(['six']);
  return { clock, model, w };
}

t.test('psStretch: no contention costs the work alone; each request already there adds its own slowdown and its delay', async (t) => {
  t.equal(psStretch(0, 4), 1, 'an idle 4-core worker runs it at full speed');
  t.equal(psStretch(2, 4), 1, '3 requests on 4 cores: nobody slows down');
  t.equal(psStretch(0, 0.8), 1.25, 'alone on 0.8 cores: 1 / 0.8');
  t.equal(psStretch(9, 1), 10 + 9, 'on 1 core with 9 there: 10x its work, plus 1x for each of the 9 it delays');
  for (let n = 0; n < 50; n++) t.ok(psStretch(n + 1, 0.8) > psStretch(n, 0.8), 'grows with the requests there');
  t.ok(psStretch(10, 4) < psStretch(10, 2), 'more cores, less stretch');
});

t.test('work is measured in processor-sharing virtual time and learned apart for warm and cold runs', async (t) => {
  const { clock, model, w } = oneCoreModel();
  const warmFn: LambdaInfo = { name: 'small', packages: ['six'] };
  // Two warm runs sharing one core for 200 ms each get 100 ms of CPU each.
  for (let i = 0; i < 2; i++) {
    w.inFlight++;
    model.taken(w, warmFn);
  }
  clock.ms += 200;
  for (let i = 0; i < 2; i++) {
    w.inFlight--;
    model.dropped(w, warmFn);
  }
  t.equal(model.warmMs(), 100, 'two requests on one core for 200 ms: 100 ms of work each');
  t.equal(model.perPackageMs(), undefined, 'no cold start seen yet');

  // A cold run lacking numpy and scipy runs alone for 2100 ms: (2100 - 100) / 2 per package.
  w.inFlight++;
  model.taken(w, fn);
  clock.ms += 2100;
  w.inFlight--;
  model.dropped(w, fn);
  t.equal(model.perPackageMs(), 1000, 'cold work beyond a warm run, per package it lacked');
  t.equal(model.warmMs(), 100, 'the cold run did not move the warm estimate');
});

t.test('a request joining installs under way is not learned from; cold runs still running bound the cost from below', async (t) => {
  const { clock, model, w } = oneCoreModel();
  w.inFlight++;
  model.taken(w, fn); // lacks numpy and scipy: installs them
  for (const p of fn.packages) (w.packages as Set<string>).add(p);
  clock.ms += 1000;
  // A report before the installs finish lists six only.
  w.packages = new Set(['six']);
  w.inFlight++;
  model.taken(w, fn); // joins the installs under way
  clock.ms += 1000;
  const bound = model.perPackageMs([w]);
  t.ok(bound !== undefined && bound >= 500, `the cold runs still running bound the per-package cost from below (${bound} ms)`);
  w.inFlight -= 2;
  model.dropped(w, fn);
  model.dropped(w, fn);
  t.equal(model.warmMs(), undefined, 'the joining request was not counted as warm');
});

t.test('psAutoThreshold: a warm run at home until it costs as much as a cold start elsewhere', async (t) => {
  const w = worker('w', 1, { limit: 1000 });
  w.cores = 0.8;
  // On less than a core the stretch at p is (2p + 1) / c: home while (2p + 1) x warm <= warm + cold.
  t.equal(psAutoThreshold(w, 100, 2000), 11, '(2p + 1) x 100 <= 2100 up to p = 10');
  t.equal(psAutoThreshold(w, 100, 20_000), 101, 'a dearer cold start keeps more at home');
  t.ok(psAutoThreshold(w, 400, 2000) < psAutoThreshold(w, 100, 2000), 'dearer warm runs spill sooner');
  t.equal(psAutoThreshold(w, 0, 2000), 1000, 'no warm run measured yet: a cold start is known dearer, so home, up to the connection limit');
  const big = worker('big', 1, { limit: 1000 });
  big.cores = 4;
  t.ok(psAutoThreshold(big, 100, 2000) > psAutoThreshold(w, 100, 2000), 'more cores take more before spilling');
  t.equal(psAutoThreshold(worker('tiny', 1, { limit: 3 }), 1, 1e9), 3, 'never above the connection limit');
});

/** Serves `count` requests of `f` one at a time on `w`, each `ms` long, as the table calls the hooks. */
function serve(table: TestTable, clock: ManualClock, w: TestWorker, f: LambdaInfo, count: number, ms: number): void {
  for (let i = 0; i < count; i++) {
    w.inFlight++;
    table.balancer.taken?.(w, f);
    clock.ms += ms;
    w.inFlight--;
    table.balancer.dropped?.(w, f);
  }
}

t.test('cost-aware: a loaded warm home beats an idle cold worker while the warm run there is cheaper than the installs', async (t) => {
  const clock = new ManualClock();
  const [home, idle] = [worker('home', 1, { limit: 1000 }), worker('idle', 1, { limit: 1000 })];
  home.cores = idle.cores = 1;
  const table = new TestTable(createBalancer('cost-aware', {}, envOf(clock)), [home, idle]);
  home.packages = new Set(fn.packages);
  idle.packages = new Set(['six']);
  const warmFn: LambdaInfo = { name: 'warm', packages: ['six'] };
  serve(table, clock, home, warmFn, 20, 50); // warm runs of 50 ms
  const coldFn: LambdaInfo = { name: 'cold', packages: ['numpy', 'six'] };
  home.packages = new Set(['six']);
  serve(table, clock, home, coldFn, 1, 5050); // one package installed in 5 s
  home.packages = new Set(fn.packages);
  // 10 requests on the home: a warm run there costs 50 x (11 + 10) = 1050 ms; the idle worker lacks 2 packages, 10 s.
  home.inFlight = 10;
  t.equal(table.pick(fn), home, 'the warm home, loaded as it is');
  // With 150 there, the warm run costs 50 x 301 = 15 s, more than the installs.
  home.inFlight = 150;
  t.equal(table.pick(fn), idle, 'past the point where the installs are cheaper: the idle worker');
});

t.test('cost-aware: a package routed to a worker and not yet in its report (installing) counts as held there', async (t) => {
  const clock = new ManualClock();
  const [a, b] = [worker('a'), worker('b')];
  a.packages = new Set(['six']);
  b.packages = new Set(['six']);
  const table = new TestTable(createBalancer('cost-aware', {}, envOf(clock)), [a, b]);
  const first = table.pick(fn) as TestWorker;
  for (const p of fn.packages) (first.packages as Set<string>).add(p);
  clock.ms += 2000;
  // The next report lists only what is installed: numpy and scipy are still being installed.
  first.packages = new Set(['six']);
  // Busier than the other worker, so only the packages it is installing can make it the cheaper pick.
  table.take(first);
  t.equal(table.pick(fn), first, 'the worker installing them is still where they are, though busier');
});
