// nginx as the reference reverse proxy: find it, write its config, run it in the foreground.

import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, startChild, waitForPort, type Child } from './children.js';

export type NginxBalance = 'round-robin' | 'least_conn';

export interface NginxInstall {
  readonly path: string;
  /** e.g. "1.22.1". */
  readonly version: string;
}

/** Places nginx lives on Debian and from-source installs, for when sbin is not on PATH. */
const fallbackPaths = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

/**
 * Finds a runnable nginx and its version. `binary` is a name looked up on PATH
 * or a path. Returns a reason instead when there is none, so the caller can skip.
 */
export function findNginx(binary: string): NginxInstall | { missing: string } {
  const candidates = binary === 'nginx' ? ['nginx', ...fallbackPaths] : [binary];
  for (const path of candidates) {
    const probe = spawnSync(path, ['-v'], { encoding: 'utf8', timeout: 5000 });
    if (probe.error !== undefined) continue;
    const match = /nginx\/(\d+\.\d+\.\d+)/.exec(`${probe.stderr}${probe.stdout}`);
    if (probe.status === 0 && match) return { path, version: match[1]! };
  }
  return { missing: binary === 'nginx' ? 'nginx is not installed (not on PATH nor in /usr/sbin)' : `no runnable nginx at ${binary}` };
}

export interface NginxConfigOptions {
  readonly prefix: string;
  readonly port: number;
  readonly upstreams: readonly string[];
  readonly balance: NginxBalance;
  /** worker_processes; default 1. */
  readonly workerProcesses?: number;
}

/**
 * The nginx.conf for one measured run. One worker process because warmroute is
 * one Node process with one JS thread: both proxies get the same core budget
 * (on a 2-core machine the load generator and the upstream need the rest).
 * Keep-alive limits are raised so neither side pays for reconnects warmroute
 * would not make.
 */
export function nginxConfig(options: NginxConfigOptions): string {
  const { prefix, port, upstreams, balance, workerProcesses = 1 } = options;
  const servers = upstreams.map((u) => `    server ${new URL(u).host};`).join('\n');
  const temp = (name: string): string => join(prefix, name);
  return `worker_processes ${workerProcesses};
worker_rlimit_nofile 16384;
pid ${temp('nginx.pid')};
error_log ${temp('error.log')} warn;

events {
  worker_connections 8192;
}

http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};

  upstream workers {
${balance === 'least_conn' ? '    least_conn;\n' : ''}${servers}
    keepalive 64;
    keepalive_requests 1000000;
  }

  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://workers;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
}

/** How a proxy is started: its processes, and the CPUs it is pinned to (a taskset list; undefined: not pinned). */
export interface Launch {
  readonly workerProcesses: number;
  readonly cpus: string | undefined;
}

/** The command that runs `command args` pinned to `cpus` with taskset (which execs it: same pid), or as it is. */
export function pinned(cpus: string | undefined, command: string, args: readonly string[]): [string, string[]] {
  return cpus === undefined ? [command, [...args]] : ['taskset', ['-c', cpus, command, ...args]];
}

export interface RunningNginx {
  readonly child: Child;
  readonly url: string;
  /** The last lines of nginx's error log, for failure messages. */
  errorLogTail(): string;
}

function versionAtLeast(version: string, wanted: [number, number, number]): boolean {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((parts[i] ?? 0) !== wanted[i]) return (parts[i] ?? 0) > wanted[i]!;
  }
  return true;
}

/** Writes the config into `prefix` (a fresh temp dir) and runs nginx in the foreground until stopped. */
export async function startNginx(install: NginxInstall, prefix: string, upstreams: readonly string[], balance: NginxBalance, launch: Launch = { workerProcesses: 1, cpus: undefined }): Promise<RunningNginx> {
  // nginx's worker drops to an unprivileged user when started as root; it must be able to enter the prefix.
  chmodSync(prefix, 0o755);
  const port = await freePort();
  const confPath = join(prefix, 'nginx.conf');
  writeFileSync(confPath, nginxConfig({ prefix, port, upstreams, balance, workerProcesses: launch.workerProcesses }));
  const errorLog = join(prefix, 'error.log');
  // -e (1.19.5+) keeps start-up messages out of the system log path too.
  const args = ['-p', prefix, '-c', confPath, ...(versionAtLeast(install.version, [1, 19, 5]) ? ['-e', errorLog] : []), '-g', 'daemon off;'];
  const [command, commandArgs] = pinned(launch.cpus, install.path, args);
  const child = startChild(`nginx (${balance})`, command, commandArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  const errorLogTail = (): string => {
    try {
      return readFileSync(errorLog, 'utf8').trim().split('\n').slice(-10).join('\n');
    } catch {
      return '';
    }
  };
  try {
    await waitForPort(child, port, 10_000);
  } catch (err) {
    const tail = errorLogTail();
    throw new Error(`${(err as Error).message}${tail === '' ? '' : `\nnginx error log:\n${tail}`}`);
  }
  return { child, url: `http://127.0.0.1:${port}`, errorLogTail };
}
