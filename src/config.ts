// The proxy's settings: one schema (fixed keys plus every policy's own settings),
// merged from defaults < file < WARMROUTE_* environment < flags, each value
// checked against its bounds with a message that names the key, the value and
// what is allowed.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import convict from 'convict';
import { balancerNames, policySettings } from '../balancers/index.js';
import { ConfigError, describeValue, parseJsonText } from './config-error.js';
import { nearMiss } from './did-you-mean.js';
import { MAX_CONNECTIONS, parseWorkers, type WorkerSpec } from './worker-specs.js';

export { ConfigError } from './config-error.js';
export { MAX_CONNECTIONS, MAX_WEIGHT, parseWorkers, workerOrigin, type WorkerSpec } from './worker-specs.js';

/** Longest timer Node.js keeps: a longer delay fires after 1 ms instead. Every millisecond key stays at or below it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Most requests the shared queue or one worker's queue may hold. */
export const MAX_QUEUE = 1_000_000;

export type PolicyValue = number | string | boolean;

export interface ProxyConfig {
  host: string;
  port: number;
  /** listen(2) backlog: connections the kernel queues until the proxy accepts them (capped by net.core.somaxconn). */
  listenBacklog: number;
  /** Proxy processes serving the port (node:cluster); "auto": the cores this process may use. */
  processes: number | 'auto';
  balancer: string;
  /** Absolute path of the olscheduler registry; empty: every function is known and has no packages. */
  registry: string;
  /** Absolute path of the package table (sizes, install and import costs); empty: none. */
  packages: string;
  workers: WorkerSpec[];
  /** Absolute path of a PEM bundle of CAs trusted for https workers, besides Node's bundled ones; empty: Node's default CAs. */
  workerCaFile: string;
  connectionsPerWorker: number;
  connectTimeoutMs: number;
  /** Further workers tried after a connect or TLS handshake failure (nothing sent); never one already tried. */
  connectRetries: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Total deadline of one worker response; 0: none. */
  responseTimeoutMs: number;
  clientBodyTimeoutMs: number;
  /** Idle time after which a kept-alive client connection is closed (node:http's keepAliveTimeout). */
  clientKeepAliveTimeoutMs: number;
  /** Time for a client's request head to arrive in full (node:http's headersTimeout). */
  clientHeadersTimeoutMs: number;
  queueLimit: number;
  queueTimeoutMs: number;
  workerQueueLimit: number;
  maxBodyBytes: number;
  /** Base ejection time of passive health; it doubles while the worker keeps failing, up to ejectionMaxMs. */
  failTimeoutMs: number;
  ejectionMaxMs: number;
  ejectOn5xx: boolean;
  statusPath: string;
  /** 0: no active health checks and no status polls. */
  healthIntervalMs: number;
  healthTimeoutMs: number;
  healthFall: number;
  healthRise: number;
  /** Status polls started per second over all workers (the rest wait their turn). */
  healthMaxPollsPerSecond: number;
  /** Workers added while running (admin API, DNS, reload) are routed only once a status check passed. */
  healthCheckNewWorkers: boolean;
  shutdownTimeoutMs: number;
  accessLog: boolean;
  adminToken: string;
  logLevel: string;
  /** DNS name listing workers; empty: no DNS source. */
  dnsName: string;
  dnsType: 'srv' | 'a';
  dnsPort: number;
  dnsIntervalMs: number;
  /** `host:port` of the DNS server to ask; empty: the system's resolver. */
  dnsServer: string;
  /** Every policy setting's parsed value by key (e.g. `loadThreshold`, `balanceFactor`), whichever balancer is chosen. */
  policy: Readonly<Record<string, PolicyValue>>;
}

type FixedKey = Exclude<keyof ProxyConfig, 'policy'>;

/** How a value given as text (environment, flags) is read before it is checked. */
type TextForm = 'number' | 'boolean' | 'text' | 'loose';

interface KeyRule {
  readonly doc: string;
  readonly default: unknown;
  readonly text: TextForm;
  /** Returns the value as the config holds it, or throws an Error saying what is allowed. */
  readonly parse: (value: unknown) => unknown;
  readonly sensitive?: boolean;
  /** A path, resolved against the config file's folder (or the working directory for env and flags). */
  readonly path?: boolean;
  /** The rule's messages already describe the value (worker lists). */
  readonly namesValue?: boolean;
}

const fail = (rule: string): never => {
  throw new Error(rule);
};

function integer(min: number, max: number, rule = `an integer from ${min} to ${max}`): (v: unknown) => number {
  return (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : fail(`must be ${rule}`));
}

/** Milliseconds: an integer up to MAX_TIMER_MS; `zero` says what 0 means where 0 is allowed. */
function millis(zero?: string): (v: unknown) => number {
  return integer(zero === undefined ? 1 : 0, MAX_TIMER_MS, `whole milliseconds from ${zero === undefined ? '1' : `0 (${zero})`} to ${MAX_TIMER_MS}`);
}

/** Most proxy processes one proxy runs. */
export const MAX_PROCESSES = 256;

function processCount(v: unknown): number | 'auto' {
  if (v === 'auto') return v;
  return integer(1, MAX_PROCESSES, `an integer from 1 to ${MAX_PROCESSES}, or "auto"`)(v);
}

const boolean = (v: unknown): boolean => (typeof v === 'boolean' ? v : fail('must be true or false'));

function text(rule: string, test: (s: string) => boolean): (v: unknown) => string {
  return (v) => (typeof v === 'string' && test(v) ? v : fail(`must be ${rule}`));
}

function oneOf<T extends string>(allowed: readonly T[]): (v: unknown) => T {
  return (v) => {
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    const guess = typeof v === 'string' ? nearMiss(v, allowed) : undefined;
    return fail(`must be one of ${allowed.join(', ')}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`);
  };
}

const HOST_NAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?$/;
/** `host:port` or `[v6]:port`. */
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;
const noControl = (s: string): boolean => !/[\x00-\x1f\x7f]/.test(s);

const fixedRules: Record<FixedKey, KeyRule> = {
  host: { doc: 'Address the proxy listens on.', default: '127.0.0.1', text: 'text', parse: text('a host name or IP address', (s) => /^[^\s/?#]{1,253}$/.test(s)) },
  port: { doc: 'Port the proxy listens on (0 picks a free one).', default: 9080, text: 'number', parse: integer(0, 65535, 'an integer port from 0 to 65535') },
  listenBacklog: { doc: "Connections the kernel queues until the proxy accepts them (listen(2) backlog), read at start; the kernel caps it at net.core.somaxconn. The default asks for the kernel's maximum, as Go servers (olscheduler) do; Node's own 511 drops connections in a burst and their clients wait seconds in TCP retransmission.", default: 65_535, text: 'number', parse: integer(1, 2 ** 31 - 1) },
  processes: { doc: `Proxy processes serving the port, 1 to ${MAX_PROCESSES}, or "auto" (the cores this process may use); above 1 a primary process runs the control plane (config, admin API, DNS, status polls) and the processes share each worker's connection limit. Read at start.`, default: 1, text: 'loose', parse: processCount },
  balancer: { doc: 'Routing policy.', default: 'pkg-aware', text: 'text', parse: oneOf(balancerNames) },
  registry: { doc: 'Path of the olscheduler registry [{"handle","pkgs"}], relative to the config file; empty: every function is known and has no packages.', default: '', text: 'text', path: true, parse: text('a file path', noControl) },
  packages: { doc: 'Path of the package table (pipbench packages.json: name, size, install and import cost), relative to the config file; empty: every package counts the same.', default: '', text: 'text', path: true, parse: text('a file path', noControl) },
  workers: { doc: 'Workers: ["host:port","weight",...] pairs, URLs, or {"url","id","weight","connections"} objects; in the environment and flags: comma-separated, or a JSON list.', default: [], text: 'text', namesValue: true, parse: parseWorkers },
  workerCaFile: { doc: "Path of a PEM bundle of the CAs trusted for https workers (their connections and status polls), added to Node's bundled CAs, relative to the config file; read at start and at each reload; empty: Node's default CAs.", default: '', text: 'text', path: true, parse: text('a file path', noControl) },
  connectionsPerWorker: { doc: `Connection limit of each worker (requests it runs at once), 1 to ${MAX_CONNECTIONS}; a worker object's "connections" overrides it.`, default: 10, text: 'number', parse: integer(1, MAX_CONNECTIONS) },
  connectTimeoutMs: { doc: 'Upstream connect timeout.', default: 5000, text: 'number', parse: millis() },
  connectRetries: { doc: 'Further workers tried after a connect or TLS handshake failure (nothing was sent), never one already tried; 0: none.', default: 3, text: 'number', parse: integer(0, 100) },
  headersTimeoutMs: { doc: 'Time allowed for a worker to send response headers (cold starts can take minutes).', default: 300_000, text: 'number', parse: millis() },
  bodyTimeoutMs: { doc: 'Longest pause allowed between response body chunks.', default: 300_000, text: 'number', parse: millis() },
  responseTimeoutMs: { doc: 'Total deadline of one worker response, headers and body; 0: none.', default: 900_000, text: 'number', parse: millis('none') },
  clientBodyTimeoutMs: { doc: 'Longest time to receive a request body from the client; beyond it: 408 body_timeout.', default: 30_000, text: 'number', parse: millis() },
  clientKeepAliveTimeoutMs: { doc: "Idle time after which a kept-alive client connection is closed (node:http's keepAliveTimeout): advertised in Keep-Alive (in whole seconds), the close comes one second later.", default: 65_000, text: 'number', parse: millis() },
  clientHeadersTimeoutMs: { doc: "Time for a client's request head to arrive in full, from the connection's start or the request's first byte (node:http's headersTimeout); beyond it: 400 and a close.", default: 60_000, text: 'number', parse: millis() },
  queueLimit: { doc: 'Requests that may wait at once, in the shared queue and the per-worker queues together; beyond it: 503 queue_full.', default: 10_000, text: 'number', parse: integer(0, MAX_QUEUE) },
  queueTimeoutMs: { doc: 'Longest wait in a queue; beyond it: 503 queue_timeout.', default: 30_000, text: 'number', parse: millis() },
  workerQueueLimit: { doc: "Requests that may wait in one worker's own queue.", default: 100, text: 'number', parse: integer(0, MAX_QUEUE) },
  maxBodyBytes: { doc: 'Largest request body accepted; beyond it: 413.', default: 64 * 1024 * 1024, text: 'number', parse: integer(1, Number.MAX_SAFE_INTEGER) },
  failTimeoutMs: { doc: 'Base ejection time of passive health: a failing worker is left out this long, doubling while it keeps failing.', default: 10_000, text: 'number', parse: millis() },
  ejectionMaxMs: { doc: 'Cap of the passive-ejection back-off; at least failTimeoutMs.', default: 300_000, text: 'number', parse: millis() },
  ejectOn5xx: { doc: 'Count a 5xx answer as a worker failure (otherwise it is the function\'s result).', default: false, text: 'boolean', parse: boolean },
  statusPath: { doc: "Path of the worker's status URL, polled for health and live state.", default: '/status', text: 'text', parse: text('a path starting with "/" (not "//"), without spaces or a fragment', (s) => /^\/(?!\/)[^\s#\\]{0,2047}$/.test(s) && noControl(s)) },
  healthIntervalMs: { doc: 'Interval of the status polls (active health checks and live state); 0: no polls.', default: 2000, text: 'number', parse: millis('no active checks and no status polls') },
  healthTimeoutMs: { doc: 'Time a status poll may take before it counts as failed.', default: 1000, text: 'number', parse: millis() },
  healthFall: { doc: 'Failed polls in a row that take a worker down.', default: 3, text: 'number', parse: integer(1, 1000) },
  healthRise: { doc: 'Successful polls in a row that bring a worker back.', default: 2, text: 'number', parse: integer(1, 1000) },
  healthMaxPollsPerSecond: { doc: 'Status polls started per second over all workers; with more than healthIntervalMs/1000 x this many workers, each one is polled less often than healthIntervalMs.', default: 250, text: 'number', parse: integer(1, 100_000) },
  healthCheckNewWorkers: { doc: 'Workers added while the proxy runs (admin API, DNS, reload) are routed only once their first status check passes; the workers it starts with are trusted. Without polls (healthIntervalMs 0) it has no effect.', default: true, text: 'boolean', parse: boolean },
  shutdownTimeoutMs: { doc: 'Graceful shutdown limit: requests still running then are cut and the exit status is non-zero.', default: 330_000, text: 'number', parse: millis() },
  accessLog: { doc: 'One log line per invocation.', default: true, text: 'boolean', parse: boolean },
  adminToken: { doc: 'Bearer token for /admin routes; empty: admin routes answer loopback clients only.', default: '', text: 'text', sensitive: true, parse: text('printable characters without spaces, or empty', (s) => /^[\x21-\x7e]*$/.test(s)) },
  logLevel: { doc: 'pino log level: fatal, error, warn, info, debug, trace or silent.', default: 'info', text: 'text', parse: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) },
  dnsName: { doc: 'DNS name whose records list the workers; empty: no DNS source.', default: '', text: 'text', parse: text('a DNS name (e.g. _http._tcp.workers.example) or empty', (s) => s === '' || HOST_NAME.test(s)) },
  dnsType: { doc: 'Records dnsName is looked up as: srv (host and port from each record) or a (A/AAAA, port dnsPort).', default: 'srv', text: 'text', parse: oneOf(['srv', 'a']) },
  dnsPort: { doc: 'Worker port for A/AAAA records.', default: 8080, text: 'number', parse: integer(1, 65535, 'an integer port from 1 to 65535') },
  dnsIntervalMs: { doc: 'Interval between DNS look-ups of dnsName.', default: 10_000, text: 'number', parse: millis() },
  dnsServer: { doc: 'DNS server to ask, host:port; empty: the system resolver.', default: '', text: 'text', parse: text('host:port (e.g. 127.0.0.1:53) or empty', (s) => s === '' || validHostPort(s)) },
};

function validHostPort(s: string): boolean {
  const m = HOST_PORT.exec(s);
  return m !== null && Number(m[1]) >= 1 && Number(m[1]) <= 65535;
}

/** Every key of the schema: the fixed ones, then each policy setting. */
function buildRules(): ReadonlyMap<string, KeyRule> {
  const rules = new Map<string, KeyRule>(Object.entries(fixedRules));
  for (const s of policySettings()) {
    if (rules.has(s.key)) throw new Error(`policy setting "${s.key}" clashes with a config key`);
    rules.set(s.key, { doc: s.doc, default: s.default, text: 'loose', parse: s.parse });
  }
  return rules;
}

let cachedRules: ReadonlyMap<string, KeyRule> | undefined;
const rules = (): ReadonlyMap<string, KeyRule> => (cachedRules ??= buildRules());
const policyKeys = (): string[] => policySettings().map((s) => s.key);

/** `connectionsPerWorker` -> `connections-per-worker`; `ejectOn5xx` -> `eject-on-5xx`. */
export function kebabCase(key: string): string {
  return key.replace(/([a-z])([A-Z])/g, '$1-$2').replace(/([A-Za-z])(\d)/g, '$1-$2').toLowerCase();
}
const envName = (key: string): string => `WARMROUTE_${kebabCase(key).replace(/-/g, '_').toUpperCase()}`;

/** Names a key may be written as in a file: itself, kebab-case (olscheduler's `load-threshold`) and snake_case. */
function aliases(): ReadonlyMap<string, string> {
  const map = new Map<string, string>();
  for (const key of rules().keys()) {
    map.set(key, key);
    map.set(kebabCase(key), key);
    map.set(kebabCase(key).replace(/-/g, '_'), key);
  }
  return map;
}

/** Every flag `warmroute start` and `check` accept besides -c, e.g. `--load-threshold`, mapped to its key. */
export function configFlags(): ReadonlyMap<string, string> {
  return new Map([...rules().keys()].map((k) => [kebabCase(k), k]));
}

/** Every key for documentation and `--help`. */
export function describeConfig(): { key: string; flag: string; env: string; default: unknown; doc: string }[] {
  return [...rules()].map(([key, r]) => ({ key, flag: `--${kebabCase(key)}`, env: envName(key), default: r.default, doc: r.doc }));
}

/** Reads a value given as text (environment, flags, or a string in a file where a number or boolean is meant). */
function fromText(form: TextForm, value: unknown): unknown {
  if (typeof value !== 'string' || form === 'text') return value;
  const trimmed = value.trim();
  if (form !== 'number' && (trimmed === 'true' || trimmed === 'false')) return trimmed === 'true';
  if (form !== 'boolean' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(trimmed)) return Number(trimmed);
  return value;
}

export interface LoadOptions {
  /** Values as written in a config file (or built by code). */
  readonly values?: Record<string, unknown>;
  /** Where `values` came from, for messages. */
  readonly source?: string;
  /** Folder that relative paths in `values` resolve against (the config file's); default: the working directory. */
  readonly baseDir?: string;
  /** Environment; defaults to none, so that library users are not surprised by WARMROUTE_* variables. */
  readonly env?: NodeJS.ProcessEnv;
  /** Command-line style arguments, e.g. ['--port', '9090'] or ['--port=9090']. */
  readonly args?: readonly string[];
  /**
   * Receives each warning: an unknown key ignored (olscheduler ignores them
   * too), an unknown WARMROUTE_* variable. Default: `process.emitWarning`.
   */
  readonly onWarning?: (message: string) => void;
  /** Every unknown key is an error (`warmroute check --strict`, for CI). Keys starting with `_` stay comments. */
  readonly strict?: boolean;
}

interface Layer {
  readonly values: Map<string, unknown>;
  /** What each key's rule made of its value when it was taken: parsed once, not again by convict and at the end. */
  readonly parsed: Map<string, unknown>;
  /** Where each key's value came from, for messages, and whether paths resolve against the config file. */
  readonly origin: Map<string, { where: string; fromFile: boolean }>;
}

/**
 * Merges defaults < file < environment < flags, checks every value, and
 * returns a typed config. Throws ConfigError listing every problem found, one
 * a line, each naming the key, the value and what is allowed.
 */
export function loadConfig(options: LoadOptions = {}): ProxyConfig {
  const source = options.source ?? 'config';
  const warn = options.onWarning ?? ((m: string) => process.emitWarning(m, 'WarmrouteConfigWarning'));
  const errors: string[] = [];
  const layer: Layer = { values: new Map(), parsed: new Map(), origin: new Map() };

  if (options.values !== undefined) readFileValues(options.values, source, options.strict === true, layer, errors, warn);
  if (options.env !== undefined) readEnv(options.env, layer, errors, warn);
  if (options.args !== undefined) readArgs(options.args, layer, errors);
  if (errors.length > 0) throw new ConfigError(errors.join('\n'));

  const conf = convict(convictSchema());
  // A list (the workers) is checked already; convict would deep-copy it and check it twice more, which for
  // 10,000 workers holds a reload's event loop for tens of milliseconds. It sees the scalars.
  conf.load(Object.fromEntries([...layer.values].filter(([, v]) => v === null || typeof v !== 'object')));
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
  const merged = conf.getProperties() as Record<string, unknown>;

  const parsed: Record<string, unknown> = {};
  for (const [key, rule] of rules()) parsed[key] = layer.parsed.has(key) ? layer.parsed.get(key) : rule.parse(merged[key]);
  for (const [key, rule] of rules()) {
    const path = parsed[key];
    if (!rule.path || typeof path !== 'string' || path === '') continue;
    const base = layer.origin.get(key)?.fromFile ? options.baseDir ?? process.cwd() : process.cwd();
    parsed[key] = resolve(base, path);
  }
  if ((parsed.ejectionMaxMs as number) < (parsed.failTimeoutMs as number)) {
    throw new ConfigError(`${source}: ejectionMaxMs (${parsed.ejectionMaxMs as number}) must be at least failTimeoutMs (${parsed.failTimeoutMs as number}): the back-off starts at failTimeoutMs and grows up to ejectionMaxMs`);
  }
  const policy: Record<string, PolicyValue> = {};
  for (const key of policyKeys()) {
    policy[key] = parsed[key] as PolicyValue;
    delete parsed[key];
  }
  return { ...(parsed as Omit<ProxyConfig, 'policy'>), policy: Object.freeze(policy) };
}

/** Checks one value; on error records a line naming where it came from, the key, the value and the rule. */
function take(key: string, value: unknown, where: string, fromFile: boolean, layer: Layer, errors: string[]): void {
  const rule = rules().get(key)!;
  const coerced = fromText(rule.text, value);
  try {
    // A policy's own parse may serialise what it is given; it is only ever given a scalar.
    if (rule.text === 'loose' && coerced !== null && typeof coerced === 'object') throw new Error('must be a number, a string or a boolean');
    layer.parsed.set(key, rule.parse(coerced));
  } catch (err) {
    errors.push(`${where}: ${problem(key, rule, value, err)}`);
    return;
  }
  layer.values.set(key, coerced);
  layer.origin.set(key, { where, fromFile });
}

/** The rule's message with the value appended, unless the rule (a policy setting's parse, say) already named key or value. */
function problem(key: string, rule: KeyRule, value: unknown, err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  if (message.startsWith(`${key} `)) message = message.slice(key.length + 1);
  if (rule.namesValue || /\bgot .+$/.test(message)) return message;
  return `${message}, got ${rule.sensitive ? '(hidden)' : describeValue(value)}`;
}

function readFileValues(values: Record<string, unknown>, source: string, strict: boolean, layer: Layer, errors: string[], warn: (m: string) => void): void {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    errors.push(`${source}: must hold a JSON object of settings, got ${describeValue(values)}`);
    return;
  }
  const names = aliases();
  const writtenAs = new Map<string, string>();
  for (const [raw, value] of Object.entries(values)) {
    if (raw.startsWith('_')) continue; // a comment, as olscheduler's users write them
    const key = names.get(raw);
    if (key === undefined) {
      const guess = nearMiss(raw, rules().keys());
      if (guess !== undefined) errors.push(`${source}: unknown config key "${raw}" (did you mean "${guess}"?)`);
      else if (strict) errors.push(`${source}: unknown config key "${raw}" (strict: every key must be known; keys starting with "_" are comments)`);
      else warn(`${source}: unknown config key "${raw}" ignored`);
      continue;
    }
    const earlier = writtenAs.get(key);
    if (earlier !== undefined) {
      errors.push(`${source}: "${key}" is given twice, as "${earlier}" and as "${raw}"`);
      continue;
    }
    writtenAs.set(key, raw);
    take(key, value, `${source}: ${raw === key ? key : `${raw} (${key})`}`, true, layer, errors);
  }
}

function readEnv(env: NodeJS.ProcessEnv, layer: Layer, errors: string[], warn: (m: string) => void): void {
  const byName = new Map([...rules().keys()].map((k) => [envName(k), k]));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('WARMROUTE_') || value === undefined) continue;
    const key = byName.get(name);
    if (key === undefined) {
      const guess = nearMiss(name, byName.keys());
      warn(`environment variable ${name} is not a setting and is ignored${guess === undefined ? '' : ` (did you mean ${guess}?)`}`);
      continue;
    }
    take(key, value, `environment ${name} (${key})`, false, layer, errors);
  }
}

/** `--flag value`, `--flag=value`; a boolean flag alone means true. */
function readArgs(args: readonly string[], layer: Layer, errors: string[]): void {
  const flags = configFlags();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--') || arg.length === 2) {
      errors.push(`unexpected argument ${describeValue(arg)}; settings are given as --key value`);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const key = flags.get(name);
    if (key === undefined) {
      const guess = nearMiss(name, flags.keys());
      errors.push(`unknown flag "--${name}"${guess === undefined ? '' : ` (did you mean "--${guess}"?)`}`);
      if (eq === -1 && args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) i++;
      continue;
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (rules().get(key)!.text === 'boolean' && (args[i + 1] === undefined || args[i + 1]!.startsWith('--'))) value = 'true';
    else if (args[i + 1] === undefined) {
      errors.push(`flag --${name} needs a value`);
      continue;
    } else value = args[++i]!;
    take(key, value, `flag --${name} (${key})`, false, layer, errors);
  }
}

let cachedSchema: Record<string, { doc: string; default: unknown; format: string; sensitive: boolean }> | undefined;

/**
 * The convict schema: defaults and a named format per key that applies the
 * key's rule (named, so that convict leaves the value as it is rather than
 * guessing a conversion from the default's type). Environment and flags are
 * read above rather than by convict, so that each message says which variable
 * or flag a bad value came from.
 */
function convictSchema(): NonNullable<typeof cachedSchema> {
  if (cachedSchema === undefined) {
    cachedSchema = {};
    for (const [key, r] of rules()) {
      const format = `warmroute-${key}`;
      convict.addFormat({ name: format, validate: (v: unknown) => { r.parse(v); }, coerce: (v: unknown) => v });
      cachedSchema[key] = { doc: r.doc, default: r.default, sensitive: r.sensitive === true, format };
    }
  }
  return cachedSchema;
}

/** A config file's contents whose loading gives `config` back (for `/status`, tests and generated configs). */
export function configToValues(config: ProxyConfig): Record<string, unknown> {
  const { policy, workers, ...rest } = config;
  return {
    ...rest,
    ...policy,
    workers: workers.map((w) => ({ url: w.address, id: w.id, weight: w.weight, ...(w.connections === undefined ? {} : { connections: w.connections }) })),
  };
}

/** Reads a JSON config file and loads it with the given environment and flags; paths in it resolve against its folder. */
export function loadConfigFile(path: string, rest: Omit<LoadOptions, 'values' | 'source' | 'baseDir'> = {}): ProxyConfig {
  let textContent: string;
  try {
    textContent = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const values = parseJsonText(textContent, `config file ${path}`);
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    throw new ConfigError(`config file ${path}: must hold a JSON object of settings, got ${describeValue(values)}`);
  }
  return loadConfig({ ...rest, values: values as Record<string, unknown>, source: path, baseDir: dirname(resolve(path)) });
}
