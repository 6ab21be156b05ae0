// What a serving process's policy learns from its own requests, sent in batches
// to the primary, which relays each batch to every process, the sender included
// (`processes` above 1): every process's models fold every request's
// observations in one order, without a message per request. A proxy of one
// process builds none of this.
import type { Observation } from '../balancers/evidence.js';
import type { Clock, Timer } from './clock.js';

/** A batch goes at the latest this long after its first observation. */
export const EVIDENCE_INTERVAL_MS = 200;
/** ... or as soon as it holds this many. */
export const EVIDENCE_BATCH = 256;
/** Observations a process keeps while its last batch is not yet written to the primary; beyond it the oldest go. */
export const EVIDENCE_CAPACITY = 16 * EVIDENCE_BATCH;

export interface EvidenceCounts {
  sent(n: number): void;
  dropped(n: number): void;
}

/**
 * The buffer between a process's models and the primary. `push` is all a
 * request pays. One batch is on its way at a time: while the channel to the
 * primary has not taken it, observations gather, and past EVIDENCE_CAPACITY
 * the oldest batch's worth is dropped (and counted) rather than the process's
 * memory growing with a slow primary.
 */
export class EvidenceRelay {
  private buffer: Observation[] = [];
  private timer: Timer | undefined;
  private sending = false;

  constructor(
    private readonly clock: Clock,
    /** Writes a batch to the primary and calls `written` once the channel took it. */
    private readonly send: (batch: Observation[], written: () => void) => void,
    private readonly counts: EvidenceCounts,
    private readonly options = { intervalMs: EVIDENCE_INTERVAL_MS, batch: EVIDENCE_BATCH, capacity: EVIDENCE_CAPACITY },
  ) {}

  /** An observation of this process's models (the policy env's `share`). */
  readonly push = (o: Observation): void => {
    const buffer = this.buffer;
    if (buffer.length >= this.options.capacity) {
      const dropped = Math.min(buffer.length, this.options.batch);
      buffer.splice(0, dropped);
      this.counts.dropped(dropped);
    }
    buffer.push(o);
    if (buffer.length >= this.options.batch) this.flush();
    else if (this.timer === undefined && !this.sending) this.timer = this.clock.setTimer(this.options.intervalMs, this.due);
  };

  private readonly due = (): void => {
    this.timer = undefined;
    this.flush();
  };

  /** Sends what has gathered, unless a batch is still on its way (its `written` sends the rest). */
  flush(): void {
    if (this.sending || this.buffer.length === 0) return;
    this.timer?.cancel();
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    this.sending = true;
    this.counts.sent(batch.length);
    this.send(batch, this.written);
  }

  private readonly written = (): void => {
    this.sending = false;
    if (this.buffer.length >= this.options.batch) this.flush();
    else if (this.buffer.length > 0 && this.timer === undefined) this.timer = this.clock.setTimer(this.options.intervalMs, this.due);
  };
}
