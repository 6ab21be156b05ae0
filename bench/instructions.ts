// Instructions per request of a proxy, counted by valgrind's callgrind: unlike
// req/s and CPU time, the count barely moves when other programs load the
// machine, so it compares two versions of the request path on a shared host.
// The proxy runs under callgrind, gets a warm-up batch, then two measured
// batches (N and 2N requests, counters zeroed before each and dumped after);
// instructions per request = (I(2N) - I(N)) / (A(2N) - A(N)), A the answers, which cancels what a batch
// costs whatever its size (timers, the dump itself). User-space instructions
// only: the kernel's share of a socket write is not counted.
// `node dist/bench/instructions.js --target warmroute-rr|node-bare|node-raw [--requests N]`

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { parseFlags, parseNumberFlag, UsageError } from '../pipbench/commands/support.js';
import { freePort, readBenchSettings, runBenchmark, startChild, stopChild, tempFolder, waitForPort, type Child } from './children.js';
import { startUpstreams } from './overhead.js';

const TARGETS = ['warmroute-rr', 'node-bare', 'node-raw'] as const;
type Target = (typeof TARGETS)[number];
const REQUEST_BODY = '{"input":{"n":1}}';

const usage = `usage: node dist/bench/instructions.js --target ${TARGETS.join('|')} [flags]

Counts the proxy's user-space instructions per request under valgrind --tool=callgrind
(POST /runLambda/fn, 17-byte body, 2 trivial upstream workers, as bench:overhead).

  --target NAME         ${TARGETS.join(', ')}
  --requests N          requests in the first measured batch; the second has 2N (default 5000)
  --warmup N            unmeasured requests first, so that V8 has compiled the path (default 5000)
  --connections N       concurrent client connections (default 64)
  --connections-per-worker N
                        upstream connections per worker (default 32)
  --out FILE            also write the result as JSON to FILE
  --help                this text
`;

interface Settings {
  readonly target: Target;
  readonly requests: number;
  readonly warmup: number;
  readonly connections: number;
  readonly connectionsPerWorker: number;
  readonly out: string | undefined;
}

function parseSettings(argv: string[]): Settings | 'help' {
  const values = parseFlags(argv, {
    target: { type: 'string' },
    requests: { type: 'string', default: '5000' },
    warmup: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '64' },
    'connections-per-worker': { type: 'string', default: '32' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  const target = TARGETS.find((t) => t === values.target);
  if (target === undefined) throw new UsageError(`--target must be one of ${TARGETS.join(', ')}, got "${values.target ?? ''}"`);
  return {
    target,
    requests: parseNumberFlag('requests', values.requests, { min: 100, max: 1_000_000, integer: true }) as number,
    warmup: parseNumberFlag('warmup', values.warmup, { min: 0, max: 1_000_000, integer: true }) as number,
    connections: parseNumberFlag('connections', values.connections, { min: 1, max: 4096, integer: true }) as number,
    connectionsPerWorker: parseNumberFlag('connections-per-worker', values['connections-per-worker'], { min: 1, max: 4096, integer: true }) as number,
    out: values.out,
  };
}

/**
 * Sends `amount` requests and returns how many were answered 2xx. A request that
 * failed does not cost what an answered one does, so measured batches are
 * divided by answers, and a batch with more than 1% failures is refused.
 */
async function batch(url: string, amount: number, connections: number, strict: boolean): Promise<number> {
  const result = await autocannon({ url, method: 'POST', headers: { 'content-type': 'application/json' }, body: REQUEST_BODY, connections, amount, timeout: 300 });
  const answered = result['2xx'];
  if (strict && amount - answered > amount / 100) throw new Error(`${result.errors} errors and ${result.non2xx} non-2xx answers in a batch of ${amount}`);
  return answered;
}

function callgrindControl(args: string[]): void {
  const run = spawnSync('callgrind_control', args, { encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${run.stderr || run.error?.message || ''}`);
}

/** Instructions in the newest dump under `dir`. */
function lastDumpTotal(dir: string, before: ReadonlySet<string>): number {
  const fresh = readdirSync(dir).filter((f) => f.startsWith('callgrind.out') && !before.has(f));
  if (fresh.length !== 1) throw new Error(`expected one new callgrind dump in ${dir}, found ${fresh.length}`);
  const text = readFileSync(join(dir, fresh[0]!), 'utf8');
  const match = /^(?:totals|summary):\s+(\d+)/m.exec(text);
  if (!match) throw new Error(`no totals line in ${fresh[0]!}`);
  return Number(match[1]);
}

async function startProxy(settings: Settings, dir: string, upstreams: readonly string[]): Promise<{ child: Child; url: string }> {
  const here = dirname(fileURLToPath(import.meta.url));
  const port = await freePort();
  let script: string[];
  if (settings.target === 'warmroute-rr') {
    const configPath = join(dir, 'config.json');
    // No status polls: under callgrind a poll takes longer than its timeout, the workers would go down,
    // and the polls are no part of the request path.
    await writeFile(configPath, JSON.stringify({ host: '127.0.0.1', port, balancer: 'round-robin', workers: upstreams.map((url) => ({ url, weight: 1 })), connectionsPerWorker: settings.connectionsPerWorker, logLevel: 'warn', healthIntervalMs: 0 }));
    script = [join(here, '..', 'src', 'cli.js'), 'start', '-c', configPath];
  } else {
    const file = settings.target === 'node-bare' ? 'bare-proxy.js' : 'raw-proxy.js';
    script = [join(here, file), '--port', String(port), '--upstreams', upstreams.join(','), '--connections', String(settings.connectionsPerWorker)];
  }
  const args = ['--tool=callgrind', `--callgrind-out-file=${join(dir, 'callgrind.out')}`, process.execPath, ...script];
  const child = startChild(`${settings.target} under callgrind`, 'valgrind', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  try {
    // Node starts slowly under callgrind, the more so on a shared machine.
    await waitForPort(child, port, 1_200_000);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return { child, url: `http://127.0.0.1:${port}/runLambda/fn` };
}

async function main(argv: string[]): Promise<number> {
  const settings = readBenchSettings('bench/instructions', usage, () => parseSettings(argv));
  if (typeof settings === 'number') return settings;
  const probe = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    process.stderr.write('bench/instructions: valgrind is not installed (Debian: apt-get install valgrind)\n');
    return 1;
  }
  const dir = tempFolder('bench-instructions');
  const here = dirname(fileURLToPath(import.meta.url));
  const upstream = await startUpstreams(join(here, 'upstream.js'), 2, undefined);
  let proxy: { child: Child; url: string } | undefined;
  try {
    proxy = await startProxy(settings, dir, upstream.urls);
    const { url, child } = proxy;
    // Warm-up failures (a slow start under callgrind) do not matter: only the measured batches are counted.
    await batch(url, Math.max(settings.warmup, 1), settings.connections, false);
    const counts: number[] = [];
    const answered: number[] = [];
    for (const amount of [settings.requests, 2 * settings.requests]) {
      const before = new Set(readdirSync(dir));
      callgrindControl(['-z', String(child.pid)]);
      answered.push(await batch(url, amount, settings.connections, true));
      callgrindControl(['-d', String(child.pid)]);
      counts.push(lastDumpTotal(dir, before));
    }
    const perRequest = (counts[1]! - counts[0]!) / (answered[1]! - answered[0]!);
    const result = {
      command: `node dist/bench/instructions.js ${argv.join(' ')}`,
      target: settings.target,
      requests: [settings.requests, 2 * settings.requests],
      answered,
      instructions: counts,
      instructionsPerRequest: Math.round(perRequest),
      firstBatchPerRequest: Math.round(counts[0]! / answered[0]!),
      node: process.version,
      generatedAt: new Date().toISOString(),
    };
    process.stdout.write(`${settings.target}: ${result.instructionsPerRequest} instructions per request ((I(${2 * settings.requests}) - I(${settings.requests})) / answers between them; first batch alone ${result.firstBatchPerRequest})\n`);
    if (settings.out !== undefined) await writeFile(resolve(settings.out), `${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } finally {
    if (proxy !== undefined) await stopChild(proxy.child);
    await stopChild(upstream.child);
  }
}

runBenchmark('bench/instructions', main);
