import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent, request as HttpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { Clock, Timer } from './clock.js';
import { StatusParser, type ParsedStatus } from './status-parser.js';
import type { TableListener, Worker, WorkerReport, WorkerTable } from './workers.js';

/** The fewest cores a status report may claim; smaller claims are ignored, as malformed fields are. */
export const MIN_REPORTED_CORES = 0.01;
/** The most cores a status report may claim; larger claims are ignored and named in /status. */
export const MAX_REPORTED_CORES = 4096;
/**
 * A reported in-flight count may exceed this proxy's connection limit for the
 * worker (other replicas send it requests too), but not by this factor: three
 * orders of magnitude is no worker's load, it is a broken or hostile report.
 */
export const IN_FLIGHT_REPORT_FACTOR = 1000;
/** The most package names a report may list; a longer list is ignored (building the set is event-loop work). */
export const MAX_REPORTED_PACKAGES = 20_000;

/**
 * Largest status body read: reading stops at it, whatever the body declares or
 * streams. A worker listing MAX_REPORTED_PACKAGES names of 50 characters stays below it.
 */
export const MAX_STATUS_BYTES = 1024 * 1024;
/** Bodies up to this size are parsed in place (well under a millisecond); larger ones on the parser thread. */
const INLINE_PARSE_BYTES = 64 * 1024;

/** Polls running at once, over all workers: a large table cannot open thousands of connections in one go. */
export const MAX_CONCURRENT_POLLS = 32;
/** Each interval is drawn within +/- this fraction of healthIntervalMs, so polls spread (HAProxy's spread-checks). */
const INTERVAL_SPREAD = 0.25;
/** A poll connection idle this long is closed. */
const POLL_KEEP_ALIVE_MS = 60_000;

export interface HealthOptions {
  /** Between two polls of one worker; 0 turns active checks and live state off. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Path of the worker's status URL. */
  readonly statusPath: string;
  /** Polls started per second over all workers; beyond it, each worker's interval stretches. */
  readonly maxPollsPerSecond: number;
  /** The CAs https workers are verified with; undefined (or absent): Node's default CAs. */
  readonly workerCa?: SecureContext | undefined;
}

interface PollOutcome {
  readonly ok: boolean;
  readonly why: string;
  readonly report?: WorkerReport;
  /** What of the answer was not believed, '' when everything was. */
  readonly ignored: string;
}

/**
 * Polls every worker's status URL: the answer is the active health check (any
 * HTTP answer below 500 passes: the worker's server runs) and, when it is JSON
 * following the live-state contract `{"packages": [...], "inFlight": n,
 * "cores": c}`, the worker's own word on what it holds, which replaces the
 * table's guesses. Polls use connections of their own, never the ones requests
 * are dispatched on. Each worker's next poll is due a spread interval after
 * its last one ended; due polls start through one gate, at most
 * MAX_CONCURRENT_POLLS at once and `maxPollsPerSecond`, so a table of
 * thousands of workers never floods the event loop. A body is read up to
 * MAX_STATUS_BYTES and parsed off the event loop when large.
 */
export class HealthMonitor implements TableListener {
  private readonly timers = new Map<Worker, Timer>();
  private readonly polling = new Set<Worker>();
  /** Workers whose poll is due, in the order they fell due, waiting for the gate. */
  private readonly due = new Set<Worker>();
  private running = 0;
  /** Poll starts allowed now: a bucket refilled at `maxPollsPerSecond`, holding at most MAX_CONCURRENT_POLLS. */
  private tokens = MAX_CONCURRENT_POLLS;
  private refilledAt: number;
  private wakeUp: Timer | undefined;
  private readonly reportedIgnored = new WeakSet<Worker>();
  /** One kept-alive connection per worker, closed after 60 s idle (sooner when the worker's Keep-Alive hint says so). */
  private readonly agent = new HttpAgent({ keepAlive: true, maxSockets: 1, timeout: POLL_KEEP_ALIVE_MS });
  private https: { agent: HttpsAgent; request: typeof HttpsRequest } | undefined;
  private readonly parser = new StatusParser();
  private closed = false;

  constructor(
    private readonly table: WorkerTable,
    private readonly clock: Clock,
    private options: HealthOptions,
    private readonly log: Logger,
    /** Draws the spread of each interval. */
    private readonly random: () => number = Math.random,
  ) {
    this.refilledAt = clock.now();
    table.listen(this);
    for (const w of table.workers) this.added(w);
  }

  setOptions(options: HealthOptions): void {
    const restart = options.intervalMs !== this.options.intervalMs;
    if (options.workerCa !== this.options.workerCa) this.retireHttps();
    this.options = options;
    if (!restart) return;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    this.due.clear();
    if (options.intervalMs === 0) this.table.trustUnchecked();
    for (const w of this.table.workers) this.added(w);
  }

  added(w: Worker): void {
    if (this.options.intervalMs > 0 && !this.closed) this.enqueue(w);
  }

  removed(w: Worker): void {
    this.timers.get(w)?.cancel();
    this.timers.delete(w);
    this.due.delete(w);
  }

  /** Polls `w` now, past the gate (tests and the admin API use it to avoid waiting for the interval). */
  async pollNow(w: Worker): Promise<void> {
    if (this.polling.has(w)) return;
    this.polling.add(w);
    try {
      const outcome = await this.poll(w);
      if (w.removed || this.closed) return;
      const wasUp = w.checkUp;
      this.table.checked(w, outcome.ok, outcome.why);
      if (outcome.report) this.table.reported(w, outcome.report);
      if (outcome.ok) this.noteIgnored(w, outcome.ignored);
      if (wasUp !== w.checkUp) {
        this.log.warn({ worker: w.id, health: w.health.state, why: w.health.why }, w.checkUp ? 'worker is up' : 'worker is down');
      }
    } finally {
      this.polling.delete(w);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    this.due.clear();
    this.wakeUp?.cancel();
    await this.parser.close();
    this.agent.destroy();
    this.https?.agent.destroy();
  }

  /**
   * The worker CAs changed: polls from now on connect with the new ones. The
   * old agent's idle connections close now, and its polls under way end on
   * their connections, which then close rather than serve another poll.
   */
  private retireHttps(): void {
    const old = this.https?.agent;
    this.https = undefined;
    if (old === undefined) return;
    old.keepSocketAlive = () => false;
    for (const sockets of Object.values(old.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
  }

  /** GET `path` from the worker; resolves with the response head, its body still to read. */
  private get(origin: string, path: string, signal: AbortSignal): Promise<IncomingMessage> {
    const url = new URL(origin);
    let request = httpRequest;
    let agent: HttpAgent | HttpsAgent = this.agent;
    if (url.protocol === 'https:') {
      // Loaded only with an https worker: tls costs every process memory otherwise.
      if (this.https === undefined) {
        const https = createRequire(import.meta.url)('node:https') as typeof import('node:https');
        this.https = { agent: new https.Agent({ keepAlive: true, maxSockets: 1, timeout: POLL_KEEP_ALIVE_MS, secureContext: this.options.workerCa }), request: https.request };
      }
      ({ agent, request } = this.https);
    }
    return new Promise((resolve, reject) => {
      const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      const req = request({ host, port: url.port, path, method: 'GET', agent, signal }, resolve);
      req.on('error', reject);
      req.end();
    });
  }

  private noteIgnored(w: Worker, ignored: string): void {
    w.reportWhy = ignored;
    if (ignored === '' || this.reportedIgnored.has(w)) return;
    this.reportedIgnored.add(w);
    this.log.warn({ worker: w.id, why: ignored }, 'status report not believed (logged once per worker)');
  }

  private schedule(w: Worker): void {
    const { intervalMs } = this.options;
    const ms = intervalMs * (1 + INTERVAL_SPREAD * (2 * this.random() - 1));
    this.timers.set(w, this.clock.setTimer(ms, () => {
      this.timers.delete(w);
      if (!w.removed && !this.closed) this.enqueue(w);
    }));
  }

  private enqueue(w: Worker): void {
    this.due.add(w);
    // A batch of 10,000 new workers passes the gate once, after the batch, not once per worker.
    if (this.startQueued) return;
    this.startQueued = true;
    queueMicrotask(() => {
      this.startQueued = false;
      this.startDue();
    });
  }

  private startQueued = false;

  /** Starts due polls while the gate allows; sleeps until the next token when only the rate holds them back. */
  private startDue(): void {
    const now = this.clock.now();
    this.tokens = Math.min(MAX_CONCURRENT_POLLS, this.tokens + ((now - this.refilledAt) * this.options.maxPollsPerSecond) / 1000);
    this.refilledAt = now;
    for (const w of this.due) {
      if (this.running >= MAX_CONCURRENT_POLLS || this.tokens < 1) break;
      this.due.delete(w);
      this.tokens--;
      this.running++;
      void this.pollNow(w).finally(() => {
        this.running--;
        if (!w.removed && !this.closed && this.options.intervalMs > 0 && !this.timers.has(w) && !this.due.has(w)) this.schedule(w);
        this.startDue();
      });
    }
    if (this.due.size > 0 && this.running < MAX_CONCURRENT_POLLS && this.wakeUp === undefined && !this.closed) {
      this.wakeUp = this.clock.setTimer(((1 - this.tokens) * 1000) / this.options.maxPollsPerSecond, () => {
        this.wakeUp = undefined;
        this.startDue();
      });
    }
  }

  private async poll(w: Worker): Promise<PollOutcome> {
    const { timeoutMs, statusPath } = this.options;
    try {
      // The whole poll, answer and body, within timeoutMs.
      const res = await this.get(w.origin, statusPath, AbortSignal.timeout(timeoutMs));
      const status = res.statusCode ?? 0;
      const type = String(res.headers['content-type'] ?? '');
      if (status >= 500) {
        res.resume();
        return { ok: false, why: `status ${status} from ${statusPath}`, ignored: '' };
      }
      if (status >= 300 || !type.includes('json')) {
        // Read to its end, so the connection is kept for the next poll.
        res.resume();
        return { ok: true, why: '', ignored: '' };
      }
      const tooLarge = `status body over ${MAX_STATUS_BYTES} bytes: reading stopped at the cap, report ignored`;
      if (Number(res.headers['content-length'] ?? 0) > MAX_STATUS_BYTES) {
        res.destroy();
        return { ok: true, why: '', ignored: tooLarge };
      }
      const body = await readCapped(res, MAX_STATUS_BYTES);
      if (body === undefined) return { ok: true, why: '', ignored: tooLarge };
      const rejected: string[] = [];
      const parsed = body.length <= INLINE_PARSE_BYTES ? parseReport(Buffer.from(body.buffer, body.byteOffset, body.length).toString(), rejected) : reportOfParsed(await this.parser.parse(body), rejected);
      const report = boundReport(parsed, w.limit, rejected);
      return { ok: true, why: '', report, ignored: rejected.join('; ') };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const code = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : e.code ?? e.message;
      return { ok: false, why: code, ignored: '' };
    }
  }
}

/** The body's bytes, or undefined once more than `cap` arrived (the rest is not read: the stream is destroyed). */
async function readCapped(body: AsyncIterable<Uint8Array>, cap: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Leaving the loop early ends the iteration, which destroys the stream and its connection.
  for await (const chunk of body) {
    total += chunk.length;
    if (total > cap) return undefined;
    chunks.push(chunk);
  }
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

function tooManyPackages(count: number): string {
  return `packages: ${count} names listed, more than ${MAX_REPORTED_PACKAGES}`;
}

/**
 * The live-state fields of a status answer, where present and well-formed;
 * anything else is ignored. Numbers and lists out of bounds are named in
 * `rejected` (for /status and the log).
 */
export function parseReport(text: string, rejected: string[] = []): WorkerReport | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  return reportOf(data as Record<string, unknown>, rejected);
}

/** A body the parser thread read, validated as parseReport validates one parsed in place. */
function reportOfParsed(parsed: ParsedStatus, rejected: string[]): WorkerReport | undefined {
  if (!parsed.object) return undefined;
  let packages: string[] | undefined;
  if (parsed.packageCount > MAX_REPORTED_PACKAGES) rejected.push(tooManyPackages(parsed.packageCount));
  else if (parsed.packageCount === 0) packages = [];
  else if (parsed.packageCount > 0) packages = (parsed.packagesJoined ?? '').split('\n');
  return reportOf({ packages, inFlight: parsed.inFlight, cores: parsed.cores }, rejected);
}

function reportOf(data: Record<string, unknown>, rejected: string[]): WorkerReport | undefined {
  const { packages, inFlight, cores } = data;
  const report: { packages?: string[]; inFlight?: number; cores?: number } = {};
  if (Array.isArray(packages) && packages.every((p): p is string => typeof p === 'string')) {
    if (packages.length > MAX_REPORTED_PACKAGES) rejected.push(tooManyPackages(packages.length));
    else report.packages = packages;
  }
  if (typeof inFlight === 'number') {
    if (Number.isInteger(inFlight) && inFlight >= 0) report.inFlight = inFlight;
    else rejected.push(`inFlight ${inFlight} is not a count`);
  }
  // Below a hundredth of a core the processor-sharing price overflows to Infinity (and 0 x Infinity is NaN): not a real worker's report.
  if (typeof cores === 'number') {
    if (Number.isFinite(cores) && cores >= MIN_REPORTED_CORES && cores <= MAX_REPORTED_CORES) report.cores = cores;
    else rejected.push(`cores ${cores} outside ${MIN_REPORTED_CORES} to ${MAX_REPORTED_CORES}`);
  }
  return Object.keys(report).length > 0 ? report : undefined;
}

/** Drops an in-flight count no worker behind a `limit`-connection share could run; names it in `rejected`. */
export function boundReport(report: WorkerReport | undefined, limit: number, rejected: string[]): WorkerReport | undefined {
  if (report?.inFlight === undefined || report.inFlight <= IN_FLIGHT_REPORT_FACTOR * limit) return report;
  rejected.push(`inFlight ${report.inFlight} is over ${IN_FLIGHT_REPORT_FACTOR} x the connection limit (${limit})`);
  const { inFlight: _, ...rest } = report;
  return Object.keys(rest).length > 0 ? rest : undefined;
}
