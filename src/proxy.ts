import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { LambdaInfo } from '../balancers/types.js';
import { sendError } from './errors.js';
import type { ProxyMetrics } from './metrics.js';
import type { Worker, WorkerTable } from './workers.js';

/** Headers that describe one connection, not the message (RFC 9110 7.6.1); never forwarded. */
const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host',
]);

/** Errors that mean no connection was made, so nothing reached the worker and another one may be tried. */
const connectFailures = new Set([
  'ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL',
]);

const timeouts = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export interface ForwardContext {
  readonly table: WorkerTable;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly maxBodyBytes: number;
}

/**
 * The request body as the proxy holds it: a Buffer read in full (small bodies,
 * as nginx's client_body_buffer_size), `null` for none, or `'stream'` to stream
 * it from the client as the worker takes it.
 */
export type RequestBodySource = Buffer | null | 'stream';

/**
 * Streams the client's request body on demand only: nothing is read from the
 * client until undici has a connection and asks for data, so after a connect
 * failure the untouched client stream can be handed to another worker.
 */
class StreamedBody extends Readable {
  started = false;
  tooLarge = false;
  private received = 0;
  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.length;
    if (this.received > this.limit) {
      this.tooLarge = true;
      this.destroy(new Error(`request body exceeds ${this.limit} bytes`));
      return;
    }
    if (!this.push(chunk)) this.req.pause();
  };
  private readonly onEnd = (): void => { this.push(null); };
  private readonly onAborted = (): void => { this.destroy(new Error('client closed the request')); };

  constructor(private readonly req: IncomingMessage, private readonly limit: number) {
    super();
  }

  override _read(): void {
    if (!this.started) {
      this.started = true;
      this.req.on('data', this.onData);
      this.req.once('end', this.onEnd);
      this.req.once('error', this.onAborted);
      this.req.once('aborted', this.onAborted);
    }
    this.req.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onAborted);
    this.req.off('aborted', this.onAborted);
    callback(err);
  }
}

/** The client's headers minus hop-by-hop ones, plus `x-forwarded-for`, as undici's flat array. */
function upstreamHeaders(req: IncomingMessage): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let dropped: Set<string> | undefined;
  const connection = req.headers.connection;
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
  const client = req.socket.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  return out;
}

function downstreamHeaders(headers: Record<string, string | string[] | undefined>, workerId: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (hopByHop.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  out['x-warmroute-worker'] = workerId;
  return out;
}

class ClientGone extends Error {
  constructor() {
    super('client closed the connection');
  }
}

/**
 * One client request on its way through a worker: picks the worker, hands the
 * request to that worker's undici Pool, and writes the response straight into
 * the client's as it arrives. It is its own undici dispatch handler, so a
 * request costs one object here, and aborting it needs no AbortController.
 */
class Exchange implements Dispatcher.DispatchHandler {
  private worker: Worker | undefined;
  private controller: Dispatcher.DispatchController | undefined;
  private streamed: StreamedBody | null = null;
  private readonly headers: string[];
  private status = 0;
  private began = 0;
  private retried = false;
  private clientGone = false;
  private onDrain: (() => void) | undefined;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly fn: LambdaInfo,
    private readonly body: RequestBodySource,
    private readonly ctx: ForwardContext,
    private readonly resolve: () => void,
  ) {
    this.headers = upstreamHeaders(req);
    res.once('close', this.onClose);
  }

  private readonly onClose = (): void => {
    if (this.res.writableFinished) return;
    this.clientGone = true;
    this.controller?.abort(new ClientGone());
  };

  attempt(): void {
    if (this.clientGone || this.res.destroyed) return this.done();
    const { table } = this.ctx;
    const worker = table.pick(this.fn);
    if (!worker) {
      this.ctx.metrics.error('no_healthy_worker');
      sendError(this.res, 'no_healthy_worker', 'no healthy worker is available', { 'retry-after': 1 });
      return this.done();
    }
    this.worker = worker;
    this.controller = undefined;
    this.status = 0;
    table.begin(worker, this.fn);
    this.began = performance.now();
    const body = this.body === 'stream' ? (this.streamed = new StreamedBody(this.req, this.ctx.maxBodyBytes)) : this.body;
    try {
      worker.pool.dispatch({ path: this.req.url!, method: this.req.method as Dispatcher.HttpMethod, headers: this.headers, body }, this);
    } catch (err) {
      this.onResponseError(undefined as unknown as Dispatcher.DispatchController, err as Error);
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new ClientGone());
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    if (statusCode < 200) return; // 1xx: informational, the real answer follows
    this.status = statusCode;
    this.res.writeHead(statusCode, downstreamHeaders(headers, this.worker!.id));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.res.write(chunk)) return;
    controller.pause();
    this.onDrain ??= () => this.controller?.resume();
    this.res.once('drain', this.onDrain);
  }

  onResponseEnd(): void {
    this.res.end();
    const worker = this.worker!;
    this.ctx.table.end(worker);
    this.ctx.metrics.answered(worker, this.status, (performance.now() - this.began) / 1000);
    this.done();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    const worker = this.worker!;
    const { table, metrics, log } = this.ctx;
    table.end(worker);
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (this.clientGone || err instanceof ClientGone) {
      metrics.error('client_closed');
      return this.done();
    }
    if (this.status !== 0) {
      // The response had begun: nothing can be said to the client any more but a cut.
      metrics.answered(worker, this.status, (performance.now() - this.began) / 1000);
      metrics.error('worker_failed');
      log.warn({ worker: worker.id, fn: this.fn.name, err: code || err.message }, 'worker response broke off');
      this.res.destroy();
      return this.done();
    }
    if (this.streamed?.tooLarge) {
      metrics.error('body_too_large');
      sendError(this.res, 'body_too_large', `request body exceeds the limit of ${this.ctx.maxBodyBytes} bytes`, { connection: 'close' });
      return this.done();
    }
    if (connectFailures.has(code)) {
      table.markFailed(worker);
      if (!this.retried && !(this.streamed?.started ?? false)) {
        this.retried = true;
        metrics.retried();
        log.warn({ worker: worker.id, fn: this.fn.name, err: code }, 'connect failed; retrying on another worker');
        return this.attempt();
      }
    }
    const timedOut = timeouts.has(code);
    metrics.error(timedOut ? 'worker_timeout' : 'worker_failed');
    log.warn({ worker: worker.id, fn: this.fn.name, err: code || err.message }, 'worker failed');
    sendError(
      this.res,
      timedOut ? 'worker_timeout' : 'worker_failed',
      `worker ${worker.id} ${timedOut ? 'timed out' : 'failed'} (${code || err.message})`,
    );
    this.done();
  }

  private done(): void {
    this.res.off('close', this.onClose);
    this.resolve();
  }
}

/**
 * Forwards one admitted request: picks a worker, sends the request to it and
 * streams its response back. Resolves (never rejects) once the exchange is
 * over, which releases the admission slot.
 */
export function forward(req: IncomingMessage, res: ServerResponse, fn: LambdaInfo, body: RequestBodySource, ctx: ForwardContext): Promise<void> {
  return new Promise<void>((resolve) => new Exchange(req, res, fn, body, ctx, resolve).attempt());
}
