// pipbench demo: simulated workers named worker1..N behind a proxy started as a library.
import { join } from 'node:path';
import t from 'tap';
import { main as demoMain, startDemo } from '../../pipbench/commands/demo.js';
import { captureIO } from '../fixtures/capture-io.js';

const registry = join(process.cwd(), 'pipbench', 'data', 'olscheduler-eval', 'registry_100_5.json');

t.test('the demo routes through the proxy to workers with stable names', async (t) => {
  const demo = await startDemo({
    config: { host: '127.0.0.1', port: 0, balancer: 'round-robin', registry, workers: [], logLevel: 'silent', simulatedWorkers: 4 },
    baseDir: process.cwd(),
    workers: 3,
    timeScale: 0.0001,
  });
  t.teardown(() => demo.close());
  t.same(demo.workers.map((w) => w.name), ['worker1', 'worker2', 'worker3']);
  const seen = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${demo.proxy.url}/runLambda/hdl0_0`, { method: 'POST', body: '{}' });
    t.equal(res.status, 200);
    seen.add(((await res.json()) as { worker: string }).worker);
  }
  t.same([...seen].sort(), ['worker1', 'worker2', 'worker3'], 'round-robin reached every named worker');
  t.match(demo.hint, /curl -s -X POST http:\/\/127\.0\.0\.1:\d+\/runLambda\/hdl0_0/);
  t.match(demo.hint, /3 simulated workers with the round-robin policy/);
});

t.test('demo CLI: bad flags and files are named; it runs until stopped', async (t) => {
  for (const [argv, message] of [
    [['--workers', '0'], /--workers/],
    [['--time-scale', 'fast'], /--time-scale/],
    [['-c', join(process.cwd(), 'absent.json')], /absent\.json.*no such file/],
    [['--bogus'], /bogus/],
  ] as [string[], RegExp][]) {
    const io = captureIO();
    t.not(await demoMain(argv, io), 0, argv.join(' '));
    t.match(io.err(), message);
  }
  const stop = new AbortController();
  const io = { ...captureIO(), stop: stop.signal };
  const dir = t.testdir({ 'c.json': JSON.stringify({ host: '127.0.0.1', port: 0, balancer: 'pkg-aware', registry, logLevel: 'silent' }) });
  let ended = false;
  const running = demoMain(['-c', join(dir, 'c.json'), '--workers', '2', '--time-scale', '0.0001'], io).finally(() => { ended = true; });
  // The hint is the demo's "ready" signal; stop looking if the command ended instead.
  while (!ended && !/curl -s (http\S+)\/status/.test(io.err())) await new Promise((r) => setImmediate(r));
  if (ended) {
    t.fail(`the demo ended before it was ready: ${io.err()}`);
    return;
  }
  const url = /curl -s (http\S+)\/status/.exec(io.err())![1]!;
  t.equal((await fetch(`${url}/status`)).status, 200);
  stop.abort();
  t.equal(await running, 0);
});
