import { Worker as Thread } from 'node:worker_threads';

/**
 * A status body parsed on a thread of its own, so that a large body never
 * holds the event loop while JSON.parse runs. What comes back is the body's
 * top-level shape with its package list joined by newlines (one string copies
 * in one step; an array of many strings would be rebuilt item by item on the
 * event loop); the caller validates it as it validates a body parsed in place.
 */
export interface ParsedStatus {
  /** False when the body is not a JSON object. */
  readonly object: boolean;
  readonly packagesJoined?: string;
  /** Entries of the package list (when it is a list of names without newlines), else -1. */
  readonly packageCount: number;
  readonly inFlight?: unknown;
  readonly cores?: unknown;
}

// Plain JavaScript, so that the thread runs the same under the compiled build and the TypeScript test runner.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const decoder = new TextDecoder();
parentPort.on('message', ({ id, bytes }) => {
  let out = { object: false, packageCount: -1 };
  try {
    const data = JSON.parse(decoder.decode(bytes));
    if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
      const { packages, inFlight, cores } = data;
      const names = Array.isArray(packages) && packages.every((p) => typeof p === 'string' && !p.includes('\\n'));
      out = {
        object: true,
        packagesJoined: names ? packages.join('\\n') : undefined,
        packageCount: names ? packages.length : -1,
        inFlight: typeof inFlight === 'number' ? inFlight : undefined,
        cores: typeof cores === 'number' ? cores : undefined,
      };
    }
  } catch {}
  parentPort.postMessage({ id, out });
});
`;

/** One parsing thread, started on the first large body and kept (unreferenced) until close. */
export class StatusParser {
  private thread: Thread | undefined;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (p: ParsedStatus) => void; reject: (e: Error) => void }>();

  parse(bytes: Uint8Array): Promise<ParsedStatus> {
    const thread = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.postMessage({ id, bytes }, [bytes.buffer as ArrayBuffer]);
      if (this.pending.size === 1) thread.ref();
    });
  }

  async close(): Promise<void> {
    const thread = this.thread;
    this.thread = undefined;
    if (thread !== undefined) await thread.terminate();
  }

  private start(): Thread {
    if (this.thread !== undefined) return this.thread;
    const thread = new Thread(THREAD_SOURCE, { eval: true });
    thread.unref();
    thread.on('message', ({ id, out }: { id: number; out: ParsedStatus }) => {
      this.pending.get(id)?.resolve(out);
      this.pending.delete(id);
      if (this.pending.size === 0) thread.unref();
    });
    const fail = (err: Error): void => {
      if (this.thread === thread) this.thread = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    thread.on('error', fail);
    thread.on('exit', () => fail(new Error('status parser thread stopped')));
    this.thread = thread;
    return thread;
  }
}
