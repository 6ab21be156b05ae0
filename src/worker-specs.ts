// Worker notations of the config file, environment, flags and admin API -> WorkerSpec.
import { describeValue } from './config-error.js';
import { nearMiss } from './did-you-mean.js';
import { finish, inSlices, type Steps } from '../balancers/steps.js';

/** Largest weight a worker may have: a ring places 100 points per unit of weight, so 1000 is 100,000 points for one worker. */
export const MAX_WEIGHT = 1000;
/** Most connections (concurrent requests) one worker may be given. */
export const MAX_CONNECTIONS = 10_000;
/** Longest worker host name, in characters: DNS's limit for a name (RFC 1035), and longer than any IP literal. */
export const MAX_HOST_LENGTH = 253;
/** Longest worker id, in characters. */
export const MAX_ID_LENGTH = 256;

/** A worker as the configuration names it. */
export interface WorkerSpec {
  /** Origin undici connects to: `http://host:port` (or https). */
  readonly url: string;
  /** The address as written, e.g. `localhost:8080` or `http://h:p`: olscheduler's ring hashes this. */
  readonly address: string;
  /** Stable identity: the configured id, else `host:port`. Rings hash it; `/status` and metrics show it. */
  readonly id: string;
  readonly weight: number;
  /** Connection limit of this worker, overriding `connectionsPerWorker`. */
  readonly connections?: number;
}

/** Bad worker list: the message names the entry and what is allowed. */
export class WorkerSpecError extends Error {
  override readonly name = 'WorkerSpecError';
}

const OBJECT_KEYS = ['url', 'id', 'weight', 'connections'] as const;
/** A weight written as a string: a plain decimal number (olscheduler writes `"1"`); `1e5` counts too, so it is never taken for a host. */
const NUMBER_STRING = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;
/** Printable ASCII without spaces: ids go into headers, metric labels and log lines. */
const ID_PATTERN = /^[\x21-\x7e]+$/;

const isWeightLike = (x: unknown): boolean => typeof x === 'number' || (typeof x === 'string' && NUMBER_STRING.test(x));

/**
 * Turns any accepted worker notation into specs: olscheduler pairs
 * `["host:port", "weight", ...]`, a list of URLs or `host:port` strings
 * (weight 1), `{"url", "id", "weight", "connections"}` objects, or a string:
 * comma-separated entries (the form environment variables and flags give) or
 * a JSON array. Throws WorkerSpecError naming the entry; duplicate ids are an
 * error.
 */
export function parseWorkers(value: unknown): WorkerSpec[] {
  return finish(workerSpecSteps(value));
}

/** As parseWorkers, a slice of entries at a time, awaiting `pause()` between slices (the admin API: 10,000 entries never hold the event loop at once). */
export async function parseWorkersInSlices(value: unknown, pause: () => Promise<void>): Promise<WorkerSpec[]> {
  return inSlices(workerSpecSteps(value), pause);
}

/** Entries parsed between two yields. */
const STEP_ENTRIES = 500;

function* workerSpecSteps(value: unknown): Steps<WorkerSpec[]> {
  const specs = yield* workerListSteps(value);
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.id)) {
      throw new WorkerSpecError(`two workers have the id "${spec.id}"; give each worker its own "id" (ids default to host:port)`);
    }
    seen.add(spec.id);
  }
  return specs;
}

function* workerListSteps(value: unknown): Steps<WorkerSpec[]> {
  let items: readonly unknown[];
  if (typeof value === 'string') {
    items = value.trim().startsWith('[') ? parseJsonList(value) : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  } else if (Array.isArray(value)) {
    items = value;
  } else {
    throw new WorkerSpecError(`must be a list of workers: ["host:port", "weight", ...] pairs, URLs, or {"url", "id", "weight", "connections"} objects; got ${describeValue(value)}`);
  }
  const pairForm = items.some(isWeightLike);
  const specs: WorkerSpec[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (typeof item === 'string') {
      if (isWeightLike(item)) throw new WorkerSpecError(`entry ${i} (${describeValue(item)}) is a weight where a worker address was expected`);
      let weight: unknown = 1;
      if (pairForm) {
        const next = items[i + 1];
        if (!isWeightLike(next)) {
          throw new WorkerSpecError(`worker ${describeValue(item)} has no weight: in pair form every "host:port" is followed by its weight, e.g. [${describeValue(item)}, "1"]`);
        }
        weight = next;
        i++;
      }
      specs.push(specOf(item, { weight }));
    } else if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
      specs.push(specFromObject(item as Record<string, unknown>, i));
    } else {
      throw new WorkerSpecError(`entry ${i} is ${describeValue(item)}; expected "host:port", a URL or {"url", "id", "weight", "connections"}`);
    }
    if (specs.length % STEP_ENTRIES === 0) yield;
  }
  return specs;
}

function parseJsonList(text: string): readonly unknown[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new WorkerSpecError(`not a valid JSON list (${(err as Error).message})`);
  }
  if (!Array.isArray(data)) throw new WorkerSpecError('a JSON worker list must be an array');
  return data;
}

function specFromObject(item: Record<string, unknown>, index: number): WorkerSpec {
  for (const key of Object.keys(item)) {
    if ((OBJECT_KEYS as readonly string[]).includes(key)) continue;
    const guess = nearMiss(key, OBJECT_KEYS);
    throw new WorkerSpecError(`worker entry ${index} has unknown key "${key}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}; allowed: ${OBJECT_KEYS.join(', ')}`);
  }
  if (typeof item.url !== 'string') throw new WorkerSpecError(`worker entry ${index} needs "url" as a string, got ${describeValue(item.url)}`);
  return specOf(item.url, item);
}

function specOf(address: string, fields: { weight?: unknown; id?: unknown; connections?: unknown }): WorkerSpec {
  const url = originUrl(address);
  // Named only in an error: describing every address of a 10,000-worker list up front costs more than parsing it.
  const who = (): string => `worker ${describeValue(address)}`;
  const defaultPort = url.protocol === 'https:' ? '443' : '80';
  const id = fields.id === undefined ? `${url.hostname}:${url.port || defaultPort}` : checkId(fields.id, who);
  const spec: WorkerSpec = { url: url.origin, address, id, weight: checkWeight(fields.weight ?? 1, who) };
  return fields.connections === undefined ? spec : { ...spec, connections: checkConnections(fields.connections, who) };
}

function checkId(id: unknown, who: () => string): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH || !ID_PATTERN.test(id)) {
    throw new WorkerSpecError(`${who()} has id ${describeValue(id)}; an id is 1 to ${MAX_ID_LENGTH} printable characters without spaces`);
  }
  return id;
}

/** A weight: a number (or number string) greater than 0 and at most MAX_WEIGHT. */
export function checkWeight(weight: unknown, who: string | (() => string)): number {
  const n = typeof weight === 'string' && NUMBER_STRING.test(weight) ? Number(weight) : weight;
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > MAX_WEIGHT) {
    const parsed = typeof weight === 'string' && typeof n === 'number' && String(n) !== weight.trim() ? ` (${n})` : '';
    throw new WorkerSpecError(`${typeof who === 'string' ? who : who()} has weight ${describeValue(weight)}${parsed}; a weight is a number greater than 0 and at most ${MAX_WEIGHT}`);
  }
  return n;
}

function checkConnections(connections: unknown, who: () => string): number {
  if (typeof connections !== 'number' || !Number.isInteger(connections) || connections < 1 || connections > MAX_CONNECTIONS) {
    throw new WorkerSpecError(`${who()} has connections ${describeValue(connections)}; connections is an integer from 1 to ${MAX_CONNECTIONS}`);
  }
  return connections;
}

/**
 * `host:port` or `http://host:port[/]` -> `http://host:port`, the origin undici
 * connects to. Anything the origin would drop (credentials, a path, a query, a
 * fragment) is refused rather than silently removed.
 */
export function workerOrigin(address: string): string {
  return originUrl(address).origin;
}

/** The URL of a worker address, checked as workerOrigin describes. */
function originUrl(address: string): URL {
  const who = (): string => `worker ${describeValue(address)}`;
  if (address.trim() === '') throw new WorkerSpecError('a worker address is empty');
  if (/[\s\x00-\x1f\x7f]/.test(address)) throw new WorkerSpecError(`${who()} contains spaces or control characters`);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new WorkerSpecError(`${who()} is not a valid address; expected host:port or http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WorkerSpecError(`${who()} uses ${url.protocol}; only http: and https: workers are supported`);
  }
  const authority = withScheme.slice(withScheme.indexOf('//') + 2).split(/[/?#]/, 1)[0]!;
  if (url.username !== '' || url.password !== '' || authority.includes('@')) {
    throw new WorkerSpecError(`${who()} carries credentials; give only scheme, host and port`);
  }
  if (address.includes('#')) throw new WorkerSpecError(`${who()} has a fragment; give only scheme, host and port`);
  if (address.includes('?')) throw new WorkerSpecError(`${who()} has a query; give only scheme, host and port`);
  if (url.pathname !== '/') throw new WorkerSpecError(`${who()} has a path; give only scheme, host and port`);
  if (url.hostname === '') throw new WorkerSpecError(`${who()} has no host`);
  if (url.hostname.length > MAX_HOST_LENGTH) {
    throw new WorkerSpecError(`${who()} has a host of ${url.hostname.length} characters; a host name is at most ${MAX_HOST_LENGTH} (DNS's limit)`);
  }
  return url;
}
