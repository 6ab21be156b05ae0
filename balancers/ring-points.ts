// The arithmetic of a hash ring's point arrays: building a sorted batch of
// points, merging it in, taking one out. Each is written as steps that yield
// every STEP_POINTS points or so, so the same code runs to the end at once or
// a slice at a time (HashRing.prepare).

import type { Steps } from './steps.js';

/** Points handled between two yields: a millisecond or so of work (a few, on a cold or busy machine). */
const STEP_POINTS = 1 << 15;

/** Points in ring order (or a batch being sorted): positions and the slots of the workers that own them. */
export interface RingPoints {
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
  readonly owners: Uint32Array;
}

/** Orders two points; equal positions are ordered by the owners' ids (see HashRing). */
export type PointOrder = (hiA: number, loA: number, slotA: number, hiB: number, loB: number, slotB: number) => number;

/** Writes the points of batch entry `i` into the arrays at `at`; returns how many it wrote. */
export type WritePoints = (i: number, hi: Uint32Array, lo: Uint32Array, at: number) => number;

/** A batch of `total` points from `entries` writers, each owned by `slots[i]`, sorted in ring order. */
export function* sortedBatch(total: number, slots: readonly number[], write: WritePoints, order: PointOrder): Steps<RingPoints> {
  const hi = new Uint32Array(total);
  const lo = new Uint32Array(total);
  const owners = new Uint32Array(total);
  let at = 0;
  let sinceYield = 0;
  for (let i = 0; i < slots.length; i++) {
    const count = write(i, hi, lo, at);
    owners.fill(slots[i], at, at + count);
    at += count;
    sinceYield += count;
    if (sinceYield >= STEP_POINTS) {
      sinceYield = 0;
      yield;
    }
  }
  if (total <= SMALL_BATCH) return sortedSmall({ hi, lo, owners }, order);
  if (total > 1) {
    // By high half, stably, with two 16-bit counting passes that move the points themselves.
    const scratch = { hi: new Uint32Array(total), lo: new Uint32Array(total), owners: new Uint32Array(total) };
    // The first pass writes all over the scratch arrays: their pages are mapped a slice at a time first,
    // else the first slice of the pass would take every page fault at once.
    for (let start = 0; start < total; start += STEP_POINTS) {
      for (const array of [scratch.hi, scratch.lo, scratch.owners]) array.fill(0, start, start + STEP_POINTS);
      yield;
    }
    yield* countingPass({ hi, lo, owners }, scratch, 0);
    yield* countingPass(scratch, { hi, lo, owners }, 16);
  }
  // Equal high halves (rare) are ordered by the rest of the point, then by worker id.
  sinceYield = 0;
  for (let start = 0; start < total; ) {
    let end = start + 1;
    while (end < total && hi[end] === hi[start]) end++;
    if (end - start > 1) {
      const run = Array.from({ length: end - start }, (_, k) => start + k).sort((a, b) => order(hi[a], lo[a], owners[a], hi[b], lo[b], owners[b]));
      const runLo = run.map((i) => lo[i]);
      const runOwners = run.map((i) => owners[i]);
      lo.set(runLo, start);
      owners.set(runOwners, start);
    }
    sinceYield += end - start;
    if (sinceYield >= STEP_POINTS) {
      sinceYield = 0;
      yield;
    }
    start = end;
  }
  return { hi, lo, owners };
}

/** Below this many points a batch is sorted by comparison: two passes over 65,536 counters would cost more. */
const SMALL_BATCH = 2048;

/** A small batch in ring order, sorted by comparison. */
function sortedSmall(batch: RingPoints, order: PointOrder): RingPoints {
  const { hi, lo, owners } = batch;
  const sorted = Array.from({ length: hi.length }, (_, i) => i).sort((a, b) => order(hi[a], lo[a], owners[a], hi[b], lo[b], owners[b]));
  return { hi: Uint32Array.from(sorted, (i) => hi[i]), lo: Uint32Array.from(sorted, (i) => lo[i]), owners: Uint32Array.from(sorted, (i) => owners[i]) };
}

/** One stable counting pass on 16 bits of the high half, `from` into `to`. */
function* countingPass(from: RingPoints, to: RingPoints, shift: number): Steps<void> {
  const n = from.hi.length;
  const counts = new Uint32Array(65537);
  for (let start = 0; start < n; start += STEP_POINTS) {
    const end = Math.min(n, start + STEP_POINTS);
    for (let i = start; i < end; i++) counts[((from.hi[i] >>> shift) & 0xffff) + 1]++;
    yield;
  }
  for (let b = 1; b <= 65536; b++) counts[b] += counts[b - 1];
  yield;
  for (let start = 0; start < n; start += STEP_POINTS) {
    const end = Math.min(n, start + STEP_POINTS);
    for (let i = start; i < end; i++) {
      const at = counts[(from.hi[i] >>> shift) & 0xffff]++;
      to.hi[at] = from.hi[i];
      to.lo[at] = from.lo[i];
      to.owners[at] = from.owners[i];
    }
    yield;
  }
}

/** The ring without the points of the slots marked 1 in `leaving`. */
export function* withoutOwners(ring: RingPoints, leaving: Uint8Array): Steps<RingPoints> {
  const { hi, lo, owners } = ring;
  let kept = 0;
  for (let start = 0; start < owners.length; start += STEP_POINTS) {
    const end = Math.min(owners.length, start + STEP_POINTS);
    for (let i = start; i < end; i++) if (leaving[owners[i]] === 0) kept++;
    yield;
  }
  const newHi = new Uint32Array(kept);
  const newLo = new Uint32Array(kept);
  const newOwners = new Uint32Array(kept);
  let k = 0;
  for (let start = 0; start < owners.length; start += STEP_POINTS) {
    const end = Math.min(owners.length, start + STEP_POINTS);
    for (let i = start; i < end; i++) {
      if (leaving[owners[i]] === 1) continue;
      newHi[k] = hi[i];
      newLo[k] = lo[i];
      newOwners[k++] = owners[i];
    }
    yield;
  }
  return { hi: newHi, lo: newLo, owners: newOwners };
}

/** Index of the first point >= (hi, lo) in [from, to), or `to` when there is none. */
export function lowerBound(his: Uint32Array, los: Uint32Array, hi: number, lo: number, from: number, to: number): number {
  while (from < to) {
    const mid = (from + to) >>> 1;
    if (his[mid] < hi || (his[mid] === hi && los[mid] < lo)) from = mid + 1;
    else to = mid;
  }
  return from;
}

/** The ring with a sorted batch merged in. */
export function* merged(ring: RingPoints, batch: RingPoints, order: PointOrder): Steps<RingPoints> {
  const { hi: oldHi, lo: oldLo, owners: oldOwners } = ring;
  const { hi, lo, owners } = batch;
  const oldLength = oldHi.length;
  const total = oldLength + hi.length;
  const newHi = new Uint32Array(total);
  const newLo = new Uint32Array(total);
  const newOwners = new Uint32Array(total);
  // A small batch copies the runs of old points between insertion positions (a few memory
  // copies rather than a comparison per old point); a large one walks both lists once.
  const copyRuns = hi.length * 32 < oldLength;
  let from = 0;
  let k = 0;
  let sinceYield = 0;
  for (let j = 0; j < hi.length; j++) {
    const h = hi[j];
    const l = lo[j];
    const before = from;
    if (copyRuns) {
      let at = lowerBound(oldHi, oldLo, h, l, from, oldLength);
      while (at < oldLength && oldHi[at] === h && oldLo[at] === l && order(h, l, oldOwners[at], h, l, owners[j]) < 0) at++;
      newHi.set(oldHi.subarray(from, at), k);
      newLo.set(oldLo.subarray(from, at), k);
      newOwners.set(oldOwners.subarray(from, at), k);
      k += at - from;
      from = at;
    } else {
      while (from < oldLength && (oldHi[from] < h || (oldHi[from] === h && (oldLo[from] < l || (oldLo[from] === l && order(h, l, oldOwners[from], h, l, owners[j]) < 0))))) {
        newHi[k] = oldHi[from];
        newLo[k] = oldLo[from];
        newOwners[k++] = oldOwners[from++];
      }
    }
    newHi[k] = h;
    newLo[k] = l;
    newOwners[k++] = owners[j];
    sinceYield += from - before + 1;
    if (sinceYield >= STEP_POINTS) {
      sinceYield = 0;
      yield;
    }
  }
  newHi.set(oldHi.subarray(from), k);
  newLo.set(oldLo.subarray(from), k);
  newOwners.set(oldOwners.subarray(from), k);
  return { hi: newHi, lo: newLo, owners: newOwners };
}

/** The ring without a sorted batch of its points. */
export function* without(ring: RingPoints, batch: RingPoints): Steps<RingPoints> {
  const { hi: oldHi, lo: oldLo, owners: oldOwners } = ring;
  const { hi, lo, owners } = batch;
  const kept = oldHi.length - hi.length;
  const newHi = new Uint32Array(kept);
  const newLo = new Uint32Array(kept);
  const newOwners = new Uint32Array(kept);
  let j = 0;
  let k = 0;
  for (let start = 0; start < oldHi.length; start += STEP_POINTS) {
    const end = Math.min(oldHi.length, start + STEP_POINTS);
    for (let i = start; i < end; i++) {
      // Both lists are in ring order and the batch's points are on the ring: the next point to take is never behind.
      if (j < hi.length && oldHi[i] === hi[j] && oldLo[i] === lo[j] && oldOwners[i] === owners[j]) {
        j++;
        continue;
      }
      newHi[k] = oldHi[i];
      newLo[k] = oldLo[i];
      newOwners[k++] = oldOwners[i];
    }
    yield;
  }
  return { hi: newHi, lo: newLo, owners: newOwners };
}
