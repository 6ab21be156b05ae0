import type { WorkerView } from './types.js';

/** One dispatch the work model has not seen complete. */
export interface Dispatch {
  /** The worker's virtual time at dispatch. */
  s0: number;
  /** 0 warm, > 0 cold with that many packages missing, -1 not learned from. */
  missing: number;
}

/**
 * Everything the learned models keep about one worker, in one object: the
 * service-time integrals (ServiceTimes), the processor-sharing work state
 * (WorkModel) and what the worker is believed to hold (cost-aware). A policy
 * that keeps these models reaches a candidate's record once, from its own
 * structures (cost-aware: by ring slot), rather than through one map per model;
 * at 10,000 workers each of those look-ups was a cache miss. Every field is
 * set in the constructor so that all records share one shape.
 */
export class WorkerRecord {
  // ServiceTimes: Little's law over taken/dropped events.
  /** Clock time of the worker's last event seen by the service-time model, and the in-flight count since. */
  svcAt: number;
  svcInFlight: number;
  /** Decayed integral of in-flight over time (request-milliseconds), up to the last completion. */
  area = 0;
  /** The integral since the last completion, not yet decayed into `area`. */
  openArea = 0;
  /** Decayed time with at least one request in flight, and its part since the last completion. */
  busy = 0;
  openBusy = 0;
  /** Decayed count of completions. */
  completions = 0;
  /** Clock time of the last completion. */
  completedAt = -Infinity;

  // WorkModel: the worker as a processor-sharing server.
  /** Virtual time: ms of CPU each request on the worker has received since it joined. */
  s = 0;
  workAt: number;
  /** Requests sharing the CPU since the last event (ours in flight plus external). */
  n: number;
  /** The package set of the worker's last report, as first seen (the table adds routed names to it afterwards). */
  workSeen: ReadonlySet<string> | undefined = undefined;
  workConfirmed: Set<string> | undefined = undefined;
  /** Packages a request sent here lacked, not yet listed by a report: installs under way (a request needing one joins it). */
  readonly installing = new Set<string>();
  /** Dispatches not yet completed, by function name, oldest first. */
  readonly dispatches = new Map<string, Dispatch[]>();
  /** Sums over the open cold dispatches (missing > 0), kept by taken and dropped so a pick never walks `dispatches`. */
  coldOpen = 0;
  coldOpenS0 = 0;
  coldOpenMissing = 0;

  // cost-aware: what the worker holds, and why.
  /** The worker's package set as last looked at; a different object means the worker reported. */
  heldSeen: ReadonlySet<string>;
  /** A copy of that set when it was first looked at (the table adds routed packages to it afterwards). */
  heldConfirmed: Set<string>;
  confirmedAt: number;
  /** When a request needing each package was last sent there. */
  readonly lastUsed = new Map<string, number>();
  /** Changes whenever the fields above do (a request sent there, a report taken in). */
  holdVersion = 0;
  /** A use not yet written to `lastUsed`: the packages, and when (see HeldPackages.used). */
  pendingUse: readonly string[] | undefined = undefined;
  pendingUseAt = 0;

  /** The slot of the policy's own structure this record is reached by (cost-aware: the ring's), -1 when none. */
  slot = -1;

  constructor(
    readonly view: WorkerView,
    now: number,
  ) {
    this.svcAt = now;
    this.svcInFlight = view.inFlight;
    this.workAt = now;
    this.n = view.inFlight + view.external;
    this.heldSeen = view.packages;
    this.heldConfirmed = new Set(view.packages);
    this.confirmedAt = now;
  }
}

/** The records of the workers the models know, shared by every model of one policy. */
export class WorkerRecords {
  private readonly byWorker = new Map<WorkerView, WorkerRecord>();

  constructor(private readonly now: () => number) {}

  get size(): number {
    return this.byWorker.size;
  }

  get(w: WorkerView): WorkerRecord | undefined {
    return this.byWorker.get(w);
  }

  /** The worker's record, made now if it has none. */
  of(w: WorkerView): WorkerRecord {
    let r = this.byWorker.get(w);
    if (r === undefined) {
      r = new WorkerRecord(w, this.now());
      this.byWorker.set(w, r);
    }
    return r;
  }

  delete(w: WorkerView): void {
    this.byWorker.delete(w);
  }
}
