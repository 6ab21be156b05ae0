// Thousands of client connections at once, for the overload and memory benchmarks: the
// open-file limit they need, and a burst of one-invocation connections timed in its phases.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { UsageError } from '../pipbench/commands/support.js';
import { cpuSeconds } from './children.js';

/** The function every burst connection invokes; the benchmarks' registries and configs name it. */
export const BURST_FUNCTION = 'fn';

export function openFileLimits(): { soft: number; hard: number } {
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const read = (v: string | undefined): number => (v === undefined || v === 'unlimited' ? Infinity : Number(v));
  return { soft: read(line?.[1]), hard: read(line?.[2]) };
}

/** Re-runs this script under a raised `ulimit -n` when the soft limit is too low for the clients; returns its exit code, or undefined to go on here. */
export function reexecWithMoreFiles(needed: number): number | undefined {
  const { soft, hard } = openFileLimits();
  if (soft >= needed) return undefined;
  if (hard < needed) throw new UsageError(`${needed} open files are needed but the hard limit (ulimit -Hn) is ${hard}; use fewer --clients`);
  if (process.env.WARMROUTE_BENCH_REEXEC === '1') throw new UsageError(`could not raise the open-file limit to ${needed}`);
  const run = spawnSync('/bin/sh', ['-c', `ulimit -n ${needed} && exec "$0" "$@"`, process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit', env: { ...process.env, WARMROUTE_BENCH_REEXEC: '1' },
  });
  return run.status ?? 1;
}

export interface Answer {
  /** HTTP status, 0 when the connection ended without a status line. */
  status: number;
  code: string;
  /** ms from the start of the burst to the connection being established. */
  connectMs: number;
  /** ms from the request written to the status line received. */
  answerMs: number;
  /** ms from the start of the burst to the whole answer. */
  totalMs: number;
  error: string;
}

/** One raw HTTP/1.1 request on its own connection (Connection: close), timed in its phases. */
function invokeOnce(port: number, t0: number): Promise<Answer> {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    let connectedAt = 0;
    let writtenAt = 0;
    let statusAt = 0;
    let text = '';
    let settled = false;
    const finish = (error: string): void => {
      if (settled) return;
      settled = true;
      const end = performance.now();
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const body = text.slice(text.indexOf('\r\n\r\n') + 4);
      let code = '';
      try {
        code = (JSON.parse(body) as { error?: { code?: string } }).error?.code ?? '';
      } catch {
        code = '';
      }
      done({
        status: m ? Number(m[1]) : 0,
        code,
        connectMs: connectedAt === 0 ? Number.NaN : connectedAt - t0,
        answerMs: statusAt === 0 ? Number.NaN : statusAt - writtenAt,
        totalMs: end - t0,
        error: m ? '' : error || 'closed without an answer',
      });
    };
    socket.setNoDelay(true);
    socket.once('connect', () => {
      connectedAt = performance.now();
      socket.write(`POST /runLambda/${BURST_FUNCTION} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`, () => {
        writtenAt = performance.now();
      });
    });
    socket.on('data', (chunk: Buffer) => {
      if (statusAt === 0) statusAt = performance.now();
      text += chunk.toString('latin1');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.once('close', () => finish(''));
  });
}


export interface BurstResult { answers: Answer[]; ms: number; cpuMsPerRequest: number | null }

/** `clients` connections at once to `port`, one invocation each; the server's CPU time (pid) per request. */
export async function burst(port: number, clients: number, pid: number): Promise<BurstResult & { done: Promise<Answer[]> }> {
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const done = Promise.all(Array.from({ length: clients }, () => invokeOnce(port, t0)));
  const answers = await done;
  const ms = performance.now() - t0;
  const cpu1 = cpuSeconds(pid);
  const cpuMsPerRequest = cpu0 === undefined || cpu1 === undefined ? null : Math.round(((cpu1 - cpu0) * 1000 * 1000) / clients) / 1000;
  return { answers, ms, cpuMsPerRequest, done };
}
