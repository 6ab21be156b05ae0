// The command line: start-up refusals (exit 2, the problem named, no stack
// trace), check, --version, --help, and the client commands against a running
// proxy or a loopback server that records what they send.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { startTestProxy } from '../fixtures/servers.js';

const run = promisify(execFile);
const cli = resolve('dist/src/cli.js');

// Every subtest has its own servers, folders and child processes: run them side by side.
t.jobs = 4;

// At most four CLI processes at once, whichever subtests start them: under tap each node start
// also loads tap's process-info hook, and thirty at once on a loaded 2-core machine overran the
// 15 s limit of many (killed, they exit 1 with nothing on stderr).
const MAX_CLI_PROCESSES = 4;
let cliProcesses = 0;
const waitingForCli: (() => void)[] = [];
async function oneOfFew<T>(work: () => Promise<T>): Promise<T> {
  while (cliProcesses >= MAX_CLI_PROCESSES) await new Promise<void>((r) => waitingForCli.push(r));
  cliProcesses++;
  try {
    return await work();
  } finally {
    cliProcesses--;
    waitingForCli.shift()?.();
  }
}

function warmroute(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return oneOfFew(async () => {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], { timeout: 15_000 });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  });
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

  const drained = await warmroute('workers', 'drain', '127.0.0.1:9002', ...target);
  t.equal(drained.code, 0, drained.stderr);
  t.same((JSON.parse(drained.stdout) as { drained: { id: string }[] }).drained.map((d) => d.id), ['127.0.0.1:9002']);

  const status = await warmroute('status', ...target);
  t.equal(status.code, 0);
  const body = JSON.parse(status.stdout) as { balancer: { name: string }; workers: { id: string; weight: number }[] };
  t.equal(body.balancer.name, 'pkg-aware');
  t.same(body.workers.map((w) => [w.id, w.weight]), [['127.0.0.1:9002', 2]]);

  const denied = await warmroute('workers', 'add', '127.0.0.1:9003', '--proxy', proxy.url);
  t.equal(denied.code, 1, 'without the token the proxy refuses');
  t.match(denied.stdout, /unauthorized/);
  t.equal(proxy.table.size, 1);
});

t.test('client commands explain what is wrong', async (t) => {
  const [unreachable, noAction, noUrl, badFlag] = await Promise.all([
    warmroute('status', '--proxy', 'http://127.0.0.1:1'),
    warmroute('workers', 'frob'),
    warmroute('workers', 'add', '--proxy', 'http://127.0.0.1:1'),
    warmroute('status', '--frob'),
  ]);
  t.equal(unreachable.code, 1);
  t.match(unreachable.stderr, /cannot reach the proxy at http:\/\/127.0.0.1:1/);
  t.equal(noAction.code, 2);
  t.match(noAction.stderr, /needs "add", "remove" or "drain", got "frob"/);
  t.equal(noUrl.code, 2);
  t.match(noUrl.stderr, /at least one worker URL/);
  t.equal(badFlag.code, 2);
  t.match(badFlag.stderr, /--frob/);
});

t.test('workers drain posts the workers to /admin/workers/drain with the token', async (t) => {
  const received: { method?: string; url?: string; auth?: string; body: string }[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, auth: req.headers.authorization, body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"drained":["127.0.0.1:9001"]}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const run = await warmroute('workers', 'drain', '127.0.0.1:9001', 'http://127.0.0.1:9002', '--proxy', url, '--token', 'tok');
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /drained/);
  t.equal(received.length, 1);
  t.match(received[0], { method: 'POST', url: '/admin/workers/drain', auth: 'Bearer tok' });
  t.same(JSON.parse(received[0]!.body), { workers: ['127.0.0.1:9001', 'http://127.0.0.1:9002'] });
});

t.test('--version and -V print the version of package.json', async (t) => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  const flags = ['--version', '-V'];
  const runs = await Promise.all(flags.map((flag) => warmroute(flag)));
  for (const [i, flag] of flags.entries()) {
    t.equal(runs[i]!.code, 0, flag);
    t.equal(runs[i]!.stdout, `${version}\n`, flag);
  }
});

t.test('check: valid configs exit 0 with a summary; warnings on stderr', async (t) => {
  const dir = t.testdir({
    'ols.json': JSON.stringify({ _comment: 'thesis run', name: 'run-1', workerDelay: 5, balancer: 'pkg-aware', 'load-threshold': 3, registry: 'registry.json', packages: 'packages.json', workers: ['localhost:8080', '1', 'localhost:8081', '2'] }),
    'registry.json': '[{"handle": "foo", "pkgs": ["pkg0", "pkg1"]}, {"handle": "bar", "pkgs": ["pkg0", "pkg2"]}]',
    'packages.json': '[{"name": "pkg0", "bytes": 10, "installMs": 100, "importMs": 5}, {"name": "pkg1", "bytes": 1, "installMs": 1, "importMs": 1}]',
  });
  const [ok, example, empty] = await Promise.all([
    warmroute('check', '-c', join(dir, 'ols.json')),
    warmroute('check', '-c', 'config/olscheduler.json'),
    warmroute('check', '-c', 'config/olscheduler.json', '--workers', ''),
  ]);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, `${join(dir, 'ols.json')}: valid: balancer pkg-aware, 2 workers, 2 functions, 2 packages\n`);
  t.match(ok.stderr, /warning: .*unknown config key "name" ignored/);
  t.match(ok.stderr, /warning: .*unknown config key "workerDelay" ignored/);
  t.match(ok.stderr, /warning: package table .* lacks 1 package\(s\) the registry names \(e\.g\. "pkg2"\)/);
  t.notMatch(ok.stderr, /_comment/);
  t.equal(example.code, 0, example.stderr);
  t.match(example.stdout, /valid: balancer pkg-aware, 2 workers, 2 functions, no package table/);
  t.match(empty.stderr, /no workers and no dnsName/);
});

t.test('check: invalid configs exit 2 naming the problem', async (t) => {
  const dir = t.testdir({
    'typo.json': '{"loadTreshold": 3}',
    'extra.json': '{"name": "x", "_comment": "fine"}',
    'badreg.json': '{"registry": "reg.json"}',
    'reg.json': '[{"handle": ".."}]',
    'badpkg.json': '{"packages": "p.json"}',
    'p.json': '[{"name": "a", "bytes": -1, "installMs": 1, "importMs": 1}]',
    'deep.json': '{"registry": "deep-reg.json"}',
    'deep-reg.json': '['.repeat(100_000) + ']'.repeat(100_000),
  });
  const cases: [string[], RegExp][] = [
    [['typo.json'], /unknown config key "loadTreshold" \(did you mean "loadThreshold"\?\)/],
    [['extra.json', '--strict'], /unknown config key "name" \(strict/],
    [['badreg.json'], /reg\.json: entry 0 has handle "\.\."/],
    [['badpkg.json'], /p\.json: package "a" needs "bytes"/],
    [['deep.json'], /deep-reg\.json: entry 0 is an array of 1 item/],
    [['missing.json'], /missing\.json: cannot read it \(ENOENT\)/],
    [['extra.json', '--queue-limt', '3'], /unknown flag "--queue-limt" for check \(did you mean "--queue-limit"\?\)/],
  ];
  const [runs, strictOk, noFile] = await Promise.all([
    Promise.all(cases.map(([[file, ...rest]]) => warmroute('check', '-c', join(dir, file!), ...rest))),
    warmroute('check', '-c', join(dir, 'extra.json')),
    warmroute('check'),
  ]);
  for (const [i, [[file, ...rest], message]] of cases.entries()) {
    const run = runs[i]!;
    t.equal(run.code, 2, `${file} ${rest.join(' ')}: exit 2 (stderr: ${run.stderr.trim()})`);
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
    t.equal(run.stdout, '', 'no summary');
  }
  t.equal(strictOk.code, 0, 'without --strict an unknown key is a warning');
  t.equal(noFile.code, 2);
  t.match(noFile.stderr, /check needs -c FILE/);
});

interface Started { code: number | null; stdout: string; stderr: string }

/** Runs `warmroute start`; stops it with SIGTERM once it logs that it listens. */
function start(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  return oneOfFew(() => new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, 'start', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (stdout.includes('warmroute listening')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  }));
}

// check covers every rule; these show that start takes the same path to exit 2.
const refusedAtStart: [string, Record<string, unknown>, RegExp][] = [
  ['a near-miss key', { loadTreshold: 3 }, /did you mean "loadThreshold"/],
  ['a timer beyond 2^31-1 ms', { failTimeoutMs: 3e9 }, /failTimeoutMs: must be whole milliseconds from 1 to 2147483647, got 3000000000/],
  ['a weight written 1e5', { workers: ['127.0.0.1:19701', '1e5'] }, /worker "127.0.0.1:19701" has weight "1e5" \(100000\)/],
];

t.test('start refuses a bad config: exit 2 and a message', async (t) => {
  const dir = t.testdir(Object.fromEntries(refusedAtStart.map(([, values], i) => [`c${i}.json`, JSON.stringify({ port: 0, ...values })])));
  const runs = await Promise.all(refusedAtStart.map((_c, i) => start(['-c', join(dir, `c${i}.json`)])));
  for (const [i, [what, , message]] of refusedAtStart.entries()) {
    t.equal(runs[i]!.code, 2, `${what}: exit status (stderr: ${runs[i]!.stderr.trim()})`);
    t.match(runs[i]!.stderr, message, what);
    t.notMatch(runs[i]!.stderr, /\n\s+at /, 'no stack trace');
  }
});

t.test('start refuses unknown flags and bad environment values', async (t) => {
  const [flag, env] = await Promise.all([start(['--prot', '1']), start(['--port', '0'], { WARMROUTE_QUEUE_LIMIT: 'lots' })]);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /unknown flag "--prot" for start \(did you mean "--port"\?\)/);
  t.equal(env.code, 2);
  t.match(env.stderr, /environment WARMROUTE_QUEUE_LIMIT \(queueLimit\): must be an integer from 0 to 1000000, got "lots"/);
});

t.test("an olscheduler config with its users' extra keys starts, warning about them", async (t) => {
  const dir = t.testdir({
    'c.json': JSON.stringify({ _comment: 'thesis experiment', name: 'run-1', workerDelay: 5, host: '127.0.0.1', port: 0, balancer: 'pkg-aware', 'load-threshold': 3, registry: resolve('config/registry.json'), workers: ['localhost:9021', '1'] }),
  });
  const run = await start(['-c', join(dir, 'c.json')]);
  t.match(run.stdout, /warmroute listening/, run.stderr);
  // Warnings go to the proxy's log, one JSON line each, once the logger exists.
  t.match(run.stdout, /"level":40[^\n]*unknown config key \\"name\\" ignored/);
  t.match(run.stdout, /"level":40[^\n]*unknown config key \\"workerDelay\\" ignored/);
  t.notMatch(run.stdout + run.stderr, /_comment/);
});

t.test('--help on each command', async (t) => {
  const commands = [['--help'], ['start', '--help'], ['check', '--help'], ['workers', '--help'], ['status', '--help']];
  const [runs, unknown] = await Promise.all([Promise.all(commands.map((args) => warmroute(...args))), warmroute('launch')]);
  for (const [i, args] of commands.entries()) {
    t.equal(runs[i]!.code, 0, args.join(' '));
    t.match(runs[i]!.stdout, /usage: warmroute/);
  }
  const help = runs[1]!;
  t.match(help.stdout, /--load-threshold/, 'policy settings are listed');
  t.match(help.stdout, /WARMROUTE_WORKER_QUEUE_LIMIT/);
  t.match(help.stdout, /--eject-on-5xx/);
  const main = runs[0]!;
  t.match(main.stdout, /check -c FILE/);
  t.match(main.stdout, /workers drain URL/);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "launch"/);
});
