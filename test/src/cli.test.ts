// The client commands against a real running proxy: workers add/remove and status.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { startTestProxy } from '../fixtures/servers.js';

const run = promisify(execFile);
const cli = resolve('dist/src/cli.js');

async function warmroute(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('workers add, remove and status talk to a running proxy', async (t) => {
  const proxy = await startTestProxy({ adminToken: 'tok', workers: [] });
  t.teardown(() => proxy.close());
  const target = ['--proxy', proxy.url, '--token', 'tok'];

  const added = await warmroute('workers', 'add', '127.0.0.1:9001', 'http://127.0.0.1:9002=2', ...target);
  t.equal(added.code, 0, added.stderr);
  t.same(JSON.parse(added.stdout).added, ['127.0.0.1:9001', '127.0.0.1:9002']);
  t.same(proxy.table.workers.map((w) => [w.id, w.weight]), [['127.0.0.1:9001', 1], ['127.0.0.1:9002', 2]]);

  const removed = await warmroute('workers', 'remove', '127.0.0.1:9001', ...target);
  t.equal(removed.code, 0);
  t.same(proxy.table.workers.map((w) => w.id), ['127.0.0.1:9002']);

  const status = await warmroute('status', ...target);
  t.equal(status.code, 0);
  const body = JSON.parse(status.stdout) as { balancer: string; workers: { id: string; weight: number }[] };
  t.equal(body.balancer, 'pkg-aware');
  t.same(body.workers.map((w) => [w.id, w.weight]), [['127.0.0.1:9002', 2]]);

  const denied = await warmroute('workers', 'add', '127.0.0.1:9003', '--proxy', proxy.url);
  t.equal(denied.code, 1, 'without the token the proxy refuses');
  t.match(denied.stdout, /unauthorized/);
  t.equal(proxy.table.size, 1);
});

t.test('client commands explain what is wrong', async (t) => {
  const unreachable = await warmroute('status', '--proxy', 'http://127.0.0.1:1');
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /cannot reach the proxy at http:\/\/127.0.0.1:1/);
  const noAction = await warmroute('workers', 'frob');
  t.equal(noAction.code, 2);
  t.match(noAction.stderr, /needs "add" or "remove", got "frob"/);
  const noUrl = await warmroute('workers', 'add', '--proxy', 'http://127.0.0.1:1');
  t.equal(noUrl.code, 2);
  t.match(noUrl.stderr, /at least one worker URL/);
  const badFlag = await warmroute('status', '--frob');
  t.equal(badFlag.code, 2);
  t.match(badFlag.stderr, /--frob/);
});
