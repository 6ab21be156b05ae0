import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { Clock, Timer } from './clock.js';
import type { TableListener, Worker, WorkerReport, WorkerTable } from './workers.js';

/** The fewest cores a status report may claim; smaller claims are ignored, as malformed fields are. */
export const MIN_REPORTED_CORES = 0.01;

export interface HealthOptions {
  /** Between two polls of one worker; 0 turns active checks and live state off. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Path of the worker's status URL. */
  readonly statusPath: string;
}

/** Largest status body read; a worker listing every package it holds stays far below it. */
const MAX_STATUS_BYTES = 8 * 1024 * 1024;

/**
 * Polls every worker's status URL on one timer per worker: the answer is the
 * active health check (any HTTP answer below 500 passes: the worker's server
 * runs) and, when it is JSON following the live-state contract
 * `{"packages": [...], "inFlight": n, "cores": c}`, the worker's own word on
 * what it holds, which replaces the table's guesses. Polls use connections of
 * their own, never the ones requests are dispatched on.
 */
export class HealthMonitor implements TableListener {
  private readonly timers = new Map<Worker, Timer>();
  private readonly polling = new Set<Worker>();
  private readonly agent = new Agent({ connections: 1, pipelining: 1, keepAliveTimeout: 60_000 });
  private closed = false;
  /** Bumped when the interval changes: a poll chain of an older generation does not schedule again. */
  private generation = 0;

  constructor(
    private readonly table: WorkerTable,
    private readonly clock: Clock,
    private options: HealthOptions,
    private readonly log: Logger,
  ) {
    table.listen(this);
    for (const w of table.workers) this.added(w);
  }

  setOptions(options: HealthOptions): void {
    const restart = options.intervalMs !== this.options.intervalMs;
    this.options = options;
    if (!restart) return;
    this.generation++;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
    // Without checks nothing would ever bring a worker that checks took down back up.
    if (options.intervalMs === 0) for (const w of this.table.workers) this.table.uncheck(w);
    for (const w of this.table.workers) this.added(w);
  }

  added(w: Worker): void {
    if (this.options.intervalMs > 0 && !this.closed) this.schedule(w, 0);
  }

  removed(w: Worker): void {
    this.timers.get(w)?.cancel();
    this.timers.delete(w);
  }

  /** Polls `w` now (tests and the admin API use it to avoid waiting for the interval). */
  async pollNow(w: Worker): Promise<void> {
    if (this.polling.has(w)) return;
    this.polling.add(w);
    try {
      const outcome = await this.poll(w);
      if (w.removed || this.closed) return;
      const wasUp = w.checkUp;
      this.table.checked(w, outcome.ok, outcome.why);
      if (outcome.report) this.table.reported(w, outcome.report);
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
    await this.agent.close();
  }

  private schedule(w: Worker, ms: number): void {
    const generation = this.generation;
    this.timers.set(w, this.clock.setTimer(ms, () => {
      if (w.removed || this.closed) return;
      void this.pollNow(w).finally(() => {
        if (!w.removed && !this.closed && this.options.intervalMs > 0 && generation === this.generation) this.schedule(w, this.options.intervalMs);
      });
    }));
  }

  private async poll(w: Worker): Promise<{ ok: boolean; why: string; report?: WorkerReport }> {
    const { timeoutMs, statusPath } = this.options;
    try {
      const res = await request(`${w.origin}${statusPath}`, {
        method: 'GET',
        dispatcher: this.agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode >= 500) {
        await res.body.dump();
        return { ok: false, why: `status ${res.statusCode} from ${statusPath}` };
      }
      if (res.statusCode >= 300 || !type.includes('json')) {
        await res.body.dump();
        return { ok: true, why: '' };
      }
      const length = Number(res.headers['content-length'] ?? 0);
      if (length > MAX_STATUS_BYTES) {
        await res.body.dump();
        return { ok: true, why: '' };
      }
      const text = await res.body.text();
      return { ok: true, why: '', report: parseReport(text) };
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const code = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : e.code ?? e.message;
      return { ok: false, why: code };
    }
  }
}

/** The live-state fields of a status answer, where present and well-formed; anything else is ignored. */
export function parseReport(text: string): WorkerReport | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const { packages, inFlight, cores } = data as Record<string, unknown>;
  const report: { packages?: string[]; inFlight?: number; cores?: number } = {};
  if (Array.isArray(packages) && packages.every((p): p is string => typeof p === 'string')) report.packages = packages;
  if (typeof inFlight === 'number' && Number.isInteger(inFlight) && inFlight >= 0) report.inFlight = inFlight;
  // Below a hundredth of a core the processor-sharing price overflows to Infinity (and 0 x Infinity is NaN): not a real worker's report.
  if (typeof cores === 'number' && Number.isFinite(cores) && cores >= MIN_REPORTED_CORES) report.cores = cores;
  return Object.keys(report).length > 0 ? report : undefined;
}
