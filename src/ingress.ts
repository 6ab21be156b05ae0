import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LambdaInfo } from '../balancers/types.js';
import type { ProxyControl } from './control.js';
import { HttpClient } from './client-side.js';
import { sendError, type ErrorCode } from './errors.js';
import { Exchange, rejectionMessage } from './proxy.js';
import type { InvokeRoute } from './route.js';

/**
 * Bodies up to this size are read whole before a lease is taken (nginx buffers
 * every body before connecting upstream; 64 KiB holds a typical invocation's
 * JSON while 10,000 waiting requests stay under 640 MiB); larger ones stream.
 */
export const bufferedBodyBytes = 64 * 1024;

/** Why the proxy answers an invocation itself, before reading its body. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly headers?: Record<string, string | number>;
}

/**
 * The function an invocation names, looked up in the registry in force, or
 * why it is refused. The one check of both ingress paths: the fast path
 * (raw-ingress.ts) hands a refused request to node:http, which answers it here.
 */
export function invocationTarget(control: ProxyControl, method: string, route: InvokeRoute): LambdaInfo | Refusal {
  if (!route.ok) return { code: 'bad_request', message: route.message };
  if (method !== 'POST') return { code: 'method_not_allowed', message: `${method} is not allowed here; invoke with POST`, headers: { allow: 'POST' } };
  if (control.stopping()) {
    // A request on a kept-alive connection after shutdown began: refused, and the connection closes.
    const { ctx, table, scheduler } = control;
    return { code: 'shutting_down', message: rejectionMessage('shutting_down', ctx.settings, table), headers: { 'retry-after': scheduler.retryAfterSeconds, connection: 'close' } };
  }
  const fn = control.registry.lookup(route.name);
  return fn ?? { code: 'unknown_function', message: `function "${route.name}" is not in the registry` };
}

/** The answer to a body that did not arrive within clientBodyTimeoutMs; the connection closes after it. */
export function bodyTimeout(ms: number): Refusal {
  return { code: 'body_timeout', message: `the request body did not arrive within ${ms} ms`, headers: { connection: 'close' } };
}

/**
 * `POST /runLambda/:name` and `/run/:name` as node:http received them: checks
 * the request, looks the function up, reads the body, and hands it to an Exchange.
 */
export function invoke(control: ProxyControl, req: IncomingMessage, res: ServerResponse, route: InvokeRoute): void {
  const { metrics, ctx } = control;
  const fn = invocationTarget(control, req.method ?? '', route);
  if ('code' in fn) {
    metrics.error(fn.code);
    sendError(res, fn.code, fn.message, fn.headers);
    return;
  }
  const maxBodyBytes = ctx.settings.maxBodyBytes;
  const length = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const size = length === undefined ? 0 : Number(length);
  if (size > maxBodyBytes) {
    metrics.error('body_too_large');
    sendError(res, 'body_too_large', `request body of ${length} bytes exceeds the limit of ${maxBodyBytes} bytes`, { connection: 'close' });
    return;
  }
  if (size === 0 && !chunked) return void new Exchange(new HttpClient(req, res), fn, null, ctx).start();
  receiveBody(control, req, res, fn);
}

/**
 * Reads up to `bufferedBodyBytes` of the body before a lease is taken, so a
 * slow client never holds a worker connection for a body that fits; larger
 * bodies stream once a connection is free. Either way the whole body must
 * arrive within clientBodyTimeoutMs (else 408).
 */
function receiveBody(control: ProxyControl, req: IncomingMessage, res: ServerResponse, fn: LambdaInfo): void {
  const { ctx, metrics } = control;
  const { clientBodyTimeoutMs, maxBodyBytes } = ctx.settings;
  const deadline = ctx.clock.now() + clientBodyTimeoutMs;
  const chunks: Buffer[] = [];
  let received = 0;
  const stop = (): void => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
  };
  const timer = setTimeout(() => {
    stop();
    const refusal = bodyTimeout(clientBodyTimeoutMs);
    metrics.error(refusal.code);
    sendError(res, refusal.code, refusal.message, refusal.headers);
  }, clientBodyTimeoutMs);
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
    chunks.push(chunk);
    if (received > maxBodyBytes) {
      stop();
      metrics.error('body_too_large');
      sendError(res, 'body_too_large', `request body exceeds the limit of ${maxBodyBytes} bytes`, { connection: 'close' });
      return;
    }
    if (received > bufferedBodyBytes) {
      stop();
      req.pause();
      new Exchange(new HttpClient(req, res), fn, { prefix: chunks, deadline }, ctx).start();
    }
  };
  const onEnd = (): void => {
    // After 'end' the request emits no more data: its listeners need not be taken off.
    clearTimeout(timer);
    new Exchange(new HttpClient(req, res), fn, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received), ctx).start();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  // `on`, not `once`: the response is this request's alone, so nothing needs to take the listener off.
  res.on('close', () => clearTimeout(timer));
}
