import { HeldTable, NO_USE, type PackageIds } from './held-table.js';
import type { WorkerRecord } from './worker-record.js';

/** How fast the learned package lifetime follows what reports show: each observation moves it 1/8 of the way. */
const TTL_LEARNING_RATE = 1 / 8;

/**
 * HeldMemos.flags: the package is in the worker's set. A memo reads the set
 * only where that decides the package's time: not for a package the last
 * report listed (the set holds it: it only grows until the next report
 * replaces it), nor for one with a use there (its time is that use either
 * way), for which the flag stays 0.
 */
const IN_SET = 1;
const CONFIRMED = 2;

/** Where a memo's fields sit in its stretch of HeldMemos.cells; the times of its packages follow. */
const SERIAL = 0;
const VERSION = 1;
const SET_SIZE = 2;
const SINCE = 3;

/**
 * What one function's picks know of the holdings of each of its candidates
 * (memo j: ring candidate j, and one more for the least-loaded free worker),
 * side by side in one array so that a pick finds a candidate's memo in one
 * place. Memo j's stretch of `cells` holds its fields (SERIAL, VERSION,
 * SET_SIZE) and then, per package i of the function, `cells[sinceAt(j) + i]`:
 * the time it was last known on the worker (-Infinity: not held, however
 * recent; see HeldPackages.since); `flags[flagsAt(j) + i]` holds its
 * flags. Memo j is valid while it is about the record of serial `SERIAL`, the
 * record's holdings are at `VERSION` and its worker's set has `SET_SIZE`
 * packages (between reports the table only adds to a set; a report replaces
 * it). A worker is weighed again and again for the few functions whose keys
 * lie near it on the ring, so most picks read this array instead of three
 * hash tables per package.
 */
export class HeldMemos {
  readonly cells: Float64Array;
  readonly flags: Uint8Array;
  private readonly stride: number;

  constructor(
    private readonly packageCount: number,
    memoCount: number,
  ) {
    this.stride = SINCE + packageCount;
    // Serial -1 is no record's: every memo starts invalid.
    this.cells = new Float64Array(memoCount * this.stride).fill(-1);
    this.flags = new Uint8Array(memoCount * packageCount);
  }

  /** Where memo `j`'s flags start in `flags`. */
  flagsAt(j: number): number {
    return j * this.packageCount;
  }

  /** Where the times of memo `j`'s packages start in `cells`. */
  sinceAt(j: number): number {
    return j * this.stride + SINCE;
  }

  /** Whether memo `j` is about `r` and still valid. */
  fresh(j: number, r: WorkerRecord): boolean {
    const at = j * this.stride;
    const cells = this.cells;
    return cells[at + SERIAL] === r.serial && cells[at + VERSION] === r.holdVersion && cells[at + SET_SIZE] === r.view.packages.size;
  }

  /** Memo `j` is now about `r` as it stands. */
  stamp(j: number, r: WorkerRecord): void {
    const at = j * this.stride;
    this.cells[at + SERIAL] = r.serial;
    this.cells[at + VERSION] = r.holdVersion;
    this.cells[at + SET_SIZE] = r.view.packages.size;
  }
}

/**
 * What the policy believes each worker holds: its set as last reported or
 * routed, aged by a TTL learned from reports. A package the table added on
 * routing but no report confirmed ages from its last use, as the worker's
 * cache would evict it; a package routed there and not yet listed by a report
 * counts as held (installing) for the TTL. Packages go by number (`ids`) in
 * the records' tables (HeldTable); the workers' own sets go by name.
 */
export class HeldPackages {
  /** Learned: how long an unused package stays on a worker. */
  ttlMs: number;
  /** Lifetimes observed in reports (evictions and survivals), for describe(). */
  ttlObservations = 0;

  constructor(
    initialTtlMs: number,
    readonly ids: PackageIds,
  ) {
    this.ttlMs = initialTtlMs;
  }

  /** Whether `r`'s worker still holds package `p`. */
  holds(r: WorkerRecord, p: string, now: number): boolean {
    this.current(r, now);
    const id = this.ids.of(p);
    const at = r.held.find(id);
    const flags = this.flagsOf(r, p, at);
    return now - this.since(r, this.lastUse(r, id, at), flags) <= this.ttlMs;
  }

  /**
   * Memo `j` of `memos` (about the function of `packages`, numbered `ids`)
   * made about `r` as it stands, when it is not (`memos.fresh`), after
   * `current(r)`: `memos.cells[memos.sinceAt(j) + i]` is when packages[i] was
   * last known there, and it is held while now minus that is within `ttlMs`.
   */
  refresh(memos: HeldMemos, j: number, packages: readonly string[], ids: Int32Array, r: WorkerRecord): void {
    const at = memos.sinceAt(j);
    const base = memos.flagsAt(j);
    const held = r.held;
    for (let i = 0; i < packages.length; i++) {
      const entry = held.find(ids[i]);
      const used = this.lastUse(r, ids[i], entry);
      let flags: number;
      // Listed by the report taken in: still in the set, which only grows until the next report replaces it.
      if (entry >= 0 && held.confirmed(entry)) flags = IN_SET | CONFIRMED;
      // Used here and not listed: its time is its last use whether or not the set names it (see since), so the set is not read.
      else if (used !== NO_USE) flags = 0;
      else flags = r.view.packages.has(packages[i]) ? IN_SET : 0;
      memos.flags[base + i] = flags;
      memos.cells[at + i] = this.since(r, used, flags);
    }
    memos.stamp(j, r);
  }

  /**
   * A request needing `packages` (numbered `ids`, the array `ids.ofList`
   * gives) was sent to `r`'s worker. With `memos` and `j` (memo j about these
   * packages, as the pick just read it) the use is noted in the memo and
   * written to the record's table when something next reads it, so a pick
   * that goes where it went before touches no table.
   */
  used(ids: Int32Array, r: WorkerRecord, memos: HeldMemos | undefined, j: number, now: number): void {
    this.current(r, now);
    const fresh = memos !== undefined && memos.fresh(j, r);
    if (r.pendingUse !== ids) this.flushUse(r);
    r.pendingUse = ids;
    r.pendingUseAt = now;
    r.holdVersion++;
    if (!fresh) return;
    const at = memos.sinceAt(j);
    const base = memos.flagsAt(j);
    for (let i = 0; i < ids.length; i++) memos.cells[at + i] = this.since(r, now, memos.flags[base + i]);
    memos.stamp(j, r);
  }

  /** When a request needing package `id` (its entry in the record's table at `entry`, -1 none) was last sent to `r`'s worker: the deferred use, else the table's; NO_USE when none. */
  private lastUse(r: WorkerRecord, id: number, entry: number): number {
    const pending = r.pendingUse;
    if (pending !== undefined) for (let i = 0; i < pending.length; i++) if (pending[i] === id) return r.pendingUseAt;
    return entry >= 0 ? r.held.time(entry) : NO_USE;
  }

  /**
   * Writes a use `used` deferred into the record's table. Until then nothing
   * else wrote to that table (every writer, and the report that walks it,
   * flushes first; readers read through `lastUse`), so it ends as if each use
   * had been written at once: same entries, same order, the last use's time.
   */
  private flushUse(r: WorkerRecord): void {
    const ids = r.pendingUse;
    if (ids === undefined) return;
    r.pendingUse = undefined;
    for (let i = 0; i < ids.length; i++) r.held.use(ids[i], r.pendingUseAt);
  }

  /** Takes in a report that replaced the worker's set since the last look. */
  current(r: WorkerRecord, now: number): void {
    if (r.heldSeen !== r.view.packages) this.takeReport(r, r.view.packages, now);
  }

  /**
   * A status report replaced the worker's set. A package last used at t that
   * the worker held at its previous report and no longer lists was evicted
   * after about now - t unused; one still listed though unused for longer than
   * the TTL shows the TTL too short. Both move the TTL. The record's table is
   * built again: the uses that stand, in their order, and the report's
   * packages confirmed.
   */
  private takeReport(h: WorkerRecord, reported: ReadonlySet<string>, now: number): void {
    this.flushUse(h);
    const old = h.held;
    const next = new HeldTable(Math.max(old.uses, reported.size));
    const names = this.ids.names;
    for (let k = 0; k < old.uses; k++) {
      const id = old.usedId(k);
      const entry = old.find(id);
      const t = old.time(entry);
      const idle = now - t;
      if (!reported.has(names[id])) {
        // Listed before and gone now: evicted. Never listed since it was routed here: its install
        // may still be under way (a report lists installed packages only), so it stays until the TTL.
        if (old.confirmed(entry)) {
          this.learnTtl(idle);
          continue;
        }
        if (idle > this.ttlMs) continue;
      } else if (idle > this.ttlMs) {
        this.learnTtl(idle);
      }
      next.use(id, t);
    }
    for (const p of reported) next.confirm(this.ids.of(p));
    h.held = next;
    h.heldSeen = reported;
    h.confirmedAt = now;
    h.holdVersion++;
  }

  private learnTtl(lifetimeMs: number): void {
    this.ttlMs += (Math.max(0, lifetimeMs) - this.ttlMs) * TTL_LEARNING_RATE;
    this.ttlObservations++;
  }

  /** IN_SET and CONFIRMED for package `p` on `h`'s worker, its entry in the record's table at `entry` (-1 none). */
  private flagsOf(h: WorkerRecord, p: string, entry: number): number {
    return (h.view.packages.has(p) ? IN_SET : 0) | (entry >= 0 && h.held.confirmed(entry) ? CONFIRMED : 0);
  }

  /**
   * When a package was last known on the worker, given its last use there
   * (`used`, NO_USE for none) and its flags: listed in the set, the later of
   * its last use and the last report (if that report listed it, or it was
   * never used); not in the set, its last use if no report listed it
   * (installing), else never.
   */
  private since(h: WorkerRecord, used: number, flags: number): number {
    if ((flags & IN_SET) === 0) return (flags & CONFIRMED) === 0 ? used : -Infinity;
    let evidence = used;
    if (h.confirmedAt > evidence && ((flags & CONFIRMED) !== 0 || evidence === NO_USE)) evidence = h.confirmedAt;
    return evidence;
  }
}
