// The fast path of `POST /runLambda/:name` (and `/run/:name`): a request that
// qualifies is read, forwarded and answered on the socket itself, without
// node:http's request and response objects and their streams. Everything else
// (other routes, other methods and versions, chunked, large or 100-continue
// bodies, anything the strict head parser does not take, refusals such as an
// unknown function) is handed to the node:http server with the bytes already
// read, and the connection stays with node:http from then on.
import { STATUS_CODES, type Server as HttpServer } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import type { LambdaInfo } from '../balancers/types.js';
import type { ClientEvents, ClientSide } from './client-side.js';
import type { ProxyControl } from './control.js';
import { clientErrorAnswer, errorBody, errorStatus, type ErrorCode } from './errors.js';
import { bodyTimeout, bufferedBodyBytes, invocationTarget } from './ingress.js';
import { Exchange } from './proxy.js';
import { writeJoined } from './joined-write.js';
import { HeadState, MAX_FAST_HEAD_BYTES, RequestHead } from './request-head.js';
import { parseFunctionName } from './route.js';

/** The client-side timeouts node:http applies, and the fast path applies the same way. */
export interface IngressTimeouts {
  /** Idle time between requests after which a kept-alive connection closes (node:http's keepAliveTimeout; advertised in `Keep-Alive`). */
  readonly keepAliveTimeoutMs: number;
  /** Time for a request head to arrive in full, from the connection's start or the message's first byte (node:http's headersTimeout). */
  readonly headersTimeoutMs: number;
}

/** node:http's own limit on receiving a whole request (its requestTimeout default), kept unless the head may take longer. */
const NODE_REQUEST_TIMEOUT_MS = 300_000;

/** How often connections are checked for a timeout as short as `shortestMs`: a tenth of it, at most every 5 ms and at least once a second. */
export function sweepPeriod(shortestMs: number): number {
  return Math.max(5, Math.min(1000, Math.floor(shortestMs / 10)));
}

/** node:http closes an idle connection this long after the keep-alive time it advertised, so that a client's reuse does not race the close. */
const KEEP_ALIVE_GRACE_MS = 1000;
/** Bytes of pipelined requests held while one is answered; beyond, the socket is paused (as node:http does). */
const MAX_PIPELINED_BYTES = MAX_FAST_HEAD_BYTES + bufferedBodyBytes;

/** Where a connection is. */
const enum Phase {
  /** Waiting for (the rest of) a request head; `since`: the connection's start or the message's first byte. */
  Head,
  /** Head taken, waiting for the rest of the body; `since`: when the head was complete. */
  Body,
  /** A request is being answered. */
  Busy,
  /** Between requests; `since`: the last answer's end. */
  Idle,
  /** Closed, closing, or handed to node:http: nothing more of ours. */
  Done,
}

interface RawSocket extends Socket {
  rawConnection?: RawConnection;
}

// One set of listeners shared by every fast-path socket (no closures per connection or request).
function onSocketData(this: RawSocket, chunk: Buffer): void { this.rawConnection?.received(chunk); }
function onSocketEnd(this: RawSocket): void { this.rawConnection?.clientEnded(); }
function onSocketDrain(this: RawSocket): void { this.rawConnection?.drained(); }
function onSocketClose(this: RawSocket): void { this.rawConnection?.closed(); }
function onSocketError(): void { /* 'close' follows; node:http destroys on errors too */ }
/** Every listener a fast-path socket gets, taken off together when node:http takes the socket over. */
const socketListeners: readonly (readonly [string, (this: RawSocket, chunk: Buffer) => void])[] = [
  ['data', onSocketData], ['end', onSocketEnd], ['drain', onSocketDrain], ['close', onSocketClose], ['error', onSocketError],
];
function startNextOf(connection: RawConnection): void { connection.startNext(); }
/** A connection closed by the proxy is destroyed once its last bytes are written, without waiting for the client's end (as node:http's destroySoon). */
function onSocketFinish(this: Socket): void { this.destroy(); }

/**
 * One client connection on the fast path: one request at a time, pipelined
 * ones kept in `buf` and answered in order. It is the ClientSide of each of
 * its requests' exchanges in turn.
 */
class RawConnection implements ClientSide {
  /** Bytes received and not yet taken; a message always starts at offset 0. */
  private buf: Buffer | undefined;
  private readonly head = new RequestHead();
  phase = Phase.Head;
  since: number;
  private fn: LambdaInfo | undefined;
  /** The exchange being answered. */
  private owner: ClientEvents | undefined;
  /** The connection closes after the current answer. */
  private closeAfter = false;
  // The current answer.
  statusCode = 200;
  answered = false;
  private begun = false;
  private chunked = false;
  private pendingHead: string | undefined;

  constructor(private readonly socket: RawSocket, private readonly server: ProxyServer) {
    this.since = server.now();
    socket.rawConnection = this;
    for (const [event, listener] of socketListeners) socket.on(event, listener);
  }

  // ClientSide: the request

  get method(): string { return 'POST'; }
  get target(): string { return this.head.target; }
  get rawHeaders(): readonly string[] { return this.head.raw; }
  get connection(): string | undefined { return this.head.connection; }
  get remoteAddress(): string | undefined { return this.socket.remoteAddress; }
  get request(): undefined { return undefined; }
  get gone(): boolean { return this.socket.destroyed; }

  /** The next pipelined request, once the previous one's exchange has ended. */
  startNext(): void {
    if (this.phase !== Phase.Idle || this.buf === undefined) return;
    this.phase = Phase.Head;
    this.since = this.server.now();
    this.advance();
  }

  // Socket events

  received(chunk: Buffer): void {
    this.buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
    switch (this.phase) {
      case Phase.Busy:
        // The next request waits for this one's answer; a client that floods is paused, as node:http pauses it.
        if (this.buf.length > MAX_PIPELINED_BYTES) this.socket.pause();
        return;
      case Phase.Idle:
        this.phase = Phase.Head;
        this.since = this.server.now();
        break;
      case Phase.Done:
        return;
      default:
        break;
    }
    this.advance();
  }

  /**
   * The client ended its side. As node:http does: a request being answered is
   * abandoned (the connection closes, and the exchange hears of it), a
   * message cut short is answered 400.
   */
  clientEnded(): void {
    if (this.phase === Phase.Done) return;
    if (this.phase === Phase.Busy) {
      this.closeAfter = true;
      this.socket.end();
      return;
    }
    this.phase = Phase.Done;
    if (this.buf !== undefined) this.socket.end(clientErrorAnswer('HPE_INVALID_EOF_STATE'));
    else this.socket.end();
  }

  drained(): void {
    this.owner?.clientDrained();
  }

  closed(): void {
    this.phase = Phase.Done;
    this.buf = undefined;
    this.server.forget(this);
    const owner = this.owner;
    this.owner = undefined;
    if (owner !== undefined && !this.answered) owner.clientClosed();
  }

  /** Takes the message at the start of `buf` as far as it has arrived: a fast-path request, or a hand-over. */
  private advance(): void {
    const buf = this.buf!;
    const head = this.head;
    const control = this.server.control;
    if (this.phase === Phase.Head) {
      const state = head.parse(buf, 0);
      if (state === HeadState.More) return;
      if (state === HeadState.Other) return this.handOver();
      const route = parseFunctionName(head.target);
      const settings = control.ctx.settings;
      // Not the invocation route, or a body that is streamed or refused: node:http's.
      if (route === undefined || head.contentLength > bufferedBodyBytes || head.contentLength > settings.maxBodyBytes) return this.handOver();
      const fn = invocationTarget(control, 'POST', route);
      // A refusal is answered by node:http's ingress, the one place that answers them.
      if ('code' in fn) return this.handOver();
      this.fn = fn;
      this.phase = Phase.Body;
      this.since = this.server.now();
    }
    const total = head.headBytes + head.contentLength;
    if (buf.length < total) return;
    const body = head.contentLength === 0 ? null : buf.subarray(head.headBytes, total);
    this.buf = buf.length === total ? undefined : buf.subarray(total);
    this.phase = Phase.Busy;
    this.statusCode = 200;
    this.answered = false;
    this.begun = false;
    this.chunked = false;
    this.closeAfter = head.close;
    const fn = this.fn!;
    this.fn = undefined;
    new Exchange(this, fn, body, control.ctx).start();
  }

  /**
   * The message at the start of `buf` is not the fast path's: the connection
   * goes to node:http with those bytes, which it reads before anything else.
   */
  private handOver(): void {
    const socket = this.socket;
    this.phase = Phase.Done;
    this.server.forget(this);
    socket.rawConnection = undefined;
    for (const [event, listener] of socketListeners) socket.off(event, listener);
    if (this.buf !== undefined) socket.unshift(this.buf);
    this.buf = undefined;
    this.server.http.emit('connection', socket);
  }

  /** The sweep's look at this connection: closes it when it waited too long for its phase. */
  check(now: number, timeouts: IngressTimeouts, bodyTimeoutMs: number): void {
    const waited = now - this.since;
    switch (this.phase) {
      case Phase.Idle:
        if (waited > timeouts.keepAliveTimeoutMs + KEEP_ALIVE_GRACE_MS) this.close();
        return;
      case Phase.Head:
        if (waited > timeouts.headersTimeoutMs) {
          // As node:http answers a head that did not arrive within headersTimeout.
          this.phase = Phase.Done;
          this.endSoon(clientErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT'));
        }
        return;
      case Phase.Body:
        if (waited > bodyTimeoutMs) {
          const refusal = bodyTimeout(bodyTimeoutMs);
          this.server.control.metrics.error(refusal.code);
          this.phase = Phase.Busy;
          this.sendError(refusal.code, refusal.message, refusal.headers);
        }
        return;
      default:
        return;
    }
  }

  /** Idle (no request, nothing of one received): may be closed at once at shutdown. */
  get idle(): boolean {
    return this.phase === Phase.Idle || (this.phase === Phase.Head && this.buf === undefined);
  }

  close(): void {
    this.phase = Phase.Done;
    this.socket.destroy();
  }

  /** Writes `last` (if any), ends the connection and destroys it once written. */
  private endSoon(last?: string): void {
    this.socket.once('finish', onSocketFinish);
    if (last === undefined) this.socket.end();
    else this.socket.end(last, 'latin1');
  }

  // ClientSide: the answer

  attach(owner: ClientEvents): void {
    this.owner = owner;
  }

  writeHead(status: number, headers: (string | string[])[]): void {
    this.statusCode = status;
    this.begun = true;
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
    let length = false;
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i] as string;
      const value = headers[i + 1]!;
      // Names come as the worker sent them: compared without regard to case, looked at only at their lengths.
      if (name.length === 14) { if (name.toLowerCase() === 'content-length') length = true; }
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      if (typeof value === 'string') text += `${name}: ${value}\r\n`;
      else for (const v of value) text += `${name}: ${v}\r\n`;
    }
    // As node:http frames an answer without a length: chunked, except where there is no body.
    this.chunked = !length && status !== 204 && status !== 304;
    this.pendingHead = this.endHead(text, date, false);
  }

  /** The headers node:http adds to every answer (Date, Connection, Keep-Alive, Transfer-Encoding) and the empty line. */
  private endHead(text: string, date: boolean, connectionSet: boolean): string {
    if (!date) text += `Date: ${this.server.date()}\r\n`;
    // Once shutdown began, answers close their connection, so that clients go elsewhere; but a request that
    // has already begun to arrive on it is still answered (503 shutting_down, by node:http's ingress).
    if (!this.closeAfter && this.buf === undefined && this.server.control.stopping()) this.closeAfter = true;
    if (!connectionSet) text += this.closeAfter ? 'Connection: close\r\n' : this.server.keepAliveLines;
    if (this.chunked) text += 'Transfer-Encoding: chunked\r\n';
    return `${text}\r\n`;
  }

  write(chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    const socket = this.socket;
    const head = this.pendingHead;
    let flowing: boolean;
    if (head === undefined && !this.chunked) {
      flowing = socket.write(chunk);
    } else {
      this.pendingHead = undefined;
      // Head and first bytes in one write; chunk framing around each chunk.
      const before = this.chunked ? `${head ?? ''}${chunk.length.toString(16)}\r\n` : head!;
      flowing = writeJoined(socket, before, chunk, this.chunked ? '\r\n' : '');
    }
    return flowing;
  }

  end(): void {
    let tail = this.pendingHead ?? '';
    this.pendingHead = undefined;
    if (this.chunked) tail += '0\r\n\r\n';
    if (tail !== '') this.socket.write(tail, 'latin1');
    this.finish();
  }

  cut(): void {
    this.answered = true;
    this.owner = undefined;
    this.close();
  }

  sendError(code: ErrorCode, message: string, headers?: Record<string, string | number>): void {
    if (this.begun || this.socket.destroyed) return this.cut();
    const status = errorStatus[code];
    this.statusCode = status;
    this.begun = true;
    const body = JSON.stringify(errorBody(code, message));
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status]!}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
    let connectionSet = false;
    if (headers !== undefined) {
      for (const name in headers) {
        const value = headers[name]!;
        text += `${name}: ${value}\r\n`;
        if (name === 'connection') {
          connectionSet = true;
          if (String(value).toLowerCase() === 'close') this.closeAfter = true;
        }
      }
    }
    this.chunked = false;
    this.socket.write(this.endHead(text, false, connectionSet) + body, 'latin1');
    this.finish();
  }

  /** The answer is written: close, or go on with the next request. */
  private finish(): void {
    this.answered = true;
    this.owner = undefined;
    this.statusCode = 200;
    if (this.closeAfter) {
      this.phase = Phase.Done;
      this.buf = undefined;
      this.endSoon();
      return;
    }
    this.head.reset();
    this.phase = Phase.Idle;
    this.since = this.server.now();
    if (this.socket.isPaused()) this.socket.resume();
    // A pipelined request goes once this one's exchange has ended (its lease released, its log line written).
    if (this.buf !== undefined) process.nextTick(startNextOf, this);
  }
}

/**
 * The proxy's listening server: a `net` server whose connections start on the
 * fast path, with the node:http server that takes the others over. It offers
 * what a graceful shutdown needs of an http server (`closeIdleConnections`,
 * `closeAllConnections`), for both kinds of connection.
 */
export class ProxyServer extends NetServer {
  private readonly fastConnections = new Set<RawConnection>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private dateText = '';
  private dateUntil = 0;
  /** `Connection` and `Keep-Alive` of an answer that keeps its connection, as node:http writes them. */
  keepAliveLines = '';
  private timeouts!: IngressTimeouts;

  constructor(readonly http: HttpServer, readonly control: ProxyControl, timeouts: IngressTimeouts) {
    // As node:http's own server: half-open sockets (it closes them itself), no Nagle delay.
    super({ allowHalfOpen: true, noDelay: true });
    this.setTimeouts(timeouts);
    this.on('connection', (socket: Socket) => this.accept(socket));
    // The node:http server never listens itself; this starts its tracking of connections (headersTimeout,
    // requestTimeout, closeIdleConnections), which it otherwise starts on 'listening'.
    this.once('listening', () => http.emit('listening'));
    // The sweep is not stopped on 'close': a server that serves handed connections closes at once (it holds
    // no listening socket) while they run on, and the sweep stops by itself once no connection is left.
  }

  /**
   * Serves connections another process accepts and hands over (the primary
   * of a proxy of several processes), without listening itself: `adopt` each.
   */
  serveHandedConnections(): void {
    this.emit('listening');
  }

  /** A connection accepted elsewhere, set up as this server sets up its own: half-open allowed, no Nagle delay. */
  adopt(socket: Socket): void {
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    this.emit('connection', socket);
  }

  /**
   * The client timeouts, for the fast path and node:http (at start and at each
   * reload). Both read them at their next check, so open connections follow
   * new values, except that node:http keeps the keep-alive time it gave a
   * connection that is already idle.
   */
  setTimeouts(timeouts: IngressTimeouts): void {
    this.timeouts = timeouts;
    this.keepAliveLines = `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(timeouts.keepAliveTimeoutMs / 1000)}\r\n`;
    const http = this.http;
    http.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
    http.headersTimeout = timeouts.headersTimeoutMs;
    // node:http's check stops at the whole-request limit first when the head may take longer than it.
    http.requestTimeout = Math.max(NODE_REQUEST_TIMEOUT_MS, timeouts.headersTimeoutMs);
  }

  now(): number {
    return this.control.ctx.clock.now();
  }

  /** The Date header's value, made once a second (as node:http caches it). */
  date(): string {
    const ms = Date.now();
    if (ms >= this.dateUntil) {
      this.dateText = new Date(ms).toUTCString();
      this.dateUntil = ms - (ms % 1000) + 1000;
    }
    return this.dateText;
  }

  private accept(socket: Socket): void {
    this.fastConnections.add(new RawConnection(socket, this));
    if (this.sweepTimer === undefined) this.armSweep();
  }

  /** Connections on the fast path right now (not handed to node:http, not closed). */
  get fastConnectionCount(): number {
    return this.fastConnections.size;
  }

  forget(connection: RawConnection): void {
    this.fastConnections.delete(connection);
  }

  /**
   * One timer for every fast-path connection's timeouts: each sweep looks at
   * each connection's phase and since when it is in it. It runs every tenth of
   * the shortest timeout (at most every 5 ms, at least once a second), so a
   * timeout is kept within a tenth of it; it stops while there are no connections.
   */
  private armSweep(): void {
    const bodyMs = this.control.ctx.settings.clientBodyTimeoutMs;
    const period = sweepPeriod(Math.min(bodyMs, this.timeouts.headersTimeoutMs, this.timeouts.keepAliveTimeoutMs));
    this.sweepTimer = setTimeout(() => this.sweep(), period);
    this.sweepTimer.unref();
  }

  private sweep(): void {
    this.sweepTimer = undefined;
    if (this.fastConnections.size === 0) return;
    const now = this.now();
    const bodyMs = this.control.ctx.settings.clientBodyTimeoutMs;
    for (const c of this.fastConnections) c.check(now, this.timeouts, bodyMs);
    this.armSweep();
  }

  override close(callback?: (err?: Error) => void): this {
    // The node:http server's close stops its connection checks and closes its idle connections.
    this.http.close();
    return super.close(callback);
  }

  closeIdleConnections(): void {
    for (const c of this.fastConnections) if (c.idle) c.close();
    this.http.closeIdleConnections();
  }

  closeAllConnections(): void {
    for (const c of this.fastConnections) c.close();
    this.http.closeAllConnections();
  }
}
