// Starting a process-engine worker: everything that can be checked before the
// first request is (python and pip, the folders, the handlers' files, the
// package names, the cgroup), so that bad set-up is one line at start-up (a
// UsageError: the flags name something unusable), not a 500 later.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../src/usage-error.js';
import { serveWorker, type RunningWorker, type ServedStatus, type ServeOptions } from '../worker.js';
import type { Workload } from '../workload.js';
import { ProcessEngine, packageClosure, type ProcessEngineSettings, type ProcessEngineStatus } from './engine.js';
import { ChildProcesses } from './children.js';
import { PackageCache, prepareCacheDir } from './package-cache.js';
import { pipInstall } from './pip.js';
import { checkPython } from './python.js';

export type { ProcessEngineStatus, ProcessInvocationResult } from './engine.js';

export interface ProcessWorkerOptions extends ServeOptions, Omit<ProcessEngineSettings, 'python'> {
  /** The interpreter to run (its pip installs); default `python3` from PATH. */
  python?: string;
}

export type ProcessWorker = RunningWorker<ServedStatus<ProcessEngineStatus>>;

/** Package names become folder names: nothing that could climb out of the cache. */
const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkFolder(what: string, dir: string): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${what} ${dir} is not a folder`);
}

/** Every handler has its lambda_func.py and only safe package names; returns the first problem. */
function workloadProblem(workload: Workload, handlers: string): string | undefined {
  for (const handler of workload.registry.keys()) {
    if (!PACKAGE_NAME.test(handler)) return `handler name "${handler}" cannot be a folder name`;
    const file = join(handlers, handler, 'lambda_func.py');
    if (!existsSync(file)) return `handler "${handler}" has no ${file}`;
    for (const pkg of packageClosure(workload, handler)) {
      if (!PACKAGE_NAME.test(pkg)) return `package name "${pkg}" (of handler "${handler}") cannot be a folder name`;
    }
  }
  return undefined;
}

export async function startProcessWorker(opts: ProcessWorkerOptions): Promise<ProcessWorker> {
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new UsageError(message);
  };
  check(opts.cacheBytes === undefined || opts.cacheBytes >= 0, `cacheBytes must be a non-negative number, got ${opts.cacheBytes}`);
  check(opts.importCacheBytes === undefined || opts.importCacheBytes >= 0, `importCacheBytes must be a non-negative number, got ${opts.importCacheBytes}`);
  check(opts.cpus === undefined || (Number.isFinite(opts.cpus) && opts.cpus > 0), `cpus must be a positive number, got ${opts.cpus}`);
  const repo = resolve(opts.repo);
  const handlers = resolve(opts.handlers);
  const cache = resolve(opts.cache);
  checkFolder('the repository', repo);
  checkFolder('the handlers folder', handlers);
  const python = await checkPython(opts.python ?? 'python3');
  await prepareCacheDir(cache);
  const problem = workloadProblem(opts.workload, handlers);
  if (problem) throw new UsageError(problem);
  const settings: ProcessEngineSettings = { workload: opts.workload, repo, handlers, cache, python };
  if (opts.cacheBytes !== undefined) settings.cacheBytes = opts.cacheBytes;
  if (opts.importCacheBytes !== undefined) settings.importCacheBytes = opts.importCacheBytes;
  if (opts.cpus !== undefined) settings.cpus = opts.cpus;
  return serveWorker(opts, ({ name }) => ProcessEngine.create(settings, name));
}

/**
 * Installs every package the workload's handlers need into `dir`, one folder
 * each, with one pip call: a filled cache folder that workers started on a copy
 * of it keep (all-warm). Nothing is bounded; no process is left.
 */
export async function installAll(opts: { workload: Workload; repo: string; dir: string; python?: string }): Promise<void> {
  const python = await checkPython(opts.python ?? 'python3');
  const children = new ChildProcesses();
  const repo = resolve(opts.repo);
  try {
    const cache = await PackageCache.open({
      dir: opts.dir, limitBytes: Number.POSITIVE_INFINITY,
      install: (pkgs, target, folders) => pipInstall({ python: python.executable, repo, children }, pkgs, target, folders),
    });
    const all = [...new Set([...opts.workload.registry.keys()].flatMap((h) => packageClosure(opts.workload, h)))];
    await cache.acquire(all);
    cache.release(all);
  } finally {
    await children.closeAll();
  }
}
