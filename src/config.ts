import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import convict from 'convict';
import { balancerNames } from '../balancers/index.js';

/** A worker as the proxy keeps it in its configuration: an absolute origin and a positive weight. */
export interface WorkerSpec {
  readonly url: string;
  readonly weight: number;
}

export interface ProxyConfig {
  host: string;
  port: number;
  balancer: string;
  loadThreshold: number;
  balanceFactor: number;
  registry: string;
  workers: WorkerSpec[];
  connectionsPerWorker: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  queueLimit: number;
  queueTimeoutMs: number;
  maxBodyBytes: number;
  failTimeoutMs: number;
  adminToken: string;
  logLevel: string;
  simulatedWorkers: number;
  simulatedTimeScale: number;
}

/** Bad configuration: start-up stops with this message and exit status 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const got = (value: unknown): string => `got ${JSON.stringify(value)}`;
/** Environment variables and flags arrive as strings; a string that is not a number stays one, for the message. */
const toNumber = (value: unknown): unknown => {
  if (typeof value !== 'string' || value.trim() === '') return value;
  const n = Number(value);
  return Number.isNaN(n) ? value : n;
};

/** Numeric formats whose messages always name the offending value (convict's omit falsy ones). */
const numberFormats: { name: string; rule: string; test: (n: number) => boolean }[] = [
  { name: 'wr-port', rule: 'must be an integer port from 0 to 65535', test: (n) => Number.isInteger(n) && n >= 0 && n <= 65535 },
  { name: 'wr-count', rule: 'must be an integer of at least 0', test: (n) => Number.isInteger(n) && n >= 0 },
  { name: 'wr-positive-int', rule: 'must be an integer of at least 1', test: (n) => Number.isInteger(n) && n >= 1 },
  { name: 'wr-positive', rule: 'must be a number greater than 0', test: (n) => Number.isFinite(n) && n > 0 },
  { name: 'wr-at-least-one', rule: 'must be a number of at least 1', test: (n) => Number.isFinite(n) && n >= 1 },
];
for (const f of numberFormats) {
  convict.addFormat({
    name: f.name,
    coerce: toNumber,
    validate(value: unknown) {
      if (typeof value !== 'number' || !f.test(value)) throw new Error(`${f.rule}, ${got(value)}`);
    },
  });
}

function oneOf(allowed: readonly string[]): (value: unknown) => void {
  return (value: unknown) => {
    if (typeof value !== 'string' || !allowed.includes(value)) throw new Error(`must be one of ${allowed.join(', ')}; ${got(value)}`);
  };
}

/**
 * Turns any accepted worker notation into specs:
 * olscheduler pairs `["host:port", "weight", ...]`, a list of URLs or `host:port`
 * strings (weight 1), `{url, weight}` objects, or a comma-separated string of
 * any of those (the form environment variables and flags give).
 */
export function parseWorkers(value: unknown): WorkerSpec[] {
  let items: unknown[];
  if (typeof value === 'string') {
    items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  } else if (Array.isArray(value)) {
    items = value;
  } else {
    throw new Error('must be a list of workers: ["host:port", "weight", ...], URLs, or {"url", "weight"} objects');
  }
  const isWeight = (x: unknown): boolean => (typeof x === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(x)) || typeof x === 'number';
  const pairForm = items.some(isWeight);
  const specs: WorkerSpec[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (typeof item === 'string') {
      if (isWeight(item)) throw new Error(`entry ${i} ("${item}") is a weight where a worker address was expected`);
      let weight = 1;
      if (pairForm) {
        const next = items[i + 1];
        if (next === undefined || !isWeight(next)) {
          throw new Error(`worker "${item}" has no weight: in pair form every "host:port" is followed by its weight, e.g. ["${item}", "1"]`);
        }
        weight = Number(next);
        i++;
      }
      specs.push({ url: workerOrigin(item), weight: checkWeight(weight, item) });
    } else if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      const { url, weight = 1, ...rest } = item as Record<string, unknown>;
      const extra = Object.keys(rest);
      if (extra.length > 0) throw new Error(`worker entry ${i} has unknown key "${extra[0]}" (allowed: url, weight)`);
      if (typeof url !== 'string') throw new Error(`worker entry ${i} needs "url" as a string`);
      const w = typeof weight === 'string' ? Number(weight) : weight;
      if (typeof w !== 'number') throw new Error(`worker "${url}" has weight ${JSON.stringify(weight)}; a weight is a number`);
      specs.push({ url: workerOrigin(url), weight: checkWeight(w, url) });
    } else {
      throw new Error(`worker entry ${i} is ${JSON.stringify(item)}; expected "host:port", a URL or {"url", "weight"}`);
    }
  }
  return specs;
}

function checkWeight(weight: number, who: string): number {
  if (!Number.isFinite(weight) || weight <= 0) throw new Error(`worker "${who}" has weight ${weight}; a weight is a number greater than 0`);
  return weight;
}

/** `host:port` or `http://host:port[/]` -> `http://host:port` (the origin undici connects to). */
export function workerOrigin(address: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`worker "${address}" is not a valid address; expected host:port or http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`worker "${address}" uses ${url.protocol}; only http: and https: workers are supported`);
  }
  if (url.pathname !== '/' || url.search !== '') {
    throw new Error(`worker "${address}" has a path; give only scheme, host and port`);
  }
  return url.origin;
}

convict.addFormat({
  name: 'warmroute-workers',
  validate(value: unknown) { parseWorkers(value); },
});

const schema = {
  host: { doc: 'Address the proxy listens on.', format: String, default: '127.0.0.1', env: 'WARMROUTE_HOST', arg: 'host' },
  port: { doc: 'Port the proxy listens on (0 picks a free one).', format: 'wr-port', default: 9080, env: 'WARMROUTE_PORT', arg: 'port' },
  balancer: { doc: 'Routing policy.', format: oneOf(balancerNames), default: 'pkg-aware', env: 'WARMROUTE_BALANCER', arg: 'balancer' },
  loadThreshold: { doc: 'pkg-aware: in-flight requests (per unit of weight) at which a function leaves its home worker.', format: 'wr-positive', default: 3, env: 'WARMROUTE_LOAD_THRESHOLD', arg: 'load-threshold' },
  balanceFactor: { doc: 'hashing-bounded: a worker takes at most ceil(factor x average load).', format: 'wr-at-least-one', default: 1.25, env: 'WARMROUTE_BALANCE_FACTOR', arg: 'balance-factor' },
  registry: { doc: 'Path of the olscheduler registry [{"handle","pkgs"}]; empty: every function is known and has no packages.', format: String, default: '', env: 'WARMROUTE_REGISTRY', arg: 'registry' },
  workers: { doc: 'Workers: ["host:port","weight",...] pairs, URLs, or {"url","weight"} objects.', format: 'warmroute-workers', default: [] as unknown[], env: 'WARMROUTE_WORKERS', arg: 'workers' },
  connectionsPerWorker: { doc: 'Keep-alive connections (concurrent requests) per worker.', format: 'wr-positive-int', default: 10, env: 'WARMROUTE_CONNECTIONS_PER_WORKER', arg: 'connections-per-worker' },
  connectTimeoutMs: { doc: 'Upstream connect timeout.', format: 'wr-positive-int', default: 5000, env: 'WARMROUTE_CONNECT_TIMEOUT_MS', arg: 'connect-timeout-ms' },
  headersTimeoutMs: { doc: 'Time allowed for a worker to send response headers (cold starts can take minutes).', format: 'wr-positive-int', default: 300000, env: 'WARMROUTE_HEADERS_TIMEOUT_MS', arg: 'headers-timeout-ms' },
  bodyTimeoutMs: { doc: 'Longest pause allowed between response body chunks.', format: 'wr-positive-int', default: 300000, env: 'WARMROUTE_BODY_TIMEOUT_MS', arg: 'body-timeout-ms' },
  queueLimit: { doc: 'Requests that may wait for a worker connection; beyond it: 503.', format: 'wr-count', default: 10000, env: 'WARMROUTE_QUEUE_LIMIT', arg: 'queue-limit' },
  queueTimeoutMs: { doc: 'Longest wait in the queue before a 503.', format: 'wr-positive-int', default: 30000, env: 'WARMROUTE_QUEUE_TIMEOUT_MS', arg: 'queue-timeout-ms' },
  maxBodyBytes: { doc: 'Largest request body accepted; beyond it: 413.', format: 'wr-positive-int', default: 64 * 1024 * 1024, env: 'WARMROUTE_MAX_BODY_BYTES', arg: 'max-body-bytes' },
  failTimeoutMs: { doc: 'How long a worker that refused a connection is left out of routing.', format: 'wr-positive-int', default: 10000, env: 'WARMROUTE_FAIL_TIMEOUT_MS', arg: 'fail-timeout-ms' },
  adminToken: { doc: 'Bearer token for /admin routes; empty: admin routes answer loopback clients only.', format: String, default: '', sensitive: true, env: 'WARMROUTE_ADMIN_TOKEN', arg: 'admin-token' },
  logLevel: { doc: 'pino log level.', format: oneOf(logLevels), default: 'info', env: 'WARMROUTE_LOG_LEVEL', arg: 'log-level' },
  simulatedTimeScale: { doc: 'Time scale of the simulated workers: 0.1 makes every install, import and run ten times shorter.', format: 'wr-positive', default: 1, env: 'WARMROUTE_SIMULATED_TIME_SCALE', arg: 'simulated-time-scale' },
  simulatedWorkers: { doc: 'Start this many simulated pipbench workers in-process and route to them (demo and experiments).', format: 'wr-count', default: 0, env: 'WARMROUTE_SIMULATED_WORKERS', arg: 'simulated-workers' },
};

export type ConfigKey = keyof typeof schema;
export const configKeys = Object.keys(schema) as ConfigKey[];

/** Every flag `warmroute start` accepts besides -c, e.g. `--load-threshold`. */
export const configFlags: ReadonlyMap<string, ConfigKey> = new Map(configKeys.map((k) => [schema[k].arg, k]));

/** Describes every key for documentation and `--help`. */
export function describeConfig(): { key: ConfigKey; flag: string; env: string; default: unknown; doc: string }[] {
  return configKeys.map((key) => ({ key, flag: `--${schema[key].arg}`, env: schema[key].env, default: schema[key].default, doc: schema[key].doc }));
}

const kebabToCamel = (s: string): string => s.replace(/[-_]([a-z])/g, (_m, c: string) => c.toUpperCase());

/**
 * Maps a config object as written in a file (warmroute keys, or olscheduler's
 * `load-threshold` style) onto schema keys. Unknown keys are an error that
 * names them and the keys that are allowed.
 */
function normalizeKeys(input: Record<string, unknown>, source: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(input)) {
    const key = kebabToCamel(rawKey);
    if (!(key in schema)) {
      throw new ConfigError(`${source}: unknown config key "${rawKey}" (allowed: ${configKeys.join(', ')})`);
    }
    out[key] = value;
  }
  return out;
}

export interface LoadOptions {
  /** Values as written in a config file (or built by code). */
  readonly values?: Record<string, unknown>;
  /** Where `values` came from, for messages; relative registry paths resolve against its folder. */
  readonly source?: string;
  readonly baseDir?: string;
  /** Environment; defaults to none, so that library users are not surprised by WARMROUTE_* variables. */
  readonly env?: NodeJS.ProcessEnv;
  /** Command-line style arguments, e.g. ['--port', '9090']. */
  readonly args?: string[];
}

/** Merges defaults < file < environment < flags, validates, and returns a typed config. Throws ConfigError. */
export function loadConfig(options: LoadOptions = {}): ProxyConfig {
  const source = options.source ?? 'config';
  const values = options.values === undefined ? {} : normalizeKeys(options.values, source);
  const conf = convict(schema, { env: options.env ?? {}, args: options.args ?? [] });
  try {
    conf.load(values);
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    // Our formats name the value themselves; drop convict's repeat of it.
    const message = (err as Error).message.replace(/(got .*): value was .*$/gm, '$1');
    throw new ConfigError(`${source}: ${message.replace(/\n/g, `\n${source}: `)}`);
  }
  const props = conf.getProperties() as unknown as Omit<ProxyConfig, 'workers'> & { workers: unknown };
  let workers: WorkerSpec[];
  try {
    workers = parseWorkers(props.workers);
  } catch (err) {
    throw new ConfigError(`${source}: workers: ${(err as Error).message}`);
  }
  const baseDir = options.baseDir ?? process.cwd();
  const registry = props.registry === '' ? '' : resolve(baseDir, props.registry);
  return { ...props, workers, registry };
}

/** Reads a JSON config file and loads it with the given environment and flags. */
export function loadConfigFile(path: string, rest: Omit<LoadOptions, 'values' | 'source' | 'baseDir'> = {}): ProxyConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let values: unknown;
  try {
    values = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(err as Error).message})`);
  }
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object of settings`);
  }
  return loadConfig({ ...rest, values: values as Record<string, unknown>, source: path, baseDir: dirname(resolve(path)) });
}
