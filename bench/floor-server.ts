// The floor of the overload benchmark: a bare node:http server that answers every
// request at once with the proxy's own 503 queue_full answer, listening with the
// same backlog. What a Node server on this machine can do at best under the same
// burst; the proxy's 503 figures are read against it.
// `node dist/bench/floor-server.js --backlog N`: prints {"port": P} once it listens,
// exits when its standard input closes or on SIGTERM.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ args: process.argv.slice(2), options: { backlog: { type: 'string', default: '65535' } } });
const backlog = Number(values.backlog);
const body = JSON.stringify({ error: { code: 'queue_full', message: 'every worker connection is busy and 1000 requests are already waiting' } });
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  req.resume();
  req.once('end', () => {
    res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'retry-after': '60' });
    res.end(body);
  });
});
server.listen({ port: 0, host: '127.0.0.1', backlog }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
const stop = (): void => {
  server.closeAllConnections();
  server.close();
  process.exit(0);
};
process.stdin.once('close', stop);
process.stdin.once('end', stop);
process.stdin.resume();
process.once('SIGTERM', stop);
