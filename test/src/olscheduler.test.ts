// warmroute as a drop-in for olscheduler, end to end: an olscheduler-format
// config file (kebab keys, "host:port", "weight" pairs, comment and harness
// keys) with ring "olscheduler" starts through the real command line, `check`
// accepts it, and pkg-aware places one function's concurrent requests as
// olscheduler does, on the home its ring gives.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { OLSCHEDULER_SALT, blake2bPosition, olschedulerPoints } from '../../balancers/olscheduler-ring.js';
import { abandon, cliPath, startCli, until } from '../fixtures/end-to-end.js';
import { startFaultWorker, type FaultWorker } from '../fixtures/fault-worker.js';
import { invoke } from '../fixtures/servers.js';
import { worker } from '../fixtures/views.js';
import { tempDir } from '../fixtures/temp-dir.js';

const run = promisify(execFile);

/**
 * Where olscheduler's ring sends `key` over workers written as `addresses`:
 * every worker's points from the olscheduler ring code, sorted, and the first
 * point at or after the key's position, wrapping to the first.
 */
function ringOwner(addresses: readonly string[], key: string): string {
  const points: { at: bigint; address: string }[] = [];
  for (const address of addresses) {
    olschedulerPoints(worker(address, 1, { url: address }), (hi, lo) => points.push({ at: (BigInt(hi) << 32n) | BigInt(lo), address }));
  }
  points.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  const [hi, lo] = blake2bPosition(key);
  const at = (BigInt(hi) << 32n) | BigInt(lo);
  return (points.find((p) => p.at >= at) ?? points[0]!).address;
}

t.test('an olscheduler config starts; three concurrent requests of a function run on its home, the fourth on the least-loaded worker', async (t) => {
  const workers = await Promise.all([startFaultWorker(), startFaultWorker(), startFaultWorker()]);
  for (const w of workers) w.mode = 'hang';
  t.teardown(() => Promise.all(workers.map((w) => w.close())));
  const addresses = workers.map((w) => `127.0.0.1:${w.port}`);

  // A function whose two candidates, Get(key) and Get(key + "salty"), are one worker: olscheduler
  // then sends it there until the threshold whatever the loads. Ports differ per run, so search.
  let key = '';
  for (let i = 0; key === ''; i++) {
    if (ringOwner(addresses, `pkg${i}`) === ringOwner(addresses, `pkg${i}${OLSCHEDULER_SALT}`)) key = `pkg${i}`;
  }
  const homeAddress = ringOwner(addresses, key);
  const home = workers[addresses.indexOf(homeAddress)]!;

  const dir = await tempDir(t, 'warmroute-olscheduler-');
  await writeFile(join(dir, 'registry.json'), JSON.stringify([
    { handle: 'hello', pkgs: [key, 'six'] },
    { handle: 'other', pkgs: ['requests'] },
  ]));
  const configFile = join(dir, 'olscheduler.json');
  await writeFile(configFile, JSON.stringify({
    _comment: 'the olscheduler configuration as its users write it',
    name: 'pkg-aware-test',
    workerDelay: 0,
    host: '127.0.0.1',
    port: 0,
    balancer: 'pkg-aware',
    ring: 'olscheduler',
    'load-threshold': 3,
    registry: 'registry.json',
    workers: addresses.flatMap((a) => [a, '1']),
  }, null, 2));

  const checked = await run(process.execPath, [cliPath, 'check', '-c', configFile], { timeout: 15_000 });
  t.match(checked.stdout, /valid: balancer pkg-aware, 3 workers, 2 functions/, 'check accepts it');
  t.match(checked.stderr, /unknown config key "name" ignored/, 'naming the harness keys it ignores');
  t.notMatch(checked.stderr, /_comment/, 'comments silently');

  const cli = await startCli(t, configFile);
  const status = (await invoke(cli.url, '/status', { method: 'GET', body: '' })).json as { balancer: Record<string, unknown>; workers: { url: string }[] };
  t.match(status.balancer, { name: 'pkg-aware', ring: 'olscheduler', loadThreshold: 3 }, 'pkg-aware on olscheduler\'s ring, threshold 3');
  t.same(status.workers.map((w) => w.url), addresses, 'the pairs read as three workers of weight 1');

  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  const held: Promise<void>[] = [];
  for (let n = 1; n <= 3; n++) {
    held.push(abandon(cli.url, '/runLambda/hello', released));
    await until(() => home.current === n, `request ${n} runs on the home`);
  }
  t.same(workers.map((w) => w.current), workers.map((w) => (w === home ? 3 : 0)), `three concurrent requests on the home ${homeAddress}, as the ring computed here says`);

  // At the threshold: olscheduler's least-loaded worker, the first in list order among equals.
  const expected = workers.find((w) => w !== home)!;
  held.push(abandon(cli.url, '/runLambda/hello', released));
  await until(() => workers.reduce((n, w) => n + w.current, 0) === 4, 'the fourth request runs');
  t.equal(expected.current, 1, `the fourth goes to the least-loaded worker first in list order (127.0.0.1:${expected.port})`);
  t.equal(home.current, 3, 'not to the home');

  release();
  await Promise.all(held);
  await until(() => workers.every((w: FaultWorker) => w.current === 0), 'the held requests ended at the workers');
  cli.child.kill('SIGTERM');
  t.equal(await cli.exited, 0, 'clean exit');
});
