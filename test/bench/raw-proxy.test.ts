// The raw-socket reference proxy of bench:overhead (bench/raw-proxy.ts): it must
// answer what the benchmark sends exactly as a proxy would, pipelined requests in
// order, and refuse what it does not implement with a clear status, never a hang;
// and its row in bench:overhead, beside node-bare's, with the kernel share of the CPU.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitForPort, startChild, stopChild } from '../../bench/children.js';
import type { Row } from '../../bench/overhead-report.js';
import { noneAlive, runBenchScript } from '../fixtures/bench-run.js';

function listen(server: Server): Promise<string> {
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** Writes `data` on a fresh connection and resolves with everything read until the proxy closes it (or 3 s pass). */
function exchange(port: number, data: string): Promise<string> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => socket.destroy(), 3000);
    socket.on('data', (chunk: Buffer) => { text += chunk.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      done(text);
    });
    socket.write(data);
  });
}

t.test('forwards requests with their bodies, in order, and refuses what it does not implement', async (t) => {
  const seen: string[] = [];
  const worker = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => { body += c; });
    req.on('end', () => {
      seen.push(`${req.method ?? ''} ${req.url ?? ''} ${body} host=${req.headers.host ?? ''} connection=${req.headers.connection ?? ''}`);
      if (req.url === '/chunked') {
        // Written in two parts with no length: Node sends it chunked.
        res.write('no ');
        return void res.end('length');
      }
      const answer = JSON.stringify({ url: req.url, body });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
    });
  });
  const workerUrl = await listen(worker);
  const port = await freePort();
  const child = startChild('raw proxy', process.execPath, [resolve('dist/bench/raw-proxy.js'), '--port', String(port), '--upstreams', workerUrl, '--connections', '2']);
  t.teardown(async () => {
    await stopChild(child);
    worker.closeAllConnections();
    worker.close();
  });
  await waitForPort(child, port, 10_000);

  const two = await exchange(port, 'POST /runLambda/a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}POST /runLambda/b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc');
  const answers = two.split('HTTP/1.1 ').slice(1);
  t.equal(answers.length, 2, 'two pipelined requests, two answers, then the close the second asked for');
  t.match(answers[0], /^200 OK\r\n[\s\S]*content-length: 34\r\n[\s\S]*\r\n\r\n\{"url":"\/runLambda\/a","body":"\{\}"\}$/);
  t.match(answers[1], /^200 OK\r\n[\s\S]*connection: close\r\n\r\n\{"url":"\/runLambda\/b","body":"abc"\}$/);
  t.match(seen[0], /^POST \/runLambda\/a \{\} host=127\.0\.0\.1:\d+ connection=$/, 'the worker sees its own host and no hop-by-hop header');
  t.match(seen[1], /^POST \/runLambda\/b abc /);

  const refusals: [string, RegExp][] = [
    ['POST /runLambda/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', /^HTTP\/1\.1 400 [\s\S]*not a request this reference proxy takes/],
    ['GARBAGE\r\n\r\n', /^HTTP\/1\.1 400 [\s\S]*not a request this reference proxy takes/],
    ['POST /runLambda/a HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n', /^HTTP\/1\.1 413 /],
    [`POST /runLambda/a HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /],
    ['POST /chunked HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n', /^HTTP\/1\.1 502 [\s\S]*chunked responses are not supported/],
  ];
  for (const [request, answer] of refusals) t.match(await exchange(port, request), answer, request.slice(0, 40).replace(/\r\n/g, ' '));
});

t.test('bad flags: exit status 2 with a message', async (t) => {
  const run = await new Promise<{ code: number | null; stderr: string }>((done) => {
    const p = spawn(process.execPath, [resolve('dist/bench/raw-proxy.js'), '--port', '1', '--upstreams', 'https://example.invalid']);
    let stderr = '';
    p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    p.on('close', (code) => done({ code, stderr }));
  });
  t.equal(run.code, 2);
  t.match(run.stderr, /--upstreams takes http:\/\/host:port URLs/);
});

t.test('node-raw and node-bare rows are measured, with CPU split into user and kernel time', async (t) => {
  const out = t.testdir();
  const run = await runBenchScript(resolve('dist/bench/overhead.js'), ['--duration', '0.5', '--warmup', '0', '--connections', '4', '--targets', 'node-bare,node-raw', '--out', out]);
  t.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { rows: Row[] };
  t.same(summary.rows.map((r) => r.target), ['node-bare', 'node-raw']);
  for (const row of summary.rows) {
    t.equal(row.status, 'measured', `${row.target}: ${row.note ?? ''}`);
    t.ok(row.load!.responses > 0, `${row.target} answered ${row.load!.responses} requests`);
    t.equal(row.load!.non2xx + row.load!.errors, 0, `${row.target}: all 2xx`);
    t.ok(row.cpuMicrosPerRequest !== undefined && row.kernelMicrosPerRequest !== undefined, `${row.target}: CPU and kernel time read from /proc`);
    t.ok(row.kernelMicrosPerRequest! <= row.cpuMicrosPerRequest!, `${row.target}: kernel time is part of the CPU time`);
  }
  t.match(readFileSync(join(out, 'summary.md'), 'utf8'), /\| CPU µs\/req \| of which kernel \|/, 'the kernel column is in the table');
  t.same(await noneAlive(run.descendants), [], 'upstream and proxy processes are gone');
});
