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
 * Streams the client's request body on demand only: nothing is read from the
 * client until undici has a connection and asks for data, so after a connect
 * failure the untouched client stream can be handed to another worker.
 */
class RequestBody extends Readable {
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

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
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

function downstreamHeaders(headers: Dispatcher.StreamFactoryData['headers'], workerId: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in headers) {
    if (hopByHop.has(name)) continue;
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  out['x-warmroute-worker'] = workerId;
  return out;
}

/**
 * Forwards one admitted request: picks a worker, streams the request to it
 * and its response back. Resolves (never rejects) once the exchange is over,
 * which releases the admission slot.
 */
export async function forward(req: IncomingMessage, res: ServerResponse, fn: LambdaInfo, ctx: ForwardContext): Promise<void> {
  if (res.destroyed) return; // the client left while queued
  const headers = upstreamHeaders(req);
  const withBody = hasBody(req);
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);

  try {
    await exchange(req, res, fn, ctx, headers, withBody, controller);
  } finally {
    res.off('close', onClose);
  }
}

async function exchange(
  req: IncomingMessage, res: ServerResponse, fn: LambdaInfo, ctx: ForwardContext,
  headers: string[], withBody: boolean, controller: AbortController,
): Promise<void> {
  const { table, metrics } = ctx;
  let retried = false;
  for (;;) {
    const worker = table.pick(fn);
    if (!worker) {
      metrics.error('no_healthy_worker');
      sendError(res, 'no_healthy_worker', 'no healthy worker is available', { 'retry-after': 1 });
      return;
    }
    const body = withBody ? new RequestBody(req, ctx.maxBodyBytes) : null;
    table.begin(worker, fn);
    const started = performance.now();
    let status = 0;
    try {
      await worker.pool.stream(
        { path: req.url!, method: req.method as Dispatcher.HttpMethod, headers, body, signal: controller.signal },
        ({ statusCode, headers: responseHeaders }) => {
          status = statusCode;
          res.writeHead(statusCode, downstreamHeaders(responseHeaders, worker.id));
          return res;
        },
      );
      metrics.answered(worker, status, (performance.now() - started) / 1000);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (controller.signal.aborted) {
        metrics.error('client_closed');
        return;
      }
      if (status !== 0) {
        // The response had begun: nothing can be said to the client any more but a cut.
        metrics.answered(worker, status, (performance.now() - started) / 1000);
        metrics.error('worker_failed');
        ctx.log.warn({ worker: worker.id, fn: fn.name, err: code || (err as Error).message }, 'worker response broke off');
        res.destroy();
        return;
      }
      if (body?.tooLarge) {
        metrics.error('body_too_large');
        sendError(res, 'body_too_large', `request body exceeds the limit of ${ctx.maxBodyBytes} bytes`, { connection: 'close' });
        return;
      }
      if (connectFailures.has(code)) {
        table.markFailed(worker);
        if (!retried && !(body?.started ?? false)) {
          retried = true;
          metrics.retried();
          ctx.log.warn({ worker: worker.id, fn: fn.name, err: code }, 'connect failed; retrying on another worker');
          continue;
        }
      }
      const timedOut = timeouts.has(code);
      metrics.error(timedOut ? 'worker_timeout' : 'worker_failed');
      ctx.log.warn({ worker: worker.id, fn: fn.name, err: code || (err as Error).message }, 'worker failed');
      sendError(
        res,
        timedOut ? 'worker_timeout' : 'worker_failed',
        `worker ${worker.id} ${timedOut ? 'timed out' : 'failed'} (${code || (err as Error).message})`,
      );
      return;
    } finally {
      table.end(worker);
    }
  }
}
