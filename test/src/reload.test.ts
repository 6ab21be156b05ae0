// Full reload and shutdown, end to end through the real command line:
// `node dist/src/cli.js start -c FILE` (built by `npx tsc -p tsconfig.json`),
// driven by rewriting its config file, SIGHUP, POST /admin/reload and SIGTERM,
// under a steady load of real requests.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startProxy } from '../../src/app.js';
import { startCli, until } from '../fixtures/end-to-end.js';
import { startFaultWorker } from '../fixtures/fault-worker.js';
import { invoke, startTestWorker, type TestWorker } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

interface Status { balancer: { name: string }; workers: { id: string; weight: number; limit: number }[] }

async function status(url: string): Promise<Status> {
  return (await invoke(url, '/status', { method: 'GET', body: '' })).json as Status;
}

interface Outcome { epoch: number; status: number; worker: string }

/** The epoch of requests sent while a reload is being applied. */
const TRANSITION = -1;

/**
 * A bounded loop of requests from a few clients at once, each request
 * stamped with the epoch (the configuration the test knows to be in force)
 * current when it was sent.
 */
function steadyLoad(url: string, clients: number, max: number) {
  const outcomes: Outcome[] = [];
  let sent = 0;
  let stopped = false;
  const state = { epoch: 0 };
  const finished = Promise.all(Array.from({ length: clients }, async () => {
    while (!stopped && sent < max) {
      const epoch = state.epoch;
      const name = `f${sent++ % 8}`;
      const outcome = await invoke(url, `/runLambda/${name}`).then(
        (r) => ({ epoch, status: r.status, worker: String(r.headers['x-warmroute-worker'] ?? '') }),
        () => ({ epoch, status: 0, worker: '' }),
      );
      outcomes.push(outcome);
    }
  }));
  return {
    state,
    outcomes,
    servedBy: (epoch: number, worker: string): number => outcomes.filter((o) => o.epoch === epoch && o.worker === worker).length,
    async stop(): Promise<void> {
      stopped = true;
      await finished;
    },
  };
}

t.test('reload under steady load: SIGHUP and POST /admin/reload apply good configs, refuse broken ones, zero failed requests', async (t) => {
  const ws: TestWorker[] = await Promise.all([0, 1, 2].map(() => startTestWorker({ delayMs: 5 })));
  t.teardown(() => Promise.all(ws.map((w) => w.close())));
  const dir = await tempDir(t, 'warmroute-reload-');
  const file = join(dir, 'config.json');
  const worker = (i: number, weight = 1) => ({ url: ws[i]!.url, id: `w${i}`, weight });
  const base = { host: '127.0.0.1', port: 0, logLevel: 'info', accessLog: false, connectionsPerWorker: 4, healthIntervalMs: 0 };
  await writeFile(file, JSON.stringify({ ...base, balancer: 'round-robin', workers: [worker(0), worker(1)] }));
  const cli = await startCli(t, file);
  const load = steadyLoad(cli.url, 4, 50_000);
  t.teardown(() => load.stop());

  await until(() => load.servedBy(0, 'w0') >= 10 && load.servedBy(0, 'w1') >= 10, 'both first workers serve');

  // SIGHUP: remove w0, add w2, re-weight w1, switch the policy.
  await writeFile(file, JSON.stringify({ ...base, balancer: 'least-loaded', workers: [worker(1, 3), worker(2)] }));
  load.state.epoch = TRANSITION;
  cli.child.kill('SIGHUP');
  await until(async () => (await status(cli.url)).balancer.name === 'least-loaded', 'the new policy shows in /status');
  load.state.epoch = 1;
  const afterHup = await status(cli.url);
  t.same(afterHup.workers.map((w) => [w.id, w.weight]), [['w1', 3], ['w2', 1]], 'w0 removed, w1 re-weighted, w2 added');
  await cli.line((l) => l.msg === 'configuration reloaded', 'about the reload');
  await until(() => load.servedBy(1, 'w2') >= 10, 'the new worker gets traffic');

  // Broken configs through SIGHUP: nothing changes, a log line names the problem.
  const broken: [string, RegExp][] = [
    ['{ "balancer": "round-robin", "workers": [', /not valid JSON/],
    [JSON.stringify({ ...base, balancer: 'round-robin', queueTimeoutMs: 'soon', workers: [worker(0)] }), /queueTimeoutMs/],
  ];
  for (const [text, problem] of broken) {
    await writeFile(file, text);
    const seen = cli.lines.length;
    cli.child.kill('SIGHUP');
    const logged = await cli.line((l) => cli.lines.indexOf(l) >= seen && /reload failed/.test(String(l.msg)), 'about the failed reload');
    t.match(String(logged.err), problem, `SIGHUP with a broken config: the log names the problem (${String(logged.err)})`);
    const now = await status(cli.url);
    t.equal(now.balancer.name, 'least-loaded', 'the policy is unchanged');
    t.same(now.workers.map((w) => [w.id, w.weight]), afterHup.workers.map((w) => [w.id, w.weight]), 'the workers are unchanged');
  }
  const servedBefore = load.outcomes.length;
  await until(() => load.outcomes.length >= servedBefore + 20, 'the proxy keeps serving');

  // POST /admin/reload does what SIGHUP does.
  await writeFile(file, JSON.stringify({ ...base, balancer: 'pkg-aware', workers: [worker(0), worker(1)] }));
  // Requests sent while the reload is under way may be placed under either config: they count in neither epoch.
  load.state.epoch = TRANSITION;
  const reloaded = await invoke(cli.url, '/admin/reload', { body: '' });
  t.equal(reloaded.status, 200, 'POST /admin/reload answers 200');
  t.match(reloaded.json, { balancer: 'pkg-aware', workers: ['w1', 'w0'] }, 'and says what is now in force');
  load.state.epoch = 2;
  t.equal((await status(cli.url)).balancer.name, 'pkg-aware', '/status shows the new policy');
  await until(() => load.servedBy(2, 'w0') >= 5 && load.servedBy(2, 'w1') >= 5, 'the re-added worker gets traffic again');
  for (const [text, problem] of broken) {
    await writeFile(file, text);
    const seen = cli.lines.length;
    const refused = await invoke(cli.url, '/admin/reload', { body: '' });
    t.equal(refused.status, 400, 'POST /admin/reload with a broken config: 400');
    t.match((refused.json as { error: { message: string } }).error.message, problem, 'naming the problem');
    const logged = await cli.line((l) => cli.lines.indexOf(l) >= seen && /reload failed/.test(String(l.msg)), 'about the failed admin reload');
    t.match(String(logged.err), problem, 'and the log says why');
    t.equal((await status(cli.url)).balancer.name, 'pkg-aware', 'policy unchanged');
  }
  t.equal((await invoke(cli.url, '/readyz', { method: 'GET', body: '' })).status, 200, '/readyz is 200 after the reloads');

  await load.stop();
  const failed = load.outcomes.filter((o) => o.status !== 200);
  t.same(failed, [], `zero failed requests out of ${load.outcomes.length}`);
  t.equal(load.servedBy(1, 'w0'), 0, 'nothing sent after the SIGHUP reload reached the removed worker');
  t.equal(load.servedBy(2, 'w2'), 0, 'nothing sent after the admin reload reached the worker it removed');
  cli.child.kill('SIGTERM');
  t.equal(await cli.exited, 0, 'clean exit');
});

t.test('SIGTERM with a request in flight waits for it and exits 0', async (t) => {
  const w = await startTestWorker({ delayMs: 400 });
  t.teardown(() => w.close());
  const dir = await tempDir(t, 'warmroute-term-');
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'info', healthIntervalMs: 0, workers: [w.url] }));
  const cli = await startCli(t, file);
  let answeredAt = 0;
  const reply = invoke(cli.url, '/runLambda/f').then((r) => {
    answeredAt = performance.now();
    return r;
  });
  await until(() => w.current === 1, 'the request runs on the worker');
  cli.child.kill('SIGTERM');
  const code = await cli.exited;
  const exitedAt = performance.now();
  t.equal((await reply).status, 200, 'the request in flight was answered');
  t.ok(answeredAt > 0 && answeredAt <= exitedAt, 'before the proxy exited');
  t.equal(code, 0, 'exit status 0');
  t.ok(cli.lines.some((l) => l.msg === 'shutting down: waiting for running and queued requests'), 'the shutdown is logged');
});

t.test('SIGTERM with a request hanging past shutdownTimeoutMs exits non-zero and logs what it cut', async (t) => {
  const w = await startFaultWorker();
  w.mode = 'hang';
  t.teardown(() => w.close());
  const dir = await tempDir(t, 'warmroute-cut-');
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'info', healthIntervalMs: 0, shutdownTimeoutMs: 300, workers: [w.url] }));
  const cli = await startCli(t, file);
  const reply = invoke(cli.url, '/runLambda/f').then((r) => `status ${r.status}`, (err: Error) => `cut (${(err as NodeJS.ErrnoException).code ?? err.message})`);
  await until(() => w.current === 1, 'the request hangs on the worker');
  const termAt = performance.now();
  cli.child.kill('SIGTERM');
  const code = await cli.exited;
  t.ok(performance.now() - termAt >= 300, 'the proxy waited shutdownTimeoutMs first');
  t.not(code, 0, `exit status non-zero (${code})`);
  const timedOut = cli.lines.find((l) => /shutdown timed out/.test(String(l.msg)));
  t.match(timedOut, { running: 1, waiting: 0, timeoutMs: 300 }, 'the log says what was still running when the time ran out');
  t.match(cli.lines.find((l) => /forced shutdown/.test(String(l.msg))), { cut: 1 }, 'and how many requests were cut');
  t.match(await reply, /^(cut|status 5\d\d)/, `the client of the cut request learns it (${await reply})`);
});

t.test('a reload re-reads the package table: cost-aware switches from equal costs to the table, and a broken table is refused', async (t) => {
  const dir = await tempDir(t, 'warmroute-packages-');
  const file = join(dir, 'config.json');
  const base = { host: '127.0.0.1', port: 0, logLevel: 'silent', healthIntervalMs: 0, balancer: 'cost-aware', workers: ['127.0.0.1:1'] };
  await writeFile(file, JSON.stringify(base));
  const proxy = await startProxy(base, { configPath: file, baseDir: dir });
  t.teardown(() => proxy.close());
  const costs = async (): Promise<unknown> => ((await status(proxy.url)).balancer as unknown as { packageCosts: string }).packageCosts;
  t.equal(await costs(), 'equal', 'no table: every package counts the same');
  await writeFile(join(dir, 'packages.json'), JSON.stringify([{ name: 'numpy', bytes: 1000, installMs: 900, importMs: 100 }]));
  await writeFile(file, JSON.stringify({ ...base, packages: 'packages.json' }));
  await proxy.reload();
  t.equal(await costs(), 'table', 'the reload read the new table');
  await writeFile(join(dir, 'packages.json'), '[{"name": 3}]');
  await t.rejects(proxy.reload(), /package table .*packages\.json/, 'a broken table is refused, naming the file');
  t.equal(await costs(), 'table', 'and the running policy keeps the table it had');
});

/** One request's single outcome: its HTTP status and error code, or how its connection was cut. */
function outcomeOf(url: string): Promise<string> {
  return invoke(url, '/runLambda/f').then(
    (r) => {
      const code = (r.json as { error?: { code: string } } | undefined)?.error?.code;
      if (r.status === 200) return '200';
      return `${r.status} ${code ?? ''}${r.headers['retry-after'] !== undefined ? ' retry-after' : ''}`;
    },
    () => 'cut',
  );
}

t.test('SIGTERM with more requests than connections: every request gets one answer; only those running at the deadline are cut', async (t) => {
  const w = await startTestWorker({ delayMs: 600 });
  t.teardown(() => w.close());
  const dir = await tempDir(t, 'warmroute-drain-');
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'info', healthIntervalMs: 0, connectionsPerWorker: 2, shutdownTimeoutMs: 1000, workers: [w.url] }));
  const cli = await startCli(t, file);
  const outcomes = Array.from({ length: 10 }, () => outcomeOf(cli.url));
  await until(() => w.current === 2 && cli.lines.length > 0, 'two requests run, the rest wait');
  await new Promise((r) => setTimeout(r, 100));
  cli.child.kill('SIGTERM');
  const code = await cli.exited;
  const all = await Promise.all(outcomes);
  const counts = new Map<string, number>();
  for (const o of all) counts.set(o, (counts.get(o) ?? 0) + 1);
  t.equal(all.length, 10, `one outcome per request: ${JSON.stringify([...counts])}`);
  t.ok(all.every((o) => o === '200' || o === '503 shutting_down retry-after' || o === 'cut'), 'each is 200, 503 shutting_down with Retry-After, or cut');
  t.ok((counts.get('200') ?? 0) >= 2, 'the requests running at SIGTERM finished');
  t.ok((counts.get('503 shutting_down retry-after') ?? 0) >= 1, 'requests still queued at the deadline were answered 503, not reset');
  t.ok((counts.get('cut') ?? 0) <= 2, 'no more were cut than connections ran at the deadline');
  t.not(code, 0, 'requests were cut: exit status non-zero');
});

t.test('during shutdown a request arriving on a kept-alive connection gets 503 shutting_down and connection: close', async (t) => {
  const { connect } = await import('node:net');
  const w = await startTestWorker({ delayMs: 600 });
  t.teardown(() => w.close());
  const dir = await tempDir(t, 'warmroute-keepalive-');
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'info', healthIntervalMs: 0, shutdownTimeoutMs: 20_000, workers: [w.url] }));
  const cli = await startCli(t, file);
  const { hostname, port } = new URL(cli.url);
  const socket = connect(Number(port), hostname);
  t.teardown(() => socket.destroy());
  let received = '';
  socket.setEncoding('utf8').on('data', (c: string) => { received += c; });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const req = `POST /runLambda/f HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}`;
  socket.write(req);
  await until(() => w.current === 1, 'the first request runs');
  cli.child.kill('SIGTERM');
  await cli.line((l) => l.msg === 'shutting down: waiting for running and queued requests', 'the shutdown line');
  socket.write(req);
  await closed;
  const answers = received.split(/(?=HTTP\/1\.1 )/);
  t.equal(answers.length, 2, 'two answers on the connection');
  t.match(answers[0], /^HTTP\/1\.1 200/, 'the running request finished');
  t.match(answers[1], /^HTTP\/1\.1 503/, 'the arrival during shutdown is answered 503');
  t.match(answers[1], /shutting_down/);
  t.match(answers[1], /\r\nconnection: close\r\n/i, 'with connection: close');
  t.equal(await cli.exited, 0, 'nothing was cut');
});

t.test('a second SIGTERM means now: queued requests get 503 shutting_down, the running one is cut, exit 1, logged', async (t) => {
  const w = await startTestWorker({ delayMs: 3000 });
  t.teardown(() => w.close());
  const dir = await tempDir(t, 'warmroute-now-');
  const file = join(dir, 'config.json');
  await writeFile(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'info', healthIntervalMs: 0, connectionsPerWorker: 1, shutdownTimeoutMs: 20_000, workers: [w.url] }));
  const cli = await startCli(t, file);
  const running = outcomeOf(cli.url);
  await until(() => w.current === 1, 'one request runs');
  const queued = Array.from({ length: 3 }, () => outcomeOf(cli.url));
  await new Promise((r) => setTimeout(r, 100));
  cli.child.kill('SIGTERM');
  await cli.line((l) => l.msg === 'shutting down: waiting for running and queued requests', 'the shutdown line');
  const secondAt = performance.now();
  cli.child.kill('SIGTERM');
  const code = await cli.exited;
  t.equal(code, 1, 'exit 1 (not 143: the signal is handled)');
  t.ok(performance.now() - secondAt < 2500, 'at once, before the running request could have finished');
  t.ok(cli.lines.some((l) => l.msg === 'second signal: shutting down now'), 'logged');
  for (const o of await Promise.all(queued)) t.equal(o, '503 shutting_down retry-after', 'queued requests are answered, not reset');
  t.equal(await running, 'cut', 'the running request is cut');
});

t.test('the registry a SIGHUP installs is the one requests and /admin/registry/reload use, also when its path changes', async (t) => {
  const w = await startTestWorker();
  t.teardown(() => w.close());
  const dir = await tempDir(t, 'warmroute-hup-registry-');
  const file = join(dir, 'config.json');
  const first = join(dir, 'first.json');
  const second = join(dir, 'second.json');
  const base = { host: '127.0.0.1', port: 0, logLevel: 'info', accessLog: false, healthIntervalMs: 0, workers: [w.url] };
  await writeFile(first, JSON.stringify([{ handle: 'old', pkgs: ['a'] }]));
  await writeFile(file, JSON.stringify({ ...base, registry: first }));
  const cli = await startCli(t, file);
  const hup = async (what: string): Promise<void> => {
    const seen = cli.lines.length;
    cli.child.kill('SIGHUP');
    await cli.line((l) => cli.lines.indexOf(l) >= seen && l.msg === 'configuration reloaded', what);
  };
  t.equal((await invoke(cli.url, '/runLambda/added')).status, 404, 'not in the registry yet');

  await writeFile(first, JSON.stringify([{ handle: 'old', pkgs: ['a'] }, { handle: 'added', pkgs: ['b'] }]));
  await hup('about the reload that adds a function');
  t.equal((await invoke(cli.url, '/runLambda/added')).status, 200, 'a function added to the registry file answers 200 after SIGHUP, not 404');

  // The config now names another registry file: SIGHUP moves to it, and the registry route re-reads it, not the first.
  await writeFile(second, JSON.stringify([{ handle: 'moved', pkgs: ['c'] }]));
  await writeFile(file, JSON.stringify({ ...base, registry: second }));
  await hup('about the reload that changes the registry path');
  t.equal((await invoke(cli.url, '/runLambda/moved')).status, 200, 'the new registry file is read');
  t.equal((await invoke(cli.url, '/runLambda/old')).status, 404, 'the old one is not');
  await writeFile(second, JSON.stringify([{ handle: 'moved', pkgs: ['c'] }, { handle: 'later', pkgs: ['d'] }]));
  await writeFile(first, JSON.stringify([{ handle: 'old', pkgs: ['a'] }, { handle: 'stale', pkgs: ['e'] }]));
  const again = await invoke(cli.url, '/admin/registry/reload', { body: '' });
  t.equal(again.status, 200);
  t.equal((again.json as { registry?: string }).registry, second, '/admin/registry/reload names the registry SIGHUP installed');
  t.equal((await invoke(cli.url, '/runLambda/later')).status, 200, 'and re-reads it: a function added there answers 200');
  t.equal((await invoke(cli.url, '/runLambda/stale')).status, 404, 'the first file is not read again');
  cli.child.kill('SIGTERM');
  t.equal(await cli.exited, 0);
});
