// A worker's own CPU quota: one cgroup per worker, which every Python child
// joins before it runs (the shell wrapper writes its own pid, then execs), so
// that no instruction of a child escapes the quota. cgroup v2 (`cpu.max`) where
// it is the mount with the cpu controller, else v1's cpu controller
// (`cpu.cfs_quota_us`).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../../src/usage-error.js';
import type { CommandWrapper } from './children.js';

const PERIOD_US = 100_000;
const V2_ROOT = '/sys/fs/cgroup';
const V1_CPU_ROOT = '/sys/fs/cgroup/cpu';

export interface CpuQuota {
  readonly cpus: number;
  readonly path: string;
  readonly version: 1 | 2;
  /** Runs a command inside the cgroup from its first instruction. */
  readonly wrap: CommandWrapper;
  /** Removes the cgroup; its processes must have exited. */
  remove(): Promise<void>;
}

/** Which cgroup hierarchy holds the cpu controller here, or why none can be used. */
export function cpuHierarchy(): { version: 1 | 2; root: string } | string {
  const controllers = join(V2_ROOT, 'cgroup.controllers');
  if (existsSync(controllers) && readFileSync(controllers, 'utf8').split(/\s+/).includes('cpu')) return { version: 2, root: V2_ROOT };
  if (existsSync(join(V1_CPU_ROOT, 'cpu.cfs_quota_us'))) return { version: 1, root: V1_CPU_ROOT };
  return `no cgroup cpu controller is mounted (neither ${controllers} listing cpu nor ${V1_CPU_ROOT}/cpu.cfs_quota_us)`;
}

/** Creates the worker's cgroup with a quota of `cpus` processors; a UsageError names what is not writable. */
export async function createCpuQuota(workerName: string, cpus: number): Promise<CpuQuota> {
  const found = cpuHierarchy();
  if (typeof found === 'string') throw new UsageError(`--cpus needs a cgroup cpu controller: ${found}`);
  const { version, root } = found;
  const path = join(root, `warmroute-${workerName.replace(/[^A-Za-z0-9_.-]/g, '_')}-${process.pid}`);
  const quotaUs = Math.max(1000, Math.round(cpus * PERIOD_US));
  const step = async (what: string, action: () => Promise<unknown>): Promise<void> => {
    try {
      await action();
    } catch (err) {
      throw new UsageError(`--cpus: cannot ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); cgroups are writable by root only`);
    }
  };
  if (version === 2) {
    // The cpu controller must be enabled for the root's children; already on, this write changes nothing.
    await step(`enable the cpu controller in ${root}/cgroup.subtree_control`, () => writeFile(join(root, 'cgroup.subtree_control'), '+cpu'));
  }
  await removeOrphans(root);
  await step(`create ${path}`, () => mkdir(path));
  try {
    if (version === 2) await step(`write ${path}/cpu.max`, () => writeFile(join(path, 'cpu.max'), `${quotaUs} ${PERIOD_US}`));
    else {
      await step(`write ${path}/cpu.cfs_period_us`, () => writeFile(join(path, 'cpu.cfs_period_us'), String(PERIOD_US)));
      await step(`write ${path}/cpu.cfs_quota_us`, () => writeFile(join(path, 'cpu.cfs_quota_us'), String(quotaUs)));
    }
  } catch (err) {
    await rmdir(path).catch(() => undefined);
    throw err;
  }
  const procs = join(path, 'cgroup.procs');
  return {
    cpus,
    path,
    version,
    wrap: (command, args) => ({ command: '/bin/sh', args: ['-c', 'echo $$ > "$0" && exec "$@"', procs, command, ...args] }),
    remove: () => removeCgroup(path),
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Cgroups of workers that died without shutting down (SIGKILL) would stay for
 * good: those whose worker pid is gone are removed. rmdir refuses a cgroup
 * that still holds a process, so a live one is never touched.
 */
async function removeOrphans(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    const pid = /^warmroute-.*-(\d+)$/.exec(name)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) await rmdir(join(root, name)).catch(() => undefined);
  }
}

/** rmdir of a cgroup fails while a killed process is still being torn down: retry for a moment. */
async function removeCgroup(path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(path);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      const members = await readFile(join(path, 'cgroup.procs'), 'utf8').catch(() => '');
      if (attempt >= 50 || (code !== 'EBUSY' && members.trim() === '')) throw new Error(`cannot remove cgroup ${path}: ${code ?? (err as Error).message}`);
      await sleep(20);
    }
  }
}
