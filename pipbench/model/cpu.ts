// The CPU a worker model runs on: processor sharing (the Linux scheduler
// time-slicing sandboxes) or first-come-first-served cores. One instance shared
// by several workers models workers as processes on one host.

import type { Clock, Timer } from '../../src/clock.js';

/**
 * How invocations use the CPU.
 * - `shared`: processor sharing. Every piece of CPU work in progress advances at
 *   min(1, cores / jobs): the Linux scheduler time-slicing many sandboxes.
 * - `fcfs`: `cores` slots; an invocation holds one from admission to its answer,
 *   later arrivals wait first come, first served, and work runs at full speed.
 */
export type CpuDiscipline = 'shared' | 'fcfs';

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
