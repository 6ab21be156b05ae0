// Routing policies end to end: real workers, a real proxy, real HTTP on loopback.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import t from 'tap';
import { countBy, inBatches, invoke, seededRandom, startTestProxy, startTestWorker, type TestWorker } from '../fixtures/servers.js';

async function workers(n: number, delayMs = 0): Promise<TestWorker[]> {
  return Promise.all(Array.from({ length: n }, () => startTestWorker({ delayMs })));
}

function registryFile(t: { testdir(): string }, entries: { handle: string; pkgs: string[] }[]): string {
  const dir = t.testdir();
  const path = join(dir, 'registry.json');
  writeFileSync(path, JSON.stringify(entries));
  return path;
}

t.test('pkg-aware sends sequential invocations of one function to one worker', async (t) => {
  const ws = await workers(4);
  const proxy = await startTestProxy({
    balancer: 'pkg-aware',
    registry: registryFile(t, [{ handle: 'fn', pkgs: ['numpy', 'six'] }]),
    workers: ws.map((w) => w.url),
  });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  const seen = [];
  for (let i = 0; i < 3; i++) {
    const r = await invoke(proxy.url, '/runLambda/fn');
    t.equal(r.status, 200);
    seen.push(r.headers['x-warmroute-worker']);
  }
  t.equal(new Set(seen).size, 1, `all three on one worker: ${seen.join(', ')}`);
  t.equal(ws.filter((w) => w.count > 0).length, 1, 'only one worker was contacted');
  const home = proxy.table.get(String(seen[0]))!;
  t.ok(home.packages.has('numpy') && home.packages.has('six'), 'the worker is recorded as holding the packages');
});

t.test('pkg-aware with load threshold 3: eight concurrent calls stay on two candidates until they reach 3', async (t) => {
  const ws = await workers(6, 300);
  const proxy = await startTestProxy({
    balancer: 'pkg-aware',
    loadThreshold: 3,
    registry: registryFile(t, [{ handle: 'slow', pkgs: ['tensorflow'] }]),
    workers: ws.map((w) => w.url),
  });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  const replies = await Promise.all(Array.from({ length: 8 }, () => invoke(proxy.url, '/runLambda/slow')));
  t.ok(replies.every((r) => r.status === 200), 'all answered 200');
  const per = [...countBy(replies.map((r) => String(r.headers['x-warmroute-worker']))).values()];
  t.ok(Math.max(...per) <= 3, `at most 3 on any worker: ${per.join(',')}`);
  t.ok(per.filter((n) => n > 1).length <= 2, `at most two workers above one: ${per.join(',')}`);
  t.ok(Math.max(...ws.map((w) => w.maxConcurrent)) <= 3, 'no worker ever held more than 3 at once');
});

t.test('pkg-aware spreads functions whose largest packages differ', async (t) => {
  const ws = await workers(6);
  const fns = Array.from({ length: 30 }, (_, i) => ({ handle: `f${i}`, pkgs: [`big${i}`, 'common'] }));
  const proxy = await startTestProxy({ balancer: 'pkg-aware', registry: registryFile(t, fns), workers: ws.map((w) => w.url) });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  const homes = [];
  for (const f of fns) homes.push((await invoke(proxy.url, `/runLambda/${f.handle}`)).headers['x-warmroute-worker']);
  t.ok(new Set(homes).size >= 4, `30 functions reach ${new Set(homes).size} of 6 workers`);
});

t.test('round-robin honours weights 1 and 2 exactly', async (t) => {
  const ws = await workers(2);
  const proxy = await startTestProxy({ balancer: 'round-robin', workers: [ws[0]!.url, '1', ws[1]!.url, '2'].map((x) => x.replace('http://', '')) });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  const replies = await inBatches(300, 10, () => invoke(proxy.url, '/runLambda/any'));
  t.ok(replies.every((r) => r.status === 200));
  t.equal(ws[0]!.count, 100);
  t.equal(ws[1]!.count, 200);
});

t.test('random honours weights 1 and 2 within 10%', async (t) => {
  const ws = await workers(2);
  const proxy = await startTestProxy({ balancer: 'random', workers: [{ url: ws[0]!.url, weight: 1 }, { url: ws[1]!.url, weight: 2 }] }, { random: seededRandom(7) });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  // Below the connection limits (2 x 10): weights decide. At saturation a request takes whichever connection frees.
  await inBatches(3000, 8, () => invoke(proxy.url, '/run/any'));
  const ratio = ws[1]!.count / ws[0]!.count;
  t.equal(ws[0]!.count + ws[1]!.count, 3000);
  t.ok(ratio > 1.8 && ratio < 2.2, `weight-2 worker got ${ratio.toFixed(3)}x the weight-1 worker`);
});

t.test('least-loaded keeps equal workers within one request of each other', async (t) => {
  const ws = await workers(3, 20);
  const proxy = await startTestProxy({ balancer: 'least-loaded', workers: ws.map((w) => w.url) });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  let worst = 0;
  const sample = setInterval(() => {
    const loads = proxy.table.workers.map((w) => w.inFlight);
    worst = Math.max(worst, Math.max(...loads) - Math.min(...loads));
  }, 1);
  // Closed loop: 12 clients, each sends again as soon as it has an answer.
  await inBatches(600, 12, () => invoke(proxy.url, '/runLambda/any'));
  clearInterval(sample);
  t.ok(worst <= 1, `largest in-flight difference seen: ${worst}`);
  t.ok(ws.every((w) => w.count > 150), `every worker shared: ${ws.map((w) => w.count).join(',')}`);
});

t.test('hashing-bounded keeps one function on one worker while load is low', async (t) => {
  const ws = await workers(5);
  const proxy = await startTestProxy({ balancer: 'hashing-bounded', registry: registryFile(t, [{ handle: 'g', pkgs: ['pandas'] }]), workers: ws.map((w) => w.url) });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  for (let i = 0; i < 5; i++) t.equal((await invoke(proxy.url, '/runLambda/g')).status, 200);
  t.equal(ws.filter((w) => w.count > 0).length, 1);
});

t.test('pkg-aware-ring: a function that overflows its home keeps overflowing onto the same workers', async (t) => {
  const ws = await workers(6, 200);
  const proxy = await startTestProxy({
    balancer: 'pkg-aware-ring',
    loadThreshold: 1,
    registry: registryFile(t, [{ handle: 'burst', pkgs: ['torch'] }]),
    workers: ws.map((w) => w.url),
  });
  t.teardown(async () => { await proxy.close(); await Promise.all(ws.map((w) => w.close())); });
  const burst = async (): Promise<string[]> =>
    (await Promise.all(Array.from({ length: 4 }, () => invoke(proxy.url, '/runLambda/burst')))).map((r) => String(r.headers['x-warmroute-worker']));
  const first = await burst();
  const second = await burst();
  t.equal(new Set(first).size, 4, `threshold 1: four concurrent calls on four workers (${first.join(', ')})`);
  t.same(new Set(second), new Set(first), 'the second burst overflows onto the same four workers');
  t.ok(ws.every((w) => w.maxConcurrent <= 1), 'no worker above the threshold');
});
