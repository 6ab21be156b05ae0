import type { IncomingMessage, ServerResponse } from 'node:http';
import { nextTurn } from './clock.js';
import type { WorkerSpec } from './config.js';
import { parseWorkersInSlices } from './worker-specs.js';
import type { ProxyControl } from './control.js';
import { errorBody, errorStatus, sendError, sendJson, type ErrorCode } from './errors.js';

const adminBodyLimit = 1024 * 1024;

/** An admin call once its client is authorized and its body read: all the primary needs to answer it for a process. */
export interface AdminRequest {
  readonly method: string;
  readonly path: string;
  /** The query string, without "?". */
  readonly query: string;
  readonly body: string;
}

export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Record<string, string>;
}

/**
 * The admin API: `/admin/reload`, `/admin/registry/reload`, `/admin/workers/add|remove|drain`.
 * The client is authorized here, by the process that received it; in a
 * proxy of several processes the primary answers.
 */
export async function handleAdmin(control: ProxyControl, req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
  if (!authorized(control, req, res)) return;
  const body = await readBody(req, adminBodyLimit);
  if (body === undefined) {
    // Answered, not reset: the client learns the limit; the connection closes so the rest of its body is never read.
    sendError(res, 'body_too_large', `admin request body exceeds the limit of ${adminBodyLimit} bytes`, { connection: 'close' });
    return;
  }
  const request: AdminRequest = { method: req.method ?? '', path, query: query.toString(), body };
  const answer = control.primary !== undefined ? await control.primary.admin(request) : await answerAdmin(control, request);
  sendJson(res, answer.status, answer.body, answer.headers);
}

const failure = (code: ErrorCode, message: string, headers?: Record<string, string>): AdminAnswer => ({ status: errorStatus[code], body: errorBody(code, message), headers });

/** Answers an authorized admin call on the proxy that `control` steers. */
export async function answerAdmin(control: ProxyControl, request: AdminRequest): Promise<AdminAnswer> {
  const { path } = request;
  if (request.method !== 'POST') return failure('method_not_allowed', 'use POST', { allow: 'POST' });
  if (path === '/admin/reload' || path === '/admin/registry/reload') {
    try {
      return { status: 200, body: path === '/admin/reload' ? await control.reload() : await control.reloadRegistry() };
    } catch (err) {
      // As for SIGHUP: the operator reading the log learns why, not only the admin client.
      control.log.error({ err: (err as Error).message, route: path }, 'reload failed; the running configuration stays');
      return failure('bad_request', (err as Error).message);
    }
  }
  const action = path.startsWith('/admin/workers/') ? path.slice('/admin/workers/'.length) : '';
  if (action !== 'add' && action !== 'remove' && action !== 'drain') return failure('not_found', `no admin route ${path}`);
  let items: unknown[];
  try {
    items = requestedWorkers(new URLSearchParams(request.query), request.body, action);
  } catch (err) {
    return failure('bad_request', (err as Error).message);
  }
  const ids = (): string[] => control.table.workers.map((w) => w.id);
  if (action === 'add') {
    let specs: WorkerSpec[];
    try {
      specs = await parseWorkersInSlices(items, nextTurn);
    } catch (err) {
      return failure('bad_request', (err as Error).message);
    }
    await control.prepareWorkers?.(specs);
    return { status: 200, body: { ...control.addWorkers(specs), workers: ids() } };
  }
  const names = items.map(workerName);
  if (action === 'remove') {
    await control.prepareRemoval?.(names);
    return { status: 200, body: { ...control.removeWorkers(names), workers: ids() } };
  }
  return { status: 200, body: { ...control.drainWorkers(names), workers: ids() } };
}

/** A bearer token when one is configured, else loopback clients only; answers the refusal itself. */
function authorized(control: ProxyControl, req: IncomingMessage, res: ServerResponse): boolean {
  const token = control.config().adminToken;
  if (token !== '') {
    if (req.headers.authorization === `Bearer ${token}`) return true;
    sendError(res, 'unauthorized', 'admin routes need "Authorization: Bearer <adminToken>"', { 'www-authenticate': 'Bearer' });
    return false;
  }
  if (isLoopback(req.socket.remoteAddress)) return true;
  sendError(res, 'forbidden', 'admin routes answer only loopback clients when no adminToken is configured');
  return false;
}

function workerName(item: unknown): string {
  if (typeof item === 'string') return item;
  if (typeof item === 'object' && item !== null) {
    const { id, url } = item as { id?: unknown; url?: unknown };
    return String(id ?? url ?? '');
  }
  return String(item);
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/** Workers named by an admin call: `?workers=A&workers=B` (olscheduler), comma lists, or a JSON body. */
function requestedWorkers(query: URLSearchParams, text: string, action: string): unknown[] {
  const fromQuery = query.getAll('workers').flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
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

/** The body as text, or undefined once it is over `limit` bytes (declared or counted); reading stops there. */
function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
