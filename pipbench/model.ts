// The simulated OpenLambda worker's cost model, on an injected clock. It holds
// no real timers and no promises: the HTTP worker (pipbench/worker.ts) drives it
// on the real clock scaled by its time scale, the simulator on a virtual clock,
// so both run this very code. The model and every default, with the figure it
// was fitted to, are written down in pipbench/README.md ("Worker model").
import type { Clock, Timer } from '../src/clock.js';
import type { PackageInfo, Workload } from './workload.js';

/**
 * How invocations use the CPU.
 * - `shared`: processor sharing. Every piece of CPU work in progress advances at
 *   min(1, cores / jobs): the Linux scheduler time-slicing many sandboxes.
 * - `fcfs`: `cores` slots; an invocation holds one from admission to its answer,
 *   later arrivals wait first come, first served, and work runs at full speed.
 */
export type CpuDiscipline = 'shared' | 'fcfs';

export interface ModelParams {
  cpu: CpuDiscipline;
  /** Processors (shared: may be fractional, e.g. 0.8 = a fifth of a 4-vCPU host). */
  cores: number;
  /** Installed packages kept on disk, bytes of installed size; LRU by bytes. Infinity = never evicts. */
  diskBytes: number;
  /** Interpreters kept warm, bounded by the sum of their packages' importMem; 0 = no interpreter cache. */
  importCacheBytes: number;
  /** CPU cost of creating an invocation's sandbox (container, cgroup, interpreter start). */
  sandboxMs: number;
  /** The handler's own CPU time. */
  handlerMs: number;
  /** Multiplies every package's installMs: the table's pip timings against this host's. */
  installScale: number;
  /** Multiplies every package's importMs. */
  importScale: number;
  /**
   * Whether an install uses the CPU (pip building and byte-compiling) or only
   * waits (download, disk): off, installs take their time whatever the load.
   */
  installOnCpu: boolean;
  /** Every package of the workload starts installed and imported, and nothing is evicted. */
  allWarm: boolean;
}

/** What one invocation cost, in the model's milliseconds (time scale 1). */
export interface InvocationResult {
  handler: string;
  worker: string;
  /** Packages not installed when this invocation needed them (installed by it, or awaited). */
  coldPackages: string[];
  /** Packages this invocation imported (not in the interpreter it started from). */
  importedPackages: string[];
  /** Packages that cost nothing: already imported in the reused interpreter. */
  warmPackages: number;
  /** Waiting for a core (fcfs only). */
  queueMs: number;
  sandboxMs: number;
  installMs: number;
  importMs: number;
  runMs: number;
  /** From arrival to answer: queue + sandbox + install + import + run. */
  totalMs: number;
}

export interface ModelStatus {
  /** Installed packages, least recently used first: their next use costs no install. */
  packages: string[];
  /** Invocations accepted and not yet answered. */
  inFlight: number;
  /** Admitted and not yet answered. */
  running: number;
  /** Most ever running at once. */
  peakRunning: number;
  /** Waiting for a core (fcfs). */
  queued: number;
  cores: number;
  cpu: CpuDiscipline;
  /** CPU jobs in progress (shared) or cores held (fcfs), over all workers sharing this CPU. */
  cpuBusy: number;
  diskBytes: number;
  usedDiskBytes: number;
  importCacheBytes: number;
  usedImportBytes: number;
  interpreters: number;
  installing: number;
  installs: number;
  imports: number;
  evictions: number;
  interpreterEvictions: number;
  invocations: number;
  coldInvocations: number;
  warmInvocations: number;
  allWarm: boolean;
}

export class WorkerClosedError extends Error {
  constructor() {
    super('the worker is shutting down');
    this.name = 'WorkerClosedError';
  }
}

/** The CPU one or more workers run on; sharing one instance among workers models workers on one host. */
export interface CpuModel {
  readonly discipline: CpuDiscipline;
  readonly cores: number;
  /** Calls `go` when the invocation may start (at once under `shared`). */
  admit(go: () => void): void;
  /** The invocation has ended: its core (fcfs) goes to the next in line. */
  leave(): void;
  /** Runs `ms` of CPU work, then calls `done`. */
  work(ms: number, done: () => void): void;
  readonly busy: number;
  readonly waiting: number;
  /** Drops every job and waiter without calling them back. */
  close(): void;
}

interface Job {
  remaining: number;
  readonly done: () => void;
}

/** Processor sharing: n jobs on c cores each advance at min(1, c/n) ms of work per ms. */
export class SharedCpu implements CpuModel {
  readonly discipline = 'shared' as const;
  private jobs: Job[] = [];
  private last: number;
  private timer: Timer | undefined;

  constructor(private readonly clock: Clock, readonly cores: number) {
    if (!(cores > 0) || !Number.isFinite(cores)) throw new RangeError(`cores must be a positive number, got ${cores}`);
    this.last = clock.now();
  }

  get busy(): number {
    return this.jobs.length;
  }

  get waiting(): number {
    return 0;
  }

  admit(go: () => void): void {
    go();
  }

  leave(): void {}

  work(ms: number, done: () => void): void {
    this.advance();
    this.jobs.push({ remaining: Math.max(0, ms), done });
    this.reschedule();
  }

  close(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.jobs = [];
  }

  private rate(): number {
    return Math.min(1, this.cores / Math.max(1, this.jobs.length));
  }

  private advance(): void {
    const now = this.clock.now();
    const progress = (now - this.last) * this.rate();
    this.last = now;
    if (progress > 0) for (const job of this.jobs) job.remaining -= progress;
  }

  private reschedule(): void {
    this.timer?.cancel();
    this.timer = undefined;
    if (this.jobs.length === 0) return;
    let least = Number.POSITIVE_INFINITY;
    for (const job of this.jobs) least = Math.min(least, job.remaining);
    this.timer = this.clock.setTimer(Math.max(0, least) / this.rate(), () => this.finish());
  }

  private finish(): void {
    this.timer = undefined;
    this.advance();
    // A job within a nanosecond of done is done: float residue must not cost another event.
    const finished = this.jobs.filter((j) => j.remaining <= 1e-6);
    this.jobs = this.jobs.filter((j) => j.remaining > 1e-6);
    this.reschedule();
    for (const job of finished) job.done();
  }
}

/** `cores` slots served first come, first served; work on a held core runs at full speed. */
export class FcfsCpu implements CpuModel {
  readonly discipline = 'fcfs' as const;
  private held = 0;
  private readonly line: (() => void)[] = [];
  private readonly timers = new Set<Timer>();

  constructor(private readonly clock: Clock, readonly cores: number) {
    if (!Number.isInteger(cores) || cores < 1) throw new RangeError(`fcfs cores must be a positive integer, got ${cores}`);
  }

  get busy(): number {
    return this.held;
  }

  get waiting(): number {
    return this.line.length;
  }

  admit(go: () => void): void {
    if (this.held < this.cores) {
      this.held++;
      go();
    } else {
      this.line.push(go);
    }
  }

  leave(): void {
    const next = this.line.shift();
    // The core passes straight to the next in line, so a newcomer cannot overtake it.
    if (next) next();
    else this.held--;
  }

  work(ms: number, done: () => void): void {
    const timer = this.clock.setTimer(Math.max(0, ms), () => {
      this.timers.delete(timer);
      done();
    });
    this.timers.add(timer);
  }

  close(): void {
    for (const timer of this.timers) timer.cancel();
    this.timers.clear();
    this.line.length = 0;
  }
}

export function createCpu(clock: Clock, discipline: CpuDiscipline, cores: number): CpuModel {
  return discipline === 'shared' ? new SharedCpu(clock, cores) : new FcfsCpu(clock, cores);
}

/**
 * Installed packages with a byte bound and LRU eviction. Pinned packages (in use
 * by a running invocation) are never evicted; while pins hold more than the
 * bound the disk runs over it and is trimmed when they are released.
 */
class PackageDisk {
  used = 0;
  evictions = 0;
  /** name -> bytes; Map order is recency order, least recent first. */
  private readonly entries = new Map<string, number>();
  private readonly pins = new Map<string, number>();

  constructor(readonly limit: number, private readonly evicts: boolean) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  touch(name: string): void {
    const bytes = this.entries.get(name);
    if (bytes === undefined) return;
    this.entries.delete(name);
    this.entries.set(name, bytes);
  }

  pin(name: string): void {
    this.pins.set(name, (this.pins.get(name) ?? 0) + 1);
  }

  unpin(name: string): void {
    const count = (this.pins.get(name) ?? 0) - 1;
    if (count > 0) this.pins.set(name, count);
    else this.pins.delete(name);
  }

  /** Adds (as most recent); returns what had to be evicted to make room. */
  insert(name: string, bytes: number): string[] {
    if (!this.entries.has(name)) this.used += bytes;
    this.entries.delete(name);
    this.entries.set(name, bytes);
    return this.trim();
  }

  trim(): string[] {
    const evicted: string[] = [];
    if (!this.evicts) return evicted;
    for (const [name, bytes] of this.entries) {
      if (this.used <= this.limit) break;
      if (this.pins.has(name)) continue;
      this.entries.delete(name);
      this.used -= bytes;
      this.evictions++;
      evicted.push(name);
    }
    return evicted;
  }
}

interface Interpreter {
  readonly packages: ReadonlySet<string>;
  readonly mem: number;
}

/**
 * Warm interpreters (SOCK's import cache of zygotes), bounded by the import
 * memory of what they hold, LRU. An invocation forks from the interpreter whose
 * packages are a subset of its own and save the most import time, and imports
 * only the rest; the interpreter it ends with is kept for the next one.
 */
class InterpreterCache {
  used = 0;
  evictions = 0;
  /** key (sorted package names) -> interpreter; Map order is recency order. */
  private readonly entries = new Map<string, Interpreter>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The best interpreter to fork for `wanted`, by import time saved; marks it most recent. */
  best(wanted: ReadonlySet<string>, importMs: (name: string) => number): ReadonlySet<string> {
    let bestKey: string | undefined;
    let bestSaved = -1;
    for (const [key, interp] of this.entries) {
      let saved = 0;
      let subset = true;
      for (const p of interp.packages) {
        if (!wanted.has(p)) {
          subset = false;
          break;
        }
        saved += importMs(p);
      }
      if (subset && saved > bestSaved) {
        bestSaved = saved;
        bestKey = key;
      }
    }
    if (bestKey === undefined) return new Set();
    const found = this.entries.get(bestKey) as Interpreter;
    this.entries.delete(bestKey);
    this.entries.set(bestKey, found);
    return found.packages;
  }

  keep(packages: ReadonlySet<string>, mem: number): void {
    if (mem > this.limit) return;
    const key = [...packages].sort().join('\u0000');
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.used -= old.mem;
    }
    this.entries.set(key, { packages, mem });
    this.used += mem;
    for (const [k, interp] of this.entries) {
      if (this.used <= this.limit) break;
      this.entries.delete(k);
      this.used -= interp.mem;
      this.evictions++;
    }
  }

  /** An uninstalled package cannot stay imported. */
  forget(evicted: readonly string[]): void {
    if (evicted.length === 0) return;
    for (const [key, interp] of this.entries) {
      if (evicted.some((p) => interp.packages.has(p))) {
        this.entries.delete(key);
        this.used -= interp.mem;
      }
    }
  }
}

/** One simulated worker: disk, interpreter cache and the CPU it runs on. */
export class WorkerModel {
  invocations = 0;
  installs = 0;
  imports = 0;
  coldInvocations = 0;
  warmInvocations = 0;
  private inFlight = 0;
  private running = 0;
  private peakRunning = 0;
  private closed = false;
  private readonly disk: PackageDisk;
  private readonly interpreters: InterpreterCache;
  /** Installs under way -> the invocations waiting for them, so concurrent needs share one install. */
  private readonly installing = new Map<string, (() => void)[]>();
  /** Installs off the CPU, cancelled on close. */
  private readonly timers = new Set<Timer>();

  constructor(
    private readonly workload: Workload,
    private readonly clock: Clock,
    readonly params: ModelParams,
    readonly name: string,
    readonly cpu: CpuModel = createCpu(clock, params.cpu, params.cores),
  ) {
    validateParams(params);
    for (const [handler, packages] of workload.registry) {
      const missing = packages.find((p) => !workload.packages.has(p));
      if (missing !== undefined) throw new Error(`package "${missing}" of handler "${handler}" has no entry in the package table`);
    }
    this.disk = new PackageDisk(params.allWarm ? Number.POSITIVE_INFINITY : params.diskBytes, !params.allWarm);
    this.interpreters = new InterpreterCache(params.allWarm ? Number.POSITIVE_INFINITY : params.importCacheBytes);
    if (params.allWarm) {
      for (const info of workload.packages.values()) this.disk.insert(info.name, info.bytes);
      for (const packages of workload.registry.values()) this.interpreters.keep(new Set(packages), this.importMem(packages));
    }
  }

  has(handler: string): boolean {
    return this.workload.registry.has(handler);
  }

  /** Packages whose next use is cheap: installed on this worker's disk. */
  packages(): string[] {
    return this.disk.names();
  }

  /**
   * Starts an invocation; `done` is called once, with its costs, when it ends.
   * Throws for an unknown handler or a closed worker (nothing is started then).
   */
  invoke(handler: string, done: (result: InvocationResult) => void): void {
    const listed = this.workload.registry.get(handler);
    if (listed === undefined) throw new Error(`unknown handler ${handler}`);
    if (this.closed) throw new WorkerClosedError();
    const packages = [...new Set(listed)];
    const arrived = this.clock.now();
    this.inFlight++;
    this.cpu.admit(() => {
      if (this.closed) return;
      this.running++;
      this.peakRunning = Math.max(this.peakRunning, this.running);
      new Invocation(this, handler, packages, arrived, done).start();
    });
  }

  status(): ModelStatus {
    return {
      packages: this.disk.names(),
      inFlight: this.inFlight,
      running: this.running,
      peakRunning: this.peakRunning,
      queued: this.inFlight - this.running,
      cores: this.cpu.cores,
      cpu: this.cpu.discipline,
      cpuBusy: this.cpu.busy,
      diskBytes: this.disk.limit,
      usedDiskBytes: this.disk.used,
      importCacheBytes: this.interpreters.limit,
      usedImportBytes: this.interpreters.used,
      interpreters: this.interpreters.size,
      installing: this.installing.size,
      installs: this.installs,
      imports: this.imports,
      evictions: this.disk.evictions,
      interpreterEvictions: this.interpreters.evictions,
      invocations: this.invocations,
      coldInvocations: this.coldInvocations,
      warmInvocations: this.warmInvocations,
      allWarm: this.params.allWarm,
    };
  }

  /** Stops the model: nothing in progress calls back any more, new invocations throw. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) timer.cancel();
    this.timers.clear();
    this.cpu.close();
  }

  // The steps of an invocation, used by Invocation.

  /** @internal */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal */
  now(): number {
    return this.clock.now();
  }

  /** @internal */
  info(name: string): PackageInfo {
    return this.workload.packages.get(name) as PackageInfo;
  }

  /** @internal */
  importMem(packages: Iterable<string>): number {
    let sum = 0;
    for (const p of packages) sum += this.info(p).importMem;
    return sum;
  }

  /** @internal */
  pinAll(packages: readonly string[]): void {
    for (const p of packages) {
      this.disk.pin(p);
      this.disk.touch(p);
    }
  }

  /** @internal */
  installed(name: string): boolean {
    return this.disk.has(name);
  }

  /**
   * Installs `name`, or joins the install already under way; `done(byMe)` when
   * it is on disk.
   */
  /** @internal */
  install(name: string, done: (byMe: boolean) => void): void {
    const waiters = this.installing.get(name);
    if (waiters) {
      waiters.push(() => done(false));
      return;
    }
    this.installing.set(name, []);
    this.installs++;
    const info = this.info(name);
    const ms = info.installMs * this.params.installScale;
    const installed = (): void => {
      if (this.closed) return;
      this.interpreters.forget(this.disk.insert(name, info.bytes));
      const joined = this.installing.get(name) ?? [];
      this.installing.delete(name);
      done(true);
      for (const w of joined) w();
    };
    if (this.params.installOnCpu) {
      this.cpu.work(ms, installed);
    } else {
      const timer = this.clock.setTimer(ms, () => {
        this.timers.delete(timer);
        installed();
      });
      this.timers.add(timer);
    }
  }

  /** @internal */
  bestInterpreter(packages: readonly string[]): ReadonlySet<string> {
    return this.interpreters.best(new Set(packages), (p) => this.info(p).importMs);
  }

  /** @internal */
  work(ms: number, done: () => void): void {
    if (ms <= 0) {
      done();
      return;
    }
    this.cpu.work(ms, () => {
      if (!this.closed) done();
    });
  }

  /** @internal */
  finish(packages: readonly string[], imported: number, cold: boolean): void {
    this.imports += imported;
    if (!this.params.allWarm) this.interpreters.keep(new Set(packages), this.importMem(packages));
    for (const p of packages) this.disk.unpin(p);
    this.interpreters.forget(this.disk.trim());
    this.invocations++;
    if (cold) this.coldInvocations++;
    else this.warmInvocations++;
    this.inFlight--;
    this.running--;
    this.cpu.leave();
  }
}

/** One invocation's walk through sandbox, installs, imports and run. */
class Invocation {
  private readonly cold: string[] = [];
  /** End of the previous phase: each phase is one clock reading minus the last, so the phases sum to the total. */
  private mark: number;
  private readonly queueMs: number;
  private sandboxMs = 0;
  private installMs = 0;
  private importMs = 0;
  private next = 0;

  constructor(
    private readonly worker: WorkerModel,
    private readonly handler: string,
    private readonly packages: readonly string[],
    private readonly arrived: number,
    private readonly done: (result: InvocationResult) => void,
  ) {
    this.mark = worker.now();
    this.queueMs = this.mark - arrived;
  }

  /** Time since the previous phase ended; 0 when nothing was waited for, so a clock read twice adds no noise. */
  private lap(waited: boolean): number {
    if (!waited) return 0;
    const now = this.worker.now();
    const ms = now - this.mark;
    this.mark = now;
    return ms;
  }

  start(): void {
    // Pinned before any work: a package this invocation relies on must not be
    // evicted by another invocation between its install and its use.
    this.worker.pinAll(this.packages);
    const ms = this.worker.params.sandboxMs;
    this.worker.work(ms, () => {
      this.sandboxMs = this.lap(ms > 0);
      this.installNext();
    });
  }

  /** Installs are sequential within an invocation, as pip installs a requirements list. */
  private installNext(): void {
    while (this.next < this.packages.length && this.worker.installed(this.packages[this.next] as string)) this.next++;
    if (this.next >= this.packages.length) {
      this.installMs = this.lap(this.cold.length > 0);
      this.importAll();
      return;
    }
    const name = this.packages[this.next++] as string;
    this.cold.push(name);
    this.worker.install(name, () => this.installNext());
  }

  private importAll(): void {
    const base = this.worker.bestInterpreter(this.packages);
    const toImport = this.packages.filter((p) => !base.has(p));
    let cpuMs = 0;
    for (const p of toImport) cpuMs += this.worker.info(p).importMs * this.worker.params.importScale;
    this.worker.work(cpuMs, () => {
      this.importMs = this.lap(cpuMs > 0);
      const runMs = this.worker.params.handlerMs;
      this.worker.work(runMs, () => this.end(toImport, this.lap(runMs > 0)));
    });
  }

  private end(imported: string[], runMs: number): void {
    this.worker.finish(this.packages, imported.length, this.cold.length > 0 || imported.length > 0);
    this.done({
      handler: this.handler,
      worker: this.worker.name,
      coldPackages: this.cold,
      importedPackages: imported,
      warmPackages: this.packages.length - imported.length,
      queueMs: round3(this.queueMs),
      sandboxMs: round3(this.sandboxMs),
      installMs: round3(this.installMs),
      importMs: round3(this.importMs),
      runMs: round3(runMs),
      totalMs: round3(this.mark - this.arrived),
    });
  }
}

/** Milliseconds to the microsecond, as every worker answer reports them. */
export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export function validateParams(p: ModelParams): void {
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new RangeError(message);
  };
  check(p.cpu === 'shared' || p.cpu === 'fcfs', `cpu must be "shared" or "fcfs", got "${String(p.cpu)}"`);
  check(p.cpu === 'shared' ? p.cores > 0 && Number.isFinite(p.cores) : Number.isInteger(p.cores) && p.cores >= 1,
    p.cpu === 'shared' ? `cores must be a positive number, got ${p.cores}` : `cores must be a positive integer with cpu "fcfs", got ${p.cores}`);
  check(typeof p.installOnCpu === 'boolean' && typeof p.allWarm === 'boolean', 'installOnCpu and allWarm must be booleans');
  check(p.diskBytes >= 0, `diskBytes must be non-negative (Infinity: unbounded), got ${p.diskBytes}`);
  check(p.importCacheBytes >= 0, `importCacheBytes must be non-negative (Infinity: unbounded), got ${p.importCacheBytes}`);
  for (const key of ['sandboxMs', 'handlerMs', 'installScale', 'importScale'] as const) {
    check(Number.isFinite(p[key]) && p[key] >= 0, `${key} must be a non-negative number, got ${p[key]}`);
  }
}

/**
 * Defaults, fitted on the thesis's round-robin log (pipbench/README.md, "Worker
 * model"; `pipbench calibrate` reproduces the fit). `cores` is one worker's
 * share of the thesis host: 5 workers on 4 vCPUs.
 */
export const MODEL_DEFAULTS: Readonly<ModelParams> = Object.freeze({
  cpu: 'shared',
  cores: 0.8,
  diskBytes: Number.POSITIVE_INFINITY,
  importCacheBytes: 0,
  sandboxMs: 0,
  handlerMs: 10,
  installScale: 0.65,
  importScale: 0.2,
  installOnCpu: true,
  allWarm: false,
});

/** The thesis's host: its 5 workers were processes sharing one m4.xlarge (4 vCPUs). */
export const THESIS_HOST = Object.freeze({ workers: 5, discipline: 'shared' as CpuDiscipline, cores: 4 });
