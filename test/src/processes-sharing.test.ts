// `processes: 2` sharing a worker's connections by need: a process whose requests
// wait borrows the connections the other leaves free, through the primary; the
// worker never sees more requests at once than its limit; a process that dies
// leaves its connections to the others; SIGTERM while a replacement is still
// loading stops the proxy cleanly.
import { writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { startCli, until } from '../fixtures/end-to-end.js';
import { startTestWorker } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

/** One request on a connection of its own; resolves with the body. */
function fresh(base: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpRequest(`${base}${path}`, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => resolve(text));
    }).on('error', reject).end();
  });
}

async function status(base: string): Promise<{ workers: { limit: number }[]; processes: { index: number; pid: number }[] }> {
  return JSON.parse(await fresh(base, '/status')) as Awaited<ReturnType<typeof status>>;
}

/** A POST on a keep-alive agent of one connection; resolves with the status. */
function onAgent(base: string, path: string, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

t.test('a process whose requests wait borrows the connections another leaves free, never more than the limit in all', async (t) => {
  const dir = await tempDir(t, 'warmroute-processes-borrow-');
  const worker = await startTestWorker({ delayMs: 400 });
  t.teardown(() => worker.close());
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, processes: 2, balancer: 'round-robin', healthIntervalMs: 0, connectionsPerWorker: 4, workers: [{ url: worker.url, id: 'only' }] }));
  const proxy = await startCli(t, file, 30_000);
  await proxy.line((l) => l.msg === 'warmroute listening', 'listening');
  // Keep-alive connections, one per agent, until each process has accepted four; the access log says which
  // process accepted each. All are made now: a connection made while a process is dying can be handed to
  // it and hang (README, "Processes"), which this test is not about.
  const byProcess = new Map<number, Agent[]>();
  const agents: Agent[] = [];
  t.teardown(() => { for (const a of agents) a.destroy(); });
  for (let i = 0; byProcess.size < 2 || [...byProcess.values()].some((list) => list.length < 4); i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    t.equal(await onAgent(proxy.url, `/runLambda/probe-${i}`, agent), 200);
    const line = await proxy.line((l) => l.msg === 'access' && l.fn === `probe-${i}`, `probe ${i}`);
    const list = byProcess.get(line.process as number) ?? [];
    list.push(agent);
    byProcess.set(line.process as number, list);
  }
  const [[busy, busyAgents], [, other]] = [...byProcess];
  const four = busyAgents!.slice(0, 4);
  t.ok(other!.length >= 4, 'the other process holds four connections too');
  worker.maxConcurrent = 0;
  const first = four.map((a) => onAgent(proxy.url, '/runLambda/fn', a));
  await until(() => worker.current === 4, 'four requests of one process running at once (its share is 2)', 10_000);
  t.same(await Promise.all(first), [200, 200, 200, 200]);
  const s = await status(proxy.url);
  t.equal(s.workers[0]!.limit, 4, 'the processes\' limits still sum to the worker\'s');

  // Both processes at once, more requests than connections: never more than 4 at the worker.
  const all = [...four, ...other!.slice(0, 4)].flatMap((a) => [onAgent(proxy.url, '/runLambda/fn', a), onAgent(proxy.url, '/runLambda/fn', a)]);
  t.ok((await Promise.all(all)).every((code) => code === 200), 'every request answered 200');
  t.equal(worker.maxConcurrent, 4, 'at most the limit in use across the processes');
  const metrics = await fresh(proxy.url, '/metrics');
  t.match(metrics, /^warmroute_connection_slots_received_total [1-9]\d*$/m, 'received connections are counted');
  t.match(metrics, /^warmroute_connection_slots_handed_back_total [1-9]\d*$/m, 'handed-back connections are counted');

  // The process that borrowed dies with its requests: its connections are the survivor's to use.
  const pids = (await status(proxy.url)).processes;
  const victim = pids.find((p) => p.index === busy)!.pid;
  const dying = four.map((a) => onAgent(proxy.url, '/runLambda/fn', a).catch(() => 'closed'));
  await until(() => worker.current === 4, 'four running in the process about to die', 10_000);
  process.kill(victim, 'SIGKILL');
  t.ok((await Promise.all(dying)).every((r) => r === 'closed'), 'its requests ended with their connections');
  await until(() => worker.current === 0, 'the worker finished them');
  worker.maxConcurrent = 0;
  const survivors = other!.slice(0, 4).map((a) => onAgent(proxy.url, '/runLambda/fn', a));
  await until(() => worker.current === 4, 'four requests of the surviving process running at once', 10_000);
  t.same(await Promise.all(survivors), [200, 200, 200, 200]);
  t.equal(worker.maxConcurrent, 4);

  // SIGTERM while a replacement is still loading: it missed the stop message, and is stopped when it says hello.
  await proxy.line((l) => l.msg === 'process restarted and serving', 'the first replacement', 15_000);
  const restarts = proxy.lines.filter((l) => l.msg === 'process exited; starting another in its place').length;
  process.kill((await status(proxy.url)).processes[0]!.pid, 'SIGKILL');
  await until(() => proxy.lines.filter((l) => l.msg === 'process exited; starting another in its place').length > restarts, 'the primary starting a replacement');
  proxy.child.kill('SIGTERM');
  t.equal(await proxy.exited, 0, 'the proxy stops cleanly');
});

