// The fast path's head parser against llhttp, the parser of node:http itself
// (strict mode, as the proxy's node:http server runs it): every head the fast
// path takes must be framed by llhttp exactly the same way (same target,
// headers, keep-alive and end of message); anything else must be left to
// node:http. Cases first, then fuzzed heads, whole and a few bytes at a time.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { HeadState, MAX_FAST_HEAD_BYTES, RequestHead } from '../../src/request-head.js';

interface Framing {
  readonly error: string | undefined;
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly version: string | undefined;
  readonly headers: string[];
  readonly keepAlive: boolean | undefined;
  /** Bytes consumed when the first message completed, -1 if it did not. */
  readonly completeAt: number;
}

interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | Error;
  [key: number]: unknown;
}
interface LlhttpClass {
  new (): LlhttpParser;
  readonly REQUEST: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly methods: string[];
}
const { HTTPParser, methods } = createRequire(import.meta.url)('_http_common') as { HTTPParser: LlhttpClass; methods: string[] };

/** How llhttp (strict, 16 KiB of headers as node:http's default) frames the first message of `bytes`, fed one byte at a time. */
function llhttp(bytes: Buffer): Framing {
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 16 * 1024, 0);
  let fed = 0;
  const out: { method?: string; url?: string; version?: string; headers: string[]; keepAlive?: boolean; completeAt: number } = { headers: [], completeAt: -1 };
  p[HTTPParser.kOnHeaders] = (headers: string[], url: string) => { out.headers.push(...headers); out.url = (out.url ?? '') + url; };
  p[HTTPParser.kOnHeadersComplete] = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _s: unknown, _m: unknown, _u: unknown, keepAlive: boolean) => {
    if (headers) out.headers.push(...headers);
    if (url) out.url = (out.url ?? '') + url;
    out.method = methods[method];
    out.version = `${major}.${minor}`;
    out.keepAlive = keepAlive;
    return 0;
  };
  p[HTTPParser.kOnBody] = () => undefined;
  p[HTTPParser.kOnMessageComplete] = () => { if (out.completeAt === -1) out.completeAt = fed; };
  p[HTTPParser.kOnExecute] = () => undefined;
  let error: string | undefined;
  for (; fed < bytes.length && out.completeAt === -1;) {
    fed++;
    const r = p.execute(bytes.subarray(fed - 1, fed));
    if (r instanceof Error) {
      error = (r as NodeJS.ErrnoException).code ?? r.message;
      break;
    }
  }
  return { error, method: out.method, url: out.url, version: out.version, headers: out.headers, keepAlive: out.keepAlive, completeAt: out.completeAt };
}

/** The fast path's parse of `bytes`, fed in the given pieces (one piece: all at once). */
function fast(bytes: Buffer, cuts: number[] = []): { state: HeadState; head: RequestHead } {
  const head = new RequestHead();
  let state: HeadState = HeadState.More;
  for (const end of [...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length]) {
    state = head.parse(bytes.subarray(0, end), 0);
    if (state !== HeadState.More) break;
  }
  return { state, head };
}

/** Checks the one rule: a head the fast path takes is framed the same by llhttp. */
function agrees(t: Test, bytes: Buffer, what: string): HeadState {
  const { state, head } = fast(bytes);
  if (state !== HeadState.Complete) return state;
  const total = head.headBytes + head.contentLength;
  if (bytes.length < total) return HeadState.More;
  const ll = llhttp(bytes);
  const same = ll.error === undefined && ll.method === 'POST' && ll.version === '1.1' && ll.url === head.target
    && JSON.stringify(ll.headers) === JSON.stringify(head.raw) && ll.keepAlive === !head.close && ll.completeAt === total;
  if (!same) t.fail(`${what}: framed differently`, { bytes: bytes.toString('latin1'), fast: { target: head.target, raw: head.raw, close: head.close, total }, llhttp: ll });
  return state;
}

const ok = 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}';

t.test('a plain invocation head is taken, and framed as llhttp frames it', async (t) => {
  const bytes = Buffer.from(`${ok}POST /run/g HTTP/1.1\r\n`, 'latin1');
  t.equal(agrees(t, bytes, 'plain'), HeadState.Complete);
  const { head } = fast(bytes);
  t.equal(head.target, '/runLambda/f');
  t.equal(head.contentLength, 2);
  t.equal(head.headBytes, ok.length - 2);
  t.same(head.raw, ['Host', 'x', 'Content-Length', '2']);
  t.equal(head.close, false);
  const closing = fast(Buffer.from('POST /run/f HTTP/1.1\r\nhost: x\r\nConnection: Keep-Alive, Close\r\ncontent-length: 0\r\n\r\n'));
  t.equal(closing.state, HeadState.Complete);
  t.equal(closing.head.close, true);
  t.equal(closing.head.connection, 'Keep-Alive, Close');
});

t.test('what is left to node:http: smuggling shapes, other methods and versions, unusual bytes', async (t) => {
  const other: Record<string, string> = {
    'two Content-Lengths, equal': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}',
    'two Content-Lengths, different': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 7\r\n\r\n{}',
    'a list in Content-Length': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\n{}',
    'a sign in Content-Length': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}',
    'Content-Length and Transfer-Encoding': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'TRANSFER-ENCODING in capitals': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTRANSFER-ENCODING: chunked\r\n\r\n0\r\n\r\n',
    'two Content-Lengths in mixed case': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\ncOnTeNt-LeNgTh: 2\r\nCONTENT-LENGTH: 2\r\n\r\n{}',
    'HOST twice in mixed case': 'POST /runLambda/f HTTP/1.1\r\nhOsT: x\r\nHOST: y\r\nContent-Length: 2\r\n\r\n{}',
    'EXPECT in capitals': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nEXPECT: 100-continue\r\nContent-Length: 2\r\n\r\n{}',
    'Transfer-Encoding alone': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'no Content-Length': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\n\r\n',
    'obs-fold': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\nContent-Length: 2\r\n\r\n{}',
    'obs-folded Transfer-Encoding': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\ntransfer-encoding:\r\n chunked\r\n\r\n{}',
    'bare LF line ends': 'POST /runLambda/f HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}',
    'a bare LF in one line': 'POST /runLambda/f HTTP/1.1\r\nHost: x\nContent-Length: 2\r\n\r\n{}',
    'a bare LF ending the head': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\n{}',
    'a bare CR': 'POST /runLambda/f HTTP/1.1\r\nHost: x\rContent-Length: 2\r\n\r\n{}',
    'a space before the colon': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length : 2\r\n\r\n{}',
    'a NUL in a value': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nX-A: b\u0000c\r\nContent-Length: 2\r\n\r\n{}',
    'obs-text in a value': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nX-A: caf\u00e9\r\nContent-Length: 2\r\n\r\n{}',
    'no Host': 'POST /runLambda/f HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}',
    'two Hosts': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nHost: y\r\nContent-Length: 2\r\n\r\n{}',
    'Expect: 100-continue': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n{}',
    'Upgrade': 'POST /runLambda/f HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 2\r\n\r\n{}',
    'HTTP/1.0': 'POST /runLambda/f HTTP/1.0\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
    'GET': 'GET /runLambda/f HTTP/1.1\r\nHost: x\r\n\r\n',
    'lower-case post': 'post /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
    'two spaces in the request line': 'POST  /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
    'an absolute target': 'POST http://x/runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
    'an empty line first': '\r\nPOST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}',
    'a head over the fast limit': `POST /runLambda/f HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(MAX_FAST_HEAD_BYTES)}\r\nContent-Length: 2\r\n\r\n{}`,
  };
  for (const [what, text] of Object.entries(other)) {
    t.equal(fast(Buffer.from(text, 'latin1')).state, HeadState.Other, what);
  }
  // A head longer than the limit with no end in sight is not waited for either.
  t.equal(fast(Buffer.from(`POST /runLambda/f HTTP/1.1\r\nX-Big: ${'a'.repeat(MAX_FAST_HEAD_BYTES)}`, 'latin1')).state, HeadState.Other);
  t.equal(fast(Buffer.from('POST /runLambda/f HTTP/1.1\r\nHost: x\r\nContent-', 'latin1')).state, HeadState.More, 'an unfinished head waits');
  t.equal(fast(Buffer.from('PO', 'latin1')).state, HeadState.More, 'so does an unfinished method');
  t.equal(fast(Buffer.from('PUT', 'latin1')).state, HeadState.Other, 'another method is known at its first differing byte');
});

/** Pieces fuzzed heads are made of: mostly valid, with the shapes parsers disagree on. */
const methodArb = fc.constantFrom('POST', 'POST', 'POST', 'POST', 'POST', 'post', 'GET', 'PUT');
const targetArb = fc.oneof(
  fc.constantFrom('/runLambda/f', '/runLambda/f', '/run/f?x=1', '/runLambda/a%20b', '/x', '*', 'http://h/runLambda/f', '/runLambda/f#x', '/runLambda/\u00e9'),
  // Any query of visible ASCII (and now and then a byte that is not).
  fc.tuple(fc.stringMatching(/^[\x21-\x7e]{0,10}$/), fc.constantFrom('', '', '', '\u0000', '\u007f', '\u00ff', '\t')).map(([q, x]) => `/runLambda/f?${q}${x}`),
);
const versionArb = fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'http/1.1');
const eolArb = fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\r\n', '\n', '\r', '\r\r\n');
const headerArb = fc.oneof(
  fc.constantFrom(
    'Host: x', 'host:x', 'Host:', 'Content-Length: 2', 'content-length:2', 'Content-Length: 02', 'Content-Length:  2  ', 'Content-Length: 0',
    'Content-Length: 2, 2', 'Content-Length : 2', 'Content-Length: -2', 'Content-Length: 99999999999999999999', 'Transfer-Encoding: chunked',
    'Transfer-Encoding: identity', 'Connection: close', 'Connection: keep-alive', 'connection: Keep-Alive, close', 'Connection: upgrade',
    'Expect: 100-continue', 'X-A: b c', 'X-A:\tb\t', 'X-A: b\u0000c', 'X-A: caf\u00e9', ' X-A: b', '\tX-A: b', 'X A: b', 'X-A b', ':b', 'X-A: b\u007f',
    'x-forwarded-for: 10.0.0.1', 'Keep-Alive: timeout=5',
  ),
  fc.tuple(fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,6}$/), fc.string({ maxLength: 8 })).map(([n, v]) => `${n}: ${v}`),
);
const messageArb = fc.record({
  method: methodArb,
  sp1: fc.constantFrom(' ', ' ', ' ', ' ', ' ', '  ', '\t'),
  target: targetArb,
  sp2: fc.constantFrom(' ', ' ', ' ', ' ', ' ', '  '),
  version: versionArb,
  headers: fc.array(fc.tuple(headerArb, eolArb), { maxLength: 4 }),
  more: fc.array(fc.tuple(headerArb, eolArb), { maxLength: 2 }),
  /** Mostly a Host and a Content-Length that fits the body, so that the fast path's side is reached. */
  base: fc.constantFrom(true, true, true, true, false),
  lineEol: eolArb,
  endEol: eolArb,
  body: fc.string({ maxLength: 12 }),
  cuts: fc.array(fc.nat({ max: 200 }), { maxLength: 4 }),
});

t.test('fuzzed heads: whatever the fast path takes, llhttp frames the same; fed in pieces, the answer is the same', async (t) => {
  let taken = 0;
  let total = 0;
  fc.assert(fc.property(messageArb, (m) => {
    const headers = m.base ? [...m.headers, ['Host: x', '\r\n'], ...m.more, [`Content-Length: ${m.body.length}`, '\r\n']] : [...m.headers, ...m.more];
    const text = `${m.method}${m.sp1}${m.target}${m.sp2}${m.version}${m.lineEol}${headers.map(([h, e]) => h! + e!).join('')}${m.endEol}${m.body}`;
    const bytes = Buffer.from(text, 'latin1');
    total++;
    const whole = fast(bytes);
    const pieces = fast(bytes, m.cuts);
    if (whole.state !== pieces.state || (whole.state === HeadState.Complete && (whole.head.headBytes !== pieces.head.headBytes || JSON.stringify(whole.head.raw) !== JSON.stringify(pieces.head.raw)))) {
      t.fail('parsed in pieces differently', { text });
      return false;
    }
    const state = agrees(t, bytes, 'fuzzed');
    if (state === HeadState.Complete) taken++;
    return true;
  }), { numRuns: 30000, seed: 15 });
  t.ok(taken > 200, `the fuzz reached the fast path often (${taken} of ${total})`);
});
