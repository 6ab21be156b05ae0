// A clock whose time moves only when its timers fire: the discrete-event
// simulator runs the worker model (and the proxy's table) on it, so a
// 5-minute experiment takes milliseconds and every run is repeatable.
import type { Clock, Timer } from '../../src/clock.js';

interface Pending {
  readonly at: number;
  /** Insertion order: timers due at the same instant fire in the order they were set. */
  readonly seq: number;
  fn: (() => void) | undefined;
}

function earlier(a: Pending, b: Pending): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export class VirtualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly heap: Pending[] = [];
  private live = 0;

  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new RangeError(`a virtual clock starts at a finite time, got ${start}`);
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Timers still due (cancelled ones excluded). */
  get pending(): number {
    return this.live;
  }

  setTimer(ms: number, fn: () => void): Timer {
    if (Number.isNaN(ms)) throw new RangeError('timer delay is NaN');
    const entry: Pending = { at: this.time + Math.max(0, ms), seq: this.seq++, fn };
    this.push(entry);
    this.live++;
    return {
      cancel: () => {
        if (entry.fn === undefined) return;
        entry.fn = undefined;
        this.live--;
      },
    };
  }

  /** Fires every timer, in time order, including those set while running; returns the number fired. */
  run(): number {
    return this.runUntil(Number.POSITIVE_INFINITY);
  }

  /**
   * Fires the timers due at or before `t`, in order, then leaves the clock at `t`
   * (or at the last timer when `t` is infinite). Returns the number fired.
   */
  runUntil(t: number): number {
    if (Number.isNaN(t)) throw new RangeError('runUntil needs a time, got NaN');
    let fired = 0;
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > t) break;
      this.pop();
      const fn = top.fn;
      if (fn === undefined) continue;
      top.fn = undefined;
      this.live--;
      this.time = top.at;
      fired++;
      fn();
    }
    if (Number.isFinite(t) && t > this.time) this.time = t;
    return fired;
  }

  private push(entry: Pending): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(entry, heap[parent] as Pending)) break;
      heap[i] = heap[parent] as Pending;
      i = parent;
    }
    heap[i] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop() as Pending;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && earlier(heap[right] as Pending, heap[left] as Pending) ? right : left;
      if (!earlier(heap[child] as Pending, last)) break;
      heap[i] = heap[child] as Pending;
      i = child;
    }
    heap[i] = last;
  }
}
