// A reference point for the overhead benchmark: the least a Node proxy on undici
// can do per request (round-robin over keep-alive Pools, request and response
// streamed, hop-by-hop headers dropped) with none of warmroute's admission queue,
// cancellation, metrics or error mapping. The gap between this row and
// warmroute's is warmroute's own cost; the gap to nginx is Node's.
// `node dist/bench/bare-proxy.js --port N --upstreams URL,URL [--connections N]`

import { createServer } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { runReferenceProxy } from './reference-proxy-args.js';

const usage = 'usage: node dist/bench/bare-proxy.js --port N --upstreams URL[,URL...] [--connections N]\n';
const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

runReferenceProxy('bare-proxy', usage, ({ upstreams, connections }) => {
  const pools = upstreams.map((u) => new Pool(u.origin, { connections }));
  let next = 0;
  return createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const pool = pools[next]!;
    next = next + 1 === pools.length ? 0 : next + 1;
    const headers: string[] = [];
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!hopByHop.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
    pool.stream({ path: req.url ?? '/', method: req.method as Dispatcher.HttpMethod, headers, body: req }, ({ statusCode, headers: answer }) => {
      const out: Record<string, string | string[]> = {};
      for (const name in answer) {
        const value = answer[name];
        if (!hopByHop.has(name) && value !== undefined) out[name] = value;
      }
      res.writeHead(statusCode, out);
      return res;
    }).catch(() => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
  });
});
