import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { LambdaInfo } from '../balancers/types.js';
import type { Scheduler } from './admission.js';
import type { Clock } from './clock.js';
import type { ClientEvents, ClientSide } from './client-side.js';
import type { ErrorCode } from './errors.js';
import { Lease, type LeaseOwner, type Rejection } from './lease.js';
import type { ProxyMetrics } from './metrics.js';
import type { Upstreams } from './upstream.js';
import type { ResponseHandler, WorkerConnection } from './worker-connection.js';
import type { Worker, WorkerTable } from './workers.js';

/** Headers that describe one connection, not the message (RFC 9110 7.6.1); never forwarded. */
const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect',
]);

/** Errors that mean no connection was made, so nothing reached the worker and another one may be tried. */
const connectFailures = new Set([
  'ECONNREFUSED', 'WR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL',
]);

/** Failure reasons that mean none of the request reached the worker: the request may go to another worker. */
const unsentReasons = new Set(['connect_failed', 'connect_timeout', 'tls']);

const timeouts = new Set(['WR_HEADERS_TIMEOUT', 'WR_BODY_TIMEOUT', 'WR_CONNECT_TIMEOUT', 'WR_RESPONSE_TIMEOUT']);

/** The worker closed or reset the connection mid-answer (src/worker-connection.ts names its own codes). */
const resets = new Set(['ECONNRESET', 'EPIPE', 'WR_CLOSED']);

/** Settings the request path reads; replaced as a whole on reload. */
export interface ForwardSettings {
  readonly maxBodyBytes: number;
  readonly ejectOn5xx: boolean;
  readonly accessLog: boolean;
  /** Whole-response deadline from dispatch; 0: none. */
  readonly responseTimeoutMs: number;
  readonly queueLimit: number;
  readonly queueTimeoutMs: number;
  /** The whole request body must arrive within this, from the request's start. */
  readonly clientBodyTimeoutMs: number;
  /** Further workers tried after a connect or TLS handshake failure (nothing was sent); never one already tried. */
  readonly connectRetries: number;
}

export interface ForwardContext {
  readonly table: WorkerTable;
  readonly scheduler: Scheduler;
  readonly upstreams: Upstreams;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly clock: Clock;
  settings: ForwardSettings;
}

/**
 * The request body as the proxy holds it: a Buffer read in full (small bodies,
 * as nginx's client_body_buffer_size), `null` for none, or `'stream'` to stream
 * it from the client as the worker takes it.
 */
/** A body too large to hold: what was read before admission, and the clock time by which the rest must arrive. */
export interface PendingBody {
  readonly prefix: Buffer[];
  readonly deadline: number;
}

/**
 * The request body as the proxy holds it: a Buffer read in full before
 * admission, `null` for none, or a PendingBody streamed to the worker (a
 * fresh StreamedBody per attempt, since a failed attempt destroys the body it was sending).
 */
export type RequestBodySource = Buffer | null | PendingBody;

/**
 * Streams the client's request body on demand only: what was read before
 * admission first, then the rest of the client's stream, read only once the
 * worker connection is connected and asks for data, so that after a connect failure the
 * untouched stream can be handed to another worker. The whole body must
 * arrive before `deadline` (clock ms), so a slow client cannot hold a worker
 * connection indefinitely.
 */
export class StreamedBody extends Readable {
  started = false;
  tooLarge = false;
  timedOut = false;
  private received: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.length;
    if (this.received > this.limit) {
      this.tooLarge = true;
      this.destroy(new Error(`request body exceeds ${this.limit} bytes`));
      return;
    }
    if (!this.push(chunk)) this.req.pause();
  };
  private readonly onEnd = (): void => {
    this.clearTimer();
    this.push(null);
  };
  private readonly onAborted = (): void => { this.destroy(new Error('client closed the request')); };

  constructor(
    private readonly req: IncomingMessage,
    private readonly limit: number,
    private readonly prefix: Buffer[],
    private readonly msLeft: () => number,
  ) {
    super();
    this.received = prefix.reduce((n, b) => n + b.length, 0);
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      for (const chunk of this.prefix) this.push(chunk);
      this.req.on('data', this.onData);
      this.req.once('end', this.onEnd);
      this.req.once('error', this.onAborted);
      this.req.once('aborted', this.onAborted);
      if (this.req.readableEnded) {
        this.push(null);
        return;
      }
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.destroy(new Error('request body did not arrive in time'));
      }, Math.max(0, this.msLeft()));
    }
    this.req.resume();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.clearTimer();
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onAborted);
    this.req.off('aborted', this.onAborted);
    callback(err);
  }
}

/** The client's headers minus hop-by-hop ones, plus `x-forwarded-for`, as a flat [name, value, ...] list. */
function upstreamHeaders(client: ClientSide): string[] {
  const raw = client.rawHeaders;
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let dropped: Set<string> | undefined;
  const connection = client.connection;
  if (connection !== undefined && connection !== 'keep-alive' && connection !== 'close') {
    dropped = new Set(connection.toLowerCase().split(',').map((s) => s.trim()));
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (hopByHop.has(name) || dropped?.has(name)) continue;
    if (name === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? raw[i + 1]! : `${forwardedFor}, ${raw[i + 1]!}`;
      continue;
    }
    out.push(raw[i]!, raw[i + 1]!);
  }
  const address = client.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', forwardedFor === undefined ? address : `${forwardedFor}, ${address}`);
  return out;
}

/**
 * The worker's headers (flat, as it sent them) minus hop-by-hop ones, plus
 * `x-warmroute-worker`, as a flat [name, value, ...] list: Node's writeHead
 * takes it as is, where an object would be built here and walked again there.
 */
function downstreamHeaders(raw: readonly string[], workerId: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    // The worker's own x-warmroute-worker, if it sends one, is replaced, not repeated.
    if (hopByHop.has(lower) || lower === 'x-warmroute-worker') continue;
    out.push(name, raw[i + 1]!);
  }
  out.push('x-warmroute-worker', workerId);
  return out;
}

class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
  }
}

class ResponseTimeout extends Error {
  readonly code = 'WR_RESPONSE_TIMEOUT';
  constructor(ms: number) {
    super(`no complete response within ${ms} ms`);
  }
}

/** Why a worker failed, as metrics and `/status` count it. */
function failureReason(code: string, tlsHandshakeFailed: boolean): string {
  if (tlsHandshakeFailed) return 'tls';
  if (connectFailures.has(code)) return code === 'WR_CONNECT_TIMEOUT' ? 'connect_timeout' : 'connect_failed';
  if (code === 'WR_HEADERS_TIMEOUT') return 'headers_timeout';
  if (code === 'WR_BODY_TIMEOUT') return 'body_timeout';
  if (code === 'WR_RESPONSE_TIMEOUT') return 'response_timeout';
  if (resets.has(code)) return 'reset';
  // HPE_* (llhttp's parse errors), an unasked upgrade, TLS failures after the handshake, a connection the proxy cut.
  return 'protocol_error';
}

/** The one message for each reason the scheduler answers a request itself. */
export function rejectionMessage(reason: Rejection, s: ForwardSettings, table: WorkerTable): string {
  switch (reason) {
    case 'queue_full': return `every worker connection is busy and ${s.queueLimit} requests are already waiting`;
    case 'queue_timeout': return `no worker connection became free within ${s.queueTimeoutMs} ms`;
    case 'no_healthy_worker': return table.size === 0 ? 'no workers are configured' : 'no healthy worker is available';
    case 'shutting_down': return 'the proxy is shutting down; try again shortly';
  }
}

/**
 * How a request ended, as `Exchange.end` records it. `error` is the code the
 * proxy answered or counted (none: the worker's answer went through); with
 * `message` the client is sent that error, with `cut` its response is broken
 * off (it had begun), otherwise nothing more is written.
 */
interface Ending {
  readonly worker?: Worker;
  readonly error?: ErrorCode | 'client_closed';
  readonly message?: string;
  readonly headers?: Record<string, string | number>;
  readonly cut?: boolean;
}

/**
 * One client request on its way through a worker. It owns the request's lease
 * (the scheduler tells it when it holds a connection, or that it was
 * rejected), sends the request on one of that worker's connections, and writes
 * the response straight into the client's as it arrives. It is the handler of
 * its worker connection, so a request costs one object here and aborting it
 * needs no AbortController. However it ends, it ends in `end`.
 */
export class Exchange implements LeaseOwner, ClientEvents, ResponseHandler {
  readonly lease: Lease;
  /** The connection this attempt holds, given back in endAttempt. */
  private connection: WorkerConnection | undefined;
  /** The same connection while its request runs: what pauses, resumes and aborts it. */
  private controller: WorkerConnection | undefined;
  private streamed: StreamedBody | null = null;
  private readonly headers: string[];
  private status = 0;
  private bytes = 0;
  /** Connect and TLS handshake failures retried on another worker. */
  private retries = 0;
  private clientGone = false;
  private finished = false;
  private deadline: NodeJS.Timeout | undefined;
  /** The worker's status line and headers, not yet written to the client. */
  private head: (string | string[])[] | undefined;

  constructor(
    private readonly client: ClientSide,
    fn: LambdaInfo,
    private readonly body: RequestBodySource,
    private readonly ctx: ForwardContext,
  ) {
    this.lease = new Lease(fn, this, ctx.clock.now());
    this.headers = upstreamHeaders(client);
    client.attach(this);
  }

  start(): void {
    this.ctx.scheduler.submit(this.lease);
  }

  // ClientEvents

  clientClosed(): void {
    if (this.client.answered || this.finished) return;
    this.clientGone = true;
    // Left while waiting: the request is never sent.
    if (this.ctx.scheduler.cancel(this.lease)) return this.end({ error: 'client_closed' });
    this.controller?.abort(new ClientGone());
  }

  clientDrained(): void {
    this.controller?.resume();
  }

  // LeaseOwner

  rejected(_lease: Lease, reason: Rejection): void {
    const { scheduler, settings, table } = this.ctx;
    const retryAfter = scheduler.retryAfterSeconds;
    // Shutting down, the connection closes after this answer, so the client retries elsewhere.
    const headers: Record<string, string | number> = reason === 'shutting_down' ? { 'retry-after': retryAfter, connection: 'close' } : { 'retry-after': retryAfter };
    this.end({ error: reason, message: rejectionMessage(reason, settings, table), headers });
  }

  dispatched(lease: Lease): void {
    const worker = lease.worker!;
    const { metrics, clock, upstreams, settings } = this.ctx;
    metrics.dispatched(lease, worker, (clock.now() - lease.admittedAt) / 1000);
    // The client left in the same tick the lease was placed: give the connection back untouched.
    if (this.clientGone || this.client.gone) return this.end({ worker, error: 'client_closed' });
    this.status = 0;
    this.head = undefined;
    this.connection = upstreams.connectionsOf(worker).acquire();
    let body: Buffer | null | StreamedBody;
    if (this.body === null || Buffer.isBuffer(this.body)) {
      body = this.body;
    } else {
      const { prefix, deadline } = this.body;
      body = this.streamed = new StreamedBody(this.client.request!, settings.maxBodyBytes, prefix, () => deadline - clock.now());
    }
    if (settings.responseTimeoutMs > 0) {
      const ms = settings.responseTimeoutMs;
      this.deadline = setTimeout(() => this.controller?.abort(new ResponseTimeout(ms)), ms);
    }
    try {
      this.connection.request(this, this.client.method, this.client.target, this.headers, body);
    } catch (err) {
      this.onResponseError(undefined, err as Error);
    }
  }

  // ResponseHandler of the worker connection

  onRequestStart(controller: WorkerConnection): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new ClientGone());
  }

  /** The worker's final answer (the connection skips 1xx). */
  onResponseStart(_controller: WorkerConnection, statusCode: number, headers: readonly string[]): void {
    this.status = statusCode;
    // Held until the first body byte or the end: Node sends nothing before then anyway, and a worker
    // that stalls or breaks right after its headers can then still be answered 502/504 instead of a bare close.
    this.head = downstreamHeaders(headers, this.lease.worker!.id);
  }

  private writeHead(): void {
    if (this.head === undefined) return;
    this.client.writeHead(this.status, this.head);
    this.head = undefined;
  }

  onResponseData(controller: WorkerConnection, chunk: Buffer): void {
    this.writeHead();
    this.bytes += chunk.length;
    if (this.client.write(chunk)) return;
    controller.pause();
  }

  onResponseEnd(): void {
    this.writeHead();
    this.client.end();
    const worker = this.endAttempt();
    const { table, metrics, settings } = this.ctx;
    if (this.status >= 500 && settings.ejectOn5xx) {
      worker.countError('status_5xx');
      metrics.upstreamError(worker, 'status_5xx');
      table.eject(worker, `status ${this.status}`);
    } else {
      table.succeeded(worker);
    }
    worker.served++;
    metrics.answered(worker, this.status, (this.ctx.clock.now() - this.lease.dispatchedAt) / 1000);
    this.end({ worker });
  }

  onResponseError(controller: WorkerConnection | undefined, err: Error): void {
    const worker = this.endAttempt();
    const { table, metrics, log, settings } = this.ctx;
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (this.clientGone || err instanceof ClientGone) return this.end({ worker, error: 'client_closed' });
    if (this.streamed?.timedOut) {
      return this.end({ worker, error: 'body_timeout', message: `the request body did not arrive within ${settings.clientBodyTimeoutMs} ms`, headers: { connection: 'close' } });
    }
    if (this.streamed?.tooLarge) {
      return this.end({ worker, error: 'body_too_large', message: `request body exceeds the limit of ${settings.maxBodyBytes} bytes`, headers: { connection: 'close' } });
    }
    const reason = failureReason(code, controller?.tlsHandshakeFailed ?? false);
    worker.countError(reason);
    metrics.upstreamError(worker, reason);
    table.eject(worker, code || err.message);
    if (this.head !== undefined) {
      // Headers arrived but nothing reached the client yet: it still gets a whole error answer.
      this.head = undefined;
      this.status = 0;
    }
    if (this.status !== 0) {
      // The response had begun: nothing can be said to the client any more but a cut.
      metrics.answered(worker, this.status, (this.ctx.clock.now() - this.lease.dispatchedAt) / 1000);
      log.warn({ worker: worker.id, fn: this.lease.fn.name, err: code || err.message }, 'worker response broke off');
      return this.end({ worker, error: 'worker_failed', cut: true });
    }
    if (unsentReasons.has(reason) && this.retries < settings.connectRetries && !(this.streamed?.started ?? false)) {
      // Nothing reached the worker: another one may be tried, never one already tried.
      this.retries++;
      metrics.retried();
      log.warn({ worker: worker.id, fn: this.lease.fn.name, err: code, retry: this.retries }, `${reason === 'tls' ? 'TLS handshake' : 'connect'} failed; retrying on another worker`);
      if (this.ctx.scheduler.retry(this.lease)) return;
    }
    const timedOut = timeouts.has(code);
    log.warn({ worker: worker.id, fn: this.lease.fn.name, err: code || err.message }, 'worker failed');
    this.end({
      worker,
      error: timedOut ? 'worker_timeout' : 'worker_failed',
      message: `worker ${worker.id} ${timedOut ? 'timed out' : 'failed'} (${code || err.message})`,
    });
  }

  /** The connection is done with this attempt: back to its worker's idle list. */
  private endAttempt(): Worker {
    const worker = this.lease.worker!;
    if (this.deadline !== undefined) {
      clearTimeout(this.deadline);
      this.deadline = undefined;
    }
    if (this.connection !== undefined) {
      this.connection.release();
      this.connection = undefined;
    }
    this.controller = undefined;
    return worker;
  }

  /**
   * The one end of every request, however it went: counts the error, answers
   * or cuts the client, writes the access log line, releases the lease (once:
   * the scheduler ignores a lease that does not run) and stops listening.
   */
  private end(ending: Ending): void {
    if (this.finished) return;
    this.finished = true;
    const { metrics, scheduler, settings } = this.ctx;
    const error = ending.error;
    if (error !== undefined) metrics.error(error);
    if (ending.cut) this.client.cut();
    else if (error !== undefined && error !== 'client_closed' && ending.message !== undefined) this.client.sendError(error, ending.message, ending.headers);
    // At a level above info the line would be dropped: skip building it.
    if (settings.accessLog && this.ctx.log.isLevelEnabled('info')) this.access(ending.worker, error);
    scheduler.release(this.lease);
  }

  private access(worker: Worker | undefined, error: string | undefined): void {
    const now = this.ctx.clock.now();
    const lease = this.lease;
    this.ctx.log.info({
      fn: lease.fn.name,
      worker: worker?.id ?? null,
      status: error === undefined ? this.status : this.client.statusCode,
      error: error ?? null,
      ms: Math.round((now - lease.admittedAt) * 1000) / 1000,
      waitMs: Math.round(lease.waitedMs(now) * 1000) / 1000,
      bytes: this.bytes,
      retried: this.retries > 0,
    }, 'access');
  }
}
