// Warm Python interpreters, one handler each: an interpreter is started with
// the handler's path, imports lambda_func once, then answers calls one at a
// time. Idle ones are kept for the next call of their handler, bounded by the
// sum of every interpreter's resident memory (measured from /proc), least
// recently used idle ones killed first.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { InvocationError } from '../worker.js';
import { OutputTail, type ChildProcesses } from './children.js';
import { driverArgs } from './driver.js';

/** What an interpreter is for: its handler, the handler's folder and its packages' folders. */
export interface InterpreterSpec {
  handler: string;
  handlerDir: string;
  packages: readonly string[];
  packageDirs: readonly string[];
}

export interface CallResult {
  result: unknown;
  runMs: number;
}

interface DriverLine {
  ready?: boolean;
  ok?: boolean;
  error?: string;
  importMs?: number;
  importCpuMs?: number;
  runMs?: number;
  result?: unknown;
}

/** Resident memory of a process in bytes (VmRSS of /proc/<pid>/status), 0 once it is gone. */
function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export class Interpreter {
  rssBytes = 0;
  /** Wall time from spawn to lambda_func imported. */
  startMs = 0;
  /** Of which importing lambda_func (hence its packages). */
  importMs = 0;
  /** The process CPU time that import took (under a quota or a busy CPU, less than importMs). */
  importCpuMs = 0;
  private pending: { resolve: (line: DriverLine) => void; reject: (err: Error) => void } | undefined;
  private exited: Error | undefined;
  private readonly stderr = new OutputTail();
  /** Settles once the process has exited (or never started). */
  readonly gone: Promise<void>;

  private constructor(readonly spec: InterpreterSpec, private readonly child: ChildProcessWithoutNullStreams, private readonly children: ChildProcesses) {
    createInterface({ input: child.stdout }).on('line', (text) => this.answer(text));
    child.stderr.on('data', (c: Buffer) => this.stderr.add(c));
    child.stdin.on('error', () => undefined); // a dead child's stdin: reported by the exit below
    this.gone = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        this.ended(`could not start: ${err.message}`);
        resolve();
      });
      child.once('close', (code, signal) => {
        this.ended(signal ? `was killed by ${signal}` : `exited with code ${code}`);
        resolve();
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exited === undefined;
  }

  /** Starts an interpreter for the spec; resolves once lambda_func is imported. */
  static async start(children: ChildProcesses, python: string, spec: InterpreterSpec): Promise<Interpreter> {
    const started = performance.now();
    const interp = new Interpreter(spec, children.spawn(python, driverArgs(spec.handlerDir, spec.packageDirs)), children);
    const ready = await interp.next();
    if (!ready.ready) {
      interp.kill();
      // Answered only once the process is gone: a failed start leaves nothing running.
      await interp.gone;
      throw new InvocationError(500, 'import_failed', `handler "${spec.handler}" failed to import (${spec.handlerDir}/lambda_func.py): ${ready.error ?? 'no reason given'}`);
    }
    interp.startMs = performance.now() - started;
    interp.importMs = ready.importMs ?? 0;
    interp.importCpuMs = ready.importCpuMs ?? 0;
    interp.measure();
    return interp;
  }

  /** One call; a handler that raises is an InvocationError `handler_error`, the interpreter stays usable. */
  async call(event: unknown): Promise<CallResult> {
    const line = this.next();
    this.child.stdin.write(`${JSON.stringify(event)}\n`);
    const answer = await line;
    if (!answer.ok) throw new InvocationError(500, 'handler_error', `handler "${this.spec.handler}" raised ${answer.error ?? 'an error'}`);
    return { result: answer.result ?? null, runMs: answer.runMs ?? 0 };
  }

  measure(): number {
    this.rssBytes = this.alive ? residentBytes(this.pid) : 0;
    return this.rssBytes;
  }

  kill(): void {
    this.children.kill(this.child);
  }

  private next(): Promise<DriverLine> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }

  private answer(text: string): void {
    const pending = this.pending;
    this.pending = undefined;
    let line: DriverLine;
    try {
      line = JSON.parse(text) as DriverLine;
    } catch {
      pending?.reject(new InvocationError(500, 'interpreter_crashed', `the interpreter of "${this.spec.handler}" (pid ${this.pid}) wrote a malformed answer`));
      this.kill();
      return;
    }
    pending?.resolve(line);
  }

  private ended(how: string): void {
    if (this.exited) return;
    const last = this.stderr.lastLine();
    this.exited = new InvocationError(500, 'interpreter_crashed', `the interpreter of "${this.spec.handler}" (pid ${this.pid}) ${how}${last ? `: ${last}` : ''}`);
    this.rssBytes = 0;
    this.pending?.reject(this.exited);
    this.pending = undefined;
  }
}

export class InterpreterPool {
  started = 0;
  evictions = 0;
  /** Idle interpreters; Set order is recency, least recent first. */
  private readonly idle = new Set<Interpreter>();
  private readonly busy = new Set<Interpreter>();

  constructor(private readonly children: ChildProcesses, private readonly python: string, readonly limitBytes: number) {}

  get count(): number {
    return this.idle.size + this.busy.size;
  }

  get idleCount(): number {
    return this.idle.size;
  }

  /** Resident memory of every live interpreter, as last measured. */
  get usedBytes(): number {
    let total = 0;
    for (const i of this.idle) total += i.rssBytes;
    for (const i of this.busy) total += i.rssBytes;
    return total;
  }

  pids(): number[] {
    return [...this.idle, ...this.busy].map((i) => i.pid);
  }

  /** The handler's most recently used idle interpreter, else a new one (`fresh`). */
  async take(spec: InterpreterSpec): Promise<{ interpreter: Interpreter; fresh: boolean }> {
    const warm = [...this.idle].reverse().find((i) => i.spec.handler === spec.handler && i.alive);
    if (warm) {
      this.idle.delete(warm);
      this.busy.add(warm);
      return { interpreter: warm, fresh: false };
    }
    const interpreter = await Interpreter.start(this.children, this.python, spec);
    this.started++;
    this.busy.add(interpreter);
    return { interpreter, fresh: true };
  }

  /** Back after a call: kept idle if alive and the bound allows, else killed. */
  give(interpreter: Interpreter): void {
    this.busy.delete(interpreter);
    if (!interpreter.alive) return;
    interpreter.measure();
    this.idle.add(interpreter);
    this.trim();
  }

  /** Interpreters importing deleted packages cannot stay: their path names folders that are gone. */
  forgetPackages(names: readonly string[]): void {
    const gone = new Set(names);
    for (const i of this.idle) {
      if (i.spec.packages.some((p) => gone.has(p))) {
        this.idle.delete(i);
        i.kill();
      }
    }
  }

  private trim(): void {
    let used = this.usedBytes;
    for (const i of this.idle) {
      if (used <= this.limitBytes) break;
      this.idle.delete(i);
      used -= i.rssBytes;
      this.evictions++;
      i.kill();
    }
  }
}
