// The simulated OpenLambda worker's cost model, on an injected clock. It holds
// no real timers and no promises: the HTTP worker (pipbench/worker.ts) drives it
// on the real clock scaled by its time scale, the simulator on a virtual clock,
// so both run this very code. The model and every default, with the figure it
// was fitted to, are written down in pipbench/README.md ("Worker model").
import type { Clock, Timer } from '../../src/clock.js';
import { InterpreterCache, PackageDisk } from './caches.js';
import { createCpu, type CpuDiscipline, type CpuModel } from './cpu.js';
import type { PackageInfo } from '../package-info.js';
import type { Workload } from '../workload.js';

// The CPU is part of the worker model's surface (ModelParams.cpu names its
// discipline; workers on one host share one), so its factory and types are
// offered here too.
export { createCpu, type CpuDiscipline, type CpuModel } from './cpu.js';

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
   * CPU of starting one install process, paid once by an invocation that
   * starts installing (a real worker runs one pip for all of a request's
   * missing packages; its start-up does not shrink with the packages). 0 in the
   * thesis fit; `pipbench calibrate --real` fits it on a real worker.
   */
  installCallMs: number;
  /**
   * Invocations installing at once (a real worker runs at most this many pip
   * processes; the others wait their turn, in order); Infinity = no limit.
   */
  installSlots: number;
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

/** The counters both worker engines (this model and real processes) report. */
export interface WorkerCounters {
  /** Admitted and not yet answered. */
  running: number;
  installing: number;
  installs: number;
  evictions: number;
  importCacheBytes: number;
  usedImportBytes: number;
  interpreters: number;
  interpreterEvictions: number;
  invocations: number;
  coldInvocations: number;
  warmInvocations: number;
}

export interface ModelStatus extends WorkerCounters {
  /** Installed packages, least recently used first: their next use costs no install. */
  packages: string[];
  /** Invocations accepted and not yet answered. */
  inFlight: number;
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
  imports: number;
  allWarm: boolean;
}

export class WorkerClosedError extends Error {
  constructor() {
    super('the worker is shutting down');
    this.name = 'WorkerClosedError';
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
  private slotsTaken = 0;
  private readonly slotQueue: (() => void)[] = [];
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

  /** @internal Calls `ready` once one of the installSlots is this caller's (at once when one is free). */
  takeInstallSlot(ready: () => void): void {
    if (this.slotsTaken < this.params.installSlots) {
      this.slotsTaken++;
      ready();
    } else this.slotQueue.push(ready);
  }

  /** @internal */
  releaseInstallSlot(): void {
    const next = this.slotQueue.shift();
    // The slot passes straight to the next invocation waiting for one.
    if (next) next();
    else this.slotsTaken--;
  }

  /** @internal */
  installUnderWay(name: string): boolean {
    return this.installing.has(name);
  }

  /** @internal Installs `name`, or joins the install already under way; `done(byMe)` when it is on disk. */
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
  private installStarted = false;
  private holdsSlot = false;

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
      if (this.holdsSlot) {
        this.holdsSlot = false;
        this.worker.releaseInstallSlot();
      }
      this.installMs = this.lap(this.cold.length > 0);
      this.importAll();
      return;
    }
    const name = this.packages[this.next] as string;
    const params = this.worker.params;
    if (!this.installStarted && !this.worker.installUnderWay(name)) {
      // The install process starts once, in its turn, before its first package; then the missing ones are looked up again.
      this.installStarted = true;
      const start = (): void => this.worker.work(params.installCallMs, () => this.installNext());
      if (Number.isFinite(params.installSlots)) {
        this.worker.takeInstallSlot(() => {
          this.holdsSlot = true;
          start();
        });
      } else start();
      return;
    }
    this.next++;
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

function validateParams(p: ModelParams): void {
  const check = (ok: boolean, message: string): void => {
    if (!ok) throw new RangeError(message);
  };
  check(p.cpu === 'shared' || p.cpu === 'fcfs', `cpu must be "shared" or "fcfs", got "${String(p.cpu)}"`);
  check(p.cpu === 'shared' ? p.cores > 0 && Number.isFinite(p.cores) : Number.isInteger(p.cores) && p.cores >= 1,
    p.cpu === 'shared' ? `cores must be a positive number, got ${p.cores}` : `cores must be a positive integer with cpu "fcfs", got ${p.cores}`);
  check(typeof p.installOnCpu === 'boolean' && typeof p.allWarm === 'boolean', 'installOnCpu and allWarm must be booleans');
  check(p.diskBytes >= 0, `diskBytes must be non-negative (Infinity: unbounded), got ${p.diskBytes}`);
  check(p.installSlots >= 1, `installSlots must be at least 1 (Infinity: no limit), got ${p.installSlots}`);
  check(p.importCacheBytes >= 0, `importCacheBytes must be non-negative (Infinity: unbounded), got ${p.importCacheBytes}`);
  for (const key of ['sandboxMs', 'handlerMs', 'installScale', 'importScale', 'installCallMs'] as const) {
    check(Number.isFinite(p[key]) && p[key] >= 0, `${key} must be a non-negative number, got ${p[key]}`);
  }
}

/**
 * Defaults. installScale, importScale and sandboxMs are what `pipbench
 * calibrate --fit` chooses on the thesis's round-robin and random logs
 * (results/calibration/fit.md; pipbench/README.md, "Worker model"); the rest
 * is the thesis's set-up. `cores` is one worker's share of the thesis host: 5
 * workers on 4 vCPUs.
 */
export const MODEL_DEFAULTS: Readonly<ModelParams> = Object.freeze({
  cpu: 'shared',
  cores: 0.8,
  diskBytes: Number.POSITIVE_INFINITY,
  importCacheBytes: 0,
  sandboxMs: 50,
  handlerMs: 10,
  installScale: 0.6,
  importScale: 0.15,
  installCallMs: 0,
  installSlots: Number.POSITIVE_INFINITY,
  installOnCpu: true,
  allWarm: false,
});

/** The thesis's host: its 5 workers were processes sharing one m4.xlarge (4 vCPUs). */
export const THESIS_HOST = Object.freeze({ workers: 5, discipline: 'shared' as CpuDiscipline, cores: 4 });
