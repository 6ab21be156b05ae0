// The load runner: sends `POST {target}/runLambda/{handler}` for a duration,
// closed-loop (sync: each runner waits for its answer before sending again) or
// open-loop (async: arrivals on a fixed schedule whatever the answers), and
// records every request it sent. Handler choice follows pipbench's
// run_workload.py: uniform over the list, or uniform over a slice of the list
// that moves on every rotation period.

import { seededRandom } from '../balancers/seeded-random.js';
import { setMaxListeners } from 'node:events';
import { Agent, request } from 'undici';
import { isSuccess, summarize, type RequestRecord, type RunSummary } from './stats.js';

export type RunMode = 'sync' | 'async';

/** Size of the rotating window: a fraction of the handler list (0 < f <= 1) or a number of handlers. */
export type RotationSlice = { readonly fraction: number } | { readonly count: number };

export type HandlerChoice =
  | { readonly kind: 'uniform' }
  | { readonly kind: 'rotate'; readonly periodMs: number; readonly slice: RotationSlice };

export interface RunOptions {
  /** Base URL; requests go to `{target}/runLambda/{handler}`. */
  readonly target: string;
  /** Handler names to draw from; repeats weight the draw, as in pipbench handler files. */
  readonly handlers: readonly string[];
  readonly mode: RunMode;
  readonly durationMs: number;
  /** sync: number of closed-loop runners (default 1). Ignored in async mode. */
  readonly runners?: number;
  /** async: milliseconds between arrivals (required). sync: think time before each request (default 0). */
  readonly intervalMs?: number;
  readonly choice?: HandlerChoice;
  /** Seeds the handler draw; the same seed gives the same sequence of handlers. Default 1. */
  readonly seed?: number;
  /** After the duration, how long to wait for outstanding answers before counting them as failures. Default 60 s. */
  readonly drainMs?: number;
  /** Request body; default pipbench's `{"name": "Alice"}`. */
  readonly body?: string;
  /** Stops sending early (as if the duration had ended); outstanding requests still drain. */
  readonly signal?: AbortSignal;
  /** Called as each request is sent. */
  readonly onSend?: (handler: string) => void;
  /** Called as each request completes. */
  readonly onRecord?: (record: RequestRecord) => void;
}

export interface RunResult {
  /** In the order requests were sent. */
  readonly records: RequestRecord[];
  readonly startEpochMs: number;
  /** From the first send to the last answer, at least the duration. */
  readonly elapsedMs: number;
  /** Requests still unanswered when the drain period ended (included in records as failures). */
  readonly unansweredAtDrain: number;
  readonly summary: RunSummary;
}

const DEFAULT_BODY = JSON.stringify({ name: 'Alice' });
export const DEFAULT_DRAIN_MS = 60_000;
export const DRAIN_TIMEOUT_ERROR = 'no answer before the drain period ended';

/** How many handlers a rotation window holds for a list of `total`. */
export function rotationWindowSize(slice: RotationSlice, total: number): number {
  const size = 'count' in slice ? slice.count : Math.floor(slice.fraction * total);
  return Math.min(total, Math.max(1, size));
}

/**
 * The handlers of rotation window `index`: `size` consecutive entries starting
 * at `index * size`, wrapping around the end of the list (run_workload.py's
 * handlers_slice, with the window measured in handlers instead of percent).
 */
export function rotationWindow(handlers: readonly string[], index: number, size: number): string[] {
  const n = handlers.length;
  const start = (index * size) % n;
  const out: string[] = [];
  for (let i = 0; i < size; i++) out.push(handlers[(start + i) % n] as string);
  return out;
}

/** Returns a function that draws the next handler for a request sent `elapsedMs` into the run. */
export function createHandlerPicker(
  handlers: readonly string[],
  choice: HandlerChoice,
  random: () => number,
): (elapsedMs: number) => string {
  if (handlers.length === 0) throw new RangeError('the handler list is empty');
  if (choice.kind === 'uniform') {
    return () => handlers[Math.floor(random() * handlers.length)] as string;
  }
  if (!(choice.periodMs > 0)) throw new RangeError(`rotation period must be positive, got ${choice.periodMs} ms`);
  const size = rotationWindowSize(choice.slice, handlers.length);
  let windowIndex = -1;
  let window: string[] = [];
  return (elapsedMs) => {
    const index = Math.floor(Math.max(0, elapsedMs) / choice.periodMs);
    if (index !== windowIndex) {
      windowIndex = index;
      window = rotationWindow(handlers, index, size);
    }
    return window[Math.floor(random() * window.length)] as string;
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function invocationUrl(target: string, handler: string): string {
  return `${target.replace(/\/+$/, '')}/runLambda/${encodeURIComponent(handler)}`;
}

function workerFromBody(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'worker' in parsed && typeof parsed.worker === 'string') return parsed.worker;
  } catch { /* not JSON: no worker to report */ }
  return '';
}

function errorFromBody(status: number, text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'error' in parsed) {
      const e = parsed.error;
      if (typeof e === 'string') return `HTTP ${status}: ${e}`;
      if (e && typeof e === 'object' && 'code' in e && typeof e.code === 'string') return `HTTP ${status}: ${e.code}`;
    }
  } catch { /* not JSON */ }
  return `HTTP ${status}`;
}

function validate(opts: RunOptions): void {
  if (opts.handlers.length === 0) throw new RangeError('the handler list is empty');
  if (!(opts.durationMs > 0)) throw new RangeError(`duration must be positive, got ${opts.durationMs} ms`);
  if (opts.mode === 'async' && !(opts.intervalMs !== undefined && opts.intervalMs > 0)) {
    throw new RangeError('async mode needs a positive interval between requests');
  }
  const runners = opts.runners ?? 1;
  if (!Number.isInteger(runners) || runners < 1) throw new RangeError(`runners must be a positive integer, got ${runners}`);
  if (opts.drainMs !== undefined && !(opts.drainMs >= 0)) throw new RangeError(`drain must be >= 0, got ${opts.drainMs} ms`);
  new URL(opts.target); // throws a TypeError naming the bad URL
}

/** Runs one workload against `target` and returns every request it sent. */
export async function runWorkload(opts: RunOptions): Promise<RunResult> {
  validate(opts);
  const runners = opts.runners ?? 1;
  const drainMs = opts.drainMs ?? DEFAULT_DRAIN_MS;
  const body = opts.body ?? DEFAULT_BODY;
  const pick = createHandlerPicker(opts.handlers, opts.choice ?? { kind: 'uniform' }, seededRandom(opts.seed ?? 1));
  // Open loop must never queue inside the runner, so connections are unbounded there;
  // closed loop needs exactly one connection per runner. Timeouts are left to the drain.
  const agent = new Agent({
    connections: opts.mode === 'sync' ? runners : null,
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 30_000,
  });
  const drain = new AbortController();
  // Every outstanding request listens on the drain signal; thousands are expected.
  setMaxListeners(0, drain.signal);
  const records: (RequestRecord | undefined)[] = [];
  const outstanding = new Set<Promise<void>>();
  const t0 = performance.now();
  const startEpochMs = performance.timeOrigin + t0;
  let lastAnswerAt = t0;

  const send = (handler: string): Promise<void> => {
    const slot = records.length;
    records.push(undefined);
    opts.onSend?.(handler);
    const started = performance.now();
    const finish = (status: number, worker: string, error: string): void => {
      const now = performance.now();
      lastAnswerAt = Math.max(lastAnswerAt, now);
      const record: RequestRecord = {
        startEpochMs: performance.timeOrigin + started,
        offsetMs: started - t0,
        handler, status, latencyMs: now - started, worker, error,
      };
      records[slot] = record;
      opts.onRecord?.(record);
    };
    const p = (async () => {
      try {
        const res = await request(invocationUrl(opts.target, handler), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          dispatcher: agent,
          signal: drain.signal,
        });
        const text = await res.body.text();
        const header = res.headers['x-warmroute-worker'];
        const worker = (Array.isArray(header) ? header[0] : header) ?? workerFromBody(text);
        finish(res.statusCode, worker, isSuccess(res.statusCode) ? '' : errorFromBody(res.statusCode, text));
      } catch (err) {
        const message = drain.signal.aborted ? DRAIN_TIMEOUT_ERROR : describeNetworkError(err);
        finish(0, '', message);
      }
    })();
    outstanding.add(p);
    void p.finally(() => outstanding.delete(p));
    return p;
  };

  const stopped = (): boolean => opts.signal?.aborted === true || performance.now() - t0 >= opts.durationMs;

  if (opts.mode === 'async') {
    const interval = opts.intervalMs as number;
    for (let i = 0; ; i++) {
      // Arrivals follow the schedule, not the timer: a late timer sends at once to catch up.
      const due = i * interval;
      if (due >= opts.durationMs || opts.signal?.aborted) break;
      // Timers may fire a little early; never send before the slot.
      for (let wait = t0 + due - performance.now(); wait > 0; wait = t0 + due - performance.now()) await sleep(Math.ceil(wait));
      if (opts.signal?.aborted) break;
      void send(pick(due));
    }
  } else {
    const think = opts.intervalMs ?? 0;
    const loop = async (): Promise<void> => {
      while (!stopped()) {
        if (think > 0) {
          await sleep(think);
          if (stopped()) break;
        }
        await send(pick(performance.now() - t0));
      }
    };
    const loops: Promise<void>[] = [];
    for (let r = 0; r < runners; r++) loops.push(loop());
    // Runners stop at the duration; their last request drains like async ones.
    await Promise.race([
      Promise.all(loops),
      (async () => {
        while (!stopped()) await sleep(Math.min(100, Math.max(1, opts.durationMs - (performance.now() - t0))));
      })(),
    ]);
  }

  // An early stop ends the run where sending stopped; otherwise it lasts at least the duration.
  const sendingEndedMs = opts.signal?.aborted ? Math.min(opts.durationMs, performance.now() - t0) : opts.durationMs;
  let unansweredAtDrain = 0;
  if (outstanding.size > 0) {
    let timer: NodeJS.Timeout | undefined;
    const drained = Promise.all([...outstanding]).then(() => true);
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), drainMs); });
    const allAnswered = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (!allAnswered) {
      unansweredAtDrain = outstanding.size;
      drain.abort();
      await Promise.all([...outstanding]);
    }
  }
  await agent.close().catch(() => agent.destroy());

  const done = records.filter((r): r is RequestRecord => r !== undefined);
  const elapsedMs = Math.max(sendingEndedMs, lastAnswerAt - t0);
  return { records: done, startEpochMs, elapsedMs, unansweredAtDrain, summary: summarize(done, elapsedMs) };
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error) {
    const code = 'code' in err && typeof err.code === 'string' ? `${err.code}: ` : '';
    return `${code}${err.message}`;
  }
  return String(err);
}

// ---------------------------------------------------------------- inputs and outputs

const RECORD_COLUMNS = ['start', 'offset_ms', 'handler', 'status', 'latency_ms', 'worker', 'error'] as const;

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function recordFields(r: RequestRecord): string[] {
  return [
    new Date(r.startEpochMs).toISOString(),
    r.offsetMs.toFixed(3),
    r.handler,
    String(r.status),
    r.latencyMs.toFixed(3),
    r.worker,
    r.error,
  ];
}

/** Records as CSV with a header line (columns: RECORD_COLUMNS). */
export function formatRecordsCsv(records: readonly RequestRecord[]): string {
  const lines = [RECORD_COLUMNS.join(',')];
  for (const r of records) lines.push(recordFields(r).map(csvField).join(','));
  return lines.join('\n') + '\n';
}

/** Records as JSON lines, one object per request with the CSV's keys (offset, status and latency as numbers). */
export function formatRecordsJsonl(records: readonly RequestRecord[]): string {
  const numeric = new Set<string>(['offset_ms', 'status', 'latency_ms']);
  return records.map((r) => JSON.stringify(Object.fromEntries(recordFields(r).map((v, i) => {
    const column = RECORD_COLUMNS[i] as string;
    return [column, numeric.has(column) ? Number(v) : v];
  })))).join('\n') + (records.length ? '\n' : '');
}
