// warmroute as a child process of a benchmark: started from a config file with
// `node dist/src/cli.js start -c FILE`, its JSON log lines counted as they come,
// its memory read from /proc.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { request } from 'undici';
import { startChild, waitForLine, type Child } from './children.js';

export interface LogTally {
  /** Log lines by message. */
  readonly byMessage: Map<string, number>;
  /** The last warning and error lines, as written. */
  readonly problems: string[];
}

export interface ProxyChild {
  readonly child: Child;
  readonly url: string;
  readonly logs: LogTally;
}

const KEEP_PROBLEMS = 50;

/**
 * Starts the proxy on `configPath` and resolves once it listens. With
 * `openFiles`, the child runs under `ulimit -n openFiles` (at most the hard
 * limit), for runs with thousands of client connections; `extra.nodeArgs` go
 * to node before the script, `extra.env` is added to the environment.
 */
export async function startProxyChild(configPath: string, openFiles?: number, extra: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ProxyChild> {
  const cli = resolve('dist/src/cli.js');
  const args = [...(extra.nodeArgs ?? []), cli, 'start', '-c', configPath];
  const options = extra.env === undefined ? {} : { env: { ...process.env, ...extra.env } };
  const child = openFiles === undefined
    ? startChild('warmroute', process.execPath, args, options)
    : startChild('warmroute', '/bin/sh', ['-c', `ulimit -n ${openFiles} && exec "$0" "$@"`, process.execPath, ...args], options);
  const logs: LogTally = { byMessage: new Map(), problems: [] };
  let partial = '';
  child.process.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) !== -1) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      tally(logs, line);
    }
  });
  const url = await waitForLine(child, (line) => {
    try {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      return entry.msg === 'warmroute listening' ? entry.url : undefined;
    } catch {
      return undefined;
    }
  }, 15_000);
  return { child, url, logs };
}

function tally(logs: LogTally, line: string): void {
  let entry: { msg?: unknown; level?: unknown };
  try {
    entry = JSON.parse(line) as { msg?: unknown; level?: unknown };
  } catch {
    return;
  }
  const msg = typeof entry.msg === 'string' ? entry.msg : '';
  logs.byMessage.set(msg, (logs.byMessage.get(msg) ?? 0) + 1);
  if (typeof entry.level === 'number' && entry.level >= 40) {
    logs.problems.push(line.length > 400 ? `${line.slice(0, 400)}...` : line);
    if (logs.problems.length > KEEP_PROBLEMS) logs.problems.shift();
  }
}

/** Current resident set size of one process in MiB (VmRSS), or undefined once it has exited. */
export function rssMiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface StatusSnapshot {
  balancer: { name: string };
  queue: { waiting: number; shared: number; inFlight: number; limit: number; workerQueueLimit: number };
  workers: { id: string; url: string; weight: number; limit: number; inFlight: number; queued: number; health: string; why: string }[];
}

/** The proxy's GET /status. */
export async function proxyStatus(url: string): Promise<StatusSnapshot> {
  const res = await request(`${url}/status`, { method: 'GET', headersTimeout: 10_000, bodyTimeout: 10_000 });
  return (await res.body.json()) as StatusSnapshot;
}

/** POST to an admin route with a JSON body; resolves with the status and parsed answer. */
export async function adminPost(url: string, path: string, body: unknown = undefined): Promise<{ status: number; json: unknown }> {
  const res = await request(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? '' : JSON.stringify(body),
    headersTimeout: 10_000,
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.statusCode, json };
}
