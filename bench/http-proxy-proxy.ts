// A reference point for the overhead benchmark, not a contender: http-proxy (the
// node-http-proxy library) on node:http, with one keep-alive http.Agent whose
// maxSockets (per origin) is warmroute's per-worker connection limit, targets
// given as parsed objects so that nothing is parsed per request, and
// round-robin over the workers. Bodies are piped both ways and hop-by-hop
// headers handled by the library. An upstream failure gets a 502. The issue's
// target for warmroute is 1.5x the best of this row and node-reply-from's.
// `node dist/bench/http-proxy-proxy.js --port N --upstreams URL,URL [--connections N]`

import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { runReferenceProxy } from './reference-proxy-args.js';

const usage = 'usage: node dist/bench/http-proxy-proxy.js --port N --upstreams URL[,URL...] [--connections N]\n';

runReferenceProxy('http-proxy-proxy', usage, ({ upstreams, connections }) => {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const proxy = httpProxy.createProxyServer({ agent });
  proxy.on('error', (_err, _req, res) => {
    // For web requests res is the client's ServerResponse; for websockets (unused here) a socket.
    if (!('writeHead' in res)) return void res.destroy();
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  const targets = upstreams.map((u) => ({ host: u.hostname, port: Number(u.port) }));
  let next = 0;
  return createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const target = targets[next]!;
    next = next + 1 === targets.length ? 0 : next + 1;
    proxy.web(req, res, { target });
  });
});
