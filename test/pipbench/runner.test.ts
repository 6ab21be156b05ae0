import t, { type Test } from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHandlerPicker, formatRecordsCsv, formatRecordsJsonl,
  rotationWindow, rotationWindowSize, runWorkload, DRAIN_TIMEOUT_ERROR,
} from '../../pipbench/runner.js';
import { seededRandom } from '../../balancers/seeded-random.js';
import { main as runMain } from '../../pipbench/commands/run.js';
import { parseRotationSlice } from '../../pipbench/commands/support.js';
import { formatTextLog, parseTextLog, TextLogParseError } from '../../pipbench/textlog.js';
import { summarize, type RequestRecord } from '../../pipbench/stats.js';
import { captureIO } from '../fixtures/capture-io.js';

interface Received { method: string; url: string; body: string }

/**
 * A tiny stand-in for a worker: /runLambda/slow-* answers after 60 ms, fail-*
 * answers 500, drop-* destroys the socket, hang-* never answers, via-header
 * names its worker in x-warmroute-worker, everything else answers 200 JSON
 * with a `worker` field after `delayMs`.
 */
async function startFakeWorker(t: Test, delayMs: number) {
  const received: Received[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const hanging = new Set<ServerResponse>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; });
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', body });
      const name = decodeURIComponent((req.url ?? '').replace(/^\/runLambda\//, ''));
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      const done = (): void => { inFlight--; };
      if (name.startsWith('hang-')) { hanging.add(res); res.on('close', done); return; }
      if (name.startsWith('drop-')) { done(); req.socket.destroy(); return; }
      setTimeout(() => {
        done();
        if (name.startsWith('fail-')) {
          res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'boom' } }));
        } else if (name.startsWith('via-header')) {
          res.writeHead(200, { 'content-type': 'application/json', 'x-warmroute-worker': 'proxy-picked' }).end(JSON.stringify({ handler: name, worker: 'ignored' }));
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ handler: name, worker: 'fake-1' }));
        }
      }, name.startsWith('slow-') ? 60 : delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url, received, maxInFlight: () => maxInFlight };
}

t.test('sync mode: closed loop, every request recorded with its fields, failures counted', async (t) => {
  const fake = await startFakeWorker(t, 5);
  const handlers = ['ok-a', 'ok-b', 'fail-c', 'drop-d', 'via-header'];
  const result = await runWorkload({ target: fake.url, handlers, mode: 'sync', runners: 3, durationMs: 300, seed: 7, drainMs: 2000 });
  const r = result.records;
  t.ok(r.length >= 5, `several requests sent (${r.length})`);
  t.equal(r.length, fake.received.length, 'every request the server saw is recorded');
  t.ok(fake.maxInFlight() <= 3, `closed loop never has more than 3 in flight (saw ${fake.maxInFlight()})`);
  for (const x of fake.received) {
    t.equal(x.method, 'POST');
    t.match(x.url, /^\/runLambda\/[a-z-]+$/);
    t.same(JSON.parse(x.body), { name: 'Alice' }, 'pipbench body');
  }
  for (const x of r) {
    t.ok(handlers.includes(x.handler), `known handler ${x.handler}`);
    t.ok(x.latencyMs > 0 && Number.isFinite(x.latencyMs), 'latency measured');
    t.ok(x.offsetMs >= 0 && x.offsetMs < 300 + 50, `sent within the duration (${x.offsetMs.toFixed(1)} ms)`);
    t.ok(Math.abs(x.startEpochMs - Date.now()) < 60_000, 'start is a wall-clock time');
    if (x.handler.startsWith('ok-')) { t.equal(x.status, 200); t.equal(x.worker, 'fake-1', 'worker from JSON body'); t.equal(x.error, ''); }
    if (x.handler === 'via-header') { t.equal(x.status, 200); t.equal(x.worker, 'proxy-picked', 'header wins over body'); }
    if (x.handler.startsWith('fail-')) { t.equal(x.status, 500); t.equal(x.error, 'HTTP 500: boom'); }
    if (x.handler.startsWith('drop-')) { t.equal(x.status, 0); t.not(x.error, '', 'network error described'); }
  }
  const failures = r.filter((x) => x.status !== 200).length;
  t.equal(result.summary.failures, failures, 'summary counts 500s and network errors as failures');
  t.equal(result.summary.requests, r.length);
  t.ok(result.elapsedMs >= 300, 'elapsed at least the duration');
  t.equal(result.unansweredAtDrain, 0);
});

t.test('async mode: arrivals follow the schedule regardless of answers', async (t) => {
  const fake = await startFakeWorker(t, 0);
  const result = await runWorkload({ target: fake.url, handlers: ['slow-a', 'slow-b'], mode: 'async', intervalMs: 20, durationMs: 400, drainMs: 5000 });
  t.equal(result.records.length, 20, 'one request every 20 ms for 400 ms');
  t.equal(fake.received.length, 20);
  t.ok(fake.maxInFlight() >= 2, `open loop overlaps requests that take longer than the interval (max ${fake.maxInFlight()})`);
  t.equal(result.summary.successes, 20);
  const offsets = result.records.map((x) => x.offsetMs);
  t.same([...offsets].sort((a, b) => a - b), offsets, 'records in send order');
  t.ok(offsets.every((o, i) => o >= i * 20), 'no request sent before its slot');
});

t.test('async mode: requests unanswered at the end of the drain are recorded as failures', async (t) => {
  const fake = await startFakeWorker(t, 1);
  const result = await runWorkload({ target: fake.url, handlers: ['hang-x', 'ok-y'], mode: 'async', intervalMs: 25, durationMs: 200, drainMs: 150, seed: 3 });
  t.equal(result.records.length, 8, 'every sent request is recorded');
  const hung = result.records.filter((x) => x.handler === 'hang-x');
  t.ok(hung.length > 0, 'the seed drew the hanging handler');
  t.equal(result.unansweredAtDrain, hung.length);
  for (const x of hung) {
    t.equal(x.status, 0);
    t.equal(x.error, DRAIN_TIMEOUT_ERROR);
  }
  t.equal(result.summary.failures, hung.length);
  t.ok(result.elapsedMs >= 200, 'elapsed covers the duration');
});

t.test('same seed gives the same handler sequence; another seed does not', async (t) => {
  const fake = await startFakeWorker(t, 0);
  const handlers = Array.from({ length: 50 }, (_, i) => `ok-${i}`);
  const run = (seed: number) => runWorkload({ target: fake.url, handlers, mode: 'async', intervalMs: 10, durationMs: 150, seed }).then((r) => r.records.map((x) => x.handler));
  const a = await run(42);
  const b = await run(42);
  const c = await run(43);
  t.equal(a.length, 15);
  t.same(a, b);
  t.not(a.join(), c.join());
});

t.test('rotation draws only from the current slice, which moves every period and wraps', async (t) => {
  const handlers = Array.from({ length: 10 }, (_, i) => `h${i}`);
  t.equal(rotationWindowSize({ fraction: 0.2 }, 10), 2);
  t.equal(rotationWindowSize({ count: 3 }, 10), 3);
  t.equal(rotationWindowSize({ count: 30 }, 10), 10, 'capped at the list');
  t.equal(rotationWindowSize({ fraction: 0.01 }, 10), 1, 'at least one');
  t.same(rotationWindow(handlers, 0, 3), ['h0', 'h1', 'h2']);
  t.same(rotationWindow(handlers, 1, 3), ['h3', 'h4', 'h5']);
  t.same(rotationWindow(handlers, 3, 3), ['h9', 'h0', 'h1'], 'wraps around the end');

  const pick = createHandlerPicker(handlers, { kind: 'rotate', periodMs: 1000, slice: { count: 3 } }, seededRandom(1));
  const drawn = (at: number) => new Set(Array.from({ length: 200 }, () => pick(at)));
  t.same([...drawn(0)].sort(), ['h0', 'h1', 'h2'], 'first period: whole first slice, nothing else');
  t.same([...drawn(1500)].sort(), ['h3', 'h4', 'h5']);
  t.same([...drawn(3999)].sort(), ['h0', 'h1', 'h9']);

  // Through the runner: request i is scheduled at i*10 ms and must come from window floor(i*10/100).
  const fake = await startFakeWorker(t, 0);
  const result = await runWorkload({
    target: fake.url, handlers, mode: 'async', intervalMs: 10, durationMs: 400, seed: 5,
    choice: { kind: 'rotate', periodMs: 100, slice: { fraction: 0.2 } },
  });
  t.equal(result.records.length, 40);
  result.records.forEach((x, i) => {
    const window = rotationWindow(handlers, Math.floor((i * 10) / 100), 2);
    if (!window.includes(x.handler)) t.fail(`request ${i} drew ${x.handler}, outside ${window.join(',')}`);
  });
  t.same(new Set(result.records.map((x) => x.handler)).size <= 8, true, 'four periods touch at most four slices');
});

t.test('rotation slice flag: fraction, percent or count', async (t) => {
  t.same(parseRotationSlice('0.2'), { fraction: 0.2 });
  t.same(parseRotationSlice('20%'), { fraction: 0.2 });
  t.same(parseRotationSlice('20'), { count: 20 });
  t.same(parseRotationSlice('1'), { count: 1 });
  t.same(parseRotationSlice('1.0'), { fraction: 1 });
  t.throws(() => parseRotationSlice('0'));
  t.throws(() => parseRotationSlice('2.5'));
  t.throws(() => parseRotationSlice('abc'));
});

function sampleRecords(): RequestRecord[] {
  const base = Date.parse('2024-03-01T10:00:00.000Z');
  const spec: [string, number, number][] = [
    ['hdl0_0', 200, 1234.9], ['hdl1_0', 200, 15.2], ['hdl0_0', 200, 800.4], ['hdl2_0', 500, 3.3],
    ['hdl1_0', 200, 25.8], ['hdl2_0', 0, 60000], ['hdl0_0', 503, 1.1], ['hdl3_0', 200, 40000.7],
  ];
  return spec.map(([handler, status, latencyMs], i) => ({
    startEpochMs: base + i * 200, offsetMs: i * 200, handler, status, latencyMs,
    worker: status === 200 ? `w${i % 2}` : '', error: status === 200 ? '' : 'x',
  }));
}

t.test('text log parses back to the same numbers', async (t) => {
  const records = sampleRecords();
  const log = parseTextLog(formatTextLog(records));
  t.equal(log.entries.length, records.length);
  const byCompletion = [...records].sort((a, b) => a.startEpochMs + a.latencyMs - (b.startEpochMs + b.latencyMs));
  log.entries.forEach((e, i) => {
    const r = byCompletion[i] as RequestRecord;
    t.equal(e.handler, r.handler);
    t.equal(e.status, r.status);
    t.equal(e.latencyMs, Math.trunc(r.latencyMs));
    t.equal(e.time, new Date(r.startEpochMs + r.latencyMs).toISOString(), 'completion time');
  });
  t.same([...log.handlers.keys()].sort(), ['hdl0_0', 'hdl1_0', 'hdl2_0', 'hdl3_0']);
  t.same(log.handlers.get('hdl0_0'), { avgLatencyMs: Math.trunc((1234.9 + 800.4) / 2), totalRequests: 2 });
  t.same(log.handlers.get('hdl1_0'), { avgLatencyMs: 20, totalRequests: 2 });
  t.same(log.handlers.get('hdl2_0'), { avgLatencyMs: undefined, totalRequests: 0 }, 'no successes: no average line');
  const s = summarize(records, 2000);
  t.equal(log.aggregate.avgLatencyMs, Math.trunc(s.meanMs));
  t.equal(log.aggregate.throughput, s.successes);
  t.equal(log.aggregate.failedRequests, s.failures);
});

t.test('text log: reads the original run_workload.py output and rejects garbage with a line number', async (t) => {
  const original = [
    '[2018-06-11T15:02:03.123456] handler: hdl5_0 status: 200 in: 5123 ms',
    '[2018-06-11T15:02:03.323456] handler: hdl7_0 status: 500 in: 12 ms',
    '',
    "Handler: 'hdl5_0'",
    '\tAvg latency: 5123',
    '\tTotal requests: 1',
    '',
    "Handler: 'hdl7_0'",
    '\tTotal requests: 0',
    '',
    'Aggregate: ',
    '\tAvg latency: 5123',
    '\tThroughput: 1',
    '\tFailed requests: 1',
  ].join('\n');
  const log = parseTextLog(original);
  t.equal(log.entries.length, 2);
  t.same(log.entries[0], { time: '2018-06-11T15:02:03.123456', handler: 'hdl5_0', status: 200, latencyMs: 5123 });
  t.same(log.aggregate, { avgLatencyMs: 5123, throughput: 1, failedRequests: 1 });

  const err = t.throws(() => parseTextLog('[x] handler: a status: 200 in: 1 ms\nnonsense here\n'));
  t.ok(err instanceof TextLogParseError);
  t.match(String((err as Error).message), /line 2/);
  t.throws(() => parseTextLog('[x] handler: a status: 200 in: 1 ms\n'), /Aggregate/, 'truncated log');
});

t.test('records as CSV and JSON lines', async (t) => {
  const records = sampleRecords();
  records.push({ ...records[0] as RequestRecord, error: 'says "no", twice' });
  const csv = formatRecordsCsv(records).trimEnd().split('\n');
  t.equal(csv[0], 'start,offset_ms,handler,status,latency_ms,worker,error');
  t.equal(csv.length, records.length + 1);
  t.equal(csv[1], '2024-03-01T10:00:00.000Z,0.000,hdl0_0,200,1234.900,w0,');
  t.match(csv[csv.length - 1], /,"says ""no"", twice"$/, 'quotes escaped');
  const jsonl = formatRecordsJsonl(records).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(jsonl.length, records.length);
  t.same(jsonl[1], { start: '2024-03-01T10:00:00.200Z', offset_ms: 200, handler: 'hdl1_0', status: 200, latency_ms: 15.2, worker: 'w1', error: '' });
});

t.test('pipbench run command: writes --out and --log, prints the summary', async (t) => {
  const fake = await startFakeWorker(t, 2);
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-run-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'handlers.txt'), 'ok-a\nok-b\nfail-c\n');
  await writeFile(join(dir, 'registry.json'), JSON.stringify([{ handle: 'ok-a', pkgs: [] }, { handle: 'ok-b', pkgs: [] }, { handle: 'fail-c', pkgs: [] }]));
  const io = captureIO();
  const code = await runMain([
    '--target', fake.url, '--handlers', join(dir, 'handlers.txt'), '--registry', join(dir, 'registry.json'),
    '--mode', 'async', '--rate', '50', '--duration', '0.3', '--out', join(dir, 'out.csv'), '--log', join(dir, 'run.log'), '--quiet',
  ], io);
  t.equal(code, 0, io.err());
  t.match(io.out(), /^requests\s+15$/m);
  const csv = (await readFile(join(dir, 'out.csv'), 'utf8')).trimEnd().split('\n');
  t.equal(csv.length, 16, 'header plus one line per request');
  const log = parseTextLog(await readFile(join(dir, 'run.log'), 'utf8'));
  t.equal(log.entries.length, 15);
  const failed = csv.slice(1).filter((l) => l.split(',')[3] !== '200').length;
  t.equal(log.aggregate.failedRequests, failed);
  t.match(io.out(), new RegExp(`^failures\\s+${failed}$`, 'm'));

  const jsonlIO = captureIO();
  t.equal(await runMain(['--target', fake.url, '--registry', join(dir, 'registry.json'), '--runners', '2', '--duration', '0.1', '--out', join(dir, 'out.jsonl')], jsonlIO), 0, jsonlIO.err());
  const lines = (await readFile(join(dir, 'out.jsonl'), 'utf8')).trimEnd().split('\n');
  t.ok(lines.length >= 2);
  t.ok(lines.every((l) => typeof (JSON.parse(l) as { latency_ms: unknown }).latency_ms === 'number'));
});

t.test('pipbench run command: bad input gives a message naming the problem and a non-zero exit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-run-bad-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const handlers = join(dir, 'handlers.txt');
  const registry = join(dir, 'registry.json');
  await writeFile(handlers, 'a\nnope\n');
  await writeFile(registry, '[{"handle":"a","pkgs":[]}]');
  const target = 'http://127.0.0.1:9';
  // Exit 2: bad flags; exit 1: a named file is missing, unreadable or malformed.
  const cases: [string[], RegExp, number?][] = [
    [['--bogus'], /bogus/],
    [['--handlers', handlers], /--target/],
    [['--target', 'not a url', '--handlers', handlers], /--target must be a URL/],
    [['--target', 'ftp://127.0.0.1/', '--handlers', handlers], /http/],
    [['--target', target], /--handlers FILE or --registry FILE/],
    [['--target', target, '--handlers', join(dir, 'missing.txt')], /missing\.txt: no such file/, 1],
    [['--target', target, '--handlers', handlers, '--registry', registry], /not in registry.*"nope"/, 1],
    [['--target', target, '--registry', join(dir, 'handlers.txt')], /not valid JSON/, 1],
    [['--target', target, '--handlers', handlers, '--mode', 'fast'], /--mode must be one of sync, async/],
    [['--target', target, '--handlers', handlers, '--mode', 'async'], /--wait MS or --rate N/],
    [['--target', target, '--handlers', handlers, '--mode', 'async', '--wait', '10', '--rate', '5'], /either --wait or --rate/],
    [['--target', target, '--handlers', handlers, '--mode', 'async', '--wait', '10', '--runners', '3'], /--runners applies to --mode sync/],
    [['--target', target, '--handlers', handlers, '--duration', 'soon'], /--duration must be a number/],
    [['--target', target, '--handlers', handlers, '--duration=-1'], /--duration must be greater than 0/],
    [['--target', target, '--handlers', handlers, '--runners', '1.5'], /--runners must be a whole number/],
    [['--target', target, '--handlers', handlers, '--choice', 'zipf'], /--choice must be one of uniform, rotate/],
    [['--target', target, '--handlers', handlers, '--rotation-slice', '0.5'], /need --choice rotate/],
    [['--target', target, '--handlers', handlers, '--out', join(dir, 'x.txt')], /\.csv or \.jsonl/],
    [['--target', target, '--handlers', handlers, '--out', join(dir, 'no', 'x.csv')], /does not exist/, 1],
  ];
  for (const [argv, message, expectedCode = 2] of cases) {
    const io = captureIO();
    const code = await runMain(argv, io);
    t.equal(code, expectedCode, `exit ${expectedCode} for ${argv.join(' ')}`);
    t.match(io.err(), message, `message for ${argv.join(' ')}`);
    t.notMatch(io.err(), /\n\s+at /, 'no stack trace');
  }
  const help = captureIO();
  t.equal(await runMain(['--help'], help), 0);
  t.match(help.out(), /--rotation-slice/);
});

t.test('pipbench run command: an unreachable target is a clear failure, not a hang', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'pipbench-run-down-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Grab a free port, then close it so nothing listens there.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await writeFile(join(dir, 'h.txt'), 'a\n');
  const io = captureIO();
  const code = await runMain(['--target', `http://127.0.0.1:${port}`, '--handlers', join(dir, 'h.txt'), '--mode', 'async', '--wait', '20', '--duration', '0.1'], io);
  t.equal(code, 1);
  t.match(io.err(), /no request succeeded.*ECONNREFUSED/);
});
