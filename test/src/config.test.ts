// Configuration: defaults < file < environment < flags, every key bounded with a
// message naming key, value and range, olscheduler's formats and extra keys,
// near-miss keys refused, worker notations and their defects (issue 9).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { policySettings } from '../../balancers/index.js';
import {
  ConfigError, configToValues, describeConfig, kebabCase, loadConfig, loadConfigFile, MAX_CONNECTIONS, MAX_TIMER_MS, MAX_WEIGHT, parseWorkers,
  type ProxyConfig,
} from '../../src/config.js';

/** Loads values and returns the config with the warnings it gave. */
function load(values: Record<string, unknown>, more: { strict?: boolean; env?: NodeJS.ProcessEnv; args?: string[] } = {}): { config: ProxyConfig; warnings: string[] } {
  const warnings: string[] = [];
  const config = loadConfig({ values, source: 'c.json', onWarning: (m) => warnings.push(m), ...more });
  return { config, warnings };
}

/** The ConfigError message a load gives (the test fails if it loads). */
function refusal(values: Record<string, unknown>, more: { strict?: boolean; env?: NodeJS.ProcessEnv; args?: string[] } = {}): string {
  try {
    load(values, more);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error(`loaded without an error: ${JSON.stringify(values)}`);
}

t.test('precedence: defaults < file < environment < flags, policy settings included', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ port: 1111, balancer: 'random', loadThreshold: 7 }) });
  const file = loadConfigFile(join(dir, 'c.json'));
  t.equal(file.port, 1111);
  t.equal(file.balancer, 'random');
  t.equal(file.policy.loadThreshold, 7);
  const defaults = loadConfig();
  t.equal(file.policy.balanceFactor, defaults.policy.balanceFactor, 'a setting not given keeps its default');
  t.equal(file.queueLimit, defaults.queueLimit);
  const env = loadConfigFile(join(dir, 'c.json'), { env: { WARMROUTE_PORT: '2222', WARMROUTE_LOAD_THRESHOLD: '9', WARMROUTE_EJECT_ON_5XX: 'true' } });
  t.equal(env.port, 2222);
  t.equal(env.policy.loadThreshold, 9, 'a numeric string in the environment is a number');
  t.equal(env.ejectOn5xx, true, '"true" in the environment is a boolean');
  const flags = loadConfigFile(join(dir, 'c.json'), {
    env: { WARMROUTE_PORT: '2222' },
    args: ['--port', '3333', '--balancer=least-loaded', '--access-log', 'false', '--eject-on-5xx', '--load-threshold', '4'],
  });
  t.equal(flags.port, 3333);
  t.equal(flags.balancer, 'least-loaded');
  t.equal(flags.accessLog, false);
  t.equal(flags.ejectOn5xx, true, 'a boolean flag alone means true');
  t.equal(flags.policy.loadThreshold, 4);
  t.notOk('loadThreshold' in flags, 'policy settings live under "policy" only');
});

t.test('every policy setting is a key with its environment variable and flag', async (t) => {
  const keys = describeConfig();
  for (const s of policySettings()) {
    const d = keys.find((k) => k.key === s.key);
    t.ok(d, `${s.key} is in the schema`);
    t.equal(d?.env, `WARMROUTE_${kebabCase(s.key).replace(/-/g, '_').toUpperCase()}`);
    t.equal(d?.flag, `--${kebabCase(s.key)}`);
    t.same(loadConfig().policy[s.key], s.parse(s.default), `${s.key} defaults to its declared default`);
  }
  t.equal(kebabCase('ejectOn5xx'), 'eject-on-5xx');
  t.equal(kebabCase('connectionsPerWorker'), 'connections-per-worker');
});

t.test('new keys have their documented defaults', async (t) => {
  const c = loadConfig();
  t.match(c, {
    workerQueueLimit: 100, statusPath: '/status', healthIntervalMs: 2000, healthTimeoutMs: 1000, healthFall: 3, healthRise: 2,
    ejectionMaxMs: 300_000, ejectOn5xx: false, shutdownTimeoutMs: 330_000, accessLog: true, responseTimeoutMs: 900_000,
    clientBodyTimeoutMs: 30_000, packages: '', dnsName: '', dnsType: 'srv', dnsPort: 8080, dnsIntervalMs: 10_000, dnsServer: '',
    healthCheckNewWorkers: true, healthMaxPollsPerSecond: 250, workerCaFile: '', clientKeepAliveTimeoutMs: 65_000, clientHeadersTimeoutMs: 60_000,
  });
  t.notOk('simulatedWorkers' in c, 'the embedded demo keys are gone');
});

t.test('every millisecond key is bounded by 2^31-1 and names key, value and range', async (t) => {
  const policyKeys = new Set(policySettings().map((s) => s.key));
  const msKeys = describeConfig().map((d) => d.key).filter((k) => k.endsWith('Ms') && !policyKeys.has(k));
  t.same(msKeys.sort(), [
    'bodyTimeoutMs', 'clientBodyTimeoutMs', 'clientHeadersTimeoutMs', 'clientKeepAliveTimeoutMs', 'connectTimeoutMs', 'dnsIntervalMs', 'ejectionMaxMs', 'failTimeoutMs', 'headersTimeoutMs',
    'healthIntervalMs', 'healthTimeoutMs', 'queueTimeoutMs', 'responseTimeoutMs', 'shutdownTimeoutMs',
  ], 'the millisecond keys');
  for (const key of msKeys) {
    const extra = key === 'failTimeoutMs' ? { ejectionMaxMs: MAX_TIMER_MS } : {};
    t.equal((load({ [key]: MAX_TIMER_MS, ...extra }).config as unknown as Record<string, number>)[key], MAX_TIMER_MS, `${key} takes 2^31-1`);
    t.match(refusal({ [key]: 3e9 }), new RegExp(`^c\\.json: ${key}: must be whole milliseconds from [01].* to 2147483647, got 3000000000$`), `${key} refuses 3e9`);
    t.match(refusal({ [key]: 1.5 }), new RegExp(`${key}: .*got 1\\.5`), `${key} refuses a fraction`);
    t.match(refusal({ [key]: -1 }), new RegExp(`${key}: .*got -1`), `${key} refuses a negative`);
  }
  t.equal(load({ healthIntervalMs: 0, responseTimeoutMs: 0 }).config.healthIntervalMs, 0, '0 means none where documented');
  t.match(refusal({ queueTimeoutMs: 0 }), /queueTimeoutMs: must be whole milliseconds from 1 to 2147483647, got 0/);
  // The policy's own millisecond setting has the same bound.
  t.equal(load({ balancer: 'cost-aware', packageTtlMs: MAX_TIMER_MS }).config.policy.packageTtlMs, MAX_TIMER_MS, 'packageTtlMs takes 2^31-1');
  t.match(refusal({ balancer: 'cost-aware', packageTtlMs: 3e9 }), /packageTtlMs: must be a number greater than 0 and at most 2147483647, got 3000000000/, 'packageTtlMs refuses 3e9');
});

t.test('counts, ports and limits are bounded', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ port: 70000 }, /port: must be an integer port from 0 to 65535, got 70000/],
    [{ port: 'abc' }, /port: .*got "abc"/],
    [{ connectionsPerWorker: MAX_CONNECTIONS + 1 }, /connectionsPerWorker: must be an integer from 1 to 10000, got 10001/],
    [{ connectionsPerWorker: 0 }, /connectionsPerWorker: .*got 0/],
    [{ queueLimit: 1e6 + 1 }, /queueLimit: must be an integer from 0 to 1000000, got 1000001/],
    [{ workerQueueLimit: -1 }, /workerQueueLimit: must be an integer from 0 to 1000000, got -1/],
    [{ healthFall: 0 }, /healthFall: must be an integer from 1 to 1000, got 0/],
    [{ healthRise: 2.5 }, /healthRise: .*got 2.5/],
    [{ maxBodyBytes: 0 }, /maxBodyBytes: .*got 0/],
    [{ dnsPort: 0 }, /dnsPort: must be an integer port from 1 to 65535, got 0/],
    [{ dnsType: 'aaaa' }, /dnsType: must be one of srv, a, got "aaaa"/],
    [{ dnsServer: '127.0.0.1' }, /dnsServer: must be host:port .*got "127.0.0.1"/],
    [{ dnsName: 'bad name' }, /dnsName: .*got "bad name"/],
    [{ statusPath: 'status' }, /statusPath: must be a path starting with "\/".*got "status"/],
    [{ statusPath: '//evil/status' }, /statusPath: .*got "\/\/evil\/status"/],
    [{ balancer: 'pkg_aware' }, /balancer: must be one of .*\(did you mean "pkg-aware"\?\), got "pkg_aware"/],
    [{ logLevel: 'loud' }, /logLevel: .*got "loud"/],
    [{ accessLog: 'yes' }, /accessLog: must be true or false, got "yes"/],
    [{ host: '' }, /host: .*got ""/],
    [{ port: null }, /port: .*got null/],
    [{ port: { nested: 1 } }, /port: .*got an object/],
    [{ loadThreshold: 0 }, /loadThreshold: .*got 0/],
    [{ failTimeoutMs: 20_000, ejectionMaxMs: 10_000 }, /ejectionMaxMs \(10000\) must be at least failTimeoutMs \(20000\)/],
  ];
  for (const [values, message] of cases) t.match(refusal(values), message, JSON.stringify(values));
  const threshold = refusal({ loadThreshold: 0 });
  t.equal(threshold.match(/got/g)?.length, 1, `the value is named once: ${threshold}`);
  t.notMatch(threshold, /loadThreshold: loadThreshold/, 'the key is named once');
  const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
  t.equal(refusal({ loadThreshold: deep }), 'c.json: loadThreshold: must be a number, a string or a boolean, got an array of 1 item', 'a policy setting never sees a nested value');
  t.match(refusal({ port: deep, workers: deep }), /port: .*got an array of 1 item\nc\.json: workers: entry 0 is an array of 1 item/);
  t.match(refusal({ adminToken: 'has space' }), /adminToken: .*got \(hidden\)/, 'a secret is never echoed');
  const many = refusal({ port: -1, queueLimit: -1 });
  t.equal(many.split('\n').length, 2, 'every problem is reported, one a line');
  t.same(load({ dnsServer: '[::1]:5353', dnsName: '_http._tcp.workers.local', dnsType: 'a' }).config.dnsServer, '[::1]:5353');
});

t.test("olscheduler's extra keys are ignored with a warning; comments silently", async (t) => {
  const { config, warnings } = load({ _comment: 'thesis experiment', name: 'run-1', workerDelay: 5, 'load-threshold': 100, balancer: 'pkg-aware' });
  t.equal(config.policy.loadThreshold, 100, 'load-threshold maps onto loadThreshold');
  t.same(warnings, ['c.json: unknown config key "name" ignored', 'c.json: unknown config key "workerDelay" ignored']);
});

t.test('near misses of known keys are errors with a "did you mean"', async (t) => {
  t.equal(refusal({ loadTreshold: 3 }), 'c.json: unknown config key "loadTreshold" (did you mean "loadThreshold"?)');
  t.equal(refusal({ LoadThreshold: 3 }), 'c.json: unknown config key "LoadThreshold" (did you mean "loadThreshold"?)');
  t.equal(refusal({ 'queue-limt': 3 }), 'c.json: unknown config key "queue-limt" (did you mean "queueLimit"?)');
  t.equal(refusal({ QUEUE_LIMIT: 3 }), 'c.json: unknown config key "QUEUE_LIMIT" (did you mean "queueLimit"?)');
  t.match(refusal({ loadThreshold: 3, 'load-threshold': 4 }), /"loadThreshold" is given twice, as "loadThreshold" and as "load-threshold"/);
  t.equal(load({ queue_limit: 5 }).config.queueLimit, 5, 'snake_case of a key is that key');
});

t.test('strict: every unknown key is an error, comments are still comments', async (t) => {
  t.match(refusal({ name: 'x', _comment: 'y' }, { strict: true }), /^c\.json: unknown config key "name" \(strict/);
  t.notMatch(refusal({ name: 'x', _comment: 'y' }, { strict: true }), /_comment/);
  t.equal(load({ _comment: 'y' }, { strict: true }).warnings.length, 0);
});

t.test('environment and flags: unknown names, bad values', async (t) => {
  const { warnings } = load({}, { env: { WARMROUTE_PROT: '1', HOME: '/x' } });
  t.same(warnings, ['environment variable WARMROUTE_PROT is not a setting and is ignored (did you mean WARMROUTE_PORT?)']);
  t.equal(refusal({}, { env: { WARMROUTE_QUEUE_TIMEOUT_MS: '3e9' } }), 'environment WARMROUTE_QUEUE_TIMEOUT_MS (queueTimeoutMs): must be whole milliseconds from 1 to 2147483647, got "3e9"');
  t.equal(refusal({}, { env: { WARMROUTE_ACCESS_LOG: 'yes' } }), 'environment WARMROUTE_ACCESS_LOG (accessLog): must be true or false, got "yes"');
  t.equal(refusal({}, { args: ['--queue-limt', '3'] }), 'unknown flag "--queue-limt" (did you mean "--queue-limit"?)');
  t.equal(refusal({}, { args: ['--port'] }), 'flag --port needs a value');
  t.equal(refusal({}, { args: ['9090'] }), 'unexpected argument "9090"; settings are given as --key value');
  t.equal(refusal({ port: 1 }, { args: ['--port=x'] }), 'flag --port (port): must be an integer port from 0 to 65535, got "x"');
});

t.test('every worker notation', async (t) => {
  t.same(parseWorkers(['localhost:8080', '1', 'localhost:8081', '3']), [
    { url: 'http://localhost:8080', address: 'localhost:8080', id: 'localhost:8080', weight: 1 },
    { url: 'http://localhost:8081', address: 'localhost:8081', id: 'localhost:8081', weight: 3 },
  ], 'olscheduler pairs');
  t.same(parseWorkers(['http://a:1', 'b:2', 'https://c', 'http://[::1]:9/']), [
    { url: 'http://a:1', address: 'http://a:1', id: 'a:1', weight: 1 },
    { url: 'http://b:2', address: 'b:2', id: 'b:2', weight: 1 },
    { url: 'https://c', address: 'https://c', id: 'c:443', weight: 1 },
    { url: 'http://[::1]:9', address: 'http://[::1]:9/', id: '[::1]:9', weight: 1 },
  ], 'URLs and host:port; the default id is host:port');
  t.same(parseWorkers([{ url: 'http://a:1', id: 'worker-1', weight: 2, connections: 8 }, { url: 'a:3' }]), [
    { url: 'http://a:1', address: 'http://a:1', id: 'worker-1', weight: 2, connections: 8 },
    { url: 'http://a:3', address: 'a:3', id: 'a:3', weight: 1 },
  ], 'objects');
  t.same(parseWorkers('a:1,2,b:2,0.5').map((w) => [w.id, w.weight]), [['a:1', 2], ['b:2', 0.5]], 'comma-separated pairs');
  t.same(parseWorkers('[{"url":"a:1","id":"w1"}]').map((w) => w.id), ['w1'], 'a JSON list in a string');
  t.same(load({}, { env: { WARMROUTE_WORKERS: 'a:1,b:2' } }).config.workers.map((w) => w.url), ['http://a:1', 'http://b:2']);
  t.same(parseWorkers([]), [], 'no workers is allowed (admin API or DNS may add them)');
});

t.test('worker defects of issue 9 and the rules that replace them', async (t) => {
  const refused: [unknown, RegExp][] = [
    [{}, /must be a list of workers.*got an object/],
    [['127.0.0.1:19701', '1e5'], /worker "127.0.0.1:19701" has weight "1e5" \(100000\); a weight is a number greater than 0 and at most 1000/],
    [['1e5'], /entry 0 \("1e5"\) is a weight where a worker address was expected/],
    [['http://user:pw@h:1'], /carries credentials/],
    [['http://@h:1'], /carries credentials/],
    [['http://h:1#frag'], /has a fragment/],
    [['http://h:1/#'], /has a fragment/],
    [['http://h:1?x=1'], /has a query/],
    [['http://h:1?'], /has a query/],
    [['http://h:1/path'], /has a path/],
    [['ftp://h:1'], /only http: and https:/],
    [['h:1 '], /spaces or control characters/],
    [[''], /entry 0 is "".*|empty/],
    [[{ url: 'a:1', weight: 0 }], /weight 0; a weight is a number greater than 0/],
    [[{ url: 'a:1', weight: MAX_WEIGHT + 1 }], /weight 1001;.*at most 1000/],
    [[{ url: 'a:1', weight: Number.NaN }], /weight NaN/],
    [[{ url: 'a:1', connections: 0 }], /connections 0; connections is an integer from 1 to 10000/],
    [[{ url: 'a:1', connections: 20000 }], /connections 20000/],
    [[{ url: 'a:1', id: '' }], /id ""; an id is 1 to 256 printable characters/],
    [[{ url: 'a:1', id: 'has space' }], /id "has space"/],
    [[{ url: 'a:1', id: 'bell\u0007' }], /id "bell\\u0007"/],
    [[{ url: 'a:1', wieght: 2 }], /unknown key "wieght" \(did you mean "weight"\?\)/],
    [[{ id: 'x' }], /needs "url" as a string, got nothing/],
    [['a:1', 'a:1'], /two workers have the id "a:1"/],
    [[{ url: 'a:1', id: 'w' }, { url: 'b:1', id: 'w' }], /two workers have the id "w"/],
    [['a:1', '1', 'b:2'], /worker "b:2" has no weight/],
    [[['a:1']], /entry 0 is an array of 1 item/],
    [[null], /entry 0 is null/],
  ];
  for (const [value, message] of refused) {
    t.throws(() => parseWorkers(value), message, JSON.stringify(value));
  }
  t.match(refusal({ workers: {} }), /^c\.json: workers: must be a list of workers/);
  t.same(parseWorkers([{ url: 'a:1', id: 'w1' }, { url: 'a:1', id: 'w2' }]).map((w) => w.id), ['w1', 'w2'], 'one address under two ids is allowed');
  t.equal(parseWorkers([{ url: 'a:1', weight: MAX_WEIGHT }])[0]!.weight, MAX_WEIGHT);
});

t.test('paths resolve against the config file, or the working directory for env and flags', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ registry: 'reg.json', packages: 'sub/packages.json', workerCaFile: 'tls/ca.pem' }) });
  const fromFile = loadConfigFile(join(dir, 'c.json'));
  t.equal(fromFile.registry, join(dir, 'reg.json'));
  t.equal(fromFile.packages, join(dir, 'sub/packages.json'));
  t.equal(fromFile.workerCaFile, join(dir, 'tls/ca.pem'));
  const fromEnv = loadConfigFile(join(dir, 'c.json'), { env: { WARMROUTE_REGISTRY: 'other.json', WARMROUTE_WORKER_CA_FILE: 'ca.pem' } });
  t.equal(fromEnv.registry, resolve('other.json'));
  t.equal(fromEnv.workerCaFile, resolve('ca.pem'));
  t.equal(loadConfigFile(join(dir, 'c.json'), { args: ['--worker-ca-file', 'flag.pem'] }).workerCaFile, resolve('flag.pem'));
  t.equal(loadConfigFile('config/workers-pairs.json').registry, resolve('config/registry.json'));
});

t.test('config files: unreadable, not JSON, not an object', async (t) => {
  const dir = t.testdir({ 'list.json': '[]', 'broken.json': '{ "port": 0, ' });
  t.throws(() => loadConfigFile(join(dir, 'missing.json')), /missing.json: cannot read it \(ENOENT\)/);
  t.throws(() => loadConfigFile(join(dir, 'broken.json')), /broken.json: not valid JSON/);
  t.throws(() => loadConfigFile(join(dir, 'list.json')), /list.json: must hold a JSON object of settings, got an array of 0 items/);
});

t.test('a loaded config written back loads to the same config', async (t) => {
  for (const file of ['config/olscheduler.json', 'config/workers-pairs.json']) {
    const first = loadConfigFile(file, { onWarning: () => {} });
    const again = loadConfig({ values: configToValues(first), onWarning: () => {} });
    t.same(again, first, file);
  }
  const rich = load({ workers: [{ url: 'http://a:1', id: 'w1', weight: 2.5, connections: 3 }, 'b:2'], ejectOn5xx: true, loadThreshold: 5 }).config;
  t.same(loadConfig({ values: configToValues(rich) }), rich);
});

t.test('config/example.json shows every key at its default', async (t) => {
  const warnings: string[] = [];
  const example = loadConfigFile('config/example.json', { strict: true, onWarning: (m) => warnings.push(m) });
  const defaults = loadConfig();
  const written = JSON.parse(readFileSync('config/example.json', 'utf8')) as Record<string, unknown>;
  for (const d of describeConfig()) {
    if (!(d.key in defaults.policy)) t.ok(d.key in written, `${d.key} is in the example`);
  }
  t.same({ ...example, workers: [], registry: '' }, defaults, 'every value but workers and registry is the default');
  t.same(warnings, []);
  const thesis = loadConfigFile('config/olscheduler-thesis.json', { onWarning: (m) => warnings.push(m) });
  t.equal(thesis.policy.loadThreshold, 100);
  t.equal(thesis.workers.length, 5);
  t.same(warnings.map((w) => w.replace(/^.*: /, '')), ['unknown config key "name" ignored', 'unknown config key "workerDelay" ignored']);
});

t.test('the README documents every key with its flag, variable and default, as the schema gives them', async (t) => {
  const readme = readFileSync(resolve('README.md'), 'utf8');
  for (const d of describeConfig()) {
    t.ok(readme.includes(`| \`${d.key}\` | \`${d.flag}\` | \`${d.env}\` | \`${JSON.stringify(d.default)}\` |`), `${d.key} is in the README's config table`);
  }
});
