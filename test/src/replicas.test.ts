// Several proxies in front of the same workers, without shared state: the load
// correction at the table and policy level (WorkerView.external from the
// workers' own reports), then three replicas on loopback over three workers
// that serve the live-state contract.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createBalancer } from '../../balancers/index.js';
import type { LambdaInfo } from '../../balancers/types.js';
import type { RunningProxy } from '../../src/app.js';
import type { Clock } from '../../src/clock.js';
import type { WorkerSpec } from '../../src/worker-specs.js';
import { WorkerTable, type Worker } from '../../src/workers.js';
import { abandon, until } from '../fixtures/end-to-end.js';
import { startFaultWorker, type FaultWorker } from '../fixtures/fault-worker.js';
import { inBatches, invoke, seededRandom, startTestProxy } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

// --- the correction, on the real worker table and policies (no sockets) ---

/** Time stands still: these tests drive the table by hand. */
const stillClock: Clock = { now: () => 0, setTimer: () => ({ cancel() {} }) };

function tableWith(balancer: string, ids: readonly string[], settings: Record<string, unknown> = {}, limit = 4): WorkerTable {
  const table = new WorkerTable(
    createBalancer(balancer, settings, { random: seededRandom(7), now: () => 0 }),
    stillClock,
    { connectionsPerWorker: limit, failTimeoutMs: 1000, ejectionMaxMs: 1000, healthFall: 1, healthRise: 1 },
  );
  const specs: WorkerSpec[] = ids.map((id, i) => ({ id, url: `http://127.0.0.1:${9100 + i}`, address: `127.0.0.1:${9100 + i}`, weight: 1 }));
  table.add(specs);
  return table;
}

const byId = (table: WorkerTable, id: string): Worker => table.get(id)!;

t.test('a report sets external = reported in-flight minus this proxy\'s own, never below 0, and leaves the connection limit alone', async (t) => {
  const table = tableWith('least-loaded', ['a', 'b'], {}, 2);
  const a = byId(table, 'a');
  t.equal(a.external, 0, 'no report yet: 0');
  table.take(a);
  table.reported(a, { inFlight: 5 });
  t.equal(a.external, 4, 'reported 5 while this proxy runs 1 there: 4 are other proxies\'');
  t.equal(table.freeCount, 2, 'external load does not take this proxy\'s connections');
  t.equal(a.limit, 2, 'the limit stays this proxy\'s share');
  table.reported(a, { inFlight: 0 });
  t.equal(a.external, 0, 'reported less than our own: 0, not negative');
  table.reported(a, { inFlight: 3 });
  table.reported(a, { packages: ['numpy'] });
  t.equal(a.external, 2, 'a report without inFlight leaves the estimate as it was');
  table.drop(a);
  t.equal(a.external, 2, 'our own requests ending do not move it; the next report does');
});

t.test('least-loaded re-keys on a report: the worker other replicas load is avoided, and taken again once they leave', async (t) => {
  const table = tableWith('least-loaded', ['a', 'b']);
  const a = byId(table, 'a');
  const b = byId(table, 'b');
  table.take(b);
  const fn: LambdaInfo = { name: 'f', packages: [] };
  t.equal(table.pick(fn), a, 'by our own counts a (0) is less loaded than b (1)');
  table.reported(a, { inFlight: 3 });
  t.equal(table.pick(fn), b, 'a reports 3 of other proxies\' requests: b (1) wins');
  table.reported(a, { inFlight: 0 });
  t.equal(table.pick(fn), a, 'they finished: a again');
});

t.test('pkg-aware: reported load moves the choice to the second candidate, and past the threshold spills', async (t) => {
  const table = tableWith('pkg-aware', ['w0', 'w1', 'w2', 'w3'], { loadThreshold: 3 });
  const fn: LambdaInfo = { name: 'f', packages: ['numpy'] };
  const home = table.pick(fn)!;
  // The second candidate is what our own load on the home reveals.
  table.take(home);
  const second = table.pick(fn)!;
  table.drop(home);
  t.not(second, home, 'the key has two distinct candidates');
  t.equal(table.pick(fn), home, 'idle: the home');
  table.reported(home, { inFlight: 1 });
  t.equal(table.pick(fn), second, 'home loaded through another replica: the second candidate wins');
  table.reported(second, { inFlight: 3 });
  table.reported(home, { inFlight: 3 });
  const spilled = table.pick(fn)!;
  t.not(spilled, home, 'both candidates at the threshold by other replicas\' load: spilled');
  t.not(spilled, second, 'to another worker');
  t.equal(spilled.external, 0, 'the least-loaded one');
  t.equal(home.inFlight + second.inFlight, 0, 'while this proxy itself runs nothing there');
});

t.test('olscheduler ring: the fallback compares reported load too', async (t) => {
  const table = tableWith('pkg-aware', ['w0', 'w1', 'w2'], { loadThreshold: 1, ring: 'olscheduler' });
  const fn: LambdaInfo = { name: 'f', packages: ['numpy'] };
  const [w0, w1, w2] = table.workers as [Worker, Worker, Worker];
  for (const w of [w0, w1, w2]) table.reported(w, { inFlight: 1 });
  t.equal(table.pick(fn), w0, 'every worker at the threshold by reported load: the first in list order');
  table.reported(w0, { inFlight: 2 });
  t.equal(table.pick(fn), w1, 'the first reports more: the next in list order');
  table.reported(w1, { inFlight: 3 });
  t.equal(table.pick(fn), w2, 'and the next');
});

t.test('hashing-bounded: other replicas\' load counts in the worker\'s load and in the average', async (t) => {
  const table = tableWith('hashing-bounded', ['w0', 'w1', 'w2'], { balanceFactor: 1.25 });
  const fn: LambdaInfo = { name: 'f', packages: ['numpy'] };
  const first = table.pick(fn)!;
  table.reported(first, { inFlight: 1 });
  t.equal(table.balancer.describe?.().routableLoad, 1, 'the total includes the reported load');
  // Bound ceil(1.25 x (1 + 1) / 3) = 1: the worker with 1 reported request is full for this key.
  t.not(table.pick(fn), first, 'the key moves on along the ring');
  table.reported(first, { inFlight: 0 });
  t.equal(table.pick(fn), first, 'and comes back when the load is gone');
});

// --- three replicas on loopback ---

interface StatusWorker { id: string; inFlight: number; limit: number; reported: { inFlight: number | null } | null }

async function statusWorkers(proxy: RunningProxy): Promise<StatusWorker[]> {
  return ((await invoke(proxy.url, '/status', { method: 'GET', body: '' })).json as { workers: StatusWorker[] }).workers;
}

/** Every replica has a fresh report from every worker, and sees no other replica's load anywhere. */
async function quiet(proxies: readonly RunningProxy[]): Promise<void> {
  const since = performance.now();
  await until(
    () => proxies.every((p) => p.table.workers.every((w) => w.lastReport !== undefined && w.lastReport > since && w.external === 0)),
    'every replica has a report newer than the last request from every worker, with no external load',
  );
}

const functions: LambdaInfo[] = [
  { name: 'f0', packages: ['numpy', 'six'] },
  { name: 'f1', packages: ['pandas', 'numpy'] },
  { name: 'f2', packages: ['scipy'] },
  { name: 'f3', packages: ['requests', 'urllib3'] },
  // Shares f0's largest package, so shares its home.
  { name: 'f4', packages: ['numpy', 'simplejson'] },
  { name: 'f5', packages: ['flask'] },
];

const SHARE = 2;

t.test('3 replicas over 3 workers: shared homes, limits summed over shares, and load seen across replicas', async (t) => {
  const workers = await Promise.all([startFaultWorker(), startFaultWorker(), startFaultWorker()]);
  for (const w of workers) {
    w.delayMs = 25;
    w.statusPackages = [];
  }
  const dir = await tempDir(t, 'warmroute-replicas-');
  const registry = join(dir, 'registry.json');
  await writeFile(registry, JSON.stringify(functions.map((f) => ({ handle: f.name, pkgs: f.packages }))));
  // Each replica writes the worker addresses its own way and lists them in its own order; the
  // stable ids are what they share, so placement must not depend on the rest.
  const forms = [(p: number) => `http://127.0.0.1:${p}`, (p: number) => `127.0.0.1:${p}`, (p: number) => `http://127.0.0.1:${p}/`];
  const proxies = await Promise.all(forms.map((form, r) => {
    const list = workers.map((w, i) => ({ url: form(w.port), id: `w${i}` }));
    return startTestProxy({
      registry,
      balancer: 'pkg-aware',
      loadThreshold: 10,
      connectionsPerWorker: SHARE,
      healthIntervalMs: 30,
      healthTimeoutMs: 1000,
      workers: r === 2 ? list.reverse() : list,
    });
  }));
  t.teardown(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(workers.map((w) => w.close()));
  });
  const workerOf = (id: string): FaultWorker => workers[Number(id.slice(1))]!;

  // Interleaved invocations through all replicas, heavier than one replica's shares can carry.
  const total = 120;
  const replies = await inBatches(total, 36, (i) => {
    const proxy = proxies[i % 3]!;
    const fn = functions[Math.floor(i / 3) % functions.length]!;
    return invoke(proxy.url, `/runLambda/${fn.name}`);
  });
  t.same(replies.filter((r) => r.status !== 200).map((r) => r.status), [], 'every invocation answered 200');
  const peaks = workers.map((w) => w.maxConcurrent);
  t.ok(peaks.every((p) => p <= 3 * SHARE), `no worker ran more than the replicas' shares summed, ${3 * SHARE} (peaks ${peaks.join(', ')})`);
  t.ok(Math.max(...peaks) > SHARE, `replicas overlapped on a worker beyond one share (peak ${Math.max(...peaks)})`);

  // Homes: each function once through each replica, each time after every replica has seen the
  // workers idle, so the home is the policy's first choice and not a load decision.
  const homes = new Map<string, string[]>();
  for (const fn of functions) {
    const seen: string[] = [];
    for (const proxy of proxies) {
      await quiet(proxies);
      const reply = await invoke(proxy.url, `/runLambda/${fn.name}`);
      t.equal(reply.status, 200);
      seen.push(String(reply.headers['x-warmroute-worker']));
    }
    homes.set(fn.name, seen);
  }
  for (const [name, seen] of homes) t.same(new Set(seen).size, 1, `${name}: the same home in all replicas (${seen.join(', ')})`);
  t.equal(homes.get('f4')![0], homes.get('f0')![0], 'functions sharing their largest package share the home');
  const distinct = new Set([...homes.values()].map((s) => s[0]));
  t.ok(distinct.size >= 2, `homes spread over ${distinct.size} workers, so agreement is not trivial`);

  // Live state: load f0's home through replica 0 only; the others learn it from the worker's report.
  const [a, b, c] = proxies as [RunningProxy, RunningProxy, RunningProxy];
  const f0 = functions[0]!;
  const homeId = homes.get('f0')![0]!;
  const home = workerOf(homeId);
  await quiet(proxies);
  home.mode = 'hang';
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const held = abandon(a.url, `/runLambda/${f0.name}`, released);
  await until(() => home.current === 1, 'the held request runs on the home');
  home.mode = 'ok';
  t.equal(a.table.get(homeId)!.inFlight, 1, 'replica 0 placed it on the home');
  for (const other of [b, c]) await until(() => other.table.get(homeId)!.external === 1, 'the others see the load after the next poll');
  const shown = (await statusWorkers(b)).find((w) => w.id === homeId)!;
  t.equal(shown.inFlight, 0, '/status of replica 1: none of its own requests on the home');
  t.equal(shown.reported?.inFlight, 1, '/status of replica 1: the home reports one in flight');
  // Replica 0 knows the load first hand; its choice is the second candidate.
  const second = a.table.pick(f0)!;
  t.not(second.id, homeId, 'replica 0 would send f0 to its second candidate');
  t.equal(c.table.pick(f0)?.id, second.id, 'replica 2 would too');
  const viaB = await invoke(b.url, `/runLambda/${f0.name}`);
  t.equal(viaB.status, 200);
  t.equal(viaB.headers['x-warmroute-worker'], second.id, 'replica 1 avoids the loaded home: the second candidate wins');

  release();
  await held;
  await until(() => home.current === 0, 'the held request ended at the worker');
  await quiet(proxies);
  const back = await invoke(b.url, `/runLambda/${f0.name}`);
  t.equal(back.headers['x-warmroute-worker'], homeId, 'once the report shows the home idle, f0 goes home again');
  for (const p of proxies) {
    await p.scheduler.whenIdle();
    t.equal(p.scheduler.running + p.scheduler.waiting, 0, 'every replica ends idle');
  }
});
