import { createRequire } from 'node:module';

// Node's own llhttp binding, the parser node:http runs on. The worker side uses it
// to read responses: native code, no WebAssembly to compile, and the same parser
// (hence the same strictness) as node:http and undici. It is not a documented API
// (`require('_http_common').HTTPParser`), so its shape is checked once, at load,
// and a Node release that changed it stops the proxy at start with a message
// naming it, rather than misparsing a response (test/src/worker-connection.test.ts).
// Its behaviour is checked too where the proxy relies on it: body chunks are copies.

/** A response parser of Node's llhttp binding; callbacks sit in numbered slots (HTTPParser.kOn*). */
export interface NativeParser {
  initialize(type: number, resource: object): void;
  /** Bytes parsed, or the parse error (`code` HPE_*). */
  execute(data: Buffer): number | Error;
  /** End of input: completes a close-delimited body, or an error when the message was cut. */
  finish(): Error | undefined;
  /** Frees the native parser; never while one of its callbacks is on the stack. */
  close(): void;
  [slot: number]: ((...args: never[]) => unknown) | undefined;
}

export interface NativeParserClass {
  new (): NativeParser;
  readonly RESPONSE: number;
  /** Header fields beyond the 32 delivered with kOnHeadersComplete come here first, in batches. */
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
}

/**
 * Whether the parser hands body chunks over as copies. The worker connections
 * read into one buffer that the next read overwrites (src/worker-connection.ts)
 * and hand body chunks on as they come, so a view into the bytes parsed would
 * let a later read change an answer still queued for its client.
 */
function bodyIsCopied(Parser: NativeParserClass): boolean {
  const parser = new Parser();
  parser.initialize(Parser.RESPONSE, {});
  let body: unknown;
  parser[Parser.kOnHeadersComplete] = () => 0;
  parser[Parser.kOnBody] = (chunk: Buffer) => {
    body = chunk;
  };
  parser[Parser.kOnMessageComplete] = () => 0;
  const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', 'latin1');
  parser.execute(bytes);
  parser.close();
  bytes.fill(0);
  return Buffer.isBuffer(body) && body.length === 1 && body[0] === 0x78;
}

const SOURCE = "require('_http_common').HTTPParser";

/** `candidate` as the parser class, or an error naming what is missing (checked with Node's own at load). */
export function checkParserClass(candidate: unknown): NativeParserClass {
  const missing: string[] = [];
  if (typeof candidate !== 'function') {
    missing.push('the class itself');
  } else {
    const c = candidate as unknown as Record<string, unknown> & { prototype: Record<string, unknown> };
    for (const key of ['RESPONSE', 'kOnHeaders', 'kOnHeadersComplete', 'kOnBody', 'kOnMessageComplete']) {
      if (typeof c[key] !== 'number') missing.push(key);
    }
    for (const method of ['initialize', 'execute', 'finish', 'close']) {
      if (typeof c.prototype[method] !== 'function') missing.push(`${method}()`);
    }
    if (missing.length === 0 && !bodyIsCopied(candidate as unknown as NativeParserClass)) missing.push('body chunks copied out of the bytes parsed (kOnBody)');
  }
  if (missing.length > 0) {
    throw new Error(`Node's internal HTTP parser (${SOURCE}), which warmroute reads worker responses with, is missing or changed (${missing.join(', ')}); warmroute is built and tested on Node 20`);
  }
  return candidate as NativeParserClass;
}

export const HTTPParser = checkParserClass((createRequire(import.meta.url)('_http_common') as { HTTPParser?: unknown }).HTTPParser);
