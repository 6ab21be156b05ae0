import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyServer, sweepPeriod, type IngressTimeouts } from './raw-ingress.js';
import { handleAdmin } from './admin.js';
import type { ProxyControl } from './control.js';
import { clientErrorAnswer, sendError, sendJson } from './errors.js';
import { invoke } from './ingress.js';
import { parseFunctionName } from './route.js';
import { sendMetrics, sendReadiness, sendStatus } from './status.js';

export type { ProxyControl } from './control.js';

/**
 * The proxy's server: invocations that qualify take the fast path of
 * raw-ingress.ts; every other request (and the rest of its connection) is
 * node:http's, routed by `route` below.
 */
export function createProxyServer(control: ProxyControl, timeouts: IngressTimeouts): ProxyServer {
  return new ProxyServer(createHttpServer(control, timeouts), control, timeouts);
}

/** The node:http server: routes each request to ingress (invocations), the admin API or status. Its client timeouts are the ProxyServer's to set. */
function createHttpServer(control: ProxyControl, timeouts: IngressTimeouts): Server {
  // maxHeadersCount 0: every header line is kept and forwarded (Node drops those past 2,000 by default, which
  // would forward a different request); the total header size limit (maxHeaderSize) still refuses huge ones with 431.
  // Its check of heads in progress runs as often as the fast path's sweep (node:http's own default: every 30 s).
  const server = createServer({ connectionsCheckingInterval: sweepPeriod(timeouts.headersTimeoutMs) }, (req, res) => route(control, req, res));
  server.maxHeadersCount = 0;
  server.on('clientError', answerClientError);
  // CONNECT is not proxied: answer it rather than drop the connection without a word.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    const body = JSON.stringify({ error: { code: 'method_not_allowed', message: 'CONNECT is not supported; invoke functions with POST /runLambda/<name>' } });
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\nallow: POST\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  return server;
}

function route(control: ProxyControl, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const invocation = parseFunctionName(url);
  if (invocation !== undefined) return invoke(control, req, res, invocation);
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const query = (): URLSearchParams => new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  if (path.startsWith('/admin/')) {
    void handleAdmin(control, req, res, path, query()).catch((err: unknown) => {
      control.log.error({ err }, 'admin request failed');
      sendError(res, 'bad_request', (err as Error).message);
    });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return sendError(res, 'method_not_allowed', `${req.method ?? ''} is not allowed on ${path}`, { allow: 'GET' });
  }
  if (path === '/status') return sendStatus(control, res, query().get('verbose') === '1');
  if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
  if (path === '/readyz') return sendReadiness(control, res);
  if (path === '/metrics') return sendMetrics(control, res);
  sendError(res, 'not_found', `no route ${path}; invoke functions with POST /runLambda/<name>`);
}

/** A request Node's parser refused: answered 400 (431 for huge headers) on the socket, then closed. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const answer = clientErrorAnswer(err.code ?? err.message);
  // A malformed request pipelined behind a valid one: the valid one's answer goes out first, then the 400 and the close.
  const pending = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage;
  if (pending && !pending.req.complete) {
    // The error is in the pending request's own body (most often the client closed mid-body): it can
    // never complete, so nothing is left to wait for. Waiting would hold the socket, and any lease,
    // until clientBodyTimeoutMs.
    if (!pending.headersSent) socket.write(answer);
    return void socket.destroy();
  }
  if (pending && !pending.writableFinished) {
    pending.once('finish', () => socket.end(answer));
    pending.once('close', () => { if (!socket.destroyed) socket.end(answer); });
    return;
  }
  socket.end(answer);
}
