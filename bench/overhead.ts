// Proxy overhead: requests/s, latency and memory of warmroute next to nginx and
// next to no proxy at all, over the same trivial upstream workers.
// Build and run: npx tsc -p tsconfig.json && node dist/bench/overhead.js [--help]
// Writes <out>/summary.md and <out>/summary.json and prints the table.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { cpus, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFlags, parseNumberFlag, shellQuote, UsageError } from '../pipbench/commands/support.js';
import { cpuTimes, freePort, peakRssMiB, readBenchSettings, startChild, stopChild, tempFolder, waitForLine, waitForPort, type Child } from './children.js';
import { runLoad } from './load.js';
import { findNginx, pinned, startNginx, type NginxBalance, type NginxInstall } from './nginx.js';
import { percentile } from '../pipbench/stats.js';
import { markdownTable, medianRows, nodeProxyComparison, roundRatioTable, roundRatiosVsNginx, roundRatiosVsNodeProxy, textTable, withRatios, type NodeProxyComparison, type Row, type TargetKind, type TargetSpec } from './overhead-report.js';

const REPRODUCE = 'npx tsc -p tsconfig.json && node dist/bench/overhead.js';
const DEFAULT_OUT = 'results/bench-overhead';
const FUNCTION_NAME = 'fn';
const REQUEST_BODY = '{"input":{"n":1}}';
const NGINX_BASELINE = 'nginx-rr';
const DIRECT_BASELINE = 'direct';

const TARGETS: readonly TargetSpec[] = [
  { name: 'direct', kind: 'direct', policy: '-' },
  { name: 'nginx-rr', kind: 'nginx', policy: 'round-robin' },
  { name: 'nginx-least-conn', kind: 'nginx', policy: 'least_conn' },
  { name: 'warmroute-rr', kind: 'warmroute', policy: 'round-robin' },
  { name: 'warmroute-least-loaded', kind: 'warmroute', policy: 'least-loaded' },
  { name: 'warmroute-pkg-aware', kind: 'warmroute', policy: 'pkg-aware' },
  { name: 'node-bare', kind: 'bare', policy: 'round-robin' },
  { name: 'node-raw', kind: 'raw', policy: 'round-robin' },
  { name: 'node-reply-from', kind: 'reply-from', policy: 'round-robin' },
  { name: 'node-http-proxy', kind: 'http-proxy', policy: 'round-robin' },
  { name: 'nginx-rr-2', kind: 'nginx', policy: 'round-robin', processes: 2 },
  { name: 'warmroute-rr-2', kind: 'warmroute', policy: 'round-robin', processes: 2 },
];

interface Settings {
  readonly durationSec: number;
  readonly warmupSec: number;
  readonly connections: number;
  readonly workers: number;
  readonly connectionsPerWorker: number;
  readonly targets: readonly TargetSpec[];
  readonly out: string;
  readonly nginx: string;
  /** Folder for warmroute CPU profiles (node --cpu-prof), or undefined for none. */
  readonly cpuProfDir: string | undefined;
  /** taskset CPU list for the proxies (warmroute, nginx, the node-* references); undefined: not pinned. */
  readonly proxyCpus: string | undefined;
  /** taskset CPU list for the load generator (this process) and the upstream workers; undefined: not pinned. */
  readonly loadCpus: string | undefined;
  /** node flags for warmroute's processes (V8 heap settings, say). */
  readonly proxyNodeArgs: readonly string[];
  /** Times every target is measured, each time in a fresh process; the order reverses every other round. */
  readonly rounds: number;
}

const usage = `usage: node dist/bench/overhead.js [flags]

Measures proxy overhead with autocannon: POST /runLambda/${FUNCTION_NAME} straight at one upstream
worker (direct), through nginx (round-robin, least_conn) and through warmroute
(round-robin, least-loaded, pkg-aware), all over the same trivial workers on 127.0.0.1;
node-bare is a reference: a minimal Node + undici streaming proxy (bench/bare-proxy.ts);
node-raw is another: a proxy on raw net sockets with a hand-written HTTP/1.1 parser, the
ceiling of Node on this path without node:http and undici (bench/raw-proxy.ts);
node-reply-from (fastify with @fastify/reply-from, bench/reply-from-proxy.ts) and
node-http-proxy (http-proxy with a keep-alive agent, bench/http-proxy-proxy.ts) are the
Node proxies in common use, each configured as its docs give for speed; the summary gives
each warmroute row's req/s against the better of these two.

  --duration SEC        measured seconds per target (default 10)
  --warmup SEC          unmeasured load before each measurement, 0 for none (default 2)
  --connections N       concurrent client connections (default 64)
  --rounds N            measure every target N times, each in a fresh process, the order
                        reversed every other round; each row is the target's run with the
                        median req/s, and the ratios of every round are listed (default 1)
  --workers N           upstream workers, all in one child process (default 2)
  --connections-per-worker N
                        warmroute's keep-alive connections per worker (default 32: with 2
                        workers, the same 64 as nginx's "keepalive 64")
  --targets LIST        comma-separated subset of: ${TARGETS.map((t) => t.name).join(', ')}
                        (default all)
  --out DIR             where summary.md and summary.json go (default ${DEFAULT_OUT})
  --nginx PATH          nginx binary (default: nginx on PATH or in /usr/sbin); when there is
                        none, the nginx rows are skipped with a note
  --cpu-prof DIR        run warmroute and the node-* references under node --cpu-prof, writing
                        <target>.cpuprofile to DIR
  --proxy-cpus LIST     pin the proxies to these CPUs (taskset -c LIST, e.g. 1 or 0,1)
  --load-cpus LIST      pin the load generator (this process) and the upstream workers (e.g. 0)
  --proxy-node-args ARGS
                        node flags for warmroute, space-separated (e.g. --max-semi-space-size=4);
                        with processes: 2 they reach every process
  The -2 targets run two proxy processes: warmroute with processes: 2, nginx with
  worker_processes 2.
  --help                this text
`;

function parseSettings(argv: string[]): Settings | 'help' {
  const values = parseFlags(argv, {
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
    'connections-per-worker': { type: 'string', default: '32' },
    targets: { type: 'string' },
    out: { type: 'string', default: DEFAULT_OUT },
    nginx: { type: 'string', default: 'nginx' },
    'cpu-prof': { type: 'string' },
    'proxy-cpus': { type: 'string' },
    'load-cpus': { type: 'string' },
    'proxy-node-args': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  let targets = TARGETS;
  if (values.targets !== undefined) {
    const names = values.targets.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = names.find((n) => !TARGETS.some((t) => t.name === n));
    if (unknown !== undefined) throw new UsageError(`unknown target "${unknown}" in --targets (known: ${TARGETS.map((t) => t.name).join(', ')})`);
    if (names.length === 0) throw new UsageError('--targets names no target');
    targets = TARGETS.filter((t) => names.includes(t.name));
  }
  return {
    durationSec: parseNumberFlag('duration', values.duration, { min: 0.5, max: 600 }) as number,
    warmupSec: parseNumberFlag('warmup', values.warmup, { min: 0, max: 60 }) as number,
    connections: parseNumberFlag('connections', values.connections, { min: 1, max: 4096, integer: true }) as number,
    workers: parseNumberFlag('workers', values.workers, { min: 1, max: 64, integer: true }) as number,
    connectionsPerWorker: parseNumberFlag('connections-per-worker', values['connections-per-worker'], { min: 1, max: 4096, integer: true }) as number,
    targets,
    out: values.out,
    nginx: values.nginx,
    cpuProfDir: values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']),
    proxyCpus: cpuList('proxy-cpus', values['proxy-cpus']),
    loadCpus: cpuList('load-cpus', values['load-cpus']),
    proxyNodeArgs: (values['proxy-node-args'] ?? '').split(' ').filter((a) => a !== ''),
    rounds: parseNumberFlag('rounds', values.rounds, { min: 1, max: 50, integer: true }) as number,
  };
}

/** A taskset CPU list: numbers and ranges, comma-separated. */
function cpuList(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw new UsageError(`--${name} must be a CPU list such as 0, 1 or 0,1, got "${text}"`);
  return text;
}

type ReferenceKind = Exclude<TargetKind, 'direct' | 'nginx' | 'warmroute'>;

/** The reference proxies: each a script in bench/ taking the flags of reference-proxy-args.ts. */
const REFERENCE_PROXIES: Readonly<Record<ReferenceKind, { readonly script: string; readonly label: string }>> = {
  bare: { script: 'bare-proxy.js', label: 'bare Node proxy' },
  raw: { script: 'raw-proxy.js', label: 'raw-socket Node proxy' },
  'reply-from': { script: 'reply-from-proxy.js', label: 'fastify + @fastify/reply-from proxy' },
  'http-proxy': { script: 'http-proxy-proxy.js', label: 'http-proxy proxy' },
};

interface BuiltScripts {
  readonly proxyCli: string;
  readonly upstream: string;
  readonly references: Readonly<Record<ReferenceKind, string>>;
}

/** The built scripts this benchmark starts, next to its own compiled file in dist/. */
function builtScripts(): BuiltScripts {
  const here = dirname(fileURLToPath(import.meta.url));
  const references = Object.fromEntries(Object.entries(REFERENCE_PROXIES).map(([kind, { script }]) => [kind, join(here, script)])) as Record<ReferenceKind, string>;
  const scripts = { proxyCli: join(here, '..', 'src', 'cli.js'), upstream: join(here, 'upstream.js'), references };
  for (const path of [scripts.proxyCli, scripts.upstream, ...Object.values(references)]) {
    if (!existsSync(path)) throw new UsageError(`${path} does not exist: build first with "npx tsc -p tsconfig.json" and run node dist/bench/overhead.js`);
  }
  return scripts;
}

/** One POST with a fresh connection, so that nothing lingers; the answer's status, or a description of the failure. */
function postOnce(url: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolvePost, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => resolvePost({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

async function checkAnswers(url: string): Promise<void> {
  const { status, text } = await postOnce(url, REQUEST_BODY);
  if (status !== 200) throw new Error(`POST ${url} answered ${status}: ${text.slice(0, 300)}`);
}

interface RunContext {
  readonly settings: Settings;
  readonly upstreams: readonly string[];
  readonly proxyCli: string;
  readonly references: BuiltScripts['references'];
  readonly nginx: NginxInstall | { missing: string };
  readonly tempDir: string;
}

interface StartedTarget {
  readonly url: string;
  readonly child?: Child;
}

/** Waits until the proxy's /status lists `count` serving processes. */
export async function waitForProcesses(url: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const listed = await new Promise<number>((resolveGet) => {
      const req = request(`${url}/status`, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => { text += c; });
        res.on('end', () => {
          try {
            resolveGet(((JSON.parse(text) as { processes?: unknown[] }).processes ?? []).length);
          } catch {
            resolveGet(0);
          }
        });
      });
      req.on('error', () => resolveGet(0));
      req.end();
    });
    if (listed >= count) return;
    if (Date.now() > deadline) throw new Error(`warmroute did not serve with ${count} processes within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** node flags that write the target's CPU profile, when --cpu-prof asks for them. */
function profiling(spec: TargetSpec, ctx: RunContext): string[] {
  return ctx.settings.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', ctx.settings.cpuProfDir, '--cpu-prof-name', `${spec.name}.cpuprofile`];
}

async function startWarmroute(spec: TargetSpec, ctx: RunContext): Promise<StartedTarget> {
  const processes = spec.processes ?? 1;
  const dir = await mkdtemp(join(ctx.tempDir, `${spec.name}-`));
  const port = await freePort();
  const config: Record<string, unknown> = {
    host: '127.0.0.1',
    port,
    balancer: spec.policy,
    workers: ctx.upstreams.map((url) => ({ url, weight: 1 })),
    connectionsPerWorker: ctx.settings.connectionsPerWorker,
    logLevel: 'warn',
    processes,
  };
  if (spec.policy === 'pkg-aware') {
    const registry = join(dir, 'registry.json');
    await writeFile(registry, JSON.stringify([{ handle: FUNCTION_NAME, pkgs: ['numpy', 'six'] }]));
    config.registry = registry;
  }
  const configPath = join(dir, 'config.json');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const [command, args] = pinned(ctx.settings.proxyCpus, process.execPath, [...ctx.settings.proxyNodeArgs, ...profiling(spec, ctx), ctx.proxyCli, 'start', '-c', configPath]);
  const child = startChild(`warmroute (${spec.policy})`, command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const url = `http://127.0.0.1:${port}`;
  try {
    // On a loaded machine three Node processes may take seconds to start.
    await waitForPort(child, port, 30_000);
    // The port opens with the first process; measure once every one serves.
    if (processes > 1) await waitForProcesses(url, processes, 30_000);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return { url, child };
}

async function startTarget(spec: TargetSpec, ctx: RunContext): Promise<StartedTarget | { skip: string }> {
  switch (spec.kind) {
    case 'direct':
      return { url: ctx.upstreams[0]! };
    case 'nginx': {
      if ('missing' in ctx.nginx) return { skip: `${ctx.nginx.missing}; install it (Debian: apt-get install nginx) to measure this row` };
      const prefix = await mkdtemp(join(ctx.tempDir, `${spec.name}-`));
      const running = await startNginx(ctx.nginx, prefix, ctx.upstreams, spec.policy as NginxBalance, { workerProcesses: spec.processes ?? 1, cpus: ctx.settings.proxyCpus });
      return { url: running.url, child: running.child };
    }
    case 'warmroute':
      return startWarmroute(spec, ctx);
    case 'bare':
    case 'raw':
    case 'reply-from':
    case 'http-proxy': {
      const port = await freePort();
      const args = [...profiling(spec, ctx), ctx.references[spec.kind], '--port', String(port), '--upstreams', ctx.upstreams.join(','), '--connections', String(ctx.settings.connectionsPerWorker)];
      const [command, pinnedArgs] = pinned(ctx.settings.proxyCpus, process.execPath, args);
      const child = startChild(REFERENCE_PROXIES[spec.kind].label, command, pinnedArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        await waitForPort(child, port, 10_000);
      } catch (err) {
        await stopChild(child);
        throw err;
      }
      return { url: `http://127.0.0.1:${port}`, child };
    }
  }
}

async function measureTarget(spec: TargetSpec, ctx: RunContext, log: (line: string) => void): Promise<Row> {
  const base = { target: spec.name, kind: spec.kind, policy: spec.policy };
  let started: StartedTarget | { skip: string } | undefined;
  try {
    started = await startTarget(spec, ctx);
    if ('skip' in started) return { ...base, status: 'skipped', note: started.skip };
    const url = `${started.url}/runLambda/${FUNCTION_NAME}`;
    await checkAnswers(url);
    const { connections, durationSec, warmupSec } = ctx.settings;
    if (warmupSec > 0) await runLoad({ url, connections, durationSec: warmupSec, body: REQUEST_BODY });
    const pid = started.child?.pid;
    const cpuBefore = pid === undefined ? undefined : cpuTimes(pid);
    const load = await runLoad({ url, connections, durationSec, body: REQUEST_BODY });
    const cpuAfter = pid === undefined ? undefined : cpuTimes(pid);
    const peakRss = pid === undefined ? undefined : peakRssMiB(pid);
    const measuredCpu = cpuBefore !== undefined && cpuAfter !== undefined && load.responses > 0;
    const perRequest = (seconds: number): number => (seconds * 1e6) / load.responses;
    const cpuMicros = measuredCpu ? perRequest(cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) : undefined;
    const kernelMicros = measuredCpu ? perRequest(cpuAfter.system - cpuBefore.system) : undefined;
    log(`  ${spec.name.padEnd(24)} ${load.requestsPerSec.toFixed(0).padStart(7)} req/s  p99 ${load.latencyP99Ms.toFixed(2)} ms`);
    return { ...base, status: 'measured', load, peakRssMiB: peakRss, cpuMicrosPerRequest: cpuMicros, kernelMicrosPerRequest: kernelMicros };
  } catch (err) {
    const note = (err as Error).message;
    log(`  ${spec.name.padEnd(24)} failed: ${note}`);
    return { ...base, status: 'failed', note };
  } finally {
    if (started !== undefined && 'child' in started && started.child !== undefined) await stopChild(started.child);
  }
}

export async function startUpstreams(script: string, count: number, cpus: string | undefined, delayMs = 0): Promise<{ child: Child; urls: string[] }> {
  const [command, args] = pinned(cpus, process.execPath, [script, '--count', String(count), '--delay-ms', String(delayMs)]);
  const child = startChild('upstream workers', command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  try {
    const urls = await waitForLine(child, (line) => {
      try {
        const parsed = JSON.parse(line) as { upstreams?: unknown };
        return Array.isArray(parsed.upstreams) ? parsed.upstreams.map(String) : undefined;
      } catch {
        return undefined;
      }
    }, 10_000);
    return { child, urls };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

/** An installed package's version, for the record of what was measured. */
function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    return (require(`${name}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

interface Machine {
  readonly cores: number;
  readonly cpu: string;
  readonly kernel: string;
  readonly node: string;
  readonly nginx: string;
  readonly autocannon: string;
  /** Versions of the libraries the node-reply-from and node-http-proxy rows run. */
  readonly references: string;
}

/** Two processes against one, and warmroute's two against nginx's two, where both rows were measured; with rounds, paired within each round. */
export function processLines(rounds: readonly (readonly Row[])[], settings: Settings): string {
  const ratioIn = (rows: readonly Row[], a: string, b: string): number | undefined => {
    const rate = (name: string): number | undefined => rows.find((r) => r.target === name && r.status === 'measured')?.load?.requestsPerSec;
    const x = rate(a);
    const y = rate(b);
    return x === undefined || y === undefined || y === 0 ? undefined : x / y;
  };
  const ratio = (a: string, b: string): string | undefined => {
    const values = rounds.map((rows) => ratioIn(rows, a, b)).filter((v): v is number => v !== undefined).sort((x, y) => x - y);
    if (values.length === 0) return undefined;
    const median = `${percentile(values, 50).toFixed(2)}x`;
    return values.length === 1 ? median : `${median} (median of ${values.length} rounds; ${values.map((v) => `${v.toFixed(2)}x`).join(', ')})`;
  };
  const lines = [
    ['warmroute-rr-2 / warmroute-rr (scaling of warmroute from 1 to 2 processes)', ratio('warmroute-rr-2', 'warmroute-rr')],
    ['nginx-rr-2 / nginx-rr (the same for nginx)', ratio('nginx-rr-2', 'nginx-rr')],
    ['warmroute-rr-2 / nginx-rr-2 (two processes each)', ratio('warmroute-rr-2', 'nginx-rr-2')],
  ].filter((l): l is [string, string] => l[1] !== undefined);
  if (lines.length === 0) return '';
  const pinning = settings.proxyCpus === undefined && settings.loadCpus === undefined
    ? 'Nothing was pinned: the proxy processes, the load generator and the upstream workers share every core.'
    : `Pinned with taskset: the proxies to CPU(s) ${settings.proxyCpus ?? '(any)'}, the load generator (autocannon, in this process) and the upstream workers to CPU(s) ${settings.loadCpus ?? '(any)'}.`;
  return `\nProcesses (req/s ratios, both sides from the same round). ${pinning}\n\n${lines.map(([what, r]) => `- ${what}: ${r}`).join('\n')}\n`;
}

/** Each warmroute row's req/s against the faster of node-reply-from and node-http-proxy, where they were measured. */
function nodeProxyLines(comparison: NodeProxyComparison | undefined): string {
  if (comparison === undefined) return '';
  const processes = (target: string): number => TARGETS.find((t) => t.name === target)?.processes ?? 1;
  const lines = comparison.rows.map((r) => `- ${r.target} / ${comparison.reference}: ${r.ratio.toFixed(2)}x${processes(r.target) > 1 ? ` (${processes(r.target)} warmroute processes against the reference's one)` : ''}`);
  return `\nAgainst the best Node proxy (req/s ratios of this run; the faster of node-reply-from and node-http-proxy here was ${comparison.reference}, ${comparison.referenceRequestsPerSec.toFixed(0)} req/s; the target is 1.5x):\n\n${lines.join('\n')}\n`;
}

/** With --rounds above 1: the ratios of every round, paired within the round. */
function roundLines(rounds: readonly (readonly Row[])[]): string {
  if (rounds.length < 2) return '';
  const vsNginx = roundRatiosVsNginx(rounds, NGINX_BASELINE, DIRECT_BASELINE);
  const vsNode = roundRatiosVsNodeProxy(rounds).filter((r) => r.median !== null);
  return `\nRounds: ${rounds.length}, each target in a fresh process every round, the order reversed every other round. Each row above is the target's run with the median req/s (for an even number of rounds, the lower of the middle two). Ratios below are paired: both sides measured in the same round.

req/s against nginx-rr of the same round:

${roundRatioTable(vsNginx, rounds.length)}
${vsNode.length === 0 ? '' : `\nreq/s against the faster of node-reply-from and node-http-proxy of the same round:\n\n${roundRatioTable(vsNode, rounds.length)}\n`}`;
}

function markdown(rows: ReturnType<typeof withRatios>, settings: Settings, machine: Machine, command: string, rounds: readonly (readonly Row[])[]): string {
  const skippedOrFailed = rows.filter((r) => r.status !== 'measured');
  const anyErrors = rows.some((r) => r.load !== undefined && (r.load.errors > 0 || r.load.non2xx > 0));
  return `# Proxy overhead: warmroute vs nginx vs direct

Command: \`${command}\` (the npm script \`bench:overhead\` builds first and runs the same)

${markdownTable(rows)}
${nodeProxyLines(nodeProxyComparison(rows))}${processLines(rounds, settings)}${roundLines(rounds)}
Each target got ${settings.warmupSec > 0 ? `${settings.warmupSec} s of unmeasured warm-up, then ` : ''}${settings.durationSec} s of
closed-loop load from autocannon: ${settings.connections} keep-alive connections, one request
outstanding on each, \`POST /runLambda/${FUNCTION_NAME}\` with a ${Buffer.byteLength(REQUEST_BODY)}-byte JSON body. The upstream
is ${settings.workers} trivial worker servers (node:http, keep-alive, a ${'{"result":"ok","worker":0}'.length}-byte JSON answer) in one
child process; \`direct\` hits the first of them with no proxy in between, the floor.
Latencies are over 2xx responses, each recorded exactly (autocannon's own histogram
rounds down to whole milliseconds). Ratios compare with nginx round-robin and with
direct measured in this same run: req/s above 1x and p99 below 1x are better.
Peak RSS is VmHWM from /proc (nginx: master plus worker). CPU µs/req is the proxy's
user+system CPU time during the measured run divided by the responses; "of which kernel"
is its system time alone (socket reads and writes, the loopback TCP stack), the part no
proxy code in user space can remove.
${anyErrors ? '\n**Some rows had errors or non-2xx answers; see the errors and non-2xx columns.**\n' : ''}${skippedOrFailed.length > 0 ? `\nNot measured:\n${skippedOrFailed.map((r) => `- ${r.target} (${r.status}): ${r.note ?? ''}`).join('\n')}\n` : ''}
Setup:
- nginx: \`worker_processes 1\` (2 in nginx-rr-2, beside warmroute-rr-2 with \`processes: 2\`), because warmroute is one Node process with one
  JavaScript thread, so both proxies get the same core budget; on this
  ${machine.cores}-core machine the load generator and the upstream process need the other
  core(s). Upstream block of the same workers with \`keepalive 64\` (round-robin, and
  \`least_conn\` for nginx-least-conn), \`proxy_http_version 1.1\`,
  \`proxy_set_header Connection ""\`, \`access_log off\`, keepalive_requests raised
  on both sides so that nobody reconnects every 1,000 requests; run with
  \`nginx -p DIR -c FILE -g 'daemon off;'\` from a temp prefix.
- warmroute: one process (\`node ${settings.proxyNodeArgs.map((a) => `${a} `).join('')}dist/src/cli.js start -c FILE\`; three in warmroute-rr-2: a primary and two serving), logLevel warn,
  connectionsPerWorker ${settings.connectionsPerWorker} (x ${settings.workers} workers = ${settings.connectionsPerWorker * settings.workers} upstream connections, as nginx's keepalive 64),
  default queue settings; pkg-aware with a registry of the one function.
- node-bare: a reference, not a contender: the least a Node proxy on undici does
  per request (round-robin Pools of ${settings.connectionsPerWorker} connections, both bodies streamed,
  hop-by-hop headers dropped; no queue, cancellation, metrics or error mapping;
  bench/bare-proxy.ts). warmroute minus node-bare is warmroute's own cost; node-bare
  minus nginx is what Node and undici cost.
- node-raw: another reference, not a contender: Node without node:http and undici (a
  \`net\` server, a hand-written HTTP/1.1 head parser, keep-alive pools of ${settings.connectionsPerWorker} \`net\` sockets per
  worker, bodies forwarded by Content-Length; request bodies read whole, chunked bodies
  refused; bench/raw-proxy.ts). node-bare minus node-raw is what node:http and undici
  cost; node-raw minus nginx is what is left to Node and V8 themselves.
- node-reply-from and node-http-proxy: references, not contenders: the Node proxies
  in common use, each set up as its docs give for speed, round-robin over the same
  workers, bodies streamed, hop-by-hop headers left to the library. node-reply-from:
  fastify with @fastify/reply-from, \`base\` listing the workers (an undici BalancedPool
  of ${settings.connectionsPerWorker} keep-alive connections per worker), request logging off, bodies passed through
  unparsed (bench/reply-from-proxy.ts). node-http-proxy: http-proxy on node:http with
  one keep-alive http.Agent, maxSockets ${settings.connectionsPerWorker} per worker (bench/http-proxy-proxy.ts). The issue's
  target is warmroute at 1.5x the faster of the two, measured in the same run.
- Everything shares ${machine.cores} cores: autocannon (this process), the proxy and the upstream
  process compete for them, so absolute req/s are lower than on separate machines, and
  a proxy that needs more CPU also leaves less to the load generator. CPU µs/req does
  not depend on that sharing and is the cleanest measure of a proxy's per-request cost.
  Rows run one after another; expect a few percent of noise between runs.

Machine: ${machine.cores} cores (${machine.cpu}), Linux ${machine.kernel}, Node ${machine.node}, nginx ${machine.nginx}, autocannon ${machine.autocannon}; ${machine.references}.
Generated ${new Date().toISOString()}.
`;
}

export async function main(argv: string[]): Promise<number> {
  const read = readBenchSettings('bench/overhead', usage, () => {
    const parsed = parseSettings(argv);
    return parsed === 'help' ? parsed : { settings: parsed, scripts: builtScripts() };
  });
  if (typeof read === 'number') return read;
  const { settings, scripts } = read;
  const log = (line: string): void => { process.stdout.write(`${line}\n`); };
  const tempDir = tempFolder('bench-overhead');
  // process.exit skips the finally below; its exit hook kills the children and removes the folder.
  const onSignal = (): void => process.exit(130);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const nginx = settings.targets.some((t) => t.kind === 'nginx') ? findNginx(settings.nginx) : { missing: 'not requested' };
  let upstream: Child | undefined;
  try {
    if (settings.loadCpus !== undefined) {
      // autocannon runs in this process: pin every thread of it.
      const pin = spawnSync('taskset', ['-a', '-p', '-c', settings.loadCpus, String(process.pid)], { encoding: 'utf8' });
      if (pin.status !== 0) throw new Error(`taskset could not pin the load generator to ${settings.loadCpus}: ${pin.stderr || pin.error?.message || ''}`);
    }
    const started = await startUpstreams(scripts.upstream, settings.workers, settings.loadCpus);
    upstream = started.child;
    const ctx: RunContext = { settings, upstreams: started.urls, proxyCli: scripts.proxyCli, references: scripts.references, nginx, tempDir };
    if (settings.cpuProfDir !== undefined) await mkdir(settings.cpuProfDir, { recursive: true });
    log(`proxy overhead: ${settings.connections} connections, ${settings.durationSec} s per target after ${settings.warmupSec} s warm-up, ${settings.workers} upstream workers`);
    if ('missing' in nginx && settings.targets.some((t) => t.kind === 'nginx')) log(`  note: ${nginx.missing}; the nginx rows are skipped`);
    const rounds: Row[][] = [];
    for (let round = 0; round < settings.rounds; round += 1) {
      if (settings.rounds > 1) log(`round ${round + 1} of ${settings.rounds}`);
      const order = round % 2 === 0 ? settings.targets : [...settings.targets].reverse();
      const measured: Row[] = [];
      for (const spec of order) measured.push(await measureTarget(spec, ctx, log));
      rounds.push(settings.targets.map((spec) => measured.find((r) => r.target === spec.name)!));
    }
    const rows = medianRows(rounds);

    const withRatio = withRatios(rows, NGINX_BASELINE, DIRECT_BASELINE);
    const machine: Machine = {
      cores: cpus().length,
      cpu: cpus()[0]?.model.trim() ?? 'unknown',
      kernel: release(),
      node: process.version,
      nginx: 'missing' in nginx ? 'not installed' : nginx.version,
      autocannon: packageVersion('autocannon'),
      references: ['fastify', '@fastify/reply-from', 'http-proxy', 'undici'].map((p) => `${p} ${packageVersion(p)}`).join(', '),
    };
    const command = `node dist/bench/overhead.js${argv.map((a) => ` ${shellQuote(a)}`).join('')}`;
    await mkdir(settings.out, { recursive: true });
    await writeFile(join(settings.out, 'summary.md'), markdown(withRatio, settings, machine, command, rounds));
    await writeFile(join(settings.out, 'summary.json'), `${JSON.stringify({
      command,
      generatedAt: new Date().toISOString(),
      machine,
      settings: {
        durationSec: settings.durationSec,
        warmupSec: settings.warmupSec,
        connections: settings.connections,
        workers: settings.workers,
        connectionsPerWorker: settings.connectionsPerWorker,
        proxyCpus: settings.proxyCpus ?? null,
        rounds: settings.rounds,
        proxyNodeArgs: settings.proxyNodeArgs,
        loadCpus: settings.loadCpus ?? null,
        requestBody: REQUEST_BODY,
        path: `/runLambda/${FUNCTION_NAME}`,
      },
      baselines: { nginx: NGINX_BASELINE, direct: DIRECT_BASELINE },
      vsBestNodeProxy: nodeProxyComparison(withRatio) ?? null,
      rows: withRatio,
      rounds: settings.rounds > 1 ? {
        count: settings.rounds,
        vsNginx: roundRatiosVsNginx(rounds, NGINX_BASELINE, DIRECT_BASELINE),
        vsBestNodeProxy: roundRatiosVsNodeProxy(rounds),
        runs: rounds,
      } : undefined,
    }, null, 2)}\n`);
    log('');
    log(textTable(withRatio));
    const vsNodeProxy = nodeProxyLines(nodeProxyComparison(withRatio));
    if (vsNodeProxy !== '') log(vsNodeProxy.trimEnd());
    log(`\nwrote ${join(settings.out, 'summary.md')} and summary.json`);
    return rounds.some((r) => r.some((x) => x.status === 'failed')) ? 1 : 0;
  } catch (err) {
    process.stderr.write(`bench/overhead: ${(err as Error).message}\n`);
    return 1;
  } finally {
    if (upstream !== undefined) await stopChild(upstream);
    await rm(tempDir, { recursive: true, force: true });
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// Run when executed directly, not when imported (tests import the pieces).
if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`bench/overhead: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
