import { createRequire } from 'node:module';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { SecureContext, connect as TlsConnect } from 'node:tls';
import { writeJoined } from './joined-write.js';
import { HTTPParser, type NativeParser } from './http-parser.js';

export interface UpstreamTimeouts {
  readonly connectTimeoutMs: number;
  /** From the request sent (its body included) to the response's status line and headers. */
  readonly headersTimeoutMs: number;
  /** Longest pause between two response body chunks while the client takes them. */
  readonly bodyTimeoutMs: number;
}

/**
 * Where every plain connection's reads land (net's `onread`): no Buffer and no
 * stream push per read. One per process is enough: a read is parsed in its
 * callback, before the event loop can deliver the next one into it, and the
 * parser hands body chunks over as copies (checked at load, src/http-parser.ts),
 * so nothing handed on refers to it.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Where a worker's connections go, worked out once per worker from its origin. */
export interface WorkerAddress {
  /** For connect: a name, or an IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** The `host` header sent: the origin's host and port as the origin spells them. */
  readonly hostHeader: string;
}

export function workerAddress(origin: string): WorkerAddress {
  const url = new URL(origin);
  const tls = url.protocol === 'https:';
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: url.port === '' ? (tls ? 443 : 80) : Number(url.port), tls, hostHeader: url.host };
}

/**
 * What a connection tells the request it carries. After onRequestStart, exactly
 * one of onResponseEnd and onResponseError, once; onResponseStart only for the
 * final answer (1xx are skipped), headers as the worker sent them, flat.
 */
export interface ResponseHandler {
  onRequestStart(controller: WorkerConnection): void;
  onResponseStart(controller: WorkerConnection, statusCode: number, rawHeaders: readonly string[]): void;
  onResponseData(controller: WorkerConnection, chunk: Buffer): void;
  onResponseEnd(controller: WorkerConnection): void;
  onResponseError(controller: WorkerConnection | undefined, err: Error): void;
}

/**
 * The connection's own failures, by code: WR_CONNECT_TIMEOUT, WR_HEADERS_TIMEOUT,
 * WR_BODY_TIMEOUT, WR_CLOSED (the worker closed before its answer was
 * complete), WR_UPGRADE (an upgrade nobody asked for), WR_PROXY_CLOSED (the
 * proxy cut it: forced shutdown). Socket errors keep their errno code and parse
 * errors llhttp's HPE_* code.
 */
export class WorkerConnectionError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** Without the worker's `Keep-Alive: timeout=` hint, an idle connection is kept this long. */
export const DEFAULT_KEEP_ALIVE_MS = 30_000;
/** A hinted keep-alive is cut this much short, so the proxy never sends on a connection the worker is closing. */
const KEEP_ALIVE_MARGIN_MS = 2000;
const MAX_KEEP_ALIVE_MS = 600_000;

/** Where the connection's current request is. */
const IDLE = 0;
const AWAITING_HEAD = 1;
const RECEIVING = 2;

/** The keep-alive a `Keep-Alive` header value allows; 0: do not reuse. */
function keepAliveOf(hint: string): number {
  const m = /timeout=(\d+)/i.exec(hint);
  if (m === null) return DEFAULT_KEEP_ALIVE_MS;
  return Math.max(0, Math.min(Number(m[1]) * 1000 - KEEP_ALIVE_MARGIN_MS, MAX_KEEP_ALIVE_MS));
}

/** RFC 9110 9.3: methods whose request has a meaning for a body send `content-length: 0` without one. */
function expectsPayload(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'PATCH';
}

/** The worker's set of connections a connection belongs to. */
export interface ConnectionOwner {
  /** Its request is over: kept for the next one, or closed. */
  giveBack(connection: WorkerConnection): void;
  /** An idle connection closed (the worker closed it): it leaves the idle list. */
  lost(connection: WorkerConnection): void;
}

/**
 * One kept-alive HTTP/1.1 connection to a worker, carrying one request at a
 * time: a `net` (or `tls`) socket, Node's native response parser (reused for
 * every response on it), and one timer for the connect, headers and body
 * timeouts, re-armed with `refresh()` (a new one only when the duration
 * changes). It is also its request's controller: pause and resume follow the
 * client's backpressure, abort cuts the request and the socket.
 */
export class WorkerConnection {
  private readonly socket: Socket;
  private readonly parser: NativeParser;
  private handler: ResponseHandler | undefined;
  private phase = IDLE;
  private connected = false;
  /** https: the TCP connection was made (the TLS handshake began). */
  private tcpConnected = false;
  /**
   * https: the TLS handshake failed (a certificate that does not verify, or any
   * other handshake error): TLS holds the request until the handshake completes,
   * so none of it reached the worker and it may go to another one.
   */
  tlsHandshakeFailed = false;
  private timer: NodeJS.Timeout | undefined;
  private timerMs = 0;
  private paused = false;
  /** The connection may carry another request: every answer so far allowed it, and it was not retired. */
  private keepAlive = true;
  private skipBody = false;
  /** A streamed request body still being written, and whether it goes chunked. */
  private body: Readable | undefined;
  private chunked = false;
  /** Header fields of a head with more than 32, delivered in batches before kOnHeadersComplete. */
  private headerBatches: string[] = [];
  private hint = '';
  /** How long it may stay idle, from the worker's last `Keep-Alive` hint. */
  keepAliveMs = DEFAULT_KEEP_ALIVE_MS;
  /** The owner's sweep count when it went idle (the owner closes it once its keep-alive has passed). */
  idleSince = 0;

  /** `secureContext`: the CAs an https worker is verified with (undefined: Node's default CAs). */
  constructor(private readonly address: WorkerAddress, private readonly timeouts: UpstreamTimeouts, private readonly owner: ConnectionOwner, secureContext?: SecureContext) {
    const options = { host: address.host, port: address.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 };
    if (address.tls) {
      // Loaded only for https workers: tls costs every process memory otherwise.
      const tlsConnect = (createRequire(import.meta.url)('node:tls') as { connect: typeof TlsConnect }).connect;
      this.socket = tlsConnect({ ...options, secureContext, servername: isIP(address.host) === 0 ? address.host : undefined, ALPNProtocols: ['http/1.1'] });
      this.socket.once('secureConnect', this.onConnect);
      this.socket.once('connect', this.onTcpConnect);
      this.socket.on('data', this.onData);
    } else {
      this.socket = netConnect({ ...options, onread: { buffer: READ_BUFFER, callback: this.onRead } });
      this.socket.once('connect', this.onConnect);
    }
    this.socket.on('end', this.onEnd);
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
    this.socket.on('drain', this.onDrain);
    const parser = (this.parser = new HTTPParser());
    parser.initialize(HTTPParser.RESPONSE, {});
    parser[HTTPParser.kOnHeaders] = this.onHeaders;
    parser[HTTPParser.kOnHeadersComplete] = this.onHeadersComplete;
    parser[HTTPParser.kOnBody] = this.onBody;
    parser[HTTPParser.kOnMessageComplete] = this.onMessageComplete;
    this.arm(timeouts.connectTimeoutMs);
  }

  /** Idle, open, and the last answer allowed another request. */
  get reusable(): boolean {
    return this.handler === undefined && this.keepAlive && !this.socket.destroyed;
  }

  /**
   * Sends one request: the head as one string (`headers` flat, as the client
   * sent them minus hop-by-hop ones; a `content-length` among them is replaced
   * by the body's own framing), then the body: a Buffer in the same write, or
   * a stream piped with backpressure once connected (chunked unless the
   * client gave its length).
   */
  request(handler: ResponseHandler, method: string, path: string, headers: readonly string[], body: Buffer | Readable | null): void {
    if (this.handler !== undefined || this.socket.destroyed) throw new Error('a worker connection was given a request while busy or closed');
    this.handler = handler;
    this.phase = AWAITING_HEAD;
    this.paused = false;
    this.skipBody = method === 'HEAD';
    handler.onRequestStart(this);
    if (this.handler === undefined) return; // aborted at once
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.address.hostHeader}\r\nconnection: keep-alive\r\n`;
    let length: string | undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        length = headers[i + 1];
        continue;
      }
      head += `${name}: ${headers[i + 1]!}\r\n`;
    }
    const socket = this.socket;
    if (body === null) {
      socket.write(expectsPayload(method) ? `${head}content-length: 0\r\n\r\n` : `${head}\r\n`, 'latin1');
    } else if (Buffer.isBuffer(body)) {
      writeJoined(socket, `${head}content-length: ${body.length}\r\n\r\n`, body, '');
    } else {
      this.chunked = length === undefined;
      socket.write(`${head}${this.chunked ? 'transfer-encoding: chunked' : `content-length: ${length!}`}\r\n\r\n`, 'latin1');
      this.body = body;
      // The body is read only once connected: after a connect failure it is untouched for another worker.
      if (this.connected) this.startBody(body);
    }
    if (this.connected) this.arm(this.timeouts.headersTimeoutMs);
  }

  /** The client cannot take more: stop reading the worker (the body timeout waits too). */
  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
    this.timer?.refresh();
  }

  /** Ends the current request with `err` and closes the connection. */
  abort(err: Error): void {
    if (this.handler !== undefined) this.fail(err);
  }

  /** Its request is over (ended or failed): back to its worker's connections. */
  release(): void {
    this.owner.giveBack(this);
  }

  /** Carries no further request: its request, if any, ends on it, then it is closed (the worker CAs it was verified with were replaced). */
  retire(): void {
    this.keepAlive = false;
  }

  /** Closes an idle connection. */
  close(): void {
    this.socket.destroy();
  }

  /** Cuts the connection, and its request with WR_PROXY_CLOSED; resolves once the socket closed. */
  destroy(): Promise<void> {
    this.abort(new WorkerConnectionError('WR_PROXY_CLOSED', 'the proxy closed the connection'));
    this.socket.destroy();
    if (this.socket.closed) return Promise.resolve();
    return new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  // Timer: connect, then headers, then the gaps of the body; left armed while idle, where it does nothing.

  private arm(ms: number): void {
    if (ms === this.timerMs && this.timer !== undefined) {
      this.timer.refresh();
      return;
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerMs = ms;
    // 0: no timeout, as undici read it.
    this.timer = ms > 0 ? setTimeout(this.onTimer, ms).unref() : undefined;
  }

  private readonly onTimer = (): void => {
    if (this.handler === undefined) return;
    if (!this.connected) {
      this.fail(new WorkerConnectionError('WR_CONNECT_TIMEOUT', `no connection within ${this.timeouts.connectTimeoutMs} ms`));
    } else if (this.phase === AWAITING_HEAD) {
      // While the request body is still on its way, the worker is only late if it stopped reading it;
      // a slow client has its own deadline (clientBodyTimeoutMs).
      if (this.body !== undefined && !this.socket.writableNeedDrain) this.timer!.refresh();
      else this.fail(new WorkerConnectionError('WR_HEADERS_TIMEOUT', `no response headers within ${this.timeouts.headersTimeoutMs} ms`));
    } else if (this.paused) {
      // The client holds the response back, not the worker.
      this.timer!.refresh();
    } else {
      this.fail(new WorkerConnectionError('WR_BODY_TIMEOUT', `no response body data for ${this.timeouts.bodyTimeoutMs} ms`));
    }
  };

  // Socket events: installed once per connection.

  private readonly onConnect = (): void => {
    this.connected = true;
    if (this.handler === undefined) return;
    if (this.body !== undefined) this.startBody(this.body);
    this.arm(this.timeouts.headersTimeoutMs);
  };

  private readonly onTcpConnect = (): void => {
    this.tcpConnected = true;
  };

  private readonly onRead = (nread: number, buf: Uint8Array): boolean => {
    this.onData((buf as Buffer).subarray(0, nread));
    return true; // a pause() in there has stopped reading already
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.handler === undefined) {
      // Bytes nobody asked for: the connection can no longer be trusted.
      this.socket.destroy();
      return;
    }
    const parsed = this.parser.execute(chunk);
    if (typeof parsed !== 'number') this.fail(parsed);
  };

  private readonly onEnd = (): void => {
    // A body without length or chunking ends here (finish() completes it); any other answer is cut short.
    if (this.handler !== undefined && this.phase === RECEIVING) this.parser.finish();
    if (this.handler !== undefined) this.fail(new WorkerConnectionError('WR_CLOSED', 'the worker closed the connection before its answer was complete'));
    // Idle: closed by the worker; 'close' takes it off the idle list.
    this.socket.destroy();
  };

  private readonly onError = (err: Error): void => {
    if (this.handler === undefined) return;
    if (this.tcpConnected && !this.connected) this.tlsHandshakeFailed = true;
    this.fail(err);
  };

  private readonly onClose = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.handler !== undefined) this.fail(new WorkerConnectionError('WR_CLOSED', 'the worker closed the connection before its answer was complete'));
    else this.owner.lost(this);
    // Only now, with no parser callback on the stack, may the native parser be freed.
    this.parser.close();
  };

  private readonly onDrain = (): void => {
    this.body?.resume();
  };

  // The streamed request body.

  private startBody(body: Readable): void {
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
  }

  private readonly onBodyData = (chunk: Buffer): void => {
    if (chunk.length === 0) return; // framed chunked, it would end the body
    const socket = this.socket;
    let more: boolean;
    if (this.chunked) {
      more = writeJoined(socket, `${chunk.length.toString(16)}\r\n`, chunk, '\r\n');
    } else {
      more = socket.write(chunk);
    }
    if (!more) this.body?.pause();
  };

  private readonly onBodyEnd = (): void => {
    if (this.chunked) this.socket.write('0\r\n\r\n', 'latin1');
    this.stopBody(false);
    // The headers timeout counts from here, once the worker has the whole request.
    if (this.phase === AWAITING_HEAD) this.timer?.refresh();
  };

  private readonly onBodyError = (err: Error): void => {
    this.stopBody(false);
    if (this.handler !== undefined) this.fail(err);
  };

  /** Stops writing the request body; `abandon`: the request ended first, so the body (and its client reads) stop too. */
  private stopBody(abandon: boolean): void {
    const body = this.body;
    if (body === undefined) return;
    this.body = undefined;
    body.off('data', this.onBodyData);
    body.off('end', this.onBodyEnd);
    body.off('error', this.onBodyError);
    if (abandon) body.destroy();
  }

  // Parser callbacks: they run inside `execute`, and the handler may end the request (or start the next) in them.

  private readonly onHeaders = (fields: string[]): void => {
    for (const f of fields) this.headerBatches.push(f);
  };

  private readonly onHeadersComplete = (_major: number, _minor: number, rawHeaders: string[] | undefined, _method: unknown, _url: unknown, statusCode: number, _message: string, upgrade: boolean, shouldKeepAlive: boolean): number => {
    const handler = this.handler;
    if (handler === undefined || this.phase !== AWAITING_HEAD) return 0;
    let headers = rawHeaders;
    if (headers === undefined || this.headerBatches.length > 0) {
      headers = headers === undefined ? this.headerBatches : this.headerBatches.concat(headers);
      this.headerBatches = [];
    }
    if (upgrade) {
      this.fail(new WorkerConnectionError('WR_UPGRADE', `the worker switched protocols (status ${statusCode}) on a request that did not ask to`));
      return 0;
    }
    if (statusCode < 200) {
      // 1xx: an interim answer; the real one follows, within a fresh headers timeout.
      this.timer?.refresh();
      return 0;
    }
    this.phase = RECEIVING;
    // Only ever lowered: a retired connection stays so whatever the worker answers.
    if (!shouldKeepAlive) this.keepAlive = false;
    let hint = '';
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 10 && name.toLowerCase() === 'keep-alive') hint = headers[i + 1]!;
    }
    if (hint !== this.hint) {
      this.hint = hint;
      this.keepAliveMs = hint === '' ? DEFAULT_KEEP_ALIVE_MS : keepAliveOf(hint);
    }
    if (this.keepAliveMs === 0) this.keepAlive = false;
    this.arm(this.timeouts.bodyTimeoutMs);
    handler.onResponseStart(this, statusCode, headers);
    // 1: the answer to HEAD has no body, whatever its headers say.
    return this.skipBody ? 1 : 0;
  };

  private readonly onBody = (chunk: Buffer): void => {
    if (this.handler === undefined) return;
    this.timer?.refresh();
    this.handler.onResponseData(this, chunk);
  };

  private readonly onMessageComplete = (): void => {
    const handler = this.handler;
    // The end of a 1xx, or of an answer already failed.
    if (handler === undefined || this.phase !== RECEIVING) return;
    this.handler = undefined;
    this.phase = IDLE;
    if (this.paused) {
      // Idle, it reads again: a close or stray bytes from the worker must be seen before the next request.
      this.paused = false;
      this.socket.resume();
    }
    if (this.body !== undefined) {
      // Answered before the request body was all sent: the connection is mid-request, not reusable.
      this.keepAlive = false;
      this.stopBody(true);
    }
    handler.onResponseEnd(this);
  };

  private fail(err: Error): void {
    const handler = this.handler;
    this.handler = undefined;
    this.phase = IDLE;
    this.keepAlive = false;
    this.stopBody(true);
    this.socket.destroy();
    handler?.onResponseError(this, err);
  }
}
