// `processes: 2`: the real command line as a primary and two serving processes on
// one port, in front of real test workers. Requests over fresh connections reach
// both processes; every process routes on the primary's picture (same homes,
// same drains), /status and /metrics add the processes up, a killed process is
// replaced, SIGHUP reloads and SIGTERM stops gracefully; bad input stops start-up.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { cliPath, startCli, until, type CliProcess } from '../fixtures/end-to-end.js';
import { startTestWorker, type TestWorker } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

interface Answer {
  status: number;
  worker: string | undefined;
  text: string;
}

/** One request on a connection of its own (so the kernel may hand it to either process). */
function fresh(base: string, path: string, method = 'POST', body = path.startsWith('/admin/') ? '' : '{}'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, worker: res.headers['x-warmroute-worker'] as string | undefined, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : body);
  });
}

async function status(base: string): Promise<{ workers: { id: string; limit: number; inFlight: number; served: number; health: string }[]; processes: { index: number; pid: number }[] }> {
  return JSON.parse((await fresh(base, '/status', 'GET')).text) as Awaited<ReturnType<typeof status>>;
}

/** A V8 flag given to the primary's node (results/memory chose this young-generation size). */
const V8_FLAG = '--max-semi-space-size=4';

const functions = ['fa', 'fb', 'fc', 'fd', 'fe', 'ff'];

async function setUp(t: Test, extra: Record<string, unknown> = {}): Promise<{ dir: string; file: string; workers: TestWorker[]; write: (over: Record<string, unknown>) => Promise<void> }> {
  const dir = await tempDir(t, 'warmroute-processes-');
  const workers = await Promise.all([1, 2, 3].map(() => startTestWorker({ delayMs: 2 })));
  t.teardown(() => Promise.all(workers.map((w) => w.close())));
  await writeFile(join(dir, 'registry.json'), JSON.stringify(functions.map((f, i) => ({ handle: f, pkgs: [`pkg${i}`, 'common'] }))));
  const file = join(dir, 'config.json');
  const base = {
    host: '127.0.0.1', port: 0, processes: 2, balancer: 'pkg-aware', registry: 'registry.json', healthIntervalMs: 200,
    connectionsPerWorker: 4, workers: workers.map((w) => ({ url: w.url, id: `w${w.port}` })), ...extra,
  };
  const write = (over: Record<string, unknown>): Promise<void> => writeFile(file, JSON.stringify({ ...base, ...over }));
  await write({});
  return { dir, file, workers, write };
}

t.test('two processes on one port route on one picture', async (t) => {
  const { file, workers, write } = await setUp(t);
  // Three Node processes start on a shared 2-core machine: allow them time. A V8 flag, as the deploy files give one.
  const proxy: CliProcess = await startCli(t, file, 30_000, [V8_FLAG]);
  const listening = await proxy.line((l) => l.msg === 'warmroute listening', 'listening');
  t.equal(listening.processes, 2, 'the primary announces two processes');
  const pids = listening.pids as number[];
  t.equal(new Set(pids).size, 2, 'two process ids');

  await t.test('a function lands on the same home whichever process receives it', async (t) => {
    const homes = new Map<string, Set<string>>();
    for (let round = 0; round < 8; round++) {
      for (const f of functions) {
        const answer = await fresh(proxy.url, `/runLambda/${f}`);
        t.equal(answer.status, 200);
        const seen = homes.get(f) ?? new Set<string>();
        seen.add(answer.worker ?? 'none');
        homes.set(f, seen);
      }
    }
    for (const [f, seen] of homes) t.same([...seen].length, 1, `${f} always on ${[...seen].join(', ')}`);
    const byProcess = new Set(proxy.lines.filter((l) => l.msg === 'access').map((l) => l.process));
    t.same([...byProcess].sort(), [0, 1], 'both processes served requests (access log lines name the process)');
    t.ok(new Set([...homes.values()].map((s) => [...s][0])).size > 1, 'the functions are spread over more than one home');
  });

  await t.test('/status and /metrics add up every process', async (t) => {
    const s = await status(proxy.url);
    t.same(s.processes.map((p) => p.index), [0, 1]);
    t.same(s.workers.map((w) => w.limit), [4, 4, 4], 'the shares of each worker sum to its limit');
    const served = s.workers.reduce((n, w) => n + w.served, 0);
    t.equal(served, 48, 'every request of both processes is counted once');
    const metrics = (await fresh(proxy.url, '/metrics', 'GET')).text;
    const total = [...metrics.matchAll(/^warmroute_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    t.equal(total, 48, 'warmroute_requests_total over the processes');
    t.match(metrics, new RegExp(`warmroute_worker_limit\\{worker="w${workers[0]!.port}"\\} 4\\b`), 'limits add up to the worker\'s');
    t.match(metrics, new RegExp(`warmroute_worker_routable\\{worker="w${workers[0]!.port}"\\} 1\\b`), 'facts every process shares are not added up');
  });

  await t.test('an admin call through either process reaches every process', async (t) => {
    const drained = `w${workers[2]!.port}`;
    const answer = await fresh(proxy.url, `/admin/workers/drain?workers=${drained}`);
    t.equal(answer.status, 200, answer.text);
    t.match(JSON.parse(answer.text), { drained: [{ id: drained }] });
    await until(async () => (await status(proxy.url)).workers.find((w) => w.id === drained)?.health === 'draining', 'the drain in /status');
    const before = workers[2]!.count;
    for (let i = 0; i < 24; i++) t.not((await fresh(proxy.url, `/runLambda/${functions[i % functions.length]}`)).worker, drained);
    t.equal(workers[2]!.count, before, 'no process sends the drained worker anything');
    const refused = await fresh(proxy.url, '/admin/workers/drain?workers=nope');
    t.match(JSON.parse(refused.text), { unknown: ['nope'] }, 'the primary\'s answer is relayed as it is');
  });

  await t.test('a killed process is replaced; requests on it end, the others go on', async (t) => {
    const slow = await startTestWorker({ delayMs: 1500 });
    t.teardown(() => slow.close());
    const added = await fresh(proxy.url, '/admin/workers/add', 'POST', JSON.stringify({ workers: [{ url: slow.url, id: 'slow' }] }));
    t.equal(added.status, 200, added.text);
    for (const w of workers.slice(0, 2)) t.equal((await fresh(proxy.url, `/admin/workers/drain?workers=w${w.port}`)).status, 200);
    // Requests to the slow worker over fresh connections: both processes hold some when one is killed.
    const running = Array.from({ length: 6 }, (_, i) => fresh(proxy.url, `/runLambda/${functions[i]}`).then((a) => a.status, () => 'connection closed'));
    await until(() => slow.current >= 4, 'requests running on the slow worker');
    const victim = pids[0]!;
    process.kill(victim, 'SIGKILL');
    const outcomes = await Promise.all(running);
    t.equal(outcomes.length, 6, 'each request got one outcome');
    t.ok(outcomes.includes(200), `the other process's requests were answered (${outcomes.join(', ')})`);
    t.ok(outcomes.includes('connection closed'), 'the killed process\'s requests ended with their connection');
    await proxy.line((l) => l.msg === 'process restarted and serving', 'the replacement', 15_000);
    const s = await status(proxy.url);
    t.equal(s.processes.length, 2);
    t.notOk(s.processes.some((p) => p.pid === victim), 'the killed process is gone');
    t.equal(s.workers.find((w) => w.id === `w${workers[2]!.port}`)?.health, 'draining', 'the replacement started from the primary\'s picture (the earlier drain)');
    const again = await fresh(proxy.url, '/admin/workers/add', 'POST', JSON.stringify({ workers: workers.map((w) => ({ url: w.url, id: `w${w.port}` })) }));
    t.match(JSON.parse(again.text), { added: [], present: workers.map((w) => `w${w.port}`) }, 'adding the drained workers again undrains them');
    t.equal((await fresh(proxy.url, '/admin/workers/remove?workers=slow')).status, 200);
  });

  await t.test('node flags given to the primary reach every serving process, a replacement too', async (t) => {
    const serving = (await status(proxy.url)).processes.map((p) => p.pid);
    t.equal(serving.length, 2);
    t.notOk(serving.includes(pids[0]!), 'one of them replaced the killed process');
    for (const pid of serving) {
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      t.ok(args.includes(V8_FLAG), `process ${pid} runs with ${V8_FLAG} (${args.join(' ')})`);
    }
  });

  await t.test('SIGHUP reloads every process; SIGTERM lets running requests finish', async (t) => {
    await write({ connectionsPerWorker: 6 });
    proxy.child.kill('SIGHUP');
    await until(async () => (await status(proxy.url)).workers.every((w) => w.limit === 6), 'the new limits in every process', 10_000);
    const slowOne = await startTestWorker({ delayMs: 800 });
    t.teardown(() => slowOne.close());
    await write({ connectionsPerWorker: 6, workers: [{ url: slowOne.url, id: 'slow-one' }] });
    proxy.child.kill('SIGHUP');
    await until(async () => {
      const s = await status(proxy.url);
      return s.workers.map((w) => w.id).join() === 'slow-one' && s.workers[0]!.health === 'up';
    }, 'the reloaded worker list, its worker up', 10_000);
    // An early answer (an error) would leave the worker idle: say so rather than time out.
    let early: Answer | undefined;
    const inFlight = fresh(proxy.url, '/runLambda/fa').then((a) => (early = a));
    await until(() => slowOne.current === 1 || early !== undefined, 'a request running', 10_000);
    t.equal(early, undefined, `the request runs rather than being answered at once (${early?.status} ${early?.text})`);
    proxy.child.kill('SIGTERM');
    t.equal((await inFlight).status, 200, 'the running request finished');
    t.equal(await proxy.exited, 0, 'clean stop: exit 0');
  });
});

t.test('a connection handed to a process that dies before taking it is served by another', async (t) => {
  const { file } = await setUp(t);
  const proxy: CliProcess = await startCli(t, file, 30_000);
  const listening = await proxy.line((l) => l.msg === 'warmroute listening', 'listening');
  const [stuck] = listening.pids as number[];
  // A process that cannot read its messages: the primary gives it one connection (as it gives each process
  // one at a time) and it never says it took it. Killed then, as a process that dies right after the hand-off.
  process.kill(stuck!, 'SIGSTOP');
  t.teardown(() => { try { process.kill(stuck!, 'SIGKILL'); } catch { /* gone */ } });
  let settled = 0;
  const answers = functions.map((f) => fresh(proxy.url, `/runLambda/${f}`).then((a) => a.status, () => 'connection closed').finally(() => { settled++; }));
  await until(() => settled === functions.length - 1, 'the other process to answer all but the stuck connection', 10_000);
  process.kill(stuck!, 'SIGKILL');
  const noAnswer = new Promise<string>((resolve) => { const timer = setTimeout(() => resolve('no answer in 10 s'), 10_000); timer.unref(); });
  const outcomes = await Promise.all(answers.map((a) => Promise.race([a, noAnswer])));
  t.same(outcomes, functions.map(() => 200), 'every request answered, the one handed to the dead process too');
  const byProcess = new Set(proxy.lines.filter((l) => l.msg === 'access').map((l) => l.process));
  t.same([...byProcess], [1], 'all by the process that stayed (the stopped one is process 0: the pids are listed in process order)');
  await proxy.line((l) => l.msg === 'process restarted and serving', 'the replacement', 15_000);
  t.equal((await fresh(proxy.url, '/runLambda/fa')).status, 200, 'and the proxy serves on');
});

t.test('a connection no process takes within queueTimeoutMs is answered 503 by the primary', async (t) => {
  const { file } = await setUp(t, { queueTimeoutMs: 500 });
  const proxy: CliProcess = await startCli(t, file, 30_000);
  const listening = await proxy.line((l) => l.msg === 'warmroute listening', 'listening');
  const pids = listening.pids as number[];
  // Neither process can take a connection: each is given one (and holds it untaken); the third waits in the primary.
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  t.teardown(() => { for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } } });
  const settled: Answer[] = [];
  const answers = [0, 1, 2].map(() => fresh(proxy.url, '/runLambda/fa').then((a) => { settled.push(a); return a; }));
  await until(() => settled.length === 1, 'one connection answered while both processes are stopped', 10_000);
  const waited = settled[0]!;
  t.equal(waited.status, 503, 'answered by the primary');
  t.equal((JSON.parse(waited.text) as { error: { code: string } }).error.code, 'queue_timeout');
  t.match(waited.text, /within 500 ms/, 'the message names the wait');
  const logged = await proxy.line((l) => l.msg === 'the primary answered a connection no serving process took', 'the primary\'s log line');
  t.equal(logged.code, 'queue_timeout', 'the primary logs the answer it gave (no process saw the connection)');
  t.equal(logged.process, 'primary');
  for (const pid of pids) process.kill(pid, 'SIGCONT');
  const statuses = (await Promise.all(answers)).map((a) => a.status).sort();
  t.same(statuses, [200, 200, 503], 'the connections the stopped processes held are served once they run again');
});

t.test('bad input', async (t) => {
  const run = (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> => {
    const child = spawn(process.execPath, [cliPath, 'start', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
    return once(child, 'exit').then(([code]) => ({ code: code as number | null, stderr }));
  };
  const bad = ['0', '-1', '257', 'two', '1.5'];
  for (const value of bad) {
    const { code, stderr } = await run(['--port', '0', '--processes', value]);
    t.equal(code, 2, `--processes ${value}: exit 2`);
    t.match(stderr, /processes/, `--processes ${value}: the message names the key`);
  }
  for (const value of bad) {
    const { code, stderr } = await run(['--port', '0', '--workers', '127.0.0.1:1'], { WARMROUTE_PROCESSES: value });
    t.equal(code, 2, `WARMROUTE_PROCESSES=${value}: exit 2`);
    t.match(stderr, new RegExp(`WARMROUTE_PROCESSES \\(processes\\).*got "${value.replace('.', '\\.')}"`), `WARMROUTE_PROCESSES=${value}: the message names the variable, the key and the value`);
  }
  const dir = await tempDir(t, 'warmroute-processes-bad-');
  for (const value of [0, -1, 257, 'two', 1.5, null]) {
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, workers: ['127.0.0.1:1'], processes: value }));
    const { code, stderr } = await run(['-c', file]);
    t.equal(code, 2, `config processes ${JSON.stringify(value)}: exit 2`);
    t.match(stderr, new RegExp(`config\\.json: processes: must be an integer from 1 to 256, or "auto", got ${JSON.stringify(value)}`), `config processes ${JSON.stringify(value)}: the message names the key and the value`);
  }
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => taken.close(resolve)));
  const port = (taken.address() as AddressInfo).port;
  const { code, stderr } = await run(['--port', String(port), '--processes', '2']);
  t.equal(code, 2, 'a port the primary cannot listen on: exit 2, before any process starts');
  t.match(stderr, /EADDRINUSE/, 'with the reason');
});
