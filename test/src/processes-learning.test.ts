// `processes: 2` with a learning policy: each process's models learn from every
// request of the proxy, its own and the other's, as the primary relays them in
// batches and in one order, so both hold the same estimates. The real command
// line, real test workers, requests over fresh connections (either process).
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { startCli, until } from '../fixtures/end-to-end.js';
import { startTestWorker } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

/** One request on a connection of its own (so the kernel may hand it to either process); resolves with status and body. */
function fresh(base: string, path: string, method: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{}' : undefined);
  });
}

interface Learned {
  index: number;
  balancer: { warmMs: number | null; perPackageMs: number | null; clusterServiceMs: number | null; completions: { seen: number; learned: number } };
}

async function learned(base: string): Promise<Learned[]> {
  return (JSON.parse((await fresh(base, '/status', 'GET')).text) as { processes: Learned[] }).processes;
}

const functions = ['fa', 'fb', 'fc', 'fd', 'fe', 'ff'];

for (const [policy, extra] of [['cost-aware', {}], ['pkg-aware', { loadThreshold: 'auto' }]] as const) {
  t.test(`${policy}: both processes learn from every request and agree`, async (t) => {
    const dir = await tempDir(t, 'warmroute-processes-learning-');
    const workers = await Promise.all([1, 2, 3].map(() => startTestWorker({ delayMs: 30 })));
    t.teardown(() => Promise.all(workers.map((w) => w.close())));
    await writeFile(join(dir, 'registry.json'), JSON.stringify(functions.map((f, i) => ({ handle: f, pkgs: [`pkg${i}`, 'common'] }))));
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({
      host: '127.0.0.1', port: 0, processes: 2, balancer: policy, ...extra, registry: 'registry.json', healthIntervalMs: 200,
      accessLog: false, connectionsPerWorker: 4, workers: workers.map((w) => ({ url: w.url, id: `w${w.port}` })),
    }));
    // Three Node processes start on a shared 2-core machine: allow them time.
    const proxy = await startCli(t, file, 30_000);

    // Three at a time over fresh connections, so both processes serve and the workers share.
    let sent = 0;
    const failed: string[] = [];
    const next = async (): Promise<void> => {
      while (sent < 90) {
        const f = functions[sent++ % functions.length]!;
        const answer = await fresh(proxy.url, `/runLambda/${f}`, 'POST');
        if (answer.status !== 200) failed.push(`${f}: ${answer.status} ${answer.text}`);
      }
    };
    await Promise.all([next(), next(), next()]);
    t.same(failed, [], 'every request answered by a worker');

    // Every completion reaches both processes within a batch interval.
    let parts: Learned[] = [];
    await until(async () => {
      parts = await learned(proxy.url);
      return parts.length === 2 && parts.every((p) => p.balancer.completions.learned === 90);
    }, 'both processes learned from every completion', 10_000).catch(() => undefined);
    const [a, b] = parts.map((p) => p.balancer);
    t.ok(a!.completions.seen > 0 && b!.completions.seen > 0, `both processes served (${a!.completions.seen} and ${b!.completions.seen})`);
    t.equal(a!.completions.seen + b!.completions.seen, 90, 'each completion seen by the process that dispatched it');
    t.equal(a!.completions.learned, 90, 'process 0 learned from every completion, the other process\'s too');
    t.equal(b!.completions.learned, 90, 'process 1 learned from every completion, the other process\'s too');
    // One sequence of observations, folded in one order: the same estimates to the last bit.
    t.ok(typeof a!.warmMs === 'number' && typeof a!.perPackageMs === 'number' && typeof a!.clusterServiceMs === 'number', `the traffic taught the models (${JSON.stringify(a)})`);
    t.equal(a!.warmMs, b!.warmMs, 'the same warm work');
    t.equal(a!.perPackageMs, b!.perPackageMs, 'the same work per missing package');
    t.equal(a!.clusterServiceMs, b!.clusterServiceMs, 'the same service time');

    const metrics = (await fresh(proxy.url, '/metrics', 'GET')).text;
    const total = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const observations = 3 * 90; // per request: its dispatch, and a service and a work observation of its completion (none joins an install here)
    t.equal(total('warmroute_learning_observations_sent_total'), observations, 'every observation sent once');
    t.equal(total('warmroute_learning_observations_received_total'), 2 * observations, 'and folded by both processes');
    t.equal(total('warmroute_learning_observations_dropped_total'), 0, 'none dropped');
  });
}
