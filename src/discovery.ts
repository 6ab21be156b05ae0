/**
 * Workers from DNS: an SRV name (a Kubernetes headless Service, or a StatefulSet's,
 * whose pods have stable names) or an A/AAAA name plus a port, re-resolved every
 * `intervalMs`. The source only reports the current set of workers; the worker table
 * adds and drains them through the same path as the admin API.
 *
 * What a lookup may do to the set:
 * - an answer with records replaces the set (reported only when it differs);
 * - an error (timeout, SERVFAIL, REFUSED, network) keeps the last answer: a DNS
 *   hiccup must never drain healthy workers;
 * - "no such name" (NXDOMAIN) or "no records" (NODATA) keeps the last answer too,
 *   until it is the answer `emptyAfter` lookups in a row (3 by default): then the
 *   set is emptied, because a Service scaled to zero answers exactly that, and
 *   routing to workers that are gone is worse than answering 503.
 */
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { type Clock, type Timer, MAX_TIMER_MS, realClock } from './clock.js';

export interface DnsSourceOptions {
  /** The name to resolve, e.g. `_http._tcp.openlambda-workers.default.svc.cluster.local`. */
  name: string;
  /** `srv`: targets and ports from SRV records; `a`: every A/AAAA address with `port`. */
  type: 'srv' | 'a';
  /** The workers' port for `a`; unused for `srv`, whose records carry their ports. */
  port: number;
  intervalMs: number;
  /** A DNS server as `ip`, `ip:port` or `[ipv6]:port`; empty: the system's resolvers. */
  server: string;
  /** Time allowed for one DNS query try (two tries per lookup); default 2000. */
  timeoutMs?: number;
  /** Consecutive NXDOMAIN/empty answers after which the set is emptied (2 or more; 0: never). Default 3. */
  emptyAfter?: number;
}

export interface DiscoveredWorker {
  /** `http://host:port`, with the address DNS gave (SRV targets are resolved too). */
  url: string;
  /** The same as `url`. */
  address: string;
  /**
   * Stable across restarts where DNS has names: the SRV target (the pod's name) + ":" + port.
   * For A/AAAA it is `ip:port` (`[ip]:port` for IPv6). The same id with a new `url`
   * means the pod came back on another address.
   */
  id: string;
  /** The SRV weight (0 counts as 1); 1 for A/AAAA. */
  weight: number;
}

export const DEFAULT_DNS_TIMEOUT_MS = 2000;
export const DEFAULT_EMPTY_AFTER = 3;

type LookupResult =
  | { kind: 'found'; workers: DiscoveredWorker[] }
  | { kind: 'absent'; reason: string }
  | { kind: 'failed'; reason: string };

/** c-ares codes that mean the name has no records, as opposed to "could not find out". */
const absentCodes = new Set(['ENOTFOUND', 'ENODATA']);

const errorCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? (err as Error).message;

/**
 * Bad DNS source settings. Kept apart from config.ts's ConfigError so that this module
 * does not pull in the policies; config loading can run `checkDnsSourceOptions` and
 * rethrow the message as a ConfigError.
 */
export class DnsSourceError extends Error {
  override readonly name = 'DnsSourceError';
}

const problem = (key: string, value: unknown, rule: string): DnsSourceError =>
  new DnsSourceError(`DNS worker source: ${key} ${JSON.stringify(value)} ${rule}`);

/** Checks options, naming the config key (dnsName, dnsType, ...) of anything wrong. */
export function checkDnsSourceOptions(options: DnsSourceOptions): void {
  const { name, type, port, intervalMs, server, timeoutMs, emptyAfter } = options;
  if (typeof name !== 'string' || name.trim() === '') throw problem('dnsName', name, 'is empty; give an SRV or A/AAAA name');
  const bare = name.replace(/\.$/, '');
  if (bare.length > 253) throw problem('dnsName', name, 'is longer than the 253 characters a DNS name may have');
  for (const label of bare.split('.')) {
    if (!/^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label)) {
      throw problem('dnsName', name, `is not a DNS name: label "${label}" must be 1 to 63 letters, digits, "-" or "_", not starting or ending with "-"`);
    }
  }
  if (type !== 'srv' && type !== 'a') throw problem('dnsType', type, 'must be "srv" or "a"');
  if (type === 'a' && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw problem('dnsPort', port, 'must be the workers\' port (1 to 65535) when dnsType is "a"');
  }
  if (!(Number.isInteger(intervalMs) && intervalMs >= 1 && intervalMs <= MAX_TIMER_MS)) {
    throw problem('dnsIntervalMs', intervalMs, `must be an integer number of milliseconds from 1 to ${MAX_TIMER_MS}`);
  }
  if (typeof server !== 'string') throw problem('dnsServer', server, 'must be a string: ip, ip:port, [ipv6]:port, or empty');
  if (server !== '') parseServer(server);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs >= 1)) {
    throw problem('dnsTimeoutMs', timeoutMs, 'must be an integer number of milliseconds of at least 1');
  }
  // 1 would let a single bad answer drain every worker.
  if (emptyAfter !== undefined && !(Number.isInteger(emptyAfter) && (emptyAfter === 0 || emptyAfter >= 2))) {
    throw problem('dnsEmptyAfter', emptyAfter, 'must be 0 (never empty the table) or an integer of at least 2');
  }
}

/** `ip`, `ip:port` or `[ipv6]:port`, checked here because c-ares's own message does not say what is wrong. */
function parseServer(server: string): void {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(server);
  const v4 = /^([^:]+)(?::(\d+))?$/.exec(server);
  const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : v4 ? [v4[1], v4[2]] : [server, undefined];
  if (host === undefined || isIP(host) === 0) {
    throw problem('dnsServer', server, 'must be an IP address with an optional port: 10.96.0.10, 127.0.0.1:5353, [::1]:53');
  }
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) {
    throw problem('dnsServer', server, 'has a port outside 1 to 65535');
  }
}

const hostPort = (host: string, port: number): string => (isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`);
const canonicalName = (name: string): string => name.toLowerCase().replace(/\.$/, '');
const setKey = (workers: readonly DiscoveredWorker[]): string =>
  workers.map((w) => `${w.id} ${w.url} ${w.weight}`).sort().join('\n');

export class DnsWorkerSource {
  private readonly resolver: Resolver;
  private readonly emptyAfter: number;
  private current: DiscoveredWorker[] = [];
  private absentInARow = 0;
  private failedInARow = 0;
  private inFlight: Promise<void> | undefined;
  private timer: Timer | undefined;
  private started = false;
  private stopped = false;

  constructor(
    private readonly options: DnsSourceOptions,
    /** Told of each new set; a lookup resolves once the promise it returns does. */
    private readonly onChange: (workers: DiscoveredWorker[]) => void | Promise<void>,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {
    checkDnsSourceOptions(options);
    this.emptyAfter = options.emptyAfter ?? DEFAULT_EMPTY_AFTER;
    this.resolver = new Resolver({ timeout: options.timeoutMs ?? DEFAULT_DNS_TIMEOUT_MS, tries: 2 });
    if (options.server !== '') {
      try {
        this.resolver.setServers([options.server]);
      } catch (err) {
        throw problem('dnsServer', options.server, `was refused by the resolver (${(err as Error).message})`);
      }
    }
  }

  /** The set as last reported (sorted by id). */
  get workers(): readonly DiscoveredWorker[] {
    return this.current;
  }

  /** Resolves once the first lookup is done, whatever its outcome (a failure is logged), then re-resolves every interval. */
  async start(): Promise<void> {
    if (this.started) throw new Error('DnsWorkerSource.start() called twice');
    this.started = true;
    await this.lookupNow();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
    this.resolver.cancel();
  }

  /** Resolves the name now; a lookup already under way is shared rather than doubled. Never rejects. */
  lookupNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inFlight ??= this.lookup()
      .then((result) => this.apply(result))
      .catch((err: unknown) => this.log.error({ err, dnsName: this.options.name }, 'DNS lookup crashed; keeping the last answer'))
      .finally(() => {
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    // The next lookup is timed from the end of this one, so slow answers never pile up.
    this.timer = this.clock.setTimer(this.options.intervalMs, () => {
      void this.lookupNow().then(() => this.schedule());
    });
  }

  private lookup(): Promise<LookupResult> {
    const name = this.options.name;
    return this.options.type === 'srv' ? this.lookupSrv(name) : this.lookupAddresses(name, this.options.port);
  }

  private async lookupSrv(name: string): Promise<LookupResult> {
    let records: Awaited<ReturnType<Resolver['resolveSrv']>>;
    try {
      records = await this.resolver.resolveSrv(name);
    } catch (err) {
      return this.outcomeOf(err, `SRV ${name}`);
    }
    if (records.length === 0) return { kind: 'absent', reason: `SRV ${name}: no records` };
    // SRV priority: lower is preferred; higher ones are fallbacks we do not route to.
    const best = Math.min(...records.map((r) => r.priority));
    const targets = new Map<string, { port: number; weight: number }[]>();
    for (const r of records.filter((x) => x.priority === best)) {
      const target = canonicalName(r.name);
      const list = targets.get(target) ?? [];
      list.push({ port: r.port, weight: r.weight === 0 ? 1 : r.weight });
      targets.set(target, list);
    }
    const entries = [...targets];
    const answers = await Promise.all(
      entries.map(([target]) => (isIP(target) !== 0 ? { kind: 'found' as const, addresses: [target] } : this.addressesOf(target))),
    );
    const failure = answers.find((a) => a.kind === 'failed');
    if (failure !== undefined) return failure;
    const workers: DiscoveredWorker[] = [];
    const seen = new Set<string>();
    for (const [i, [target, ports]] of entries.entries()) {
      const resolved = answers[i]!;
      if (resolved.kind === 'failed') return resolved;
      if (resolved.kind === 'absent') {
        // A pod deleted between the two queries: it will be gone from the SRV answer next time.
        this.log.warn({ dnsName: name, target, reason: resolved.reason }, 'SRV target has no address; leaving it out');
        continue;
      }
      const address = resolved.addresses[0]!;
      for (const { port, weight } of ports) {
        const id = `${target}:${port}`;
        if (seen.has(id)) continue;
        seen.add(id);
        const url = `http://${hostPort(address, port)}`;
        workers.push({ id, url, address: url, weight });
      }
    }
    if (workers.length === 0) return { kind: 'absent', reason: `SRV ${name}: no target has an address` };
    return { kind: 'found', workers };
  }

  private async lookupAddresses(name: string, port: number): Promise<LookupResult> {
    const resolved = await this.addressesOf(name);
    if (resolved.kind !== 'found') return resolved;
    const workers = resolved.addresses.map((address) => {
      const url = `http://${hostPort(address, port)}`;
      return { id: hostPort(address, port), url, address: url, weight: 1 };
    });
    return { kind: 'found', workers };
  }

  /** A and AAAA together; IPv4 first, each family sorted, so that "first address" is stable. */
  private async addressesOf(name: string): Promise<{ kind: 'found'; addresses: string[] } | Exclude<LookupResult, { kind: 'found' }>> {
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(name), this.resolver.resolve6(name)]);
    const addresses: string[] = [];
    for (const [family, result] of [['A', v4], ['AAAA', v6]] as const) {
      if (result.status === 'fulfilled') {
        addresses.push(...[...result.value].sort());
        continue;
      }
      const outcome = this.outcomeOf(result.reason, `${family} ${name}`);
      // One family failing outright makes the whole answer unknown: keep the last one.
      if (outcome.kind === 'failed') return outcome;
    }
    if (addresses.length === 0) return { kind: 'absent', reason: `A/AAAA ${name}: no such name or no addresses` };
    return { kind: 'found', addresses };
  }

  private outcomeOf(err: unknown, what: string): Exclude<LookupResult, { kind: 'found' }> {
    const code = errorCode(err);
    return absentCodes.has(code) ? { kind: 'absent', reason: `${what}: ${code}` } : { kind: 'failed', reason: `${what}: ${code}` };
  }

  private async apply(result: LookupResult): Promise<void> {
    if (this.stopped) return;
    const context = { dnsName: this.options.name, dnsType: this.options.type };
    if (result.kind === 'failed') {
      this.failedInARow++;
      this.log.warn({ ...context, reason: result.reason, failedInARow: this.failedInARow, workers: this.current.length }, 'DNS lookup failed; keeping the last answer');
      return;
    }
    if (this.failedInARow > 0) this.log.info({ ...context, after: this.failedInARow }, 'DNS lookups answer again');
    this.failedInARow = 0;
    if (result.kind === 'absent') {
      this.absentInARow++;
      const emptying = this.emptyAfter > 0 && this.absentInARow >= this.emptyAfter;
      this.log.warn(
        { ...context, reason: result.reason, absentInARow: this.absentInARow, emptyAfter: this.emptyAfter, workers: this.current.length },
        emptying ? 'DNS name has no workers: emptying the worker set' : 'DNS name has no workers; keeping the last answer',
      );
      if (emptying) await this.replace([]);
      return;
    }
    this.absentInARow = 0;
    await this.replace(result.workers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  }

  private async replace(workers: DiscoveredWorker[]): Promise<void> {
    if (setKey(workers) === setKey(this.current)) return;
    const before = new Set(this.current.map((w) => w.id));
    const after = new Set(workers.map((w) => w.id));
    this.log.info(
      {
        dnsName: this.options.name,
        workers: workers.length,
        added: [...after].filter((id) => !before.has(id)),
        removed: [...before].filter((id) => !after.has(id)),
      },
      'DNS worker set changed',
    );
    this.current = workers;
    try {
      await this.onChange(workers.map((w) => ({ ...w })));
    } catch (err) {
      // The listener's failure must not stop discovery; the next change is reported again.
      this.log.error({ err }, 'DNS worker set listener failed');
    }
  }
}
