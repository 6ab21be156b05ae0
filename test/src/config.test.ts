// Configuration: file < environment < flags, olscheduler's formats, and start-up errors (exit 2, named key and value).
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import t from 'tap';
import { ConfigError, loadConfig, loadConfigFile, parseWorkers } from '../../src/config.js';

const cli = resolve('dist/src/cli.js');

interface Run { code: number | null; stdout: string; stderr: string }

/** Runs the built CLI; `untilListening` stops it once it logs that it listens. */
function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; untilListening?: boolean } = {}): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (options.untilListening && stdout.includes('warmroute listening')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

t.test('precedence: defaults < file < environment < flags', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ port: 1111, balancer: 'random', loadThreshold: 7 }) });
  const file = loadConfigFile(join(dir, 'c.json'));
  t.equal(file.port, 1111);
  t.equal(file.balancer, 'random');
  t.equal(file.balanceFactor, 1.25, 'default kept');
  const env = loadConfigFile(join(dir, 'c.json'), { env: { WARMROUTE_PORT: '2222', WARMROUTE_LOAD_THRESHOLD: '9' } });
  t.equal(env.port, 2222);
  t.equal(env.loadThreshold, 9);
  const flags = loadConfigFile(join(dir, 'c.json'), { env: { WARMROUTE_PORT: '2222' }, args: ['--port', '3333', '--balancer', 'least-loaded'] });
  t.equal(flags.port, 3333);
  t.equal(flags.balancer, 'least-loaded');
  const envWorkers = loadConfig({ env: { WARMROUTE_WORKERS: 'localhost:8080,1,localhost:8081,2' } });
  t.same(envWorkers.workers, [{ url: 'http://localhost:8080', weight: 1 }, { url: 'http://localhost:8081', weight: 2 }]);
});

t.test('every worker notation', async (t) => {
  t.same(parseWorkers(['localhost:8080', '1', 'localhost:8081', '3']), [
    { url: 'http://localhost:8080', weight: 1 },
    { url: 'http://localhost:8081', weight: 3 },
  ], 'olscheduler pairs');
  t.same(parseWorkers(['http://a:1', 'b:2']), [{ url: 'http://a:1', weight: 1 }, { url: 'http://b:2', weight: 1 }], 'URLs and host:port');
  t.same(parseWorkers([{ url: 'http://a:1', weight: 2 }, { url: 'a:3' }]), [{ url: 'http://a:1', weight: 2 }, { url: 'http://a:3', weight: 1 }], 'objects');
  t.throws(() => parseWorkers(['a:1', '1', 'b:2']), /worker "b:2" has no weight/);
  t.throws(() => parseWorkers([{ url: 'a:1', weight: 0 }]), /weight 0/);
  t.throws(() => parseWorkers([{ url: 'a:1', wieght: 2 }]), /unknown key "wieght"/);
  t.throws(() => parseWorkers(['ftp://a:1']), /only http/);
  t.throws(() => parseWorkers(['http://a:1/path']), /has a path/);
  t.throws(() => parseWorkers({}), /must be a list/);
});

t.test('olscheduler keys are accepted, unknown keys are not', async (t) => {
  const c = loadConfig({ values: { 'load-threshold': 100, balancer: 'pkg-aware' } });
  t.equal(c.loadThreshold, 100);
  t.throws(() => loadConfig({ values: { laodThreshold: 3 }, source: 'x.json' }), new ConfigError('x.json: unknown config key "laodThreshold" (allowed: host, port, balancer, loadThreshold, balanceFactor, registry, workers, connectionsPerWorker, connectTimeoutMs, headersTimeoutMs, bodyTimeoutMs, queueLimit, queueTimeoutMs, maxBodyBytes, failTimeoutMs, adminToken, logLevel, simulatedTimeScale, simulatedWorkers)'));
});

const badConfigs: [string, Record<string, unknown>, RegExp][] = [
  ['unknown key', { prot: 9000 }, /unknown config key "prot"/],
  ['bad port', { port: 70000 }, /port: .*65535.*70000/],
  ['port not a number', { port: 'abc' }, /port: .*"abc"/],
  ['unknown balancer', { balancer: 'fastest' }, /balancer: .*round-robin.*"fastest"/],
  ['zero load threshold', { loadThreshold: 0 }, /loadThreshold: must be a number greater than 0/],
  ['worker without weight', { workers: ['localhost:8080', '1', 'localhost:8081'] }, /workers: worker "localhost:8081" has no weight/],
  ['unreadable registry', { registry: '/nonexistent/registry.json' }, /registry \/nonexistent\/registry.json: cannot read it \(ENOENT\)/],
  ['bad log level', { logLevel: 'loud' }, /logLevel: .*"loud"/],
];

for (const [what, values, message] of badConfigs) {
  t.test(`start-up refuses a config with ${what}: exit 2 and a message`, async (t) => {
    const dir = t.testdir({ 'c.json': JSON.stringify({ port: 0, ...values }) });
    const run = await runCli(['start', '-c', join(dir, 'c.json')]);
    t.equal(run.code, 2, `exit status (stderr: ${run.stderr.trim()})`);
    t.match(run.stderr, message);
    t.notMatch(run.stderr, /\n\s+at /, 'no stack trace');
  });
}

t.test('start-up refuses a malformed registry and a malformed config file', async (t) => {
  const dir = t.testdir({
    'bad.json': '[{"handle": "a", "pkgs": "numpy"}]',
    'notjson.json': '[{"handle": ',
    'c1.json': JSON.stringify({ port: 0, registry: 'bad.json' }),
    'c2.json': JSON.stringify({ port: 0, registry: 'notjson.json' }),
    'c3.json': '{ "port": 0, ',
  });
  const r1 = await runCli(['start', '-c', join(dir, 'c1.json')]);
  t.equal(r1.code, 2);
  t.match(r1.stderr, /bad.json: entry 0 \("a"\) needs "pkgs" as an array/);
  const r2 = await runCli(['start', '-c', join(dir, 'c2.json')]);
  t.equal(r2.code, 2);
  t.match(r2.stderr, /notjson.json: not valid JSON/);
  const r3 = await runCli(['start', '-c', join(dir, 'c3.json')]);
  t.equal(r3.code, 2);
  t.match(r3.stderr, /c3.json: not valid JSON/);
  const r4 = await runCli(['start', '-c', join(dir, 'missing.json')]);
  t.equal(r4.code, 2);
  t.match(r4.stderr, /missing.json: cannot read it \(ENOENT\)/);
  const r5 = await runCli(['start', '--prot', '1']);
  t.equal(r5.code, 2);
  t.match(r5.stderr, /unknown flag "--prot"/);
});

t.test("olscheduler's README config and registry start the proxy unchanged", async (t) => {
  const run = await runCli(['start', '-c', 'config/olscheduler.json'], { untilListening: true });
  t.match(run.stdout, /warmroute listening/);
  const line = JSON.parse(run.stdout.split('\n').find((l) => l.includes('warmroute listening'))!) as { url: string; balancer: string; workers: string[]; functions: number };
  t.equal(line.balancer, 'pkg-aware');
  t.same(line.workers, ['localhost:9021', 'localhost:9022']);
  t.equal(line.functions, 2);
  t.equal(line.url, 'http://localhost:9020');
});

t.test('pair-form workers config loads with its weights', async (t) => {
  const c = loadConfigFile('config/workers-pairs.json');
  t.same(c.workers.map((w) => w.weight), [1, 2]);
  t.equal(c.registry, resolve('config/registry.json'), 'registry path is relative to the config file');
});

t.test('--help on each command', async (t) => {
  for (const args of [['--help'], ['start', '--help'], ['workers', '--help'], ['status', '--help']]) {
    const run = await runCli(args);
    t.equal(run.code, 0, args.join(' '));
    t.match(run.stdout, /usage: warmroute/);
  }
  const start = await runCli(['start', '--help']);
  t.match(start.stdout, /--load-threshold/);
  t.match(start.stdout, /WARMROUTE_QUEUE_LIMIT/);
  const unknown = await runCli(['launch']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command "launch"/);
});
