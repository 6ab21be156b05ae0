// Child processes of a benchmark: start, wait until ready, measure, stop, and never leak.

import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, createConnection } from 'node:net';
import { UsageError } from '../src/usage-error.js';

/** A started child and the tail of what it wrote (stdout and stderr), for error messages. */
export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  outputTail(): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** SIGKILLs the process and its descendants (an nginx master's workers outlive a killed master). */
function killTree(pid: number): void {
  for (const p of processTree(pid).reverse()) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** On any exit of the benchmark, even a crash, kill what is still running (synchronously, as 'exit' requires). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanUp);
}

/** SIGKILLs every child still running, with its descendants; for exit paths and signal handlers. */
export function killAllChildren(): void {
  for (const child of live) {
    if (running(child) && child.pid !== undefined) killTree(child.pid);
  }
}

const folders = new Set<string>();

/**
 * A new folder in the system's temporary directory (`warmroute-<name>-...`),
 * removed on any exit of the benchmark, Ctrl-C and crashes included; the
 * benchmark may remove it earlier itself.
 */
export function tempFolder(name: string): string {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), `warmroute-${name}-`));
  folders.add(dir);
  return dir;
}

/** Kills the children and removes the temporary folders, synchronously, as exit handlers must. */
function cleanUp(): void {
  killAllChildren();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  folders.clear();
}

/**
 * Runs a benchmark script's `main`: its exit code becomes the process's;
 * Ctrl-C, SIGTERM or a crash kills every child it started and removes its
 * temporary folders first.
 */
export function runBenchmark(name: string, main: (argv: string[]) => Promise<number>): void {
  installExitHook();
  // process.exit runs the exit hook (cleanUp); a finally block in main does not run.
  process.on('SIGINT', () => process.exit(130));
  process.on('SIGTERM', () => process.exit(143));
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`${name}: ${(err as Error).stack ?? String(err)}\n`);
      killAllChildren();
      process.exitCode = 1;
    },
  );
}

/**
 * A benchmark script's flags: `read` parses them (and may check what they
 * name), returning the settings or "help". Returns the settings, or the exit
 * status once the usage (0) or a usage error naming the script (2) is written;
 * with `usageAfterError`, the usage follows the error. Any other error is
 * thrown on.
 */
export function readBenchSettings<T>(name: string, usage: string, read: () => T | 'help', options: { usageAfterError?: boolean } = {}): T | number {
  try {
    const settings = read();
    if (settings !== 'help') return settings;
    process.stdout.write(usage);
    return 0;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${name}: ${err.message}\n${options.usageAfterError === true ? usage : ''}`);
    return 2;
  }
}

export function startChild(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Child {
  installExitHook();
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  if (child.pid === undefined) {
    // spawn reports ENOENT and the like asynchronously; swallow it here, callers see the missing pid.
    child.once('error', () => {});
    throw new Error(`cannot start ${name} (${command})`);
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  let tail = '';
  const keep = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stderr?.on('data', keep);
  child.stdout?.on('data', keep);
  return { name, process: child, pid: child.pid, outputTail: () => tail.trim() };
}

function exitDescription(child: Child): string {
  const { exitCode, signalCode } = child.process;
  const how = exitCode !== null ? `exit status ${exitCode}` : `signal ${signalCode ?? 'unknown'}`;
  const tail = child.outputTail();
  return `${child.name} exited (${how})${tail === '' ? '' : `:\n${tail}`}`;
}

/** Resolves with the first stdout line `accept` returns a value for; rejects if the child exits or time runs out first. */
export function waitForLine<T>(child: Child, accept: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const out = child.process.stdout;
    if (!out) return reject(new Error(`${child.name}: no stdout to read`));
    let buffered = '';
    const cleanup = (): void => {
      clearTimeout(timer);
      out.off('data', onData);
      child.process.off('exit', onExit);
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        const value = accept(line);
        if (value !== undefined) {
          cleanup();
          out.resume(); // keep draining so the child never blocks on a full pipe
          resolve(value);
          return;
        }
      }
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(exitDescription(child)));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${child.name} did not become ready within ${timeoutMs} ms${child.outputTail() === '' ? '' : `:\n${child.outputTail()}`}`));
    }, timeoutMs);
    out.on('data', onData);
    child.process.once('exit', onExit);
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}

/** Polls until something accepts TCP connections on 127.0.0.1:port; rejects if the child exits or time runs out. */
export async function waitForPort(child: Child, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) throw new Error(exitDescription(child));
    if (await canConnect(port)) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A port that was free a moment ago, for servers (nginx) that cannot be told to pick one themselves. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** SIGTERM, then SIGKILL (with descendants) if it has not exited after `graceMs`. Resolves once it has exited. */
export async function stopChild(child: Child, graceMs = 5000): Promise<void> {
  const proc = child.process;
  if (!running(proc)) return;
  const tree = processTree(child.pid);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => killTree(child.pid), graceMs);
  await exited;
  clearTimeout(timer);
  // Anything the child started and left behind goes too.
  for (const p of tree.slice(1)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Exited with its parent, as it should.
    }
  }
}

/** A /proc/PID/status field in KiB (VmHWM is the peak resident set size), or undefined if unreadable. */
function statusKiB(pid: number, field: string): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The process and its descendants (nginx's master and its worker), found through /proc's parent links. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [pid];
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces; the parent pid is the second field after it.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** Peak RSS in MiB summed over the process tree, or undefined when /proc cannot tell (not Linux). */
export function peakRssMiB(pid: number): number | undefined {
  let total = 0;
  let seen = false;
  for (const p of processTree(pid)) {
    const kib = statusKiB(p, 'VmHWM');
    if (kib !== undefined) {
      total += kib;
      seen = true;
    }
  }
  return seen ? total / 1024 : undefined;
}

let clockTicks: number | undefined;

/** Kernel clock ticks per second, the unit of /proc/PID/stat CPU times. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const probe = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 });
    const n = Number(probe.stdout?.trim());
    clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

/** User and system (kernel) CPU seconds used so far by the process tree, or undefined when /proc cannot tell. */
export function cpuTimes(pid: number): { user: number; system: number } | undefined {
  let user = 0;
  let system = 0;
  let seen = false;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the command name.
      user += Number(fields[11]);
      system += Number(fields[12]);
      seen = true;
    } catch {
      // The process ended while we looked.
    }
  }
  return seen ? { user: user / ticksPerSecond(), system: system / ticksPerSecond() } : undefined;
}

/** User + system CPU seconds used so far by the process tree, or undefined when /proc cannot tell. */
export function cpuSeconds(pid: number): number | undefined {
  const times = cpuTimes(pid);
  return times === undefined ? undefined : times.user + times.system;
}
