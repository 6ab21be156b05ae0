import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Admission } from './admission.js';
import { parseWorkers, type ProxyConfig, type WorkerSpec } from './config.js';
import { sendError, sendJson } from './errors.js';
import type { ProxyMetrics } from './metrics.js';
import { forward, type ForwardContext, type RequestBodySource } from './proxy.js';
import type { LambdaInfo } from '../balancers/types.js';
import type { Registry } from './registry.js';
import type { WorkerTable } from './workers.js';

export interface ServerParts {
  readonly config: ProxyConfig;
  readonly registry: Registry;
  readonly table: WorkerTable;
  readonly admission: Admission;
  readonly metrics: ProxyMetrics;
  readonly log: Logger;
}

/** Function names as OpenLambda accepts them. */
const functionName = /^[A-Za-z0-9_.-]+$/;
const adminBodyLimit = 1024 * 1024;
/** Bodies up to this size are read whole before forwarding (nginx's client_body_buffer_size is 8-16 KiB); larger ones stream. */
const bufferedBodyBytes = 16 * 1024;

/** The proxy's HTTP ingress: invocation routes, status, metrics and the admin API. */
export function createProxyServer(parts: ServerParts): Server {
  const { config, registry, table, admission, metrics, log } = parts;
  const ctx: ForwardContext = { table, metrics, log, maxBodyBytes: config.maxBodyBytes };
  const retryAfter = { 'retry-after': admission.retryAfterSeconds };

  function invoke(req: IncomingMessage, res: ServerResponse, url: string, nameStart: number): void {
    const query = url.indexOf('?', nameStart);
    const name = query === -1 ? url.slice(nameStart) : url.slice(nameStart, query);
    if (!functionName.test(name)) {
      metrics.error('bad_request');
      sendError(res, 'bad_request', name === '' ? 'missing function name in the path' : `malformed function name "${name}" (allowed: letters, digits, _ . -)`);
      return;
    }
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
    if (table.capacity === 0) {
      metrics.error('no_healthy_worker');
      sendError(res, 'no_healthy_worker', table.size === 0 ? 'no workers are configured' : 'no healthy worker is available', retryAfter);
      return;
    }
    if (req.headers['transfer-encoding'] !== undefined) return admit(req, res, fn, 'stream');
    const length = req.headers['content-length'];
    const size = length === undefined ? 0 : Number(length);
    if (size > config.maxBodyBytes) {
      metrics.error('body_too_large');
      sendError(res, 'body_too_large', `request body of ${length} bytes exceeds the limit of ${config.maxBodyBytes} bytes`, { connection: 'close' });
      return;
    }
    if (size === 0) return admit(req, res, fn, null);
    if (size > bufferedBodyBytes) return admit(req, res, fn, 'stream');
    // Small bodies are read before a slot is taken, so a slow client never holds a worker connection.
    const body = Buffer.allocUnsafe(size);
    let filled = 0;
    req.on('data', (chunk: Buffer) => { filled += chunk.copy(body, filled); });
    req.on('end', () => admit(req, res, fn, filled === size ? body : body.subarray(0, filled)));
  }

  function admit(req: IncomingMessage, res: ServerResponse, fn: LambdaInfo, body: RequestBodySource): void {
    const waiting = admission.admit(
      () => forward(req, res, fn, body, ctx).catch((err: unknown) => {
        log.error({ err, fn: fn.name }, 'unexpected failure while forwarding');
        sendError(res, 'worker_failed', 'internal error while forwarding');
      }),
      (reason) => {
        if (reason === 'cancelled') return; // nobody is listening any more
        metrics.error(reason);
        sendError(
          res,
          reason,
          reason === 'queue_full'
            ? `all ${table.capacity} worker connections are busy and ${config.queueLimit} requests are already waiting`
            : `no worker connection became free within ${config.queueTimeoutMs} ms`,
          retryAfter,
        );
      },
    );
    if (waiting) res.once('close', waiting.cancel);
  }

  async function admin(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
    if (config.adminToken !== '') {
      if (req.headers.authorization !== `Bearer ${config.adminToken}`) {
        sendError(res, 'unauthorized', 'admin routes need "Authorization: Bearer <adminToken>"', { 'www-authenticate': 'Bearer' });
        return;
      }
    } else if (!isLoopback(req.socket.remoteAddress)) {
      sendError(res, 'forbidden', 'admin routes answer only loopback clients when no adminToken is configured');
      return;
    }
    if (path === '/admin/registry/reload') {
      if (req.method !== 'POST') return void sendError(res, 'method_not_allowed', 'use POST', { allow: 'POST' });
      try {
        const functions = await registry.reload();
        log.info({ functions }, 'registry reloaded');
        sendJson(res, 200, { registry: registry.path, functions });
      } catch (err) {
        sendError(res, 'bad_request', (err as Error).message);
      }
      return;
    }
    const action = path === '/admin/workers/add' ? 'add' : path === '/admin/workers/remove' ? 'remove' : undefined;
    if (!action) return void sendError(res, 'not_found', `no admin route ${path}`);
    if (req.method !== 'POST') return void sendError(res, 'method_not_allowed', 'use POST', { allow: 'POST' });
    let specs: WorkerSpec[];
    try {
      specs = await requestedWorkers(req, query, action);
    } catch (err) {
      sendError(res, 'bad_request', (err as Error).message);
      return;
    }
    if (action === 'add') {
      const added = table.add(specs);
      log.info({ added: added.map((w) => w.id) }, 'workers added');
      sendJson(res, 200, { added: added.map((w) => w.id), workers: table.workers.map((w) => w.id) });
    } else {
      const removed = await table.remove(specs.map((s) => s.url));
      log.info({ removed: removed.map((w) => w.id) }, 'workers removed');
      sendJson(res, 200, { removed: removed.map((w) => w.id), workers: table.workers.map((w) => w.id) });
    }
  }

  function status(res: ServerResponse): void {
    sendJson(res, 200, {
      balancer: config.balancer,
      loadThreshold: config.loadThreshold,
      balanceFactor: config.balanceFactor,
      registry: { path: registry.path || null, functions: registry.isOpen ? null : registry.size },
      queue: { waiting: admission.waiting, active: admission.active, capacity: table.capacity, limit: config.queueLimit },
      workers: table.workers.map((w) => ({
        id: w.id,
        url: w.url.origin,
        weight: w.weight,
        inFlight: w.inFlight,
        healthy: w.healthy,
        packages: w.packages.size,
        served: w.served,
      })),
    });
  }

  const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/runLambda/')) return invoke(req, res, url, 11);
    if (url.startsWith('/run/')) return invoke(req, res, url, 5);
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/runLambda' || path === '/run') {
      metrics.error('bad_request');
      return sendError(res, 'bad_request', `missing function name: use ${path}/<name>`);
    }
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
    if (path === '/status') return status(res);
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
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
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const body = JSON.stringify({ error: { code: 'bad_request', message: `malformed HTTP request (${err.code ?? err.message})` } });
    socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Workers named by an admin call: `?workers=A&workers=B` (olscheduler), comma lists, or a JSON body. */
async function requestedWorkers(req: IncomingMessage, query: URLSearchParams, action: string): Promise<WorkerSpec[]> {
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
  const specs = [...parseWorkers(fromQuery), ...parseWorkers(fromBody)];
  if (specs.length === 0) throw new Error(`name the workers to ${action}: ?workers=host:port&workers=... or {"workers": [...]}`);
  return specs;
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
