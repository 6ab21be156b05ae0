// The learned models' observations (what a proxy of several processes shares):
// processes that fold every process's observations in one order hold the same
// estimates; a model whose observations come straight back is a model of one
// process, pick for pick.
import t from 'tap';
import type { Observation } from '../../balancers/evidence.js';
import { CostModel } from '../../balancers/cost-aware.js';
import { HashRing } from '../../balancers/hash-ring.js';
import { createBalancer } from '../../balancers/index.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import { ServiceTimes } from '../../balancers/service-time.js';
import type { Balancer, LambdaInfo, PolicyEnv } from '../../balancers/types.js';
import { WorkModel } from '../../balancers/work-model.js';
import { pool, type TestWorker } from '../fixtures/views.js';

class ManualClock {
  ms = 0;
  readonly now = (): number => this.ms;
}

const functions: LambdaInfo[] = [
  { name: 'f1', packages: ['numpy', 'six'] },
  { name: 'f2', packages: ['scipy', 'numpy', 'six'] },
  { name: 'f3', packages: ['requests'] },
  { name: 'f4', packages: ['pandas', 'six'] },
];

/** One process: its policy over its own views of three one-core workers, its clock, what it shares. */
interface Process {
  readonly clock: ManualClock;
  readonly workers: TestWorker[];
  readonly balancer: Balancer;
  readonly shared: Observation[];
  readonly picks: string[];
  /** Its requests running: worker, function, when they end. */
  readonly running: { w: TestWorker; fn: LambdaInfo; end: number }[];
}

/**
 * `sharing`: 'none' (one process: no sink), 'relay' (observations gather in
 * `shared` until the test relays them) or 'echo' (each comes straight back).
 */
function processOf(policy: string, settings: Record<string, unknown>, sharing: 'none' | 'relay' | 'echo'): Process {
  const clock = new ManualClock();
  const shared: Observation[] = [];
  const workers = pool(3, { limit: 4 });
  const echo = (o: Observation): void => balancer.learn!([o], { own: true, workerOf: (id) => workers.find((w) => w.id === id), functionOf });
  const share = sharing === 'none' ? undefined : sharing === 'echo' ? echo : (o: Observation) => void shared.push(o);
  const env: PolicyEnv = { random: seededRandom(3), now: clock.now, share };
  const balancer = createBalancer(policy, settings, env);
  for (const w of workers) w.cores = 1;
  balancer.addedMany?.(workers);
  return { clock, workers, balancer, shared, picks: [], running: [] };
}

function functionOf(name: string): LambdaInfo | undefined {
  return functions.find((f) => f.name === name);
}

/**
 * A batch as the primary relays it to `p` (`own`: p's own, come back), taken
 * in as a serving process's table does: the policy learns it, and another
 * process's dispatch adds the function's packages to the worker's set.
 */
function relay(p: Process, batch: readonly Observation[], own: boolean): void {
  const workerOf = (id: string): TestWorker | undefined => p.workers.find((w) => w.id === id);
  p.balancer.learn!(batch, { own, workerOf, functionOf });
  if (own) return;
  for (const o of batch) {
    const w = o.kind === 'dispatch' ? workerOf(o.worker) : undefined;
    const fn = o.kind === 'dispatch' ? functionOf(o.fn) : undefined;
    if (w !== undefined && fn !== undefined) w.packages = new Set([...w.packages, ...fn.packages]);
  }
}

/** Moves `p`'s clock to `ms`, ending the requests due by then in order. */
function advance(p: Process, ms: number): void {
  p.running.sort((a, b) => a.end - b.end);
  while (p.running.length > 0 && p.running[0]!.end <= ms) {
    const r = p.running.shift()!;
    p.clock.ms = r.end;
    r.w.inFlight--;
    p.balancer.dropped?.(r.w, r.fn);
  }
  p.clock.ms = ms;
}

/** Routes `count` requests, one every `gapMs`: a warm run takes 40 ms, each package the worker lacks 300 ms more. */
function traffic(p: Process, count: number, random: () => number, gapMs = 25): void {
  for (let i = 0; i < count; i++) {
    advance(p, p.clock.ms + gapMs);
    const fn = functions[Math.floor(random() * functions.length)]!;
    const w = p.balancer.pick(fn, p.workers) as TestWorker | undefined;
    if (w === undefined || w.inFlight >= w.limit) continue;
    const lacking = fn.packages.filter((x) => !w.packages.has(x)).length;
    w.inFlight++;
    p.balancer.taken?.(w, fn);
    // The table adds the function's packages to the worker's set after the event.
    w.packages = new Set([...w.packages, ...fn.packages]);
    p.picks.push(w.id);
    p.running.push({ w, fn, end: p.clock.ms + (40 + 300 * lacking) * Math.max(1, w.inFlight) });
  }
}

/** Ends every request still running. */
function settle(p: Process): void {
  advance(p, p.clock.ms + 60_000);
}

const learned = (p: Process): Record<string, unknown> => {
  const { clusterServiceMs, warmMs, perPackageMs, completions } = p.balancer.describe!();
  return { clusterServiceMs, warmMs, perPackageMs, completions };
};

const learning: [string, Record<string, unknown>][] = [['cost-aware', {}], ['pkg-aware', { loadThreshold: 'auto' }]];

for (const [policy, settings] of learning) {
  t.test(`${policy}: processes that fold every process's observations in one order hold the same estimates`, async (t) => {
    const [a, b] = [processOf(policy, settings, 'relay'), processOf(policy, settings, 'relay')];
    const [randomA, randomB] = [seededRandom(11), seededRandom(12)];
    traffic(a, 8, randomA);
    advance(a, a.clock.ms + 2000);
    advance(b, a.clock.ms);
    t.ok(a.shared.length > 0, 'a completion goes to the sink');
    const completed = a.shared.filter((o) => o.kind === 'service').length;
    t.ok(completed > 0);
    t.same(learned(a), { clusterServiceMs: null, warmMs: null, perPackageMs: null, completions: { seen: completed, learned: 0 } }, 'and not into the estimates until it comes back');
    // Both serve at once, the load balancer's share each; every 8 requests (200 ms) the primary relays, in the order it received them.
    for (let round = 0; round < 20; round++) {
      if (round > 0) {
        traffic(a, 8, randomA);
        traffic(b, 8, randomB);
      }
      for (const [from, batch] of [[a, a.shared.splice(0)], [b, b.shared.splice(0)]] as const) {
        relay(a, batch, from === a);
        relay(b, batch, from === b);
      }
    }
    const [x, y] = [learned(a), learned(b)];
    const total = (x.completions as { seen: number }).seen + (y.completions as { seen: number }).seen;
    t.ok(typeof x.warmMs === 'number' && typeof x.perPackageMs === 'number', `the traffic taught warm and cold work (${JSON.stringify(x)})`);
    t.same(x.completions, { seen: a.picks.length - a.running.length, learned: total }, 'a learned from every completion, its own and b\'s');
    t.same(y.completions, { seen: b.picks.length - b.running.length, learned: total }, 'b learned from every completion, its own and a\'s');
    for (const key of ['warmMs', 'perPackageMs', 'clusterServiceMs'] as const) t.equal(x[key], y[key], `the same ${key}, to the last bit`);
  });

  t.test(`${policy}: a model whose observations come straight back is a model of one process, pick for pick`, async (t) => {
    const [alone, echoed] = [processOf(policy, settings, 'none'), processOf(policy, settings, 'echo')];
    traffic(alone, 150, seededRandom(5));
    traffic(echoed, 150, seededRandom(5));
    settle(alone);
    settle(echoed);
    t.same(echoed.picks, alone.picks, 'the same picks');
    t.same(learned(echoed), learned(alone), 'the same learned state');
    t.ok(typeof learned(alone).perPackageMs === 'number', 'which learned cold work');
  });
}

t.test('observations of workers the learner does not have are skipped; the work model needs no worker', async (t) => {
  const clock = new ManualClock();
  const sent: Observation[] = [];
  const times = new ServiceTimes(clock.now, undefined, (o) => sent.push(o));
  const work = new WorkModel(clock.now, undefined, (o) => sent.push(o));
  const [w] = pool(1);
  w!.cores = 1;
  times.add(w!);
  work.add(w!);
  w!.inFlight = 1;
  times.update(w!);
  work.taken(w!, functions[2]);
  clock.ms = 50;
  w!.inFlight = 0;
  times.update(w!);
  work.dropped(w!, functions[2]);
  t.match(sent, [
    { kind: 'dispatch', worker: w!.id, fn: functions[2]!.name },
    { kind: 'service', worker: w!.id, area: 50, busy: 50, clusterArea: 50, joint: false },
    { kind: 'work', work: 50, missing: 1 },
  ]);
  sent.shift();

  const other = new ServiceTimes(clock.now);
  const [v] = pool(1);
  other.add(v!);
  other.learn(sent[0]!, undefined);
  t.equal(other.cluster(), undefined, 'a service observation of an unknown worker teaches nothing');
  other.learn(sent[0]!, v);
  t.equal(other.of(v!), 50);
  const otherWork = new WorkModel(clock.now);
  otherWork.learn(sent[1]!, undefined, undefined, false);
  t.equal(otherWork.perPackageMs(), 50, 'a cold run of 50 ms lacking one package, no warm run yet');
});

t.test('another process\'s dispatch: its installs count as under way here, its packages as held', async (t) => {
  const fn = functions[1]!; // scipy, numpy, six
  /** Work observations of one request of `fn` this process sends to a reporting worker that holds `six`, after (or without) another process's dispatch of `fn` there. */
  const ownRequestAfter = (otherDispatched: boolean): Observation[] => {
    const clock = new ManualClock();
    const sent: Observation[] = [];
    const work = new WorkModel(clock.now, undefined, (o) => sent.push(o));
    const [w] = pool(1);
    w!.cores = 1;
    work.add(w!);
    // A first dispatch looks at the set; the report after it is what the worker says it has installed.
    w!.inFlight = 1;
    work.taken(w!, functions[2]);
    w!.inFlight = 0;
    work.dropped(w!, functions[2]);
    w!.packages = new Set(['six']);
    if (otherDispatched) work.learn({ kind: 'dispatch', worker: w!.id, fn: fn.name }, w, fn, false);
    sent.length = 0;
    w!.inFlight = 1;
    work.taken(w!, fn);
    clock.ms += 500;
    w!.inFlight = 0;
    work.dropped(w!, fn);
    return sent.filter((o) => o.kind === 'work');
  };
  t.match(ownRequestAfter(false), [{ kind: 'work', missing: 2 }], 'alone, the request installs scipy and numpy: a cold run');
  t.same(ownRequestAfter(true), [], 'after the other process\'s dispatch it joins those installs: not learned from');

  const clock = new ManualClock();
  const ring = new HashRing();
  const model = new CostModel({ random: seededRandom(1), now: clock.now }, 600_000, ring);
  const [w] = pool(1);
  ring.add(w!);
  model.add(w!);
  clock.ms = 1000;
  t.notOk(model.holds(w!, 'numpy', clock.ms), 'nothing sent there yet');
  model.learn({ kind: 'dispatch', worker: w!.id, fn: fn.name }, w, fn, false);
  t.ok(fn.packages.every((p) => model.holds(w!, p, clock.ms)), 'another process sent the function there: its packages count as held');
  model.learn({ kind: 'dispatch', worker: w!.id, fn: 'f3' }, w, functions[2], true);
  t.notOk(model.holds(w!, 'requests', clock.ms), 'this process\'s own dispatch, come back, was taken in when it happened');
  clock.ms += 700_000;
  t.notOk(model.holds(w!, 'numpy', clock.ms), 'and ages out with the package lifetime');
});
