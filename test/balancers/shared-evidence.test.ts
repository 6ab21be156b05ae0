// The learned models' observations (what a proxy of several processes shares): a
// model fed another's observations learns what that one learned, through the
// same code; handing observations out changes nothing of the model's own picks.
import t from 'tap';
import type { Observation } from '../../balancers/evidence.js';
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

function processOf(policy: string, settings: Record<string, unknown>, sharing: boolean): Process {
  const clock = new ManualClock();
  const shared: Observation[] = [];
  const env: PolicyEnv = { random: seededRandom(3), now: clock.now, share: sharing ? (o) => shared.push(o) : undefined };
  const balancer = createBalancer(policy, settings, env);
  const workers = pool(3, { limit: 4 });
  for (const w of workers) w.cores = 1;
  balancer.addedMany?.(workers);
  return { clock, workers, balancer, shared, picks: [], running: [] };
}

function workerOf(p: Process): (id: string) => TestWorker | undefined {
  return (id) => p.workers.find((w) => w.id === id);
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
  t.test(`${policy}: a policy fed another's observations learns what it learned`, async (t) => {
    const a = processOf(policy, settings, true);
    traffic(a, 120, seededRandom(7));
    settle(a);
    const own = learned(a);
    t.ok(typeof own.warmMs === 'number' && typeof own.perPackageMs === 'number', `the traffic taught warm and cold work (${JSON.stringify(own)})`);
    t.equal(a.shared.filter((o) => o.kind === 'service').length, a.picks.length, 'one service observation per completion');

    const b = processOf(policy, settings, true);
    b.balancer.learn!(a.shared, workerOf(b));
    const taught = learned(b);
    t.equal(taught.warmMs, own.warmMs, 'the same warm work, to the last bit');
    t.equal(taught.perPackageMs, own.perPackageMs, 'the same work per missing package');
    t.equal(taught.clusterServiceMs, own.clusterServiceMs, 'the same service time');
    t.same(taught.completions, { own: 0, shared: a.picks.length }, 'every completion counted as another process\'s');
    t.same(b.shared, [], 'what it learned from others it does not hand on');
  });

  t.test(`${policy}: two processes that exchange their observations agree`, async (t) => {
    const [a, b] = [processOf(policy, settings, true), processOf(policy, settings, true)];
    const [randomA, randomB] = [seededRandom(11), seededRandom(12)];
    // Both serve at once, the load balancer's share each; every 8 requests (200 ms) each passes on what it observed.
    for (let round = 0; round < 20; round++) {
      traffic(a, 8, randomA);
      traffic(b, 8, randomB);
      const [fromA, fromB] = [a.shared.splice(0), b.shared.splice(0)];
      b.balancer.learn!(fromA, workerOf(b));
      a.balancer.learn!(fromB, workerOf(a));
    }
    const [x, y] = [learned(a), learned(b)];
    t.same(x.completions, { own: a.picks.length - a.running.length, shared: b.picks.length - b.running.length }, 'a learned from every completion of b');
    t.same(y.completions, { own: b.picks.length - b.running.length, shared: a.picks.length - a.running.length }, 'b learned from every completion of a');
    for (const key of ['warmMs', 'perPackageMs', 'clusterServiceMs'] as const) {
      const [p, q] = [x[key] as number, y[key] as number];
      t.ok(Math.abs(p - q) <= 0.1 * Math.max(p, q), `${key}: ${p} and ${q} within 10%`);
    }
  });

  t.test(`${policy}: handing observations out changes nothing of the policy's own picks and model`, async (t) => {
    const [quiet, sharing] = [processOf(policy, settings, false), processOf(policy, settings, true)];
    traffic(quiet, 150, seededRandom(5));
    traffic(sharing, 150, seededRandom(5));
    settle(quiet);
    settle(sharing);
    t.same(sharing.picks, quiet.picks, 'the same picks');
    t.same(learned(sharing), learned(quiet), 'the same learned state');
    t.same(quiet.shared, [], 'without a sink nothing is handed out');
    t.ok(sharing.shared.length > 0);
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
  t.match(sent, [{ kind: 'service', worker: w!.id, area: 50, busy: 50, clusterArea: 50, joint: false }, { kind: 'work', work: 50, missing: 1 }]);

  const other = new ServiceTimes(clock.now);
  const [v] = pool(1);
  other.add(v!);
  other.learn(sent[0]!, undefined);
  t.equal(other.cluster(), undefined, 'a service observation of an unknown worker teaches nothing');
  other.learn(sent[0]!, v);
  t.equal(other.of(v!), 50);
  const otherWork = new WorkModel(clock.now);
  otherWork.learn(sent[1]!);
  t.equal(otherWork.perPackageMs(), 50, 'a cold run of 50 ms lacking one package, no warm run yet');
});
