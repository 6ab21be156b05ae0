// The process engine: invocations run for real. A handler's missing packages
// are pip-installed from the local repository into the worker's cache folder,
// then the handler runs in a warm (or new) Python interpreter whose path holds
// exactly its packages' folders. Nothing is slept: every cost is real CPU,
// disk and processes.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { round3, WorkerClosedError, type InvocationResult, type WorkerCounters } from '../model/index.js';
import { InvocationError, type EngineStatus, type WorkerEngine } from '../worker.js';
import type { Workload } from '../workload.js';
import { ChildProcesses } from './children.js';
import { createCpuQuota, type CpuQuota } from './cgroup.js';
import { InterpreterPool } from './interpreters.js';
import { PackageCache } from './package-cache.js';
import { pipInstall } from './pip.js';
import type { PythonInfo } from './python.js';

export interface ProcessEngineSettings {
  workload: Workload;
  /** Find-links folder of wheels. */
  repo: string;
  /** Folder of `<handle>/lambda_func.py`. */
  handlers: string;
  /** The worker's package cache folder. */
  cache: string;
  /** Bytes of installed files kept; default unbounded. */
  cacheBytes?: number;
  /** Resident memory of all interpreters together; default 0: no interpreter is kept after its call. */
  importCacheBytes?: number;
  /** A CPU quota of this many processors in the worker's own cgroup; default none (the machine's cores, shared). */
  cpus?: number;
  python: PythonInfo;
}

/** One invocation's answer: where its time went, in real milliseconds, and the handler's result. */
export interface ProcessInvocationResult extends InvocationResult {
  engine: 'process';
  /** Process CPU time of the import (0 on a warm interpreter): importMs against it shows a quota or a busy CPU. */
  importCpuMs: number;
  wallMs: number;
  timeScale: 1;
  /** `started`: this call started its interpreter; `warm`: it reused one. */
  interpreter: 'started' | 'warm';
  pid: number;
  result: unknown;
}

export interface ProcessEngineStatus extends EngineStatus, WorkerCounters {
  engine: 'process';
  cachedPackages: string[];
  cachedPackageCount: number;
  /** Infinity (null in JSON) when unbounded. */
  cacheBytes: number;
  usedBytes: number;
  /** pip processes run: one per cold request's missing packages (shared installs count once). */
  pipCalls: number;
  idleInterpreters: number;
  interpretersStarted: number;
  failures: number;
  cpus: number | null;
  cgroup: string | null;
  python: string;
  /** Every child process alive now (interpreters and installs). */
  childPids: number[];
}

/** A handler's packages: its registry list, then any dependency the package table adds (transitively). */
export function packageClosure(workload: Workload, handler: string): string[] {
  const out = [...(workload.registry.get(handler) ?? [])];
  const seen = new Set(out);
  for (let i = 0; i < out.length; i++) {
    for (const dep of workload.packages.get(out[i] as string)?.deps ?? []) {
      if (!seen.has(dep)) {
        seen.add(dep);
        out.push(dep);
      }
    }
  }
  return out;
}

function parseEvent(body: string): unknown {
  if (body.trim() === '') return {};
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new InvocationError(400, 'bad_request', 'the request body is not JSON (the process engine passes it to the handler as its event)');
  }
}

export class ProcessEngine implements WorkerEngine<ProcessInvocationResult, ProcessEngineStatus> {
  private inFlight = 0;
  private invocations = 0;
  private coldInvocations = 0;
  private warmInvocations = 0;
  private failures = 0;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly settings: ProcessEngineSettings,
    private readonly name: string,
    private readonly children: ChildProcesses,
    private readonly cache: PackageCache,
    private readonly pool: InterpreterPool,
    private readonly quota: CpuQuota | undefined,
  ) {}

  static async create(settings: ProcessEngineSettings, name: string): Promise<ProcessEngine> {
    const quota = settings.cpus === undefined ? undefined : await createCpuQuota(name, settings.cpus);
    const children = new ChildProcesses(quota?.wrap);
    const python = settings.python.executable;
    const pool = new InterpreterPool(children, python, settings.importCacheBytes ?? 0);
    try {
      const cache = await PackageCache.open({
        dir: settings.cache,
        limitBytes: settings.cacheBytes ?? Number.POSITIVE_INFINITY,
        install: (pkgs, target, folders) => pipInstall({ python, repo: settings.repo, children }, pkgs, target, folders),
        onEvict: (names) => pool.forgetPackages(names),
      });
      return new ProcessEngine(settings, name, children, cache, pool, quota);
    } catch (err) {
      await quota?.remove();
      throw err;
    }
  }

  has(handler: string): boolean {
    return this.settings.workload.registry.has(handler);
  }

  async invoke(handler: string, body: string): Promise<ProcessInvocationResult> {
    if (this.closing) throw new WorkerClosedError();
    const event = parseEvent(body);
    const started = performance.now();
    const packages = packageClosure(this.settings.workload, handler);
    this.inFlight++;
    this.invocations++;
    try {
      const cold = await this.cache.acquire(packages);
      const installed = performance.now();
      try {
        const spec = { handler, handlerDir: join(this.settings.handlers, handler), packages, packageDirs: packages.map((p) => this.cache.folder(p)) };
        const { interpreter, fresh } = await this.pool.take(spec);
        try {
          const call = await interpreter.call(event);
          const totalMs = performance.now() - started;
          if (fresh || cold.length > 0) this.coldInvocations++;
          else this.warmInvocations++;
          return {
            handler,
            worker: this.name,
            engine: 'process',
            coldPackages: cold,
            importedPackages: fresh ? packages : [],
            warmPackages: fresh ? 0 : packages.length,
            queueMs: 0,
            sandboxMs: fresh ? round3(interpreter.startMs - interpreter.importMs) : 0,
            installMs: round3(installed - started),
            importMs: fresh ? round3(interpreter.importMs) : 0,
            importCpuMs: fresh ? round3(interpreter.importCpuMs) : 0,
            runMs: round3(call.runMs),
            totalMs: round3(totalMs),
            wallMs: round3(totalMs),
            timeScale: 1,
            interpreter: fresh ? 'started' : 'warm',
            pid: interpreter.pid,
            result: call.result,
          };
        } finally {
          this.pool.give(interpreter);
        }
      } finally {
        this.cache.release(packages);
      }
    } catch (err) {
      this.failures++;
      throw this.closing ? new WorkerClosedError() : err;
    } finally {
      this.inFlight--;
    }
  }

  status(): ProcessEngineStatus {
    const onDisk = this.cache.onDisk();
    return {
      engine: 'process',
      packages: onDisk,
      inFlight: this.inFlight,
      cores: this.quota?.cpus ?? availableParallelism(),
      running: this.inFlight,
      cachedPackages: onDisk,
      cachedPackageCount: onDisk.length,
      cacheBytes: this.settings.cacheBytes ?? Number.POSITIVE_INFINITY,
      usedBytes: this.cache.used,
      installing: this.cache.installingCount,
      installs: this.cache.installs,
      pipCalls: this.cache.installBatches,
      evictions: this.cache.evictions,
      importCacheBytes: this.pool.limitBytes,
      usedImportBytes: this.pool.usedBytes,
      interpreters: this.pool.count,
      idleInterpreters: this.pool.idleCount,
      interpretersStarted: this.pool.started,
      interpreterEvictions: this.pool.evictions,
      invocations: this.invocations,
      coldInvocations: this.coldInvocations,
      warmInvocations: this.warmInvocations,
      failures: this.failures,
      cpus: this.quota?.cpus ?? null,
      cgroup: this.quota?.path ?? null,
      python: this.settings.python.executable,
      childPids: this.children.pids(),
    };
  }

  /** Kills every child (interpreters and installs), waits for deleted folders, removes the cgroup. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.children.closeAll();
      await this.cache.settle();
      await this.quota?.remove();
    })();
    return this.closing;
  }
}
