// Workers that take a fixed time per invocation, all in this one process, for
// the overload benchmark: `node dist/bench/delay-workers.js --count N --delay-ms D`.
// Prints one JSON line {"upstreams": [url, ...]} once every server listens, and
// exits when its standard input closes or on SIGTERM, so it cannot outlive the run.
// (bench/upstream.ts is the same without a delay.)

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const usage = 'usage: node dist/bench/delay-workers.js [--count N] [--delay-ms D]   (N workers answering after D ms, on 127.0.0.1)\n';

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
    const { values } = parseArgs({ args: argv, options: { count: { type: 'string', default: '2' }, 'delay-ms': { type: 'string', default: '20' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    count = Number(values.count);
    delayMs = Number(values['delay-ms']);
    if (!Number.isInteger(count) || count < 1 || count > 64) throw new Error(`--count must be a whole number from 1 to 64, got "${values.count}"`);
    if (!Number.isInteger(delayMs) || delayMs < 0 || delayMs > 60_000) throw new Error(`--delay-ms must be a whole number from 0 to 60000, got "${values['delay-ms']}"`);
  } catch (err) {
    process.stderr.write(`delay-workers: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  const servers: Server[] = [];
  const urls: string[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer({ keepAliveTimeout: 120_000, headersTimeout: 121_000, requestTimeout: 0 }, (req, res) => {
      req.resume();
      req.once('end', () => {
        setTimeout(() => {
          const body = `{"result":"ok","worker":${i}}`;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        }, delayMs);
      });
    });
    servers.push(server);
    urls.push(await listen(server));
  }
  process.stdout.write(`${JSON.stringify({ upstreams: urls })}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.once('close', resolve);
    process.stdin.once('end', resolve);
    process.stdin.resume();
    process.once('SIGTERM', resolve);
  });
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
