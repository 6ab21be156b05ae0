import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendError, type ErrorCode } from './errors.js';

/** What a client side tells the exchange it serves. */
export interface ClientEvents {
  /** The client's connection closed before its answer was complete. */
  clientClosed(): void;
  /** The client's connection took what was written after a `write` that returned false. */
  clientDrained(): void;
}

/**
 * The client's half of one exchange: the request as the worker gets it and the
 * answer as the client gets it. Two kinds: node:http's request and response
 * (HttpClient, every route) and the fast invocation path's connection
 * (src/raw-ingress.ts), which writes the answer as bytes itself.
 */
export interface ClientSide {
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly target: string;
  /** The header lines as [name, value, ...], as node's `rawHeaders`. */
  readonly rawHeaders: readonly string[];
  /** The Connection header's value (several joined with ", "), if any. */
  readonly connection: string | undefined;
  readonly remoteAddress: string | undefined;
  /** The request, for a body streamed from it; only node:http's requests stream. */
  readonly request: IncomingMessage | undefined;
  /** The client's connection is gone. */
  readonly gone: boolean;
  /** The answer was written in full. */
  readonly answered: boolean;
  /** The status answered (200 until an answer is written, as node's `statusCode`). */
  readonly statusCode: number;
  /** From now on the exchange hears of the client's close and drain. */
  attach(owner: ClientEvents): void;
  /** The worker's status and headers (a flat [name, value, ...] list, hop-by-hop already dropped). */
  writeHead(status: number, headers: (string | string[])[]): void;
  /** False: the client's buffer is full; `clientDrained` follows once it is not. */
  write(chunk: Buffer): boolean;
  end(): void;
  /** Breaks the answer off: the client sees the connection close. */
  cut(): void;
  /** The error JSON of errors.ts, unless the answer has begun (then it is cut). */
  sendError(code: ErrorCode, message: string, headers?: Record<string, string | number>): void;
}

/** A request and response of node:http as a ClientSide. */
export class HttpClient implements ClientSide {
  private owner: ClientEvents | undefined;
  private readonly onDrain = (): void => this.owner?.clientDrained();

  constructor(readonly request: IncomingMessage, private readonly res: ServerResponse) {}

  get method(): string { return this.request.method!; }
  get target(): string { return this.request.url!; }
  get rawHeaders(): readonly string[] { return this.request.rawHeaders; }
  get connection(): string | undefined { return this.request.headers.connection; }
  get remoteAddress(): string | undefined { return this.request.socket.remoteAddress; }
  get gone(): boolean { return this.res.destroyed; }
  get answered(): boolean { return this.res.writableFinished; }
  get statusCode(): number { return this.res.statusCode; }

  attach(owner: ClientEvents): void {
    this.owner = owner;
    // Never taken off: the response is this exchange's alone, and the exchange ignores a close once it ended.
    this.res.on('close', () => owner.clientClosed());
  }

  writeHead(status: number, headers: (string | string[])[]): void {
    this.res.writeHead(status, headers);
  }

  write(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  end(): void {
    this.res.end();
  }

  cut(): void {
    this.res.destroy();
  }

  sendError(code: ErrorCode, message: string, headers?: Record<string, string | number>): void {
    sendError(this.res, code, message, headers);
  }
}
