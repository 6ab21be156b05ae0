// Property tests of the config loader: no file, environment or flags make it
// throw anything but ConfigError, and a valid config written back loads the same.
import fc from 'fast-check';
import t from 'tap';
import {
  ConfigError, configToValues, describeConfig, kebabCase, loadConfig, MAX_CONNECTIONS, MAX_TIMER_MS, MAX_WEIGHT, parseWorkers,
  type ProxyConfig,
} from '../../src/config.js';
import { WorkerSpecError } from '../../src/worker-specs.js';

const keys = describeConfig();
const quiet = (): void => {};

/** Loads and reports what happened; anything thrown but ConfigError fails the property. */
function outcome(run: () => ProxyConfig): 'loaded' | 'refused' {
  try {
    run();
    return 'loaded';
  } catch (err) {
    if (err instanceof ConfigError) return 'refused';
    throw err;
  }
}

/** Key names as people write them: right, kebab, wrong case, typos, olscheduler extras, comments, hostile ones. */
const keyName = fc.oneof(
  fc.constantFrom(...keys.map((k) => k.key)),
  fc.constantFrom(...keys.map((k) => kebabCase(k.key))),
  fc.constantFrom(...keys.map((k) => k.key.toUpperCase())),
  fc.constantFrom(...keys.map((k) => k.key)).chain((k) => fc.nat(k.length - 1).map((i) => k.slice(0, i) + k.slice(i + 1))),
  fc.constantFrom('_comment', 'name', 'workerDelay', '__proto__', 'constructor', 'toString', 'hasOwnProperty', ''),
  fc.string({ maxLength: 12 }),
);

/** Values near and far from what keys accept. */
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(0, -1, 1, 1.5, 2 ** 31 - 1, 2 ** 31, 3e9, 1e5, Number.NaN, Number.POSITIVE_INFINITY, '1e5', 'true', 'auto', '', '/status'),
  fc.array(fc.oneof(fc.constantFrom('127.0.0.1:1', '1', '1e5', 'http://u:p@h:1', 'h:1#x', 'h:1/p'), fc.string({ maxLength: 8 })), { maxLength: 6 }),
);

t.test('any file values: a config or a ConfigError', async (t) => {
  const seen = { loaded: 0, refused: 0 };
  fc.assert(fc.property(fc.dictionary(keyName, value, { maxKeys: 8 }), fc.boolean(), (values, strict) => {
    seen[outcome(() => loadConfig({ values, strict, onWarning: quiet }))]++;
  }), { numRuns: 600 });
  t.ok(seen.loaded > 0 && seen.refused > 0, `both outcomes reached: ${JSON.stringify(seen)}`);
});

t.test('any environment and flags: a config or a ConfigError', async (t) => {
  const envName = fc.oneof(
    fc.constantFrom(...keys.map((k) => k.env)),
    fc.string({ maxLength: 10 }).map((s) => `WARMROUTE_${s}`),
    fc.string({ maxLength: 10 }),
  );
  const text = fc.oneof(fc.string({ maxLength: 16 }), fc.constantFrom('1', '0', 'true', 'false', '3e9', 'a:1,2', '[{"url":"a:1"}]', '[', '-1'));
  const flag = fc.oneof(
    fc.constantFrom(...keys.map((k) => k.flag)),
    fc.constantFrom(...keys.map((k) => k.flag)).chain((f) => text.map((v) => `${f}=${v}`)),
    text,
  );
  const seen = { loaded: 0, refused: 0 };
  fc.assert(fc.property(fc.dictionary(envName, text, { maxKeys: 6 }), fc.array(flag, { maxLength: 6 }), (env, args) => {
    seen[outcome(() => loadConfig({ env, args, onWarning: quiet }))]++;
  }), { numRuns: 600 });
  t.ok(seen.loaded > 0 && seen.refused > 0, `both outcomes reached: ${JSON.stringify(seen)}`);
});

t.test('any worker list: specs or a WorkerSpecError', async (t) => {
  const entry = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.tuple(fc.constantFrom('http://', 'https://', 'ftp://', ''), fc.constantFrom('h', 'u:p@h', '[::1]', ''), fc.constantFrom(':1', ':0', ':99999', ''), fc.constantFrom('', '/', '/p', '?', '?q=1', '#', '#f'))
      .map((parts) => parts.join('')),
    fc.constantFrom('localhost:8080', '1', '2.5', '1e5', '0', '-1', '[::1]:80'),
    fc.record({ url: fc.oneof(fc.string({ maxLength: 12 }), fc.constant('a:1')), id: fc.jsonValue({ maxDepth: 1 }), weight: fc.jsonValue({ maxDepth: 1 }), connections: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: [] }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const seen = { parsed: 0, refused: 0 };
  fc.assert(fc.property(fc.oneof(fc.array(entry, { maxLength: 6 }), fc.jsonValue(), fc.string()), (list) => {
    try {
      parseWorkers(list);
      seen.parsed++;
    } catch (err) {
      if (!(err instanceof WorkerSpecError)) throw err;
      seen.refused++;
    }
  }), { numRuns: 400 });
  t.ok(seen.parsed > 0 && seen.refused > 0, `both outcomes reached: ${JSON.stringify(seen)}`);
});

const validWorker = fc.record({
  url: fc.tuple(fc.constantFrom('http://', 'https://', ''), fc.constantFrom('localhost', '127.0.0.1', 'w.example', '[::1]'), fc.integer({ min: 1, max: 65535 }))
    .map(([scheme, host, port]) => `${scheme}${host}:${port}`),
  weight: fc.oneof(fc.integer({ min: 1, max: MAX_WEIGHT }), fc.double({ min: 0.001, max: MAX_WEIGHT, noNaN: true })),
  connections: fc.option(fc.integer({ min: 1, max: MAX_CONNECTIONS }), { nil: undefined }),
});

const validConfig = fc.record({
  port: fc.integer({ min: 0, max: 65535 }),
  balancer: fc.constantFrom('round-robin', 'random', 'least-loaded', 'pkg-aware', 'hashing-bounded'),
  connectionsPerWorker: fc.integer({ min: 1, max: MAX_CONNECTIONS }),
  queueLimit: fc.integer({ min: 0, max: 1_000_000 }),
  queueTimeoutMs: fc.integer({ min: 1, max: MAX_TIMER_MS }),
  healthIntervalMs: fc.integer({ min: 0, max: MAX_TIMER_MS }),
  responseTimeoutMs: fc.integer({ min: 0, max: MAX_TIMER_MS }),
  ejectOn5xx: fc.boolean(),
  accessLog: fc.boolean(),
  statusPath: fc.stringMatching(/^\/[a-z0-9/_?=.-]{0,20}$/).filter((p) => !p.startsWith('//')),
  registry: fc.constantFrom('', '/abs/registry.json'),
  dnsType: fc.constantFrom('srv', 'a'),
  loadThreshold: fc.integer({ min: 1, max: 500 }),
  workers: fc.uniqueArray(fc.tuple(validWorker, fc.stringMatching(/^[a-z0-9-]{1,12}$/)), { maxLength: 5, selector: ([, id]) => id })
    .map((ws) => ws.map(([{ connections, ...w }, id]) => (connections === undefined ? { ...w, id } : { ...w, id, connections }))),
}, { requiredKeys: [] });

t.test('a valid config written back loads to the same config', async (t) => {
  fc.assert(fc.property(validConfig, (values) => {
    const config = loadConfig({ values, onWarning: quiet });
    const again = loadConfig({ values: configToValues(config), onWarning: quiet });
    if (JSON.stringify(again) !== JSON.stringify(config)) throw new Error(`differs:\n${JSON.stringify(config)}\n${JSON.stringify(again)}`);
  }), { numRuns: 300 });
  t.pass('300 valid configs round-trip');
});
