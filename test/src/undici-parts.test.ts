// The proxy loads only the undici parts it uses (src/undici-parts.ts): they must be undici's
// own classes, request must answer as undici's does, and starting the proxy must not load
// undici's index (its fetch, WebSocket, caches and mocks cost RSS in every process).
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';
import * as undici from 'undici';
import { Agent, Client, request } from '../../src/undici-parts.js';

t.test('the parts are the index\'s own classes', async (t) => {
  t.equal(Client, undici.Client);
  t.equal(Agent, undici.Agent);
});

t.test('request through an Agent answers with status, headers and body', async (t) => {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ path: req.url, method: req.method }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const agent = new Agent({ connections: 1 });
  t.teardown(async () => {
    await agent.close();
    server.close();
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const res = await request(agent, { origin, path: '/status?x=1', method: 'GET' });
  t.equal(res.statusCode, 200);
  t.match(String(res.headers['content-type']), /json/);
  t.same(await res.body.json(), { path: '/status?x=1', method: 'GET' });
});

t.test('starting the proxy does not load undici\'s index', async (t) => {
  const app = pathToFileURL(resolve('dist/src/app.js')).href;
  const script = `
    await import(${JSON.stringify(app)});
    const { createRequire } = await import('node:module');
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('undici'));
    process.stdout.write(JSON.stringify({ index: loaded.some((k) => /undici[\\\\/]index\\.js$/.test(k)), client: loaded.some((k) => k.endsWith('client.js')) }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
  t.same(JSON.parse(stdout), { index: false, client: true });
});
