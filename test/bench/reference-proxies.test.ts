// The Node proxies bench:overhead holds warmroute against (bench/reply-from-proxy.ts,
// bench/http-proxy-proxy.ts): each must really forward, the body and the answer
// intact through it to a real worker, round-robin over two workers, and reject
// bad flags like the other reference proxies.
import { spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import t from 'tap';
import { freePort, startChild, stopChild, waitForPort } from '../../bench/children.js';

t.jobs = 2;

function listen(server: Server): Promise<string> {
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** A worker that answers with its index, the path and the body it read, and a header of its own. */
function echoWorker(index: number): Server {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answer = JSON.stringify({ worker: index, url: req.url, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json', 'x-worker': String(index), 'content-length': Buffer.byteLength(answer) }).end(answer);
    });
  });
}

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; text: string }

/** POSTs `body`, written in `parts` pieces with no content-length when parts > 1 (so chunked), and reads the answer. */
function post(url: string, body: string, parts: number): Promise<Answer> {
  return new Promise((done, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (parts === 1) headers['content-length'] = Buffer.byteLength(body);
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const size = Math.ceil(body.length / parts);
    for (let i = 0; i < parts; i++) req.write(body.slice(i * size, (i + 1) * size));
    req.end();
  });
}

const references: [name: string, script: string][] = [
  ['node-reply-from', 'dist/bench/reply-from-proxy.js'],
  ['node-http-proxy', 'dist/bench/http-proxy-proxy.js'],
];

for (const [name, script] of references) {
  t.test(`${name} forwards bodies and answers intact, round-robin over two workers`, async (t) => {
    const workers = [echoWorker(0), echoWorker(1)];
    const urls = await Promise.all(workers.map(listen));
    const port = await freePort();
    const child = startChild(name, process.execPath, [resolve(script), '--port', String(port), '--upstreams', urls.join(','), '--connections', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(async () => {
      await stopChild(child);
      for (const w of workers) {
        w.closeAllConnections();
        w.close();
      }
    });
    await waitForPort(child, port, 20_000);

    // A small JSON body with a length, then a 200 KiB one streamed in chunks of unknown total length.
    const bodies = ['{"input":{"n":1}}', JSON.stringify({ input: 'x'.repeat(200 * 1024) }), '{"input":{"n":3}}', '{"input":{"n":4}}'];
    const seen: number[] = [];
    for (const [i, body] of bodies.entries()) {
      const answer = await post(`http://127.0.0.1:${port}/runLambda/fn${i}`, body, i === 1 ? 16 : 1);
      t.equal(answer.status, 200, `request ${i}: 200`);
      t.equal(answer.headers['content-type'], 'application/json', `request ${i}: the worker's content-type`);
      const parsed = JSON.parse(answer.text) as { worker: number; url: string; body: string };
      t.equal(parsed.url, `/runLambda/fn${i}`, `request ${i}: path intact`);
      t.equal(parsed.body, body, `request ${i}: body of ${body.length} bytes intact`);
      t.equal(answer.headers['x-worker'], String(parsed.worker), `request ${i}: the answer's headers are the worker's`);
      seen.push(parsed.worker);
    }
    t.same(new Set(seen).size, 2, `both workers served: ${seen.join(',')}`);
    t.ok(seen.every((w, i) => i === 0 || w !== seen[i - 1]), `round-robin: consecutive requests go to different workers (${seen.join(',')})`);
  });

  t.test(`${name}: bad flags exit with status 2 and the usage`, async (t) => {
    const run = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const p = spawn(process.execPath, [resolve(script), '--port', '1', '--upstreams', 'https://example.invalid']);
      let stderr = '';
      p.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
      p.on('close', (code) => done({ code, stderr }));
    });
    t.equal(run.code, 2);
    t.match(run.stderr, /--upstreams takes http:\/\/host:port URLs/);
    t.match(run.stderr, /usage: node dist\/bench\//);
  });
}
