// A reference point for the overhead benchmark: how fast Node itself can proxy
// this path without node:http and undici. A `net` server, warmroute's fast-path
// request-head parser (src/request-head.ts), keep-alive pools of `net` sockets per upstream
// and a minimal response-head parser; bodies are forwarded by Content-Length.
// Not a contender and not a full HTTP implementation: no admission queue limits,
// timeouts, metrics or cancellation; request bodies are read whole (at most
// 1 MiB, else 413); requests outside the parser's strict subset (chunked bodies
// among them) are answered 400, and chunked or length-less responses 502. Pipelined requests are answered one at a time.
// The gap between this row and node-bare is what node:http and undici cost; the
// gap between this row and nginx is what is left to Node and V8.
// `node dist/bench/raw-proxy.js --port N --upstreams URL,URL [--connections N]`

import { connect, createServer, type Socket } from 'node:net';
import { HeadState, MAX_FAST_HEAD_BYTES, RequestHead } from '../src/request-head.js';
import { runReferenceProxy } from './reference-proxy-args.js';

const usage = 'usage: node dist/bench/raw-proxy.js --port N --upstreams URL[,URL...] [--connections N]\n';

/** Longest response head taken from an upstream. */
const MAX_HEAD_BYTES = 16 * 1024;
const MAX_BODY_BYTES = 1024 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect']);

/** A request head as this proxy needs it: what to send upstream, and how the client's connection goes on. */
interface ForwardedHead {
  /** The upstream request head without its `host` line and the final empty line. */
  readonly lines: string;
  readonly headBytes: number;
  readonly bodyBytes: number;
  readonly close: boolean;
}

type Parsed = ForwardedHead | { readonly error: number; readonly message: string } | undefined;

/**
 * Parses the request head at the start of `buf` with warmroute's fast-path
 * parser (src/request-head.ts): undefined while it is incomplete. What that
 * parser leaves to node:http in warmroute is refused here.
 */
function parseRequestHead(buf: Buffer, head: RequestHead): Parsed {
  const state = head.parse(buf, 0);
  if (state === HeadState.More) return undefined;
  if (state === HeadState.Other) {
    return buf.length >= MAX_FAST_HEAD_BYTES
      ? { error: 431, message: `request head exceeds ${MAX_FAST_HEAD_BYTES} bytes` }
      : { error: 400, message: 'not a request this reference proxy takes (POST, HTTP/1.1, Host, one Content-Length; no Transfer-Encoding, Expect or Upgrade)' };
  }
  if (head.contentLength > MAX_BODY_BYTES) return { error: 413, message: 'request body exceeds 1 MiB' };
  let lines = `POST ${head.target} HTTP/1.1\r\n`;
  const raw = head.raw;
  for (let i = 0; i < raw.length; i += 2) {
    if (!hopByHop.has(raw[i]!.toLowerCase())) lines += `${raw[i]!}: ${raw[i + 1]!}\r\n`;
  }
  return { lines, headBytes: head.headBytes, bodyBytes: head.contentLength, close: head.close };
}

/** Writes a short error answer; the connection closes after it. */
function answerError(socket: Socket, status: number, message: string): void {
  const body = JSON.stringify({ error: { status, message } });
  socket.end(`HTTP/1.1 ${status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** One client connection: one request at a time; bytes of a pipelined next request wait in `pending`. */
class ClientConnection {
  pending: Buffer | undefined;
  /** The upstream connection serving its request, or the pool it waits for. */
  serving: UpstreamConnection | undefined;
  waiting = false;
  busy = false;
  closeAfter = false;
  request: Buffer | undefined;
  private readonly head = new RequestHead();

  constructor(readonly socket: Socket, private readonly proxy: RawProxy) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onClose());
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    if (!this.busy) this.next();
  }

  /** Starts the next request in `pending`, if it has fully arrived. */
  next(): void {
    const buf = this.pending;
    if (buf === undefined || this.socket.destroyed) return;
    const head = parseRequestHead(buf, this.head);
    if (head === undefined) return;
    this.head.reset();
    if ('error' in head) {
      this.pending = undefined;
      answerError(this.socket, head.error, head.message);
      return;
    }
    const total = head.headBytes + head.bodyBytes;
    if (buf.length < total) return;
    this.pending = buf.length === total ? undefined : buf.subarray(total);
    this.busy = true;
    this.closeAfter = head.close;
    const pool = this.proxy.nextPool();
    const headText = `${head.lines}host: ${pool.host}\r\n\r\n`;
    const headLength = Buffer.byteLength(headText, 'latin1');
    const request = Buffer.allocUnsafe(headLength + head.bodyBytes);
    request.write(headText, 0, 'latin1');
    buf.copy(request, headLength, head.headBytes, total);
    this.request = request;
    pool.send(this);
  }

  /** The response was written in full: the next pipelined request may go. */
  done(): void {
    this.serving = undefined;
    this.busy = false;
    if (this.closeAfter) {
      this.socket.end();
      return;
    }
    if (this.pending !== undefined) this.next();
  }

  private onClose(): void {
    this.pending = undefined;
    this.waiting = false;
    // Its response can no longer be read to the end in step with a request: the upstream connection goes.
    this.serving?.socket.destroy();
  }
}

/** One keep-alive connection to an upstream, serving one client request at a time. */
class UpstreamConnection {
  client: ClientConnection | undefined;
  private buf: Buffer | undefined;
  private bodyLeft = -1;
  private reusable = true;

  constructor(readonly socket: Socket, private readonly pool: UpstreamPool) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
  }

  send(client: ClientConnection): void {
    this.client = client;
    client.serving = this;
    this.bodyLeft = -1;
    this.reusable = true;
    this.socket.write(client.request!);
    client.request = undefined;
  }

  private onData(chunk: Buffer): void {
    const client = this.client;
    if (client === undefined) return void this.socket.destroy();
    if (this.bodyLeft === -1) {
      const buf = this.buf === undefined ? chunk : Buffer.concat([this.buf, chunk]);
      const end = buf.indexOf(HEAD_END);
      if (end === -1) {
        if (buf.length > MAX_HEAD_BYTES) return this.fail('response head exceeds 16 KiB');
        this.buf = buf;
        return;
      }
      this.buf = undefined;
      const head = this.responseHead(buf.toString('latin1', 0, end), client);
      if (head === null) {
        // 1xx: informational, the real answer follows.
        const rest = buf.subarray(end + 4);
        if (rest.length > 0) this.onData(rest);
        return;
      }
      if (typeof head !== 'string') return this.fail(head.error);
      const bodyStart = end + 4;
      const available = buf.length - bodyStart;
      if (available > this.bodyLeft) return this.fail('upstream sent more than its content-length');
      const headLength = Buffer.byteLength(head, 'latin1');
      const out = Buffer.allocUnsafe(headLength + available);
      out.write(head, 0, 'latin1');
      buf.copy(out, headLength, bodyStart);
      this.bodyLeft -= available;
      this.forward(client, out);
      return;
    }
    if (chunk.length > this.bodyLeft) return this.fail('upstream sent more than its content-length');
    this.bodyLeft -= chunk.length;
    this.forward(client, chunk);
  }

  private forward(client: ClientConnection, bytes: Buffer): void {
    const flowing = client.socket.write(bytes);
    if (this.bodyLeft === 0) return this.finish(client);
    if (!flowing) {
      this.socket.pause();
      client.socket.once('drain', () => this.socket.resume());
    }
  }

  /** The status line and headers for the client, with bodyLeft set from content-length; null for a 1xx; or why it cannot be forwarded. */
  private responseHead(text: string, client: ClientConnection): string | null | { error: string } {
    let lineEnd = text.indexOf('\r\n');
    if (lineEnd === -1) lineEnd = text.length;
    const statusLine = text.slice(0, lineEnd);
    if (!statusLine.startsWith('HTTP/1.')) return { error: 'malformed status line' };
    const status = Number(statusLine.slice(9, 12));
    if (!Number.isInteger(status) || status < 100) return { error: 'malformed status line' };
    if (status < 200) return null;
    let out = `HTTP/1.1${statusLine.slice(8)}\r\n`;
    let length = -1;
    let at = lineEnd + 2;
    while (at < text.length) {
      let next = text.indexOf('\r\n', at);
      if (next === -1) next = text.length;
      const colon = text.indexOf(':', at);
      if (colon === -1 || colon > next) return { error: 'malformed header line' };
      const name = text.slice(at, colon).toLowerCase();
      if (name === 'content-length') {
        length = Number(text.slice(colon + 1, next).trim());
      } else if (name === 'transfer-encoding') {
        return { error: 'chunked responses are not supported by this reference proxy' };
      } else if (name === 'connection' && text.slice(colon + 1, next).toLowerCase().includes('close')) {
        this.reusable = false;
      }
      if (!hopByHop.has(name)) out += `${text.slice(at, next)}\r\n`;
      at = next + 2;
    }
    if (status === 204 || status === 304) length = 0;
    if (!Number.isInteger(length) || length < 0) return { error: 'response without a content-length' };
    this.bodyLeft = length;
    return client.closeAfter ? `${out}connection: close\r\n\r\n` : `${out}\r\n`;
  }

  private finish(client: ClientConnection): void {
    this.client = undefined;
    this.bodyLeft = -1;
    if (this.reusable) this.pool.giveBack(this);
    else this.socket.destroy();
    client.done();
  }

  /** The upstream broke the protocol: 502 if nothing was written to the client yet, else the client is cut. */
  private fail(message: string): void {
    const client = this.client;
    this.client = undefined;
    this.socket.destroy();
    if (client === undefined) return;
    if (this.bodyLeft < 0) answerError(client.socket, 502, message);
    else client.socket.destroy();
  }

  private onClose(): void {
    this.pool.forget(this);
    const client = this.client;
    if (client !== undefined) {
      this.client = undefined;
      if (this.bodyLeft < 0) answerError(client.socket, 502, 'upstream connection closed');
      else client.socket.destroy();
    }
  }
}

/** The keep-alive connections of one upstream: at most `limit`, made when first needed; requests beyond wait in order. */
class UpstreamPool {
  readonly host: string;
  private readonly idle: UpstreamConnection[] = [];
  private readonly waiters: ClientConnection[] = [];
  private waitHead = 0;
  private count = 0;

  constructor(private readonly port: number, private readonly hostname: string, private readonly limit: number) {
    this.host = `${hostname}:${port}`;
  }

  send(client: ClientConnection): void {
    const conn = this.idle.pop();
    if (conn !== undefined) return conn.send(client);
    if (this.count < this.limit) {
      this.count++;
      const made = new UpstreamConnection(connect(this.port, this.hostname), this);
      return made.send(client);
    }
    client.waiting = true;
    this.waiters.push(client);
  }

  giveBack(conn: UpstreamConnection): void {
    while (this.waitHead < this.waiters.length) {
      const client = this.waiters[this.waitHead]!;
      this.waiters[this.waitHead++] = undefined as unknown as ClientConnection;
      if (this.waitHead === this.waiters.length) {
        this.waiters.length = 0;
        this.waitHead = 0;
      }
      if (!client.waiting) continue;
      client.waiting = false;
      return conn.send(client);
    }
    this.idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    this.count--;
  }
}

class RawProxy {
  private next = 0;

  constructor(private readonly pools: UpstreamPool[]) {}

  nextPool(): UpstreamPool {
    const pool = this.pools[this.next]!;
    this.next = this.next + 1 === this.pools.length ? 0 : this.next + 1;
    return pool;
  }
}

runReferenceProxy('raw-proxy', usage, ({ upstreams, connections }) => {
  const proxy = new RawProxy(upstreams.map((u) => new UpstreamPool(Number(u.port), u.hostname, connections)));
  return createServer((socket) => new ClientConnection(socket, proxy));
});
