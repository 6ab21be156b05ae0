// https workers on real TLS sockets: a node:https worker with a self-signed
// certificate (test/fixtures/tls/), trusted through workerCaFile or not; the
// invocation paths (fast path and node:http), the status polls over https,
// the certificate of another name, a failed handshake retried on another
// worker as a connect failure is, bad bundles, and a reload that changes the CAs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import t, { type Test } from 'tap';
import type { RunningProxy } from '../../src/app.js';
import { parseWorkers } from '../../src/config.js';
import type { Worker } from '../../src/workers.js';
import { cliPath, startCli, until } from '../fixtures/end-to-end.js';
import { invoke, startTestProxy, startTestWorker } from '../fixtures/servers.js';
import { tempDir } from '../fixtures/temp-dir.js';

const tlsDir = resolve('test/fixtures/tls');
/** Self-signed for localhost and 127.0.0.1. */
const workerCert = join(tlsDir, 'worker-cert.pem');
/** Self-signed for other.example only. */
const otherCert = join(tlsDir, 'other-cert.pem');
const PACKAGES = ['numpy', 'requests'];

interface HttpsWorker {
  readonly url: string;
  /** Invocations that reached it. */
  count: number;
  statusPolls: number;
  close(): Promise<void>;
}

/** A worker over https: answers invocations with what it received, and its status with its packages. */
async function startHttpsWorker(t: Test, name: 'worker' | 'other' = 'worker'): Promise<HttpsWorker> {
  const state = { count: 0, statusPolls: 0 };
  const server: Server = createServer({ key: readFileSync(join(tlsDir, `${name}-key.pem`)), cert: readFileSync(join(tlsDir, `${name}-cert.pem`)) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/status') {
        state.statusPolls++;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ packages: PACKAGES, inFlight: 0 }));
        return;
      }
      state.count++;
      const body = JSON.stringify({ path: req.url, body: Buffer.concat(chunks).toString(), chunked: req.headers['transfer-encoding'] === 'chunked', secure: true });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const worker = Object.assign(state, {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((done) => {
      server.closeAllConnections();
      server.close(() => done());
    }),
  });
  t.teardown(() => worker.close());
  return worker;
}

async function proxyFor(t: Test, config: Record<string, unknown>): Promise<RunningProxy> {
  const proxy = await startTestProxy({ balancer: 'round-robin', connectRetries: 0, ...config });
  t.teardown(() => proxy.close(true));
  return proxy;
}

/**
 * One request on a connection of its own (node:http, no agent): POST with a
 * chunked body of `parts` (no length: node:http's path, streamed to the
 * worker), or GET without `parts`.
 */
function fresh(base: string, path: string, parts?: readonly string[]): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((done, fail) => {
    const headers = parts === undefined ? {} : { 'transfer-encoding': 'chunked', 'content-type': 'application/json' };
    const req = httpRequest(`${base}${path}`, { method: parts === undefined ? 'GET' : 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => done({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on('error', fail);
    for (const part of parts ?? []) req.write(part);
    req.end();
  });
}

const only = (proxy: RunningProxy): Worker => proxy.table.workers[0]!;

const errorsOf = (w: Worker): Record<string, number> => Object.fromEntries(w.errors);

async function retriesOf(proxy: RunningProxy): Promise<number> {
  const metrics = await invoke(proxy.url, '/metrics', { method: 'GET', body: '' });
  const m = /^warmroute_retries_total (\d+)$/m.exec(metrics.text);
  if (m === null) throw new Error('no warmroute_retries_total in /metrics');
  return Number(m[1]);
}

t.test('with the worker\'s CA configured: invocations on both paths reach the https worker, and status polls over https mark it healthy and read its packages', async (t) => {
  const worker = await startHttpsWorker(t);
  const proxy = await proxyFor(t, { workerCaFile: workerCert, healthIntervalMs: 60_000, healthRise: 1 });
  // Added while running: held out of routing until its first status poll (over https) passes.
  proxy.addWorkers(parseWorkers([worker.url]));
  const w = only(proxy);
  await until(() => w.health.state === 'up' && w.reportsPackages, 'the first status poll over https');
  t.ok(worker.statusPolls >= 1, 'the status poll reached the worker');
  t.same([...w.packages].sort(), PACKAGES, 'the packages it reports are read');

  const fast = await invoke(proxy.url, '/runLambda/f', { body: '{"n":1}' });
  t.equal(fast.status, 200, fast.text);
  t.same(fast.json, { path: '/runLambda/f', body: '{"n":1}', chunked: false, secure: true }, 'the worker\'s own answer, over TLS');
  t.equal(fast.headers['x-warmroute-worker'], w.id);

  // Over 64 KiB and chunked: node:http's path, and the body streams to the worker (chunked) as it arrives.
  const parts = ['{"n":"', 'a'.repeat(40_000), 'b'.repeat(40_000), '"}'];
  const chunked = await fresh(proxy.url, '/runLambda/g', parts);
  t.equal(chunked.status, 200);
  t.same(chunked.json, { path: '/runLambda/g', body: parts.join(''), chunked: true, secure: true }, 'a chunked body streamed through to the worker');
  t.equal(worker.count, 2);
});

t.test('without the CA: an invocation gets 502 worker_failed naming the verification error (counted as tls), and the status poll marks the worker down', async (t) => {
  const worker = await startHttpsWorker(t);
  const proxy = await proxyFor(t, { workers: [worker.url], healthIntervalMs: 0, healthFall: 1 });
  const reply = await invoke(proxy.url, '/runLambda/f');
  t.equal(reply.status, 502, reply.text);
  t.match(reply.json, { error: { code: 'worker_failed', message: /DEPTH_ZERO_SELF_SIGNED_CERT/ } });
  t.equal(worker.count, 0, 'nothing reached the worker');
  const w = only(proxy);
  t.same(errorsOf(w), { tls: 1 });
  t.equal(w.routable, false, 'ejected, as after a connect failure');
  t.match(w.health, { state: 'ejected', why: /DEPTH_ZERO_SELF_SIGNED_CERT/ }, '/status gives the TLS error as the ejection\'s reason');
  await proxy.health.pollNow(w);
  t.equal(w.checkUp, false, 'down after a failed poll (healthFall 1)');
  t.match(w.health, { state: 'down', why: /DEPTH_ZERO_SELF_SIGNED_CERT/ });
  t.equal(worker.statusPolls, 0, 'the poll never got past the handshake');
});

t.test('a trusted certificate for another name fails verification on both paths', async (t) => {
  const worker = await startHttpsWorker(t, 'other');
  const proxy = await proxyFor(t, { workers: [worker.url], workerCaFile: otherCert, healthIntervalMs: 0, healthFall: 1 });
  const reply = await invoke(proxy.url, '/runLambda/f');
  t.equal(reply.status, 502, reply.text);
  t.match(reply.json, { error: { code: 'worker_failed', message: /ERR_TLS_CERT_ALTNAME_INVALID/ } });
  const w = only(proxy);
  t.same(errorsOf(w), { tls: 1 });
  await proxy.health.pollNow(w);
  t.match(w.health, { state: 'down', why: /ERR_TLS_CERT_ALTNAME_INVALID/ });
  t.equal(worker.count + worker.statusPolls, 0, 'nothing reached the worker');
});

t.test('a certificate that fails verification is retried on another worker as a connect failure is, on both paths: every request answered 200 by the good worker', async (t) => {
  // Self-signed for other.example and not in the bundle: DEPTH_ZERO_SELF_SIGNED_CERT.
  const bad = await startHttpsWorker(t, 'other');
  const good = await startHttpsWorker(t);
  // The policy picks the bad worker first whenever it is routable; its ejection lasts 1 ms, so each request below meets it.
  const proxy = await proxyFor(t, {
    workers: [{ url: bad.url, id: 'bad', weight: 100 }, { url: good.url, id: 'good', weight: 1 }],
    workerCaFile: workerCert, connectRetries: 3, healthIntervalMs: 0, failTimeoutMs: 1, ejectionMaxMs: 1,
  });
  const badWorker = proxy.table.get('bad')!;
  const statuses: number[] = [];
  const servedBy: unknown[] = [];
  for (let i = 0; i < 3; i++) {
    await until(() => badWorker.routable, 'the bad worker back from its ejection');
    const fast = await invoke(proxy.url, `/runLambda/f${i}`, { body: `{"i":${i}}` });
    t.same(fast.json, { path: `/runLambda/f${i}`, body: `{"i":${i}}`, chunked: false, secure: true }, fast.text);
    statuses.push(fast.status);
    servedBy.push(fast.headers['x-warmroute-worker']);
  }
  // Over 64 KiB and chunked: node:http's path, the body streamed; untouched by the failed attempt, it goes whole to the good worker.
  const parts = ['{"n":"', 'a'.repeat(40_000), 'b'.repeat(40_000), '"}'];
  await until(() => badWorker.routable, 'the bad worker back from its ejection');
  const chunked = await fresh(proxy.url, '/runLambda/g', parts);
  statuses.push(chunked.status);
  t.same(chunked.json, { path: '/runLambda/g', body: parts.join(''), chunked: true, secure: true }, 'the streamed body reached the good worker whole');
  t.same(statuses, [200, 200, 200, 200], 'every request answered 200');
  t.same(servedBy, ['good', 'good', 'good'], 'by the good worker');
  t.equal(good.count, 4);
  t.equal(bad.count, 0, 'nothing reached the bad worker');
  t.same(errorsOf(badWorker), { tls: 4 }, 'each request met the bad worker first: one tls failure each');
  t.same(errorsOf(proxy.table.get('good')!), {});
  t.equal(await retriesOf(proxy), 4, 'each retried once');
});

t.test('the only worker\'s certificate fails verification, retries allowed: as for a refused connect, the retry finds no routable worker: 503 no_healthy_worker with Retry-After', async (t) => {
  const worker = await startHttpsWorker(t);
  const proxy = await proxyFor(t, { workers: [worker.url], healthIntervalMs: 0, connectRetries: 3 });
  const reply = await invoke(proxy.url, '/runLambda/f');
  t.equal(reply.status, 503, reply.text);
  t.match(reply.json, { error: { code: 'no_healthy_worker' } });
  t.ok(reply.headers['retry-after'], 'Retry-After');
  t.equal(worker.count, 0, 'nothing reached the worker');
  t.same(errorsOf(only(proxy)), { tls: 1 });
  t.match(only(proxy).health, { state: 'ejected', why: /DEPTH_ZERO_SELF_SIGNED_CERT/ });
  t.equal(await retriesOf(proxy), 1, 'retried, with nowhere to go');
});

t.test('any other failed handshake (a worker that does not speak TLS) is retried the same way; connectRetries 0 turns retries off', async (t) => {
  const plain = await startTestWorker();
  t.teardown(() => plain.close());
  const good = await startHttpsWorker(t);
  const workers = [{ url: `https://127.0.0.1:${plain.port}`, id: 'plain', weight: 100 }, { url: good.url, id: 'good', weight: 1 }];
  const proxy = await proxyFor(t, { workers, workerCaFile: workerCert, connectRetries: 3, healthIntervalMs: 0 });
  const reply = await invoke(proxy.url, '/runLambda/f');
  t.equal(reply.status, 200, reply.text);
  t.equal(reply.headers['x-warmroute-worker'], 'good');
  t.same(errorsOf(proxy.table.get('plain')!), { tls: 1 });
  t.equal(plain.count, 0, 'no invocation reached the plain worker');
  t.equal(await retriesOf(proxy), 1);

  const noRetries = await proxyFor(t, { workers, workerCaFile: workerCert, connectRetries: 0, healthIntervalMs: 0 });
  const refused = await invoke(noRetries.url, '/runLambda/f');
  t.equal(refused.status, 502, refused.text);
  t.match(refused.json, { error: { code: 'worker_failed', message: /worker plain failed/ } });
  t.same(errorsOf(noRetries.table.get('plain')!), { tls: 1 });
  t.equal(good.count, 1, 'the good worker was not tried');
});

t.test('a bundle that is missing, unreadable as PEM or holds a broken certificate stops start-up (exit 2) with one line naming the key and the path', async (t) => {
  const dir = await tempDir(t, 'warmroute-worker-ca-');
  const missing = join(dir, 'missing.pem');
  const notPem = join(dir, 'not-pem.pem');
  const broken = join(dir, 'broken.pem');
  await writeFile(notPem, 'just some text\n');
  await writeFile(broken, `${readFileSync(workerCert, 'utf8')}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`);
  await t.rejects(startTestProxy({ workerCaFile: missing }), { name: 'ConfigError', message: `workerCaFile: cannot read ${missing} (ENOENT)` });
  await t.rejects(startTestProxy({ workerCaFile: notPem }), { message: new RegExp(`^workerCaFile: ${notPem} holds no PEM certificate`) });
  await t.rejects(startTestProxy({ workerCaFile: broken }), { message: new RegExp(`^workerCaFile: ${broken}: certificate 2 of 2 is not a valid certificate`) });
  for (const [file, expected] of [[missing, /cannot read .*ENOENT/], [notPem, /holds no PEM certificate/]] as const) {
    const config = join(dir, 'config.json');
    await writeFile(config, JSON.stringify({ workerCaFile: file, port: 0, logLevel: 'silent' }));
    for (const command of ['check', 'start']) {
      const run = spawnSync(process.execPath, [cliPath, command, '-c', config], { encoding: 'utf8', timeout: 20_000 });
      t.equal(run.status, 2, `${command}: exit 2 for ${file}`);
      t.match(run.stderr, new RegExp(`^warmroute: workerCaFile: .*${file.replace(/[.]/g, '\\.')}`), `${command}: names the key and the path`);
      t.match(run.stderr, expected);
      t.equal(run.stderr.trim().split('\n').length, 1, `${command}: one line`);
    }
  }
});

t.test('reload: new CAs apply to new connections, no request starts on one verified with the old CAs; a bad bundle is refused and the running CAs stay', async (t) => {
  const worker = await startHttpsWorker(t);
  const dir = await tempDir(t, 'warmroute-worker-ca-reload-');
  const configPath = join(dir, 'config.json');
  const write = (extra: Record<string, unknown>): Promise<void> =>
    writeFile(configPath, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'silent', balancer: 'round-robin', connectRetries: 0, healthIntervalMs: 0, healthFall: 1, healthRise: 1, workers: [worker.url], ...extra }));
  await write({});
  const proxy = await startTestProxy(JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>, { configPath });
  t.teardown(() => proxy.close(true));
  const w = only(proxy);
  await proxy.health.pollNow(w);
  t.equal(w.checkUp, false, 'not trusted before the reload');

  await write({ workerCaFile: workerCert });
  await proxy.reload();
  await proxy.health.pollNow(w);
  t.match(w.health, { state: 'up' }, 'the status poll after the reload connects with the new CAs');
  t.equal((await invoke(proxy.url, '/runLambda/f')).status, 200, 'and so does an invocation');
  t.equal(proxy.upstreams.busy, 0);

  // A bundle that does not trust this worker: the idle connection verified with the old CAs is not used again.
  await write({ workerCaFile: otherCert });
  await proxy.reload();
  const after = await invoke(proxy.url, '/runLambda/f');
  t.equal(after.status, 502, 'a new connection, which the new CAs refuse');
  t.match(after.json, { error: { message: /DEPTH_ZERO_SELF_SIGNED_CERT/ } });
  await proxy.health.pollNow(w);
  t.match(w.health, { state: 'down', why: /DEPTH_ZERO_SELF_SIGNED_CERT/ }, 'the status polls too');

  await write({ workerCaFile: join(dir, 'missing.pem') });
  await t.rejects(proxy.reload(), { name: 'ConfigError', message: /^workerCaFile: cannot read .*missing\.pem \(ENOENT\)$/ });
  t.equal(proxy.config().workerCaFile, otherCert, 'the running config stays');
});

t.test('processes: 2: the serving processes verify with the bundle the primary read, the primary\'s polls too', async (t) => {
  const worker = await startHttpsWorker(t);
  const dir = await tempDir(t, 'warmroute-worker-ca-processes-');
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify({ host: '127.0.0.1', port: 0, processes: 2, balancer: 'round-robin', healthIntervalMs: 200, workers: [{ url: worker.url, id: 'tls' }], workerCaFile: workerCert }));
  const cli = await startCli(t, configPath, 30_000);
  // Each on a connection of its own, so that the kernel hands them to either process.
  const replies = await Promise.all(Array.from({ length: 12 }, (_, i) => fresh(cli.url, `/runLambda/f${i}`, [`{"i":${i}}`])));
  t.same(replies.map((r) => r.status), Array(12).fill(200), 'every invocation answered by the worker');
  const fastPath = await Promise.all(Array.from({ length: 4 }, (_, i) => invoke(cli.url, `/runLambda/g${i}`)));
  t.same(fastPath.map((r) => r.status), Array(4).fill(200), 'on the fast path too');
  t.equal(worker.count, 16);
  await until(async () => {
    const status = (await fresh(cli.url, '/status')).json as { workers: { id: string; health: string; packagesReported: boolean }[] };
    return status.workers.some((w) => w.id === 'tls' && w.health === 'up' && w.packagesReported);
  }, 'the primary\'s status poll over https read the packages', 10_000);
  cli.child.kill('SIGTERM');
  t.equal(await cli.exited, 0, 'clean stop');
});
