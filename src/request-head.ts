// The request-head parser of the fast invocation path (src/raw-ingress.ts).
// It accepts only a strict subset of HTTP/1.1 that Node's own parser (llhttp,
// strict mode) frames the same way, and says "not mine" for everything else,
// which then goes to node:http with the bytes as they came. A request this
// parser accepts is never framed differently by node:http: that is what keeps
// the two paths from disagreeing on where a message ends (request smuggling).
// test/src/request-head.test.ts checks it against llhttp, case by case and fuzzed.

/** Longest head (request line, headers, final empty line) taken on the fast path; longer ones are node:http's (which refuses past 16 KiB). */
export const MAX_FAST_HEAD_BYTES = 8 * 1024;
/** Digits of a Content-Length taken on the fast path (the fast path's bodies are small anyway). */
const MAX_LENGTH_DIGITS = 9;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** RFC 9110 tchar: the bytes of a header name. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[c.charCodeAt(0)] = 1;

const REQUEST_START = Buffer.from('POST /', 'latin1');
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding', 'latin1');
const EXPECT = Buffer.from('expect', 'latin1');
const UPGRADE = Buffer.from('upgrade', 'latin1');
const CONNECTION = Buffer.from('connection', 'latin1');
const HOST = Buffer.from('host', 'latin1');

/**
 * Whether the header name at `buf[at..]` is `lower` in any case. Setting bit
 * 0x20 lower-cases a letter; of the token bytes, only letters become one of
 * these names' letters that way, and `-` stays itself.
 */
function isNamed(buf: Buffer, at: number, lower: Buffer): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[at + i]! | 0x20) !== lower[i]) return false;
  return true;
}
const VERSION_END = Buffer.from(' HTTP/1.1\r\n', 'latin1');

/** What `parse` found at the start of a message. */
export const HeadState = {
  /** Not (yet) a whole head; nothing so far rules the fast path out. */
  More: 0,
  /** A whole head the fast path takes: the fields of RequestHead are set. */
  Complete: 1,
  /** Not for the fast path (another method or version, a header it does not take, anything unusual): node:http decides. */
  Other: 2,
} as const;
export type HeadState = (typeof HeadState)[keyof typeof HeadState];

/**
 * One request head being parsed, resumable as bytes arrive (a head sent a byte
 * at a time is parsed line by line, never from the start again). One per
 * connection, reset for each message.
 */
export class RequestHead {
  /** Request target, e.g. `/runLambda/f?x=1`. */
  target = '';
  /** The header lines as [name, value, ...], names as sent, values without surrounding whitespace (as node's rawHeaders). */
  raw: string[] = [];
  /** Connection header value(s), joined with ", " as node:http joins them; undefined when absent. */
  connection: string | undefined;
  /** `Connection: close` among its tokens: the connection closes after the answer. */
  close = false;
  contentLength = -1;
  /** Bytes of the head, from the message's start through the final CRLF. */
  headBytes = 0;
  private hasHost = false;
  /** Where the next line to parse starts (relative to the message start), 0: the request line. */
  private line = 0;

  reset(): void {
    this.target = '';
    this.raw = [];
    this.connection = undefined;
    this.close = false;
    this.contentLength = -1;
    this.headBytes = 0;
    this.hasHost = false;
    this.line = 0;
  }

  /** Parses what `buf[start..]` holds of the message that starts at `start`. */
  parse(buf: Buffer, start: number): HeadState {
    const end = Math.min(buf.length, start + MAX_FAST_HEAD_BYTES);
    if (this.line === 0) {
      const state = this.requestLine(buf, start, end);
      if (state !== HeadState.Complete) return state;
    }
    for (;;) {
      const at = start + this.line;
      // A line is looked at only once it has its LF (an LF is always the end of a line here: a bare one is refused).
      const lf = buf.indexOf(LF, at);
      if (lf === -1 || lf >= end) return buf.length - start >= MAX_FAST_HEAD_BYTES ? HeadState.Other : HeadState.More;
      if (lf === at + 1 && buf[at] === CR) {
        this.headBytes = lf + 1 - start;
        return this.contentLength >= 0 && this.hasHost ? HeadState.Complete : HeadState.Other;
      }
      if (!this.headerLine(buf, at, lf)) return HeadState.Other;
      this.line = lf + 1 - start;
    }
  }

  /** `POST <target> HTTP/1.1\r\n`, the target of visible ASCII characters only. */
  private requestLine(buf: Buffer, start: number, end: number): HeadState {
    const available = end - start;
    for (let i = 0; i < REQUEST_START.length; i++) {
      if (i >= available) return HeadState.More;
      if (buf[start + i] !== REQUEST_START[i]) return HeadState.Other;
    }
    let i = start + REQUEST_START.length - 1;
    while (i < end) {
      const b = buf[i]!;
      if (b === SP) break;
      if (b < 0x21 || b > 0x7e) return HeadState.Other;
      i++;
    }
    if (i >= end) return available >= MAX_FAST_HEAD_BYTES ? HeadState.Other : HeadState.More;
    const targetEnd = i;
    for (let j = 0; j < VERSION_END.length; j++, i++) {
      if (i >= end) return available >= MAX_FAST_HEAD_BYTES ? HeadState.Other : HeadState.More;
      if (buf[i] !== VERSION_END[j]) return HeadState.Other;
    }
    this.target = buf.toString('latin1', start + REQUEST_START.length - 1, targetEnd);
    this.line = i - start;
    return HeadState.Complete;
  }

  /** One `name: value\r\n` line (lf: where its LF is); false for anything not plainly that. */
  private headerLine(buf: Buffer, at: number, lf: number): boolean {
    const cr = lf - 1;
    if (cr <= at || buf[cr] !== CR) return false;
    let i = at;
    while (i < cr && TCHAR[buf[i]!] === 1) i++;
    // No name, whitespace before the colon, obs-fold (a line starting with whitespace) or any other byte: not ours.
    if (i === at || i === cr || buf[i] !== COLON) return false;
    const nameEnd = i++;
    while (i < cr && (buf[i] === SP || buf[i] === HTAB)) i++;
    const valueStart = i;
    let valueEnd = i;
    for (; i < cr; i++) {
      const b = buf[i]!;
      // Visible ASCII, space and tab only: no control characters (NUL, bare CR), no obs-text.
      if (b > 0x7e || (b < SP && b !== HTAB)) return false;
      if (b !== SP && b !== HTAB) valueEnd = i + 1;
    }
    const name = buf.toString('latin1', at, nameEnd);
    const value = buf.toString('latin1', valueStart, valueEnd);
    this.raw.push(name, value);
    return this.special(buf, at, nameEnd - at, value);
  }

  /** The headers that decide framing or the connection (the name at `buf[at..]`); false for one the fast path does not take. */
  private special(buf: Buffer, at: number, length: number, value: string): boolean {
    // Only names of these lengths need a look, compared without building a lower-case copy.
    let lower: string;
    switch (length) {
      case 14: lower = isNamed(buf, at, CONTENT_LENGTH) ? 'content-length' : ''; break;
      case 17: lower = isNamed(buf, at, TRANSFER_ENCODING) ? 'transfer-encoding' : ''; break;
      case 6: lower = isNamed(buf, at, EXPECT) ? 'expect' : ''; break;
      case 7: lower = isNamed(buf, at, UPGRADE) ? 'upgrade' : ''; break;
      case 10: lower = isNamed(buf, at, CONNECTION) ? 'connection' : ''; break;
      case 4: lower = isNamed(buf, at, HOST) ? 'host' : ''; break;
      default: return true;
    }
    switch (lower) {
      case 'content-length': {
        if (this.contentLength >= 0 || value.length === 0 || value.length > MAX_LENGTH_DIGITS) return false;
        for (let i = 0; i < value.length; i++) {
          const c = value.charCodeAt(i);
          if (c < 0x30 || c > 0x39) return false;
        }
        this.contentLength = Number(value);
        return true;
      }
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
        return false;
      case 'host':
        if (this.hasHost) return false;
        this.hasHost = true;
        return true;
      case 'connection': {
        this.connection = this.connection === undefined ? value : `${this.connection}, ${value}`;
        const tokens = value.toLowerCase().split(',');
        for (const token of tokens) {
          const t = token.trim();
          if (t === 'close') this.close = true;
          // `Connection: upgrade` asks for a protocol switch: node:http's to refuse.
          else if (t === 'upgrade') return false;
        }
        return true;
      }
      default:
        return true;
    }
  }
}
