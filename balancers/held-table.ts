/**
 * Package names as small whole numbers, one numbering per policy (shared by
 * its worker records): a name is numbered the first time a function or a
 * worker's report names it, and keeps its number for the policy's life. The
 * numbers grow with the distinct names seen, which is bounded by the
 * packages the functions and the workers' caches name.
 */
export class PackageIds {
  private readonly ids = new Map<string, number>();
  /** Each number's name. */
  readonly names: string[] = [];
  private readonly lists = new WeakMap<readonly string[], Int32Array>();

  /** The name's number, given now if it has none. */
  of(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }

  /** The numbers of a function's package list, in its order; one array per list, so a list's numbers are told from another's by identity. */
  ofList(packages: readonly string[]): Int32Array {
    let list = this.lists.get(packages);
    if (list === undefined) {
      list = Int32Array.from(packages, (p) => this.of(p));
      this.lists.set(packages, list);
    }
    return list;
  }
}

/** A table entry's time when no request needing the package has been sent there since it was listed. */
export const NO_USE = -Infinity;

/**
 * What cost-aware believes one worker holds, by package number: per package,
 * when a request needing it was last sent there (`NO_USE`: never, while its
 * last report listed it) and whether that report listed it. Open addressing in
 * one array, two numbers per entry (the key: (number + 1) x 2, plus 1 when the
 * report listed it, 0 for an empty entry; keys are compared as 32-bit
 * integers, which holds for up to 2^29 package numbers; then the time), so that a look-up of
 * a worker the pick has not read lately costs one cache miss, not the several
 * of a hash map's buckets, entries and chain. The entries that have a use are
 * also listed in the order of their first use, the order a report walks them
 * in (as a Map's iteration would). Entries leave only when a report rebuilds
 * the table.
 */
export class HeldTable {
  private cells: Float64Array;
  private mask: number;
  private shift: number;
  private count = 0;
  private order: Int32Array;
  private listed = 0;

  constructor(expected = 0) {
    let bits = 3;
    while (1 << bits < expected * 2) bits++;
    this.cells = new Float64Array(2 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.order = new Int32Array(Math.max(4, expected));
  }

  /** How many entries have a use (`usedId` lists them). */
  get uses(): number {
    return this.listed;
  }

  /** Where package `id`'s entry is (pass it to `confirmed` and `time`), or -1 when it has none. */
  find(id: number): number {
    const want = id + 1;
    const cells = this.cells;
    const mask = this.mask;
    for (let e = Math.imul(want, 0x9e3779b1) >>> this.shift; ; e = (e + 1) & mask) {
      const key = cells[2 * e];
      if (key === 0) return -1;
      if (key >> 1 === want) return 2 * e;
    }
  }

  /** Whether the last report listed the package of entry `at`. */
  confirmed(at: number): boolean {
    return (this.cells[at] & 1) === 1;
  }

  /** When a request needing the package of entry `at` was last sent there, or NO_USE. */
  time(at: number): number {
    return this.cells[at + 1];
  }

  /** The package of the k-th entry with a use, in the order of first use. */
  usedId(k: number): number {
    return this.order[k];
  }

  /** A request needing package `id` was sent there at `now`. */
  use(id: number, now: number): void {
    let at = this.find(id);
    if (at < 0) at = this.insert(id, 0);
    if (this.cells[at + 1] === NO_USE) {
      if (this.listed === this.order.length) {
        const grown = new Int32Array(this.order.length * 2);
        grown.set(this.order);
        this.order = grown;
      }
      this.order[this.listed++] = id;
    }
    this.cells[at + 1] = now;
  }

  /** The last report listed package `id`. */
  confirm(id: number): void {
    const at = this.find(id);
    if (at < 0) this.insert(id, 1);
    else this.cells[at] = (id + 1) * 2 + 1;
  }

  private insert(id: number, confirmed: number): number {
    if ((this.count + 1) * 2 > this.mask + 1) this.grow();
    const want = id + 1;
    const cells = this.cells;
    const mask = this.mask;
    let e = Math.imul(want, 0x9e3779b1) >>> this.shift;
    while (cells[2 * e] !== 0) e = (e + 1) & mask;
    cells[2 * e] = want * 2 + confirmed;
    cells[2 * e + 1] = NO_USE;
    this.count++;
    return 2 * e;
  }

  private grow(): void {
    const old = this.cells;
    const bits = 32 - this.shift + 1;
    this.cells = new Float64Array(2 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    const cells = this.cells;
    const mask = this.mask;
    for (let i = 0; i < old.length; i += 2) {
      const key = old[i];
      if (key === 0) continue;
      let e = Math.imul(key >> 1, 0x9e3779b1) >>> this.shift;
      while (cells[2 * e] !== 0) e = (e + 1) & mask;
      cells[2 * e] = key;
      cells[2 * e + 1] = old[i + 1];
    }
  }
}
