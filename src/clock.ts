/**
 * Time for the parts of the proxy that know nothing of sockets: the worker
 * table, the queues, the leases and health back-off. The proxy runs them on
 * `realClock`; pipbench's simulator runs the very same code on a virtual clock.
 */
export interface Timer {
  /** Stops the timer; calling it again, or after the timer fired, does nothing. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on this clock's time line (monotonic). */
  now(): number;
  /** Calls `fn` once, `ms` milliseconds from now (0 or more). Real timers never keep the process alive. */
  setTimer(ms: number, fn: () => void): Timer;
}

/** Lets the event loop serve what waits (sockets, timers) before going on: what a long job awaits between its slices. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** setTimeout accepts at most 2^31-1 ms; longer delays would fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

class RealTimer implements Timer {
  constructor(private handle: NodeJS.Timeout | undefined) {}
  cancel(): void {
    if (this.handle !== undefined) clearTimeout(this.handle);
    this.handle = undefined;
  }
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fn) {
    const handle = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    handle.unref();
    return new RealTimer(handle);
  },
};
