// Every child process of a process-engine worker: each in its own process
// group, so that one kill ends it with whatever it started, and all of them
// killed when the worker closes, so that none outlives it.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** What a finished command printed and how it ended. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Wraps a command before it is spawned (the CPU quota puts it into a cgroup before it runs). */
export type CommandWrapper = (command: string, args: readonly string[]) => { command: string; args: string[] };

/** Keeps the last `limit` characters of a stream: enough to name an error, never a process's whole output. */
export class OutputTail {
  private text = '';
  constructor(private readonly limit = 16_384) {}
  add(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.limit) this.text = this.text.slice(-this.limit);
  }
  get value(): string {
    return this.text;
  }
  /** The last non-empty line, for a one-line error message. */
  lastLine(): string {
    const lines = this.text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
    return lines[lines.length - 1] ?? '';
  }
}

export class ChildProcesses {
  private readonly live = new Map<number, ChildProcessWithoutNullStreams>();
  private closed = false;

  constructor(private readonly wrap: CommandWrapper = (command, args) => ({ command, args: [...args] })) {}

  /** Pids of the children alive now (their process groups have the same ids). */
  pids(): number[] {
    return [...this.live.keys()];
  }

  /** Spawns a child in a new process group (and session); it is forgotten once it exits. */
  spawn(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcessWithoutNullStreams {
    if (this.closed) throw new Error('the worker is shutting down');
    const wrapped = this.wrap(command, args);
    const child = spawn(wrapped.command, wrapped.args, { detached: true, stdio: 'pipe', ...(env ? { env } : {}) });
    const pid = child.pid;
    if (pid !== undefined) {
      this.live.set(pid, child);
      child.once('exit', () => this.live.delete(pid));
    }
    return child;
  }

  /** Runs a command to its end. Rejects only when it cannot be started. */
  run(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      let child: ChildProcessWithoutNullStreams;
      try {
        child = this.spawn(command, args, env);
      } catch (err) {
        reject(err as Error);
        return;
      }
      const stdout = new OutputTail(1024 * 1024);
      const stderr = new OutputTail();
      child.stdout.on('data', (c: Buffer) => stdout.add(c));
      child.stderr.on('data', (c: Buffer) => stderr.add(c));
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout: stdout.value, stderr: stderr.value }));
    });
  }

  /** Kills one child's whole process group. */
  kill(child: ChildProcessWithoutNullStreams): void {
    killGroup(child);
  }

  /** Kills every child's process group and waits until each has exited; no child is started afterwards. */
  async closeAll(): Promise<void> {
    this.closed = true;
    const waits: Promise<void>[] = [];
    for (const child of this.live.values()) {
      waits.push(new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      }));
      killGroup(child);
    }
    await Promise.all(waits);
  }
}

function killGroup(child: ChildProcessWithoutNullStreams): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // The group is gone already (its leader exited and reaped); the child itself gets the signal below.
    child.kill('SIGKILL');
  }
}
