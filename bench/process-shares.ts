// Does a request wait in one process while another process holds a free connection
// of the same worker? One worker of limit L and at most L requests in the proxy at
// once (L clients in a closed loop), so the proxy as a whole never has more requests
// than the worker has connections: with one process nothing ever waits; with
// several, every request that waited did so while another process had a free
// connection of that worker. Each request's wait comes from the access log.
// Build and run: npx tsc -p tsconfig.json && node dist/bench/process-shares.js [--help]

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, parseNumberFlag, shellQuote, UsageError } from '../pipbench/commands/support.js';
import { percentile, sortedAscending } from '../pipbench/stats.js';
import { freePort, runBenchmark, startChild, stopChild, tempFolder, waitForPort, type Child } from './children.js';
import { startUpstreams, waitForProcesses } from './overhead.js';

const usage = `usage: node dist/bench/process-shares.js [--duration SEC] [--limit L] [--delay-ms D] [--processes N] [--out DIR]

One upstream worker answering after D ms (default 20), warmroute round-robin with
connectionsPerWorker L (default 8), L clients in a closed loop for SEC seconds (default 10),
with processes 1 and N (default 2), in three client layouts:
  fresh      every request on a connection of its own (the kernel spreads them over the processes)
  keep-alive one keep-alive connection per client (the primary hands them out in turn)
  one-sided  one keep-alive connection per client, all L accepted by the same process
             (more connections are opened and left idle so that L land on one process)
Counts the requests that waited in a queue (warmroute_decisions_total outcome shared or
wait), their share, and the p50/p99 of every request's wait and of the waits of those
that waited (access log waitMs). Writes DIR/shares.md and DIR/shares.json
(default DIR: results/process-shares).
`;

const LAYOUTS = ['fresh', 'keep-alive', 'one-sided'] as const;
type Layout = (typeof LAYOUTS)[number];

interface Row {
  processes: number;
  layout: Layout;
  requests: number;
  perSecond: number;
  waited: number;
  waitedShare: number;
  /** Every request's wait (ms). */
  waitP50: number;
  waitP99: number;
  /** The waits of the requests that waited (ms). */
  waitedP50: number;
  waitedP99: number;
  /** Worker connections the processes received from the primary and handed back to it (0 where the proxy has no such metric). */
  received: number;
  handedBack: number;
}

/** One POST on `agent` (false: a fresh connection); resolves once the answer ended with 200. */
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

interface AccessLine {
  fn: string;
  process: number;
  waitMs: number;
}

/** Collects the proxy's access-log lines from its stdout (and keeps the pipe drained). */
function accessLines(child: Child): AccessLine[] {
  const lines: AccessLine[] = [];
  let buffered = '';
  child.process.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.includes('"access"')) continue;
      try {
        const parsed = JSON.parse(line) as { msg?: string; fn?: string; process?: number; waitMs?: number };
        if (parsed.msg === 'access') lines.push({ fn: parsed.fn ?? '', process: parsed.process ?? 0, waitMs: parsed.waitMs ?? 0 });
      } catch {
        // Not a log line.
      }
    }
  });
  return lines;
}

/**
 * L keep-alive agents whose connections one process accepted: agents are opened one
 * at a time, each sends a probe naming itself, and the access log says which process
 * served it; agents of other processes stay open (idle) so the primary's turn moves on.
 */
async function oneSidedAgents(url: string, limit: number, lines: AccessLine[]): Promise<{ busy: Agent[]; idle: Agent[] }> {
  const byProcess = new Map<number, Agent[]>();
  const all: Agent[] = [];
  for (let i = 0; i < limit * 8; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    all.push(agent);
    const fn = `probe-${i}`;
    await post(`${url}/runLambda/${fn}`, agent);
    const deadline = Date.now() + 5000;
    let line: AccessLine | undefined;
    while ((line = lines.find((l) => l.fn === fn)) === undefined) {
      if (Date.now() > deadline) throw new Error(`no access-log line for ${fn}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    const list = byProcess.get(line.process) ?? [];
    list.push(agent);
    byProcess.set(line.process, list);
    if (list.length === limit) return { busy: list, idle: all.filter((a) => !list.includes(a)) };
  }
  throw new Error(`no process accepted ${limit} of ${limit * 8} connections`);
}

async function measure(proxyCli: string, upstream: string, dir: string, processes: number, layout: Layout, limit: number, durationSec: number): Promise<Row> {
  const port = await freePort();
  const configPath = join(dir, `p${processes}-${layout}.json`);
  await writeFile(configPath, JSON.stringify({ host: '127.0.0.1', port, processes, balancer: 'round-robin', workers: [upstream], connectionsPerWorker: limit, logLevel: 'info', accessLog: true, healthIntervalMs: 0 }));
  const child = startChild(`warmroute (processes ${processes})`, process.execPath, [proxyCli, 'start', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = accessLines(child);
  const base = `http://127.0.0.1:${port}`;
  const opened: Agent[] = [];
  try {
    await waitForPort(child, port, 30_000);
    if (processes > 1) await waitForProcesses(base, processes, 30_000);
    let agents: (Agent | false)[];
    if (layout === 'fresh') {
      agents = Array.from({ length: limit }, () => false);
    } else if (layout === 'keep-alive') {
      agents = Array.from({ length: limit }, () => new Agent({ keepAlive: true, maxSockets: 1 }));
    } else {
      const { busy, idle } = await oneSidedAgents(base, limit, lines);
      opened.push(...idle);
      agents = busy;
    }
    for (const a of agents) if (a !== false) opened.push(a);
    const metricsBefore = await get(`${base}/metrics`);
    const waitedBefore = metric(metricsBefore, /^warmroute_decisions_total\{outcome="(?:shared|wait)"\} (\d+)$/gm);
    const skip = lines.length;
    const url = `${base}/runLambda/fn`;
    const started = Date.now();
    const end = started + durationSec * 1000;
    let requests = 0;
    await Promise.all(agents.map(async (agent) => {
      while (Date.now() < end) {
        await post(url, agent);
        requests++;
      }
    }));
    const elapsed = (Date.now() - started) / 1000;
    const text = await get(`${base}/metrics`);
    const waited = metric(text, /^warmroute_decisions_total\{outcome="(?:shared|wait)"\} (\d+)$/gm) - waitedBefore;
    const deadline = Date.now() + 10_000;
    while (lines.filter((l, i) => i >= skip && l.fn === 'fn').length < requests && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const waits = sortedAscending(lines.slice(skip).filter((l) => l.fn === 'fn').map((l) => l.waitMs));
    // The requests that waited have the longest waits (the others' are microseconds of bookkeeping).
    const theirs = waits.slice(Math.max(0, waits.length - waited));
    return {
      processes,
      layout,
      requests,
      perSecond: requests / elapsed,
      waited,
      waitedShare: waited / requests,
      waitP50: percentile(waits, 50),
      waitP99: percentile(waits, 99),
      waitedP50: theirs.length === 0 ? 0 : percentile(theirs, 50),
      waitedP99: theirs.length === 0 ? 0 : percentile(theirs, 99),
      received: metric(text, /^warmroute_connection_slots_received_total (\d+)$/gm),
      handedBack: metric(text, /^warmroute_connection_slots_handed_back_total (\d+)$/gm),
    };
  } finally {
    for (const a of opened) a.destroy();
    await stopChild(child);
  }
}

const ms = (v: number): string => `${v.toFixed(2)} ms`;

async function main(argv: string[]): Promise<number> {
  const values = parseFlags(argv, {
    duration: { type: 'string', default: '10' },
    limit: { type: 'string', default: '8' },
    'delay-ms': { type: 'string', default: '20' },
    processes: { type: 'string', default: '2' },
    out: { type: 'string', default: 'results/process-shares' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const durationSec = parseNumberFlag('duration', values.duration, { exclusiveMin: 0, max: 600 })!;
  const limit = parseNumberFlag('limit', values.limit, { integer: true, min: 2, max: 1000 })!;
  const delayMs = parseNumberFlag('delay-ms', values['delay-ms'], { integer: true, min: 0, max: 10_000 })!;
  const count = parseNumberFlag('processes', values.processes, { integer: true, min: 2, max: 16 })!;
  if (limit < count) throw new UsageError(`--limit must be at least --processes (${count}), got ${limit}`);
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = tempFolder('process-shares');
  const upstream = await startUpstreams(join(here, 'upstream.js'), 1, undefined, delayMs);
  const rows: Row[] = [];
  try {
    for (const layout of LAYOUTS) {
      for (const processes of [1, count]) {
        const row = await measure(join(here, '..', 'src', 'cli.js'), upstream.urls[0]!, dir, processes, layout, limit, durationSec);
        process.stdout.write(`processes ${processes}, ${layout}: ${row.requests} requests, ${row.waited} waited (${(row.waitedShare * 100).toFixed(1)}%), wait p50 ${ms(row.waitP50)} p99 ${ms(row.waitP99)}; of those that waited p50 ${ms(row.waitedP50)} p99 ${ms(row.waitedP99)}\n`);
        rows.push(row);
      }
    }
  } finally {
    await stopChild(upstream.child);
    await rm(dir, { recursive: true, force: true });
  }
  const command = `node dist/bench/process-shares.js${argv.map((a) => ` ${shellQuote(a)}`).join('')}`;
  await mkdir(values.out, { recursive: true });
  const table = ['| layout | processes | requests | req/s | waited | share waited | wait p50 | wait p99 | p50 of those that waited | p99 of those | connections received / handed back |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) => `| ${r.layout} | ${r.processes} | ${r.requests} | ${r.perSecond.toFixed(0)} | ${r.waited} | ${(r.waitedShare * 100).toFixed(1)}% | ${ms(r.waitP50)} | ${ms(r.waitP99)} | ${ms(r.waitedP50)} | ${ms(r.waitedP99)} | ${r.received} / ${r.handedBack} |`)].join('\n');
  await writeFile(join(values.out, 'shares.md'), `# Waiting in one process while another has a free connection

Command: \`${command}\`

One upstream worker answering after ${delayMs} ms, warmroute round-robin with connectionsPerWorker ${limit},
${limit} clients in a closed loop for ${durationSec} s: each request on a fresh connection (\`fresh\`), on one
keep-alive connection per client (\`keep-alive\`), or on ${limit} keep-alive connections that one process
accepted (\`one-sided\`; further connections, opened to get there, stay idle). The proxy never holds
more requests than the worker has connections, so with ${count} processes every request that waited
(warmroute_decisions_total outcome shared or wait) waited while another process had a free connection
of that worker. Waits are the access log's \`waitMs\`; "those that waited" are the longest \`waited\` of them.

${table}

Generated ${new Date().toISOString()}.
`);
  await writeFile(join(values.out, 'shares.json'), `${JSON.stringify({ command, delayMs, limit, durationSec, processes: count, rows }, null, 2)}\n`);
  return 0;
}

runBenchmark('bench/process-shares', main);
