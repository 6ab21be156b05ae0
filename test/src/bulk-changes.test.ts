// Batches of table changes reach the policy as batches (a ring is rebuilt once), and a worker's
// metric series leave with it.
import t from 'tap';
import { HashRing } from '../../balancers/hash-ring.js';
import type { Balancer } from '../../balancers/types.js';
import { eventHooks } from '../../balancers/worker-index.js';
import { VirtualClock } from '../../pipbench/simulate/virtual-clock.js';
import type { WorkerSpec } from '../../src/config.js';
import { WorkerTable } from '../../src/workers.js';
import { client, invoke, startTestProxy, startTestWorker } from '../fixtures/servers.js';
import { request } from 'undici';
import { Writable } from 'node:stream';
import pino from 'pino';

function spec(i: number): WorkerSpec {
  return { id: `w${i}`, url: `http://10.0.${i >> 8}.${i & 255}:8080`, address: `10.0.${i >> 8}.${i & 255}:8080`, weight: 1, connections: 4 };
}

/** A table over a ring-keeping policy, counting the ring's rebuilds. */
function ringTable(): { table: WorkerTable; ring: HashRing } {
  const ring = new HashRing();
  const balancer: Balancer = { name: 'ring', ...eventHooks(ring), pick: () => undefined };
  const table = new WorkerTable(balancer, new VirtualClock(), { connectionsPerWorker: 4, failTimeoutMs: 1000, ejectionMaxMs: 1000, healthFall: 1, healthRise: 1 });
  return { table, ring };
}

t.test('removing 10,000 workers in one call rebuilds the ring once', async (t) => {
  const { table, ring } = ringTable();
  table.add(Array.from({ length: 10_000 }, (_, i) => spec(i)));
  t.equal(ring.workerCount, 10_000);
  const before = ring.rebuilds;
  table.remove(table.workers.slice(0, 9_999));
  t.equal(ring.rebuilds - before, 1, 'one rebuild for the whole batch');
  t.equal(ring.workerCount, 1);
  t.equal(ring.pointCount, 100, 'only the last worker\'s points are left');
  t.equal(ring.ownerOf(0)?.id, table.workers[0]!.id);
});

t.test('re-weighting 10,000 workers in one batch rebuilds the ring once; retiring them, once', async (t) => {
  const { table, ring } = ringTable();
  table.add(Array.from({ length: 10_000 }, (_, i) => spec(i)));
  let before = ring.rebuilds;
  table.updateMany(table.workers.map((worker) => ({ worker, weight: 2, limit: 4 })));
  t.equal(ring.rebuilds - before, 1, 'one rebuild for the whole batch');
  t.equal(ring.pointCount, 10_000 * 200, 'every worker placed again at its new weight');
  before = ring.rebuilds;
  table.updateMany(table.workers.map((worker) => ({ worker, weight: 2, limit: 8 })));
  t.equal(ring.rebuilds - before, 0, 'a new limit does not move points');
  before = ring.rebuilds;
  table.retire([...table.workers]);
  t.equal(ring.rebuilds - before, 1, 'idle workers retired in one batch');
  t.equal(table.size, 0);
});

t.test('workers built ahead by prepareAdd are added with the limit in force when the add comes', async (t) => {
  const { table, ring } = ringTable();
  const specs = Array.from({ length: 3_000 }, (_, i) => ({ ...spec(i), connections: undefined }));
  let pauses = 0;
  await table.prepareAdd(specs, async () => void pauses++);
  t.ok(pauses >= 2, 'building 3,000 workers paused between slices');
  table.add(specs.slice(0, 1_000));
  t.ok(table.workers.every((w) => w.limit === 4), 'built with the limit then in force');
  table.setOptions({ connectionsPerWorker: 8, failTimeoutMs: 1000, ejectionMaxMs: 1000, healthFall: 1, healthRise: 1 });
  const later = table.add(specs.slice(1_000));
  t.equal(later.length, 2_000);
  t.ok(later.every((w) => w.limit === 8), 'a limit changed since the preparation is the one they get');
  t.equal(ring.workerCount, 3_000);
  t.same(table.add(specs.slice(0, 10)), [], 'a spec already added adds nothing');
});

async function metricsText(base: string): Promise<string> {
  const res = await request(`${base}/metrics`, { dispatcher: client });
  return res.body.text();
}

t.test('after a worker is removed, /metrics holds none of its series', async (t) => {
  const kept = await startTestWorker();
  const gone = await startTestWorker();
  const proxy = await startTestProxy({ balancer: 'round-robin', workers: [{ url: kept.url, id: 'kept' }, { url: gone.url, id: 'gone' }] });
  t.teardown(async () => {
    await proxy.close();
    await kept.close();
    await gone.close();
  });
  for (let i = 0; i < 4; i++) t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200);
  proxy.drainWorkers(['gone']);
  const before = await metricsText(proxy.url);
  t.match(before, /warmroute_requests_total\{worker="gone"/, 'the worker had request series');
  t.match(before, /warmroute_health_transitions_total\{worker="gone",to="draining"\}/, 'and a transition series');
  proxy.removeWorkers(['gone']);
  const after = await metricsText(proxy.url);
  t.notMatch(after, /worker="gone"/, 'no series of the removed worker');
  t.match(after, /warmroute_requests_total\{worker="kept"/, 'the other worker keeps its series');
});

t.test('a batch drain or removal logs its health moves one line per kind of move; a single change keeps its own line', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const workers = Array.from({ length: 5 }, (_, i) => ({ id: `b${i}`, url: `http://127.0.0.1:${9 + i}` }));
  const proxy = await startTestProxy({ balancer: 'pkg-aware', healthIntervalMs: 0, workers }, { logger: pino({ level: 'info' }, sink) });
  t.teardown(() => proxy.close());
  const moves = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'worker health changed');
  proxy.drainWorkers(['b0', 'b1', 'b2']);
  t.equal(moves().length, 1, 'one line for three drains');
  t.same(moves()[0]!.workers, ['b0', 'b1', 'b2']);
  t.equal(moves()[0]!.count, 3);
  t.equal(moves()[0]!.to, 'draining');
  proxy.drainWorkers(['b3']);
  t.equal(moves().length, 2);
  t.equal(moves()[1]!.worker, 'b3', 'a single move keeps the per-worker form');
  proxy.removeWorkers(['b0', 'b1', 'b2', 'b3', 'b4']);
  const removal = moves().slice(2);
  t.same(removal.map((l) => [l.from, l.to, l.count ?? 1]), [['draining', 'removed', 4], ['up', 'removed', 1]], 'grouped by the move: four drained, one up');
});
