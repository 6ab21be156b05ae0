import PQueue from 'p-queue';

export type Rejection = 'queue_full' | 'queue_timeout' | 'cancelled';

/** A request waiting for a slot; `cancel` (e.g. the client went away) takes it out of the queue. */
export interface Waiting {
  cancel(): void;
}

/**
 * Admission control: at most `capacity` requests (one per worker connection)
 * are forwarded at once; the rest wait in a bounded FIFO. A task holds its slot
 * until the promise it returns settles, so a slot is released exactly once.
 * The worker is chosen inside the task, when it leaves the queue (late binding).
 */
export class Admission {
  private readonly queue: PQueue;
  rejectedFull = 0;
  rejectedTimeout = 0;

  constructor(
    private readonly limit: number,
    private readonly timeoutMs: number,
    capacity: number,
  ) {
    this.queue = new PQueue({ concurrency: Math.max(1, capacity) });
  }

  /** Follows the worker table: healthy workers x connections per worker. */
  setCapacity(capacity: number): void {
    this.queue.concurrency = Math.max(1, capacity);
  }

  get waiting(): number {
    return this.queue.size;
  }

  get active(): number {
    return this.queue.pending;
  }

  /** Seconds a rejected client should wait before retrying: about one queue timeout. */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.timeoutMs / 1000));
  }

  /**
   * Runs `task` now if a slot is free, else queues it. Returns a handle only
   * when the request waits; `onReject` is called instead of the task when the
   * queue is full, the wait times out, or the wait is cancelled.
   */
  admit(task: () => Promise<void>, onReject: (reason: Rejection) => void): Waiting | undefined {
    const queue = this.queue;
    if (queue.size === 0 && queue.pending < queue.concurrency) {
      void queue.add(task);
      return undefined;
    }
    if (queue.size >= this.limit) {
      this.rejectedFull++;
      onReject('queue_full');
      return undefined;
    }
    const controller = new AbortController();
    let started = false;
    const timer = setTimeout(() => controller.abort('queue_timeout'), this.timeoutMs);
    queue
      .add(
        () => {
          // From here the task owns its slot; cancellation is the task's business.
          started = true;
          clearTimeout(timer);
          return task();
        },
        { signal: controller.signal },
      )
      .catch((reason: unknown) => {
        if (started) return;
        clearTimeout(timer);
        if (reason === 'queue_timeout') this.rejectedTimeout++;
        onReject(reason === 'queue_timeout' ? 'queue_timeout' : 'cancelled');
      });
    return {
      cancel() {
        if (!started) controller.abort('cancelled');
      },
    };
  }

  /** Resolves when nothing runs or waits. */
  idle(): Promise<void> {
    return this.queue.onIdle();
  }
}
