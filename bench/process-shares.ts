// Does a request wait in one process while another process holds a free connection
// of the same worker? One worker of limit L, exactly L clients in a closed loop, so the
// proxy as a whole never has more requests than connections: with one process nothing
// ever waits; with several, every request that waited did so while another process's
// share of that worker had a free connection.
// Build and run: npx tsc -p tsconfig.json && node dist/bench/process-shares.js [--help]

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, runBenchmark, startChild, stopChild, waitForPort } from './children.js';
import { startUpstreams, waitForProcesses } from './overhead.js';

const usage = `usage: node dist/bench/process-shares.js [--duration SEC] [--limit L] [--delay-ms D] [--out DIR]

One upstream worker answering after D ms (default 20), warmroute round-robin with
connectionsPerWorker L (default 8), L clients in a closed loop for SEC seconds (default 10),
with processes 1 and 2, each with fresh connections per request and with keep-alive
connections. Counts the requests that waited in a queue (warmroute_decisions_total
outcome shared or wait) and their wait (warmroute_wait_seconds).
`;

interface Row {
  processes: number;
  connections: 'fresh' | 'keep-alive';
  requests: number;
  waited: number;
  waitedShare: number;
  meanWaitMs: number;
}

function post(url: string, agent: Agent | false): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': 2 } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => resolve(text));
    }).on('error', reject).end();
  });
}

const metric = (text: string, pattern: RegExp): number => [...text.matchAll(pattern)].reduce((n, m) => n + Number(m[1]), 0);

async function measure(proxyCli: string, upstream: string, dir: string, processes: number, connections: Row['connections'], limit: number, durationSec: number): Promise<Row> {
  const port = await freePort();
  const configPath = join(dir, `p${processes}-${connections}.json`);
  await writeFile(configPath, JSON.stringify({ host: '127.0.0.1', port, processes, balancer: 'round-robin', workers: [upstream], connectionsPerWorker: limit, logLevel: 'warn', healthIntervalMs: 0 }));
  const child = startChild(`warmroute (processes ${processes})`, process.execPath, [proxyCli, 'start', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForPort(child, port, 30_000);
    if (processes > 1) await waitForProcesses(base, processes, 30_000);
    const agent = connections === 'fresh' ? false : new Agent({ keepAlive: true, maxSockets: limit });
    const url = `${base}/runLambda/fn`;
    const end = Date.now() + durationSec * 1000;
    let requests = 0;
    await Promise.all(Array.from({ length: limit }, async () => {
      while (Date.now() < end) {
        await post(url, agent);
        requests++;
      }
    }));
    if (agent !== false) agent.destroy();
    const text = await get(`${base}/metrics`);
    const waited = metric(text, /^warmroute_decisions_total\{outcome="(?:shared|wait)"\} (\d+)$/gm);
    const waitSum = metric(text, /^warmroute_wait_seconds_sum (\S+)$/gm);
    return { processes, connections, requests, waited, waitedShare: waited / requests, meanWaitMs: waited === 0 ? 0 : (waitSum * 1000) / waited };
  } finally {
    await stopChild(child);
  }
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { duration: { type: 'string', default: '10' }, limit: { type: 'string', default: '8' }, 'delay-ms': { type: 'string', default: '20' }, out: { type: 'string', default: 'results/bench-overhead/processes' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const durationSec = Number(values.duration);
  const limit = Number(values.limit);
  const delayMs = Number(values['delay-ms']);
  if (!(durationSec > 0 && durationSec <= 600)) throw new Error(`--duration must be a number of seconds from 0 to 600, got "${values.duration}"`);
  if (!(Number.isInteger(limit) && limit >= 2 && limit <= 1000)) throw new Error(`--limit must be a whole number from 2 to 1000, got "${values.limit}"`);
  if (!(Number.isInteger(delayMs) && delayMs >= 0 && delayMs <= 10_000)) throw new Error(`--delay-ms must be a whole number from 0 to 10000, got "${values['delay-ms']}"`);
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), 'warmroute-process-shares-'));
  const upstream = await startUpstreams(join(here, 'upstream.js'), 1, undefined, delayMs);
  const rows: Row[] = [];
  try {
    for (const processes of [1, 2]) {
      for (const connections of ['fresh', 'keep-alive'] as const) {
        const row = await measure(join(here, '..', 'src', 'cli.js'), upstream.urls[0]!, dir, processes, connections, limit, durationSec);
        process.stdout.write(`processes ${processes}, ${connections}: ${row.requests} requests, ${row.waited} waited (${(row.waitedShare * 100).toFixed(1)}%), mean wait ${row.meanWaitMs.toFixed(1)} ms\n`);
        rows.push(row);
      }
    }
  } finally {
    await stopChild(upstream.child);
    await rm(dir, { recursive: true, force: true });
  }
  const command = `node dist/bench/process-shares.js${argv.map((a) => ` ${a}`).join('')}`;
  await mkdir(values.out, { recursive: true });
  const table = ['| processes | connections | requests | waited | share waited | mean wait of those |', '| ---: | --- | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.processes} | ${r.connections} | ${r.requests} | ${r.waited} | ${(r.waitedShare * 100).toFixed(1)}% | ${r.meanWaitMs.toFixed(1)} ms |`)].join('\n');
  await writeFile(join(values.out, 'shares.md'), `# Waiting in one process while another has a free connection

Command: \`${command}\`

One upstream worker answering after ${delayMs} ms, warmroute round-robin with connectionsPerWorker ${limit}
(with 2 processes: a share of ${Math.ceil(limit / 2)} and ${Math.floor(limit / 2)}), ${limit} clients in a closed loop for ${durationSec} s,
each request on a fresh connection (\`fresh\`) or on ${limit} keep-alive connections. The proxy never holds more
requests than the worker has connections, so every request that waited (warmroute_decisions_total
outcome shared or wait) waited while another process had a free connection of that worker.

${table}

Generated ${new Date().toISOString()}.
`);
  await writeFile(join(values.out, 'shares.json'), `${JSON.stringify({ command, delayMs, limit, durationSec, rows }, null, 2)}\n`);
  return 0;
}

runBenchmark('bench/process-shares', main);
