// The worker model's two caches: installed packages on disk (bytes, LRU,
// pinned while in use) and warm interpreters (SOCK's import cache, bounded by
// import memory, LRU).

/**
 * Installed packages with a byte bound and LRU eviction. Pinned packages (in use
 * by a running invocation) are never evicted; while pins hold more than the
 * bound the disk runs over it and is trimmed when they are released. The
 * process engine keeps its real package folders' books with it too.
 */
export class PackageDisk {
  used = 0;
  evictions = 0;
  /** name -> bytes; Map order is recency order, least recent first. */
  private readonly entries = new Map<string, number>();
  private readonly pins = new Map<string, number>();

  constructor(readonly limit: number, private readonly evicts: boolean) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  touch(name: string): void {
    const bytes = this.entries.get(name);
    if (bytes === undefined) return;
    this.entries.delete(name);
    this.entries.set(name, bytes);
  }

  pin(name: string): void {
    this.pins.set(name, (this.pins.get(name) ?? 0) + 1);
  }

  unpin(name: string): void {
    const count = (this.pins.get(name) ?? 0) - 1;
    if (count > 0) this.pins.set(name, count);
    else this.pins.delete(name);
  }

  /** Adds (as most recent) without evicting anything. */
  add(name: string, bytes: number): void {
    if (!this.entries.has(name)) this.used += bytes;
    this.entries.delete(name);
    this.entries.set(name, bytes);
  }

  /** Adds (as most recent); returns what had to be evicted to make room. */
  insert(name: string, bytes: number): string[] {
    this.add(name, bytes);
    return this.trim();
  }

  trim(): string[] {
    const evicted: string[] = [];
    if (!this.evicts) return evicted;
    for (const [name, bytes] of this.entries) {
      if (this.used <= this.limit) break;
      if (this.pins.has(name)) continue;
      this.entries.delete(name);
      this.used -= bytes;
      this.evictions++;
      evicted.push(name);
    }
    return evicted;
  }
}

interface Interpreter {
  readonly packages: ReadonlySet<string>;
  readonly mem: number;
}

/**
 * Warm interpreters (SOCK's import cache of zygotes), bounded by the import
 * memory of what they hold, LRU. An invocation forks from the interpreter whose
 * packages are a subset of its own and save the most import time, and imports
 * only the rest; the interpreter it ends with is kept for the next one.
 */
export class InterpreterCache {
  used = 0;
  evictions = 0;
  /** key (sorted package names) -> interpreter; Map order is recency order. */
  private readonly entries = new Map<string, Interpreter>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** The best interpreter to fork for `wanted`, by import time saved; marks it most recent. */
  best(wanted: ReadonlySet<string>, importMs: (name: string) => number): ReadonlySet<string> {
    let bestKey: string | undefined;
    let bestSaved = -1;
    for (const [key, interp] of this.entries) {
      let saved = 0;
      let subset = true;
      for (const p of interp.packages) {
        if (!wanted.has(p)) {
          subset = false;
          break;
        }
        saved += importMs(p);
      }
      if (subset && saved > bestSaved) {
        bestSaved = saved;
        bestKey = key;
      }
    }
    if (bestKey === undefined) return new Set();
    const found = this.entries.get(bestKey) as Interpreter;
    this.entries.delete(bestKey);
    this.entries.set(bestKey, found);
    return found.packages;
  }

  keep(packages: ReadonlySet<string>, mem: number): void {
    if (mem > this.limit) return;
    const key = [...packages].sort().join('\u0000');
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.used -= old.mem;
    }
    this.entries.set(key, { packages, mem });
    this.used += mem;
    for (const [k, interp] of this.entries) {
      if (this.used <= this.limit) break;
      this.entries.delete(k);
      this.used -= interp.mem;
      this.evictions++;
    }
  }

  /** An uninstalled package cannot stay imported. */
  forget(evicted: readonly string[]): void {
    if (evicted.length === 0) return;
    for (const [key, interp] of this.entries) {
      if (evicted.some((p) => interp.packages.has(p))) {
        this.entries.delete(key);
        this.used -= interp.mem;
      }
    }
  }
}
