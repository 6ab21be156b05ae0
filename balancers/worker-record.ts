import { HeldTable, PackageIds } from './held-table.js';
import type { WorkerView } from './types.js';

/** One dispatch the work model has not seen complete. */
export interface Dispatch {
  /** The worker's virtual time at dispatch. */
  s0: number;
  /** 0 warm, > 0 cold with that many packages missing, -1 not learned from. */
  missing: number;
}

/** Serials of the records made so far. */
let nextSerial = 0;

/** Doubles each record keeps in its store's array: the fields read by the numbers accessors below. */
const STRIDE = 16;
// Where each number sits in a record's stretch of the array: the ones a pick reads first, together.
const AREA = 0;
const BUSY = 1;
const COMPLETIONS = 2;
const S = 3;
const WORK_AT = 4;
const COLD_OPEN_S0 = 5;
const COLD_OPEN_MISSING = 6;
const CONFIRMED_AT = 7;
const PENDING_USE_AT = 8;
const SVC_AT = 9;
const OPEN_AREA = 10;
const OPEN_BUSY = 11;
const COMPLETED_AT = 12;

/**
 * Everything the learned models keep about one worker, in one object: the
 * service-time integrals (ServiceTimes), the processor-sharing work state
 * (WorkModel) and what the worker is believed to hold (cost-aware). A policy
 * that keeps these models reaches a candidate's record once, from its own
 * structures (cost-aware: by ring slot), rather than through one map per model;
 * at 10,000 workers each of those look-ups was a cache miss.
 *
 * Memory is laid out for a pick, which reads a few candidates' records among
 * thousands, each a likely cache miss: the fields a pick reads come first, and
 * the fractional numbers (which V8 would keep each in a box of its own, one
 * more miss apiece) live side by side in one array shared by every record of
 * the store, `STRIDE` to a record, behind accessors. Every field is set in
 * the constructor so that all records share one shape.
 */
export class WorkerRecord {
  /** This record's number, unlike any other record's (a memo names the record it is about by it). */
  readonly serial = nextSerial++;
  /** The worker's package set as last looked at by cost-aware; a different object means the worker reported. */
  heldSeen: ReadonlySet<string>;
  /** Changes whenever what cost-aware believes the worker holds does (a request sent there, a report taken in). */
  holdVersion = 0;
  /** Open cold dispatches (missing > 0), kept by taken and dropped so a pick never walks `dispatches`. */
  coldOpen = 0;
  /** The store's array of numbers (see the accessors), and where this record's stretch of it starts. */
  num: Float64Array;
  base: number;
  /** The slot of the policy's own structure this record is reached by (cost-aware: the ring's), -1 when none. */
  slot = -1;
  /** A use not yet written to `held`: the packages' numbers (when is `pendingUseAt`; see HeldPackages.used). */
  pendingUse: Int32Array | undefined = undefined;

  // ServiceTimes: Little's law over taken/dropped events.
  /** The in-flight count since the service-time model's last event on the worker (`svcAt`). */
  svcInFlight: number;

  // WorkModel: the worker as a processor-sharing server.
  /** Requests sharing the CPU since the last event (ours in flight plus external). */
  n: number;
  /** The package set of the worker's last report, as first seen (the table adds routed names to it afterwards). */
  workSeen: ReadonlySet<string> | undefined = undefined;
  workConfirmed: Set<string> | undefined = undefined;
  /** Packages a request sent here lacked, not yet listed by a report: installs under way (a request needing one joins it). */
  readonly installing = new Set<string>();
  /** Dispatches not yet completed, by function name, oldest first. */
  readonly dispatches = new Map<string, Dispatch[]>();

  // cost-aware: what the worker holds, and why.
  /**
   * By package number: whether `heldSeen` listed it when first looked at (the
   * table adds routed packages to the set afterwards), and when a request
   * needing it was last sent there.
   */
  held: HeldTable;

  constructor(
    readonly view: WorkerView,
    now: number,
    num: Float64Array,
    base: number,
    ids: PackageIds,
  ) {
    this.heldSeen = view.packages;
    this.num = num;
    this.base = base;
    num.fill(0, base, base + STRIDE);
    this.svcInFlight = view.inFlight;
    this.n = view.inFlight + view.external;
    this.held = new HeldTable(view.packages.size);
    for (const p of view.packages) this.held.confirm(ids.of(p));
    this.svcAt = now;
    this.completedAt = -Infinity;
    this.workAt = now;
    this.confirmedAt = now;
  }

  // ServiceTimes
  /** Clock time of the worker's last event seen by the service-time model. */
  get svcAt(): number {
    return this.num[this.base + SVC_AT];
  }
  set svcAt(v: number) {
    this.num[this.base + SVC_AT] = v;
  }
  /** Decayed integral of in-flight over time (request-milliseconds), up to the last completion. */
  get area(): number {
    return this.num[this.base + AREA];
  }
  set area(v: number) {
    this.num[this.base + AREA] = v;
  }
  /** The integral since the last completion, not yet decayed into `area`. */
  get openArea(): number {
    return this.num[this.base + OPEN_AREA];
  }
  set openArea(v: number) {
    this.num[this.base + OPEN_AREA] = v;
  }
  /** Decayed time with at least one request in flight. */
  get busy(): number {
    return this.num[this.base + BUSY];
  }
  set busy(v: number) {
    this.num[this.base + BUSY] = v;
  }
  /** `busy`'s part since the last completion. */
  get openBusy(): number {
    return this.num[this.base + OPEN_BUSY];
  }
  set openBusy(v: number) {
    this.num[this.base + OPEN_BUSY] = v;
  }
  /** Decayed count of completions. */
  get completions(): number {
    return this.num[this.base + COMPLETIONS];
  }
  set completions(v: number) {
    this.num[this.base + COMPLETIONS] = v;
  }
  /** Clock time of the last completion. */
  get completedAt(): number {
    return this.num[this.base + COMPLETED_AT];
  }
  set completedAt(v: number) {
    this.num[this.base + COMPLETED_AT] = v;
  }

  // WorkModel
  /** Virtual time: ms of CPU each request on the worker has received since it joined. */
  get s(): number {
    return this.num[this.base + S];
  }
  set s(v: number) {
    this.num[this.base + S] = v;
  }
  /** Clock time `s` was last brought up to. */
  get workAt(): number {
    return this.num[this.base + WORK_AT];
  }
  set workAt(v: number) {
    this.num[this.base + WORK_AT] = v;
  }
  /** Sums over the open cold dispatches: their virtual times at dispatch, and packages missing. */
  get coldOpenS0(): number {
    return this.num[this.base + COLD_OPEN_S0];
  }
  set coldOpenS0(v: number) {
    this.num[this.base + COLD_OPEN_S0] = v;
  }
  get coldOpenMissing(): number {
    return this.num[this.base + COLD_OPEN_MISSING];
  }
  set coldOpenMissing(v: number) {
    this.num[this.base + COLD_OPEN_MISSING] = v;
  }

  // cost-aware
  /** When `heldSeen` was taken in. */
  get confirmedAt(): number {
    return this.num[this.base + CONFIRMED_AT];
  }
  set confirmedAt(v: number) {
    this.num[this.base + CONFIRMED_AT] = v;
  }
  /** When the use in `pendingUse` was. */
  get pendingUseAt(): number {
    return this.num[this.base + PENDING_USE_AT];
  }
  set pendingUseAt(v: number) {
    this.num[this.base + PENDING_USE_AT] = v;
  }
}

/** The records of the workers the models know, shared by every model of one policy. */
export class WorkerRecords {
  private readonly byWorker = new Map<WorkerView, WorkerRecord>();
  /** Every live record's numbers, STRIDE to a record; grown by doubling. */
  private num = new Float64Array(STRIDE * 16);
  /** Stretches of `num` that removed workers' records left, for the next records. */
  private readonly freeBases: number[] = [];
  private used = 0;

  /** `ids`: the numbering of package names the records' holdings use (the policy's, when it reads them). */
  constructor(
    private readonly now: () => number,
    readonly ids: PackageIds = new PackageIds(),
  ) {}

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
      const base = this.takeBase(); // first: it may grow the array
      r = new WorkerRecord(w, this.now(), this.num, base, this.ids);
      this.byWorker.set(w, r);
    }
    return r;
  }

  delete(w: WorkerView): void {
    const r = this.byWorker.get(w);
    if (r === undefined) return;
    this.byWorker.delete(w);
    // Anything still holding the record reads and writes a copy of its own; its stretch goes to a later record.
    const base = r.base;
    r.num = this.num.slice(base, base + STRIDE);
    r.base = 0;
    this.freeBases.push(base);
  }

  private takeBase(): number {
    const reused = this.freeBases.pop();
    if (reused !== undefined) return reused;
    if (this.used + STRIDE > this.num.length) {
      const grown = new Float64Array(this.num.length * 2);
      grown.set(this.num);
      this.num = grown;
      for (const r of this.byWorker.values()) r.num = grown;
    }
    const base = this.used;
    this.used += STRIDE;
    return base;
  }
}
