export type Rejection = 'queue_full' | 'queue_timeout' | 'cancelled';

/** A request waiting for a slot; `cancel` (the client went away) takes it out of the queue. */
export interface Waiting {
  cancel(): void;
}

const WAITING = 0;
const STARTED = 1;
const GONE = 2;

class Entry implements Waiting {
  state = WAITING;
  constructor(
    readonly task: () => Promise<void>,
    readonly onReject: (reason: Rejection) => void,
    readonly deadline: number,
    private readonly owner: Admission,
  ) {}

  cancel = (): void => {
    if (this.state !== WAITING) return;
    this.state = GONE;
    this.owner.forget();
    this.onReject('cancelled');
  };
}

/**
 * Admission control: at most `capacity` requests (one per worker connection)
 * are forwarded at once; the rest wait in a bounded FIFO. A task holds its slot
 * until the promise it returns settles, so a slot is released exactly once.
 * The worker is chosen inside the task, when it leaves the queue (late binding).
 *
 * Written for the request path: admitting with a free slot costs a counter
 * increment; a waiting request costs one small object, with one timer for the
 * whole queue (every entry has the same timeout, so they expire in order).
 */
export class Admission {
  private active_ = 0;
  private waiting_ = 0;
  private queue: Entry[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limit: number,
    private readonly timeoutMs: number,
    private capacity: number,
  ) {}

  /** Follows the worker table: healthy workers x connections per worker. */
  setCapacity(capacity: number): void {
    this.capacity = capacity;
    this.drain();
  }

  get waiting(): number {
    return this.waiting_;
  }

  get active(): number {
    return this.active_;
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
    if (this.waiting_ === 0 && this.active_ < this.capacity) {
      this.start(task);
      return undefined;
    }
    if (this.waiting_ >= this.limit) {
      onReject('queue_full');
      return undefined;
    }
    const entry = new Entry(task, onReject, Date.now() + this.timeoutMs, this);
    this.queue.push(entry);
    this.waiting_++;
    if (this.timer === undefined) this.armTimer(this.timeoutMs);
    return entry;
  }

  /** Called by an entry that left the queue without starting. */
  forget(): void {
    this.waiting_--;
  }

  private start(task: () => Promise<void>): void {
    this.active_++;
    task().then(this.release, this.release);
  }

  private readonly release = (): void => {
    this.active_--;
    this.drain();
  };

  private drain(): void {
    while (this.waiting_ > 0 && this.active_ < this.capacity) {
      const entry = this.shift();
      if (entry.state !== WAITING) continue;
      entry.state = STARTED;
      this.waiting_--;
      this.start(entry.task);
    }
    if (this.waiting_ === 0) this.clear();
  }

  private shift(): Entry {
    const entry = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Entry;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return entry;
  }

  private armTimer(ms: number): void {
    this.timer = setTimeout(this.expire, Math.max(1, ms));
    this.timer.unref();
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!;
      if (entry.state === WAITING && entry.deadline > now) {
        this.armTimer(entry.deadline - now);
        return;
      }
      this.shift();
      if (entry.state === WAITING) {
        entry.state = GONE;
        this.waiting_--;
        entry.onReject('queue_timeout');
      }
    }
  };

  private clear(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.head > 0) {
      this.queue = [];
      this.head = 0;
    }
  }
}
