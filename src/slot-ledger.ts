// The primary's account of who may use which of a worker's connections, in a
// proxy of several processes: each process starts with its share of every
// worker's limit, and a process whose requests wait for a worker borrows the
// connections other processes leave free, through the primary. Nothing here
// runs per request: a process asks only when a request of its own waits.
import { connectionShare } from './process-share.js';
import type { TableChange } from './table-sync.js';

/** What the ledger tells one process (sent over the cluster channel by the primary). */
export type SlotMessage =
  /** Use `count` more connections of the worker (its limit in that process rises by that much). */
  | { readonly wr: 'grant'; readonly id: string; readonly count: number }
  /**
   * Requests of another process wait for this worker. While `on`: hand back every
   * connection of it that is free with no request of this process waiting for it,
   * and, when `above` is a number, every one that frees while this process's limit
   * is above it, even with requests of its own waiting (the other process is below
   * its share and gets it back first). Not `on`: keep what you hold.
   */
  | { readonly wr: 'lend'; readonly id: string; readonly on: boolean; readonly above: number | null };

interface WorkerSlots {
  limit: number;
  /** Connections each process may use: its table's limit once what is in flight between them arrived. */
  readonly held: number[];
  /** Requests of each process waiting for connections of this worker, as it last said. */
  readonly wants: number[];
  /** The change (by the primary's sequence number) that last set every process back to its share. */
  resetSeq: number;
  /** The last `lend` state sent to each process ('' for none). */
  readonly lending: string[];
}

/**
 * Connections of each worker, by process index: what each process holds, and
 * the free ones (the limit less what all hold) in the primary's hands. The sum
 * held never exceeds the limit: a process only uses what it holds; the primary
 * counts a grant as held from when it sends it, and a hand-back as held until
 * it arrives. A process that leaves holds nothing; one that joins gets its
 * share, or what is free of it.
 */
export class SlotLedger {
  private readonly workers = new Map<string, WorkerSlots>();
  private readonly live: boolean[];

  constructor(private readonly count: number, private readonly send: (index: number, message: SlotMessage) => void) {
    this.live = Array.from({ length: count }, () => false);
  }

  private share(w: WorkerSlots, id: string, index: number): number {
    return connectionShare(w.limit, this.count, index, id);
  }

  /** New workers (`seq` is the change that adds them): every live process takes its share, as it does on applying the change. */
  added(entries: readonly { readonly id: string; readonly limit: number }[], seq: number): void {
    for (const { id, limit } of entries) {
      const w: WorkerSlots = { limit, held: [], wants: Array.from({ length: this.count }, () => 0), resetSeq: seq, lending: Array.from({ length: this.count }, () => '') };
      this.workers.set(id, w);
      for (let i = 0; i < this.count; i++) w.held[i] = this.live[i] ? this.share(w, id, i) : 0;
    }
  }

  /**
   * New limits: what each process holds of each worker after the change, for
   * the change to carry (a process sets its limit to its part). What a process
   * holds is kept, connections in use included, while the new limit covers it;
   * a lower limit is taken from the processes furthest above their new share
   * (their requests in flight finish above it, as with one process).
   */
  resized(entries: readonly { readonly id: string; readonly limit: number }[]): Map<string, number[]> {
    const parts = new Map<string, number[]>();
    for (const { id, limit } of entries) {
      const w = this.workers.get(id);
      if (w === undefined) continue;
      w.limit = limit;
      let excess = -this.free(w, true);
      while (excess > 0) {
        let most = -1;
        for (let i = 0; i < this.count; i++) {
          if (w.held[i]! > 0 && (most < 0 || w.held[i]! - this.share(w, id, i) > w.held[most]! - this.share(w, id, most))) most = i;
        }
        w.held[most]!--;
        excess--;
      }
      parts.set(id, [...w.held]);
    }
    return parts;
  }

  /** The change numbered `seq` carried the parts `resized` gave: hand-backs sent before a process applied it are void. */
  applied(ids: readonly string[], seq: number): void {
    for (const id of ids) {
      const w = this.workers.get(id);
      if (w === undefined) continue;
      w.resetSeq = seq;
      this.settle(id, w);
    }
  }

  removed(ids: readonly string[]): void {
    for (const id of ids) this.workers.delete(id);
  }

  /**
   * Sends one of the primary's table changes (`send` numbers it and returns
   * its number) and keeps the ledger in step: new limits carry each process's
   * part, and grants made on a change follow it.
   */
  follow(change: TableChange, send: (change: TableChange) => number): void {
    if (change.kind === 'update') {
      const parts = this.resized(change.changes);
      const seq = send({ kind: 'update', changes: change.changes.map((c) => ({ ...c, parts: parts.get(c.id) })) });
      this.applied(change.changes.map((c) => c.id), seq);
      return;
    }
    const seq = send(change);
    if (change.kind === 'add') this.added(change.workers, seq);
    else if (change.kind === 'remove') this.removed(change.ids);
  }

  /** Process `index` starts (or restarts): what it holds of each worker, its share or what is free of it. */
  joined(index: number): Map<string, number> {
    this.live[index] = true;
    const held = new Map<string, number>();
    for (const [id, w] of this.workers) {
      w.held[index] = Math.min(this.share(w, id, index), this.free(w));
      w.wants[index] = 0;
      w.lending[index] = '';
      held.set(id, w.held[index]!);
    }
    return held;
  }

  /** Process `index` is gone: its connections closed with it, and are free for the others. */
  left(index: number): void {
    if (!this.live[index]) return;
    this.live[index] = false;
    for (const [id, w] of this.workers) {
      w.held[index] = 0;
      w.wants[index] = 0;
      w.lending[index] = '';
      this.settle(id, w);
    }
  }

  /** Process `index` has `count` requests waiting for the worker that it cannot place (0: none any more). */
  want(index: number, id: string, count: number): void {
    const w = this.workers.get(id);
    if (w === undefined || !this.live[index]) return;
    w.wants[index] = count;
    this.settle(id, w);
  }

  /**
   * Process `index` handed back `count` free connections, having applied the
   * primary's changes up to `seq`: a hand-back from before the worker's last
   * reset is void (the reset already set that process's limit to its share).
   */
  handedBack(index: number, id: string, count: number, seq: number): void {
    const w = this.workers.get(id);
    if (w === undefined || !this.live[index] || seq < w.resetSeq) return;
    w.held[index] = Math.max(0, w.held[index]! - count);
    this.settle(id, w);
  }

  /** What process `index` holds of the worker, as the primary counts it (tests). */
  heldBy(index: number, id: string): number {
    return this.workers.get(id)?.held[index] ?? 0;
  }

  /** Connections of the worker no process holds (tests). */
  freeOf(id: string): number {
    const w = this.workers.get(id);
    return w === undefined ? 0 : this.free(w);
  }

  /** The limit less what the processes hold; negative only within `resized`. */
  private free(w: WorkerSlots, signed = false): number {
    let held = 0;
    for (let i = 0; i < this.count; i++) held += w.held[i]!;
    return signed ? w.limit - held : Math.max(0, w.limit - held);
  }

  private grant(index: number, id: string, w: WorkerSlots, count: number): void {
    if (count <= 0) return;
    w.held[index]! += count;
    this.send(index, { wr: 'grant', id, count });
  }

  /**
   * Hands free connections to the processes that wait for them (first those
   * below their share, then the others, in turn from the lowest index); asks
   * the other processes to lend while some still wait; and once none waits,
   * gives every process back up to its share.
   */
  private settle(id: string, w: WorkerSlots): void {
    let free = this.free(w);
    for (const owedFirst of [true, false]) {
      for (let i = 0; i < this.count && free > 0; i++) {
        if (!this.live[i] || w.wants[i]! === 0) continue;
        const short = this.share(w, id, i) - w.held[i]!;
        const n = Math.min(free, owedFirst ? Math.min(short, w.wants[i]!) : w.wants[i]!);
        if (n <= 0) continue;
        w.wants[i]! -= n;
        free -= n;
        this.grant(i, id, w, n);
      }
    }
    let waiting = false;
    let owed = false;
    for (let i = 0; i < this.count; i++) {
      if (!this.live[i] || w.wants[i]! === 0) continue;
      waiting = true;
      if (w.held[i]! < this.share(w, id, i)) owed = true;
    }
    if (!waiting) {
      for (let i = 0; i < this.count && free > 0; i++) {
        if (!this.live[i]) continue;
        const n = Math.min(free, this.share(w, id, i) - w.held[i]!);
        if (n <= 0) continue;
        free -= n;
        this.grant(i, id, w, n);
      }
    }
    for (let i = 0; i < this.count; i++) {
      if (!this.live[i]) continue;
      const share = this.share(w, id, i);
      // A process above its share lends while one below its share waits, even with requests of its own waiting.
      const over = owed && w.held[i]! > share;
      const on = waiting && (w.wants[i]! === 0 || over);
      const above = on && over ? share : null;
      const key = on ? `on ${String(above)}` : '';
      if (key === w.lending[i]) continue;
      // A process never told to lend need not be told to stop.
      if (!on && w.lending[i] === '') continue;
      w.lending[i] = key;
      this.send(i, { wr: 'lend', id, on, above });
    }
  }
}
