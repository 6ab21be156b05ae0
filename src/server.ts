import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Scheduler } from './admission.js';
import { parseWorkers, type ProxyConfig, type WorkerSpec } from './config.js';
import { sendError, sendJson } from './errors.js';
import type { ProxyMetrics } from './metrics.js';
import { Exchange, type ForwardContext } from './proxy.js';
import type { Registry } from './registry.js';
import { parseFunctionName, type InvokeRoute } from './route.js';
import type { LambdaInfo } from '../balancers/types.js';
import type { WorkerTable } from './workers.js';

/** What the admin API and /status need from the running proxy. */
export interface ProxyControl {
  readonly table: WorkerTable;
  readonly scheduler: Scheduler;
  readonly registry: Registry;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
  readonly ctx: ForwardContext;
  /** The configuration in force (replaced on reload). */
  config(): ProxyConfig;
  /** True while a reload is being applied (readiness reports not ready). */
  reloading(): boolean;
  addWorkers(specs: readonly WorkerSpec[]): { added: string[]; present: string[] };
  removeWorkers(names: readonly string[]): { removed: { id: string; inFlight: number }[]; unknown: string[] };
  drainWorkers(names: readonly string[]): { drained: { id: string; inFlight: number; queuedMoved: number }[]; unknown: string[] };
  /** Re-reads the config file and the registry; throws ConfigError and keeps the running config when invalid. */
  reload(): Promise<Record<string, unknown>>;
}

const adminBodyLimit = 1024 * 1024;
/**
 * Bodies up to this size are read whole before a lease is taken (nginx buffers
 * every body before connecting upstream; 64 KiB holds a typical invocation's
 * JSON while 10,000 waiting requests stay under 640 MiB); larger ones stream.
 */
const bufferedBodyBytes = 64 * 1024;

/** The proxy's HTTP ingress: invocation routes, status, metrics and the admin API. */
export function createProxyServer(control: ProxyControl): Server {
  const { table, scheduler, registry, metrics, log, ctx } = control;

  function invoke(req: IncomingMessage, res: ServerResponse, route: InvokeRoute): void {
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
    const fn = registry.lookup(name);
    if (!fn) {
      metrics.error('unknown_function');
      sendError(res, 'unknown_function', `function "${name}" is not in the registry`);
      return;
    }
    if (table.routableCount === 0) {
      metrics.error('no_healthy_worker');
      sendError(res, 'no_healthy_worker', table.size === 0 ? 'no workers are configured' : 'no healthy worker is available', { 'retry-after': scheduler.retryAfterSeconds });
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
    receiveBody(req, res, fn);
  }

  /**
   * Reads up to `bufferedBodyBytes` of the body before a lease is taken, so a
   * slow client never holds a worker connection for a body that fits; larger
   * bodies stream once a connection is free. Either way the whole body must
   * arrive within clientBodyTimeoutMs (else 408).
   */
  function receiveBody(req: IncomingMessage, res: ServerResponse, fn: LambdaInfo): void {
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
      stop();
      new Exchange(req, res, fn, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received), ctx).start();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    res.once('close', () => clearTimeout(timer));
  }

  async function admin(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    const token = control.config().adminToken;
    if (token !== '') {
      if (req.headers.authorization !== `Bearer ${token}`) {
        sendError(res, 'unauthorized', 'admin routes need "Authorization: Bearer <adminToken>"', { 'www-authenticate': 'Bearer' });
        return;
      }
    } else if (!isLoopback(req.socket.remoteAddress)) {
      sendError(res, 'forbidden', 'admin routes answer only loopback clients when no adminToken is configured');
      return;
    }
    if (req.method !== 'POST') return void sendError(res, 'method_not_allowed', 'use POST', { allow: 'POST' });
    if (path === '/admin/reload' || path === '/admin/registry/reload') {
      await readBody(req, adminBodyLimit);
      try {
        const summary = path === '/admin/reload' ? await control.reload() : { registry: registry.path, functions: await registry.reload() };
        sendJson(res, 200, summary);
      } catch (err) {
        // As for SIGHUP: the operator reading the log learns why, not only the admin client.
        log.error({ err: (err as Error).message, route: path }, 'reload failed; the running configuration stays');
        sendError(res, 'bad_request', (err as Error).message);
      }
      return;
    }
    const action = path.startsWith('/admin/workers/') ? path.slice('/admin/workers/'.length) : '';
    if (action !== 'add' && action !== 'remove' && action !== 'drain') return void sendError(res, 'not_found', `no admin route ${path}`);
    let items: unknown[];
    try {
      items = await requestedWorkers(req, query, action);
    } catch (err) {
      sendError(res, 'bad_request', (err as Error).message);
      return;
    }
    const ids = (): string[] => table.workers.map((w) => w.id);
    if (action === 'add') {
      let specs: WorkerSpec[];
      try {
        specs = parseWorkers(items);
      } catch (err) {
        sendError(res, 'bad_request', (err as Error).message);
        return;
      }
      const result = control.addWorkers(specs);
      sendJson(res, 200, { ...result, workers: ids() });
      return;
    }
    const names = items.map((item) => (typeof item === 'string' ? item : typeof item === 'object' && item !== null ? String((item as { id?: unknown; url?: unknown }).id ?? (item as { url?: unknown }).url ?? '') : String(item)));
    if (action === 'remove') sendJson(res, 200, { ...control.removeWorkers(names), workers: ids() });
    else sendJson(res, 200, { ...control.drainWorkers(names), workers: ids() });
  }

  function status(res: ServerResponse, verbose: boolean): void {
    const config = control.config();
    const now = ctx.clock.now();
    sendJson(res, 200, {
      balancer: { name: config.balancer, ...table.balancer.describe?.() },
      registry: { path: registry.path || null, functions: registry.isOpen ? null : registry.size },
      queue: {
        waiting: scheduler.waiting,
        shared: scheduler.sharedWaiting,
        inFlight: scheduler.running,
        limit: config.queueLimit,
        workerQueueLimit: config.workerQueueLimit,
        timeoutMs: config.queueTimeoutMs,
      },
      workers: table.workers.map((w) => {
        const health = w.health;
        return {
          id: w.id,
          url: w.url,
          weight: w.weight,
          limit: w.limit,
          inFlight: w.inFlight,
          queued: w.queued,
          health: health.state,
          why: health.why,
          served: w.served,
          errors: Object.fromEntries(w.errors),
          packages: verbose ? [...w.packages] : w.packages.size,
          packagesReported: w.reportsPackages,
          reported: w.lastReport === undefined ? null : { agoMs: Math.round(now - w.lastReport), inFlight: w.reportedInFlight ?? null, cores: w.cores || null },
        };
      }),
    });
  }

  // maxHeadersCount 0: every header line is kept and forwarded (Node drops those past 2,000 by default, which
  // would forward a different request); the total header size limit (maxHeaderSize) still refuses huge ones with 431.
  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const url = req.url ?? '/';
    const route = parseFunctionName(url);
    if (route !== undefined) return invoke(req, res, route);
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path.startsWith('/admin/')) {
      void admin(req, res, path, new URLSearchParams(q === -1 ? '' : url.slice(q + 1))).catch((err: unknown) => {
        log.error({ err }, 'admin request failed');
        sendError(res, 'bad_request', (err as Error).message);
      });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendError(res, 'method_not_allowed', `${req.method ?? ''} is not allowed on ${path}`, { allow: 'GET' });
    }
    if (path === '/status') return status(res, new URLSearchParams(q === -1 ? '' : url.slice(q + 1)).get('verbose') === '1');
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      if (control.reloading()) return sendJson(res, 503, { status: 'reloading' });
      if (table.routableCount === 0) return sendJson(res, 503, { status: 'no healthy worker', workers: table.size });
      return sendJson(res, 200, { status: 'ready', routable: table.routableCount });
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => sendError(res, 'worker_failed', `metrics collection failed: ${(err as Error).message}`),
      );
      return;
    }
    sendError(res, 'not_found', `no route ${path}; invoke functions with POST /runLambda/<name>`);
  });
  server.maxHeadersCount = 0;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const body = JSON.stringify({ error: { code: 'bad_request', message: tooLarge ? 'request headers are too large' : `malformed HTTP request (${err.code ?? err.message})` } });
    const answer = `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
    // A malformed request pipelined behind a valid one: the valid one's answer goes out first, then the 400 and the close.
    const pending = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage;
    if (pending && !pending.writableFinished) {
      pending.once('finish', () => socket.end(answer));
      pending.once('close', () => { if (!socket.destroyed) socket.end(answer); });
      return;
    }
    socket.end(answer);
  });
  // CONNECT is not proxied: answer it rather than drop the connection without a word.
  server.on('connect', (_req: IncomingMessage, socket: import('node:net').Socket) => {
    const body = JSON.stringify({ error: { code: 'method_not_allowed', message: 'CONNECT is not supported; invoke functions with POST /runLambda/<name>' } });
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Workers named by an admin call: `?workers=A&workers=B` (olscheduler), comma lists, or a JSON body. */
async function requestedWorkers(req: IncomingMessage, query: URLSearchParams, action: string): Promise<unknown[]> {
  const fromQuery = query.getAll('workers').flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const text = await readBody(req, adminBodyLimit);
  let fromBody: unknown[] = [];
  if (text.trim() !== '') {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new Error(`body is not valid JSON (${(err as Error).message}); send {"workers": [...]}`);
    }
    const list = Array.isArray(data) ? data : (data as { workers?: unknown } | null)?.workers;
    if (!Array.isArray(list)) throw new Error('body must be {"workers": [...]} or a JSON array of workers');
    fromBody = list;
  }
  const items = [...fromQuery, ...fromBody];
  if (items.length === 0) throw new Error(`name the workers to ${action}: ?workers=host:port&workers=... or {"workers": [...]}`);
  return items;
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new Error(`admin request body exceeds ${limit} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
