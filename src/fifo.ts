/**
 * A first-in first-out queue on an array with a moving head: push and shift
 * are O(1) amortised and allocate nothing per item. Items that leave from the
 * middle (a waiting client gave up) are not searched for: their owner marks
 * them gone and `shift` skips them (`isLive`).
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(private readonly isLive: (item: T) => boolean) {}

  /** Slots in use, including items already gone but not yet skipped. */
  get slots(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** Puts `items` before everything already queued, in their order (a removed worker's queue goes back in front). */
  unshiftAll(items: readonly T[]): void {
    if (items.length === 0) return;
    this.items = [...items, ...this.items.slice(this.head)];
    this.head = 0;
  }

  /** The first live item, without removing it. */
  peek(): T | undefined {
    this.skipGone();
    return this.items[this.head];
  }

  /** Removes and returns the first live item. */
  shift(): T | undefined {
    this.skipGone();
    if (this.head === this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    this.compact();
    return item;
  }

  /** The item in slot `i` counted from the head if it is live, else undefined (for a scan up to `slots`). */
  at(i: number): T | undefined {
    const item = this.items[this.head + i];
    return item !== undefined && this.isLive(item) ? item : undefined;
  }

  /** Empties slot `i` counted from the head (an item served out of order). */
  removeAt(i: number): void {
    if (i === 0) {
      this.shift();
      return;
    }
    this.items[this.head + i] = undefined;
  }

  /** Every live item, in order, and empties the queue. */
  takeAll(): T[] {
    const out: T[] = [];
    for (let i = this.head; i < this.items.length; i++) {
      const item = this.items[i];
      if (item !== undefined && this.isLive(item)) out.push(item);
    }
    this.items = [];
    this.head = 0;
    return out;
  }

  private skipGone(): void {
    while (this.head < this.items.length) {
      const item = this.items[this.head];
      if (item !== undefined && this.isLive(item)) return;
      this.items[this.head++] = undefined;
    }
    this.compact();
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
