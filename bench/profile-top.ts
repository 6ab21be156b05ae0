// Where a CPU profile's time goes: `node dist/bench/profile-top.js FILE.cpuprofile [--top N]`.
// Prints the functions with the most self time, self time per source file and
// per owner (Node's http server, undici, streams and events, GC, the proxy's own
// code, ...), so the per-request cost of a proxy run under `node --cpu-prof` can be
// read at a glance.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** The V8 .cpuprofile format node --cpu-prof writes. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  readonly name: string;
  readonly micros: number;
  readonly share: number;
}

const usage = 'usage: node dist/bench/profile-top.js FILE.cpuprofile [--top N]\n';

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist !== -1) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}

/**
 * Who a frame's code belongs to. Native frames with a name (writev, read, close) are
 * calls into C++ and the kernel: their samples include the time the process waited
 * inside the call, not only CPU it used (the profiler samples wall time).
 */
export function ownerOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') {
    if (frame.functionName === '(idle)') return 'idle (waiting for events)';
    if (frame.functionName === '(garbage collector)') return 'garbage collector';
    if (frame.functionName === '(program)') return 'V8 and Node native (unattributed)';
    return 'native calls (writev, read, ...: C++ and kernel, wall time)';
  }
  if (url.includes('/undici/') || url.startsWith('wasm://') || url.startsWith('node:internal/deps/undici')) return 'undici (client, llhttp wasm)';
  if (url.includes('/prom-client/')) return 'prom-client';
  if (url.includes('/pino') || url.includes('/sonic-boom/')) return 'pino';
  if (url.includes('/node_modules/')) return 'other npm packages';
  if (url.startsWith('node:_http_')) return 'Node http server (node:_http_*)';
  if (/^node:(events|net|stream|internal\/streams\/|internal\/stream_base_commons|internal\/net)/.test(url)) return 'Node streams, events and net';
  if (/^node:(timers|internal\/timers|internal\/process\/task_queues|internal\/async_hooks|internal\/fixed_queue|internal\/process\/promises)/.test(url)) return 'Node timers, ticks and microtasks';
  if (/^node:internal\/(modules|bootstrap|main|process\/pre_execution|deps\/cjs-module-lexer)/.test(url)) return 'start-up (module loading)';
  if (url.startsWith('node:')) return 'other Node internals';
  if (/\/dist\/(src|balancers)\//.test(url)) return 'warmroute (src/, balancers/)';
  if (/\/dist\/bench\//.test(url)) return 'benchmark reference proxy (bench/)';
  return 'other';
}

/** Self time per function (name at file:line), per file and per owner, largest first. */
export function selfTimes(profile: CpuProfile): { byFunction: SelfTime[]; byFile: SelfTime[]; byOwner: SelfTime[]; totalMicros: number } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const perNode = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    perNode.set(profile.samples[i]!, (perNode.get(profile.samples[i]!) ?? 0) + delta);
    total += delta;
  }
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const [id, micros] of perNode) {
    const frame = nodes.get(id)?.callFrame;
    if (!frame) continue;
    const file = shortUrl(frame.url);
    const fn = `${frame.functionName || '(anonymous)'}  ${file}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + micros);
    byFile.set(file, (byFile.get(file) ?? 0) + micros);
    const owner = ownerOf(frame);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + micros);
  }
  const sorted = (m: Map<string, number>): SelfTime[] =>
    [...m].map(([name, micros]) => ({ name, micros, share: total > 0 ? micros / total : 0 })).sort((a, b) => b.micros - a.micros);
  return { byFunction: sorted(byFunction), byFile: sorted(byFile), byOwner: sorted(byOwner), totalMicros: total };
}

function main(argv: string[]): number {
  let file: string | undefined;
  let top = 30;
  try {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { top: { type: 'string', default: '30' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    file = positionals[0];
    top = Number(values.top);
    if (!Number.isInteger(top) || top < 1) throw new Error(`--top must be a whole number of at least 1, got "${values.top}"`);
    if (file === undefined) throw new Error('name a .cpuprofile file');
  } catch (err) {
    process.stderr.write(`profile-top: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  let profile: CpuProfile;
  try {
    profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples)) throw new Error('not a V8 CPU profile (no nodes/samples)');
  } catch (err) {
    process.stderr.write(`profile-top: ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  const { byFunction, byFile, byOwner, totalMicros } = selfTimes(profile);
  const line = (t: SelfTime): string => `${(t.share * 100).toFixed(1).padStart(5)}%  ${(t.micros / 1000).toFixed(0).padStart(7)} ms  ${t.name}`;
  process.stdout.write(`${file}: ${(totalMicros / 1e6).toFixed(1)} s sampled\n\nself time by function:\n`);
  process.stdout.write(`${byFunction.slice(0, top).map(line).join('\n')}\n\nself time by file:\n${byFile.slice(0, top).map(line).join('\n')}\n`);
  process.stdout.write(`\nself time by owner:\n${byOwner.map(line).join('\n')}\n`);
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
