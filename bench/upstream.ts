// Trivial OpenLambda-style workers for the proxy benchmarks, all in this one process:
// `node dist/bench/upstream.js [--count N] [--delay-ms D]` (overhead: no delay; overload: 20 ms). Prints one JSON line {"upstreams": [url, ...]}
// once every server listens, and exits when its standard input closes (the benchmark
// died or let go of it) or on SIGTERM, so it cannot outlive the run.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const usage = 'usage: node dist/bench/upstream.js [--count N] [--delay-ms D]   (N trivial workers on 127.0.0.1, ephemeral ports, answering D ms after the request body)\n';

/** Answers POST /runLambda/:name (and /run/:name) with a small JSON body once the request body has been read. */
function handle(index: number, delayMs: number): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = req.url ?? '/';
    const invocation = url.startsWith('/runLambda/') || url.startsWith('/run/');
    req.resume();
    req.once('end', () => {
      if (!invocation || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"not found"}');
        return;
      }
      const body = `{"result":"ok","worker":${index}}`;
      const answer = (): void => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  };
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    });
  });
}

async function main(argv: string[]): Promise<number> {
  let count: number;
  let delayMs: number;
  try {
    const { values } = parseArgs({ args: argv, options: { count: { type: 'string', default: '2' }, 'delay-ms': { type: 'string', default: '0' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    count = Number(values.count);
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`--count must be a whole number from 1 to 64, got "${values.count}"`);
    delayMs = Number(values['delay-ms']);
    if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 60_000) throw new Error(`--delay-ms must be a whole number from 0 to 60000, got "${values['delay-ms']}"`);
  } catch (err) {
    process.stderr.write(`upstream: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  const servers: Server[] = [];
  const urls: string[] = [];
  for (let i = 0; i < count; i++) {
    // Keep-alive well past any benchmark pause, as a real worker behind a pooling proxy would.
    const server = createServer({ keepAliveTimeout: 120_000, headersTimeout: 121_000, requestTimeout: 0 }, handle(i, delayMs));
    servers.push(server);
    urls.push(await listen(server));
  }
  const stop = (): void => {
    for (const s of servers) s.close();
    for (const s of servers) s.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdin.once('end', stop);
  process.stdin.once('close', stop);
  process.stdin.resume();
  process.stdout.write(`${JSON.stringify({ upstreams: urls })}\n`);
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => { if (code >= 0) process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`upstream: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
