import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LambdaInfo } from '../balancers/types.js';
import type { ProxyControl } from './control.js';
import { sendError } from './errors.js';
import { Exchange, rejectionMessage } from './proxy.js';
import type { InvokeRoute } from './route.js';

/**
 * Bodies up to this size are read whole before a lease is taken (nginx buffers
 * every body before connecting upstream; 64 KiB holds a typical invocation's
 * JSON while 10,000 waiting requests stay under 640 MiB); larger ones stream.
 */
const bufferedBodyBytes = 64 * 1024;

/**
 * `POST /runLambda/:name` and `/run/:name`: checks the request, looks the
 * function up in the registry in force, and hands it to an Exchange.
 */
export function invoke(control: ProxyControl, req: IncomingMessage, res: ServerResponse, route: InvokeRoute): void {
  const { metrics, table, scheduler, ctx } = control;
  if (!route.ok) {
    metrics.error('bad_request');
    sendError(res, 'bad_request', route.message);
    return;
  }
  const name = route.name;
  if (req.method !== 'POST') {
    metrics.error('method_not_allowed');
    sendError(res, 'method_not_allowed', `${req.method ?? ''} is not allowed here; invoke with POST`, { allow: 'POST' });
    return;
  }
  if (control.stopping()) {
    // A request on a kept-alive connection after shutdown began: refused, and the connection closes.
    metrics.error('shutting_down');
    sendError(res, 'shutting_down', rejectionMessage('shutting_down', ctx.settings, table), { 'retry-after': scheduler.retryAfterSeconds, connection: 'close' });
    return;
  }
  const fn = control.registry.lookup(name);
  if (!fn) {
    metrics.error('unknown_function');
    sendError(res, 'unknown_function', `function "${name}" is not in the registry`);
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
  if (size === 0 && !chunked) return void new Exchange(req, res, fn, null, ctx).start();
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
    metrics.error('body_timeout');
    sendError(res, 'body_timeout', `the request body did not arrive within ${clientBodyTimeoutMs} ms`, { connection: 'close' });
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
      new Exchange(req, res, fn, { prefix: chunks, deadline }, ctx).start();
    }
  };
  const onEnd = (): void => {
    // After 'end' the request emits no more data: its listeners need not be taken off.
    clearTimeout(timer);
    new Exchange(req, res, fn, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received), ctx).start();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  // `on`, not `once`: the response is this request's alone, so nothing needs to take the listener off.
  res.on('close', () => clearTimeout(timer));
}
