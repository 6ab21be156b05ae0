/** An element that knows its own position, so the heap can move or remove it in O(log n). */
export interface HeapItem {
  /** Position in the heap's array, or -1 while not in the heap. */
  heapIndex: number;
}

/**
 * A binary min-heap whose items carry their index: update and remove take
 * O(log n) without a search. `before(a, b)` is true when `a` must come out first;
 * it must be a strict order (break every tie) for the order of picks to be
 * deterministic.
 */
export class IndexedHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.items[item.heapIndex] === item;
  }

  push(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  remove(item: T): void {
    if (!this.has(item)) return;
    const at = item.heapIndex;
    const last = this.items.pop() as T;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[at] = last;
    last.heapIndex = at;
    this.restore(at);
  }

  /** Call after the item's key changed, in either direction. */
  update(item: T): void {
    if (this.has(item)) this.restore(item.heapIndex);
  }

  /** Every item, in no particular order (for rebuilding keys in bulk). */
  forEach(visit: (item: T) => void): void {
    for (let i = 0; i < this.items.length; i++) visit(this.items[i]);
  }

  private restore(at: number): void {
    if (at > 0 && this.before(this.items[at], this.items[(at - 1) >> 1])) this.up(at);
    else this.down(at);
  }

  private up(at: number): void {
    const items = this.items;
    const item = items[at];
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.before(item, items[parent])) break;
      items[at] = items[parent];
      items[at].heapIndex = at;
      at = parent;
    }
    items[at] = item;
    item.heapIndex = at;
  }

  private down(at: number): void {
    const items = this.items;
    const count = items.length;
    const item = items[at];
    for (;;) {
      let child = 2 * at + 1;
      if (child >= count) break;
      if (child + 1 < count && this.before(items[child + 1], items[child])) child++;
      if (!this.before(items[child], item)) break;
      items[at] = items[child];
      items[at].heapIndex = at;
      at = child;
    }
    items[at] = item;
    item.heapIndex = at;
  }
}
