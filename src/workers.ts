import type { Balancer, LambdaInfo, PlannedBatch, WorkerView } from '../balancers/types.js';
import type { Clock, Timer } from './clock.js';
import type { WorkerSpec } from './config.js';
import { Fifo } from './fifo.js';
import type { Lease } from './lease.js';

/** What the worker last said about itself at its status URL (the live-state contract). */
export interface WorkerReport {
  readonly packages?: readonly string[];
  readonly inFlight?: number;
  readonly cores?: number;
}

/** Workers built between two pauses of prepareAdd: about a millisecond of work. */
const BUILD_SLICE = 1000;

/**
 * One worker as the proxy tracks it. Policies see it through the read-only
 * WorkerView; everything else (health detail, statistics, its queue) is the
 * table's and the scheduler's. It holds no socket: the proxy keeps those.
 */
export class Worker implements WorkerView {
  inFlight = 0;
  queued = 0;
  /** Other proxies' requests on this worker, from its last report (see WorkerView.external). */
  external = 0;
  routable = false;
  cores = 0;
  packages = new Set<string>();
  /** Requests waiting for this worker; the scheduler keeps `queued` equal to its live entries. */
  readonly queue = new Fifo<Lease>((lease) => lease.state === 'waiting' && lease.worker === this && !lease.inShared);

  // Health, three independent causes of being out of routing.
  /** Active checks: false after `fall` failed checks in a row, true again after `rise` good ones. */
  checkUp = true;
  checkFailures = 0;
  checkSuccesses = 0;
  checkReason = '';
  /** New, and kept out of routing until its first status check passes (`healthCheckNewWorkers`). */
  awaitingCheck = false;
  /** Passive: out of routing until the ejection timer fires. */
  ejected = false;
  ejections = 0;
  ejectReason = '';
  ejectTimer: Timer | undefined;
  draining = false;
  /** Drained, and taken out of the table as soon as nothing runs on it (a worker DNS no longer lists). */
  retiring = false;
  removed = false;
  /**
   * The worker added under this id and address after this one was removed
   * while requests still ran here: it counts them as its own until they end,
   * so the real worker never carries more than one limit's worth.
   */
  successor: Worker | undefined;

  // Statistics for /status.
  served = 0;
  readonly errors = new Map<string, number>();
  /** Clock time of the last status report that carried live state (undefined: never). */
  lastReport: number | undefined;
  reportedInFlight: number | undefined;
  /** True once the worker reported its packages: its set is then the worker's word, not a guess. */
  reportsPackages = false;
  /** Why part of its last status answer was not believed (a body over the cap, a field out of bounds); '' when all was. */
  reportWhy = '';

  constructor(
    readonly id: string,
    readonly url: string,
    /** The origin the proxy connects to, `http://host:port`. */
    readonly origin: string,
    public weight: number,
    public limit: number,
  ) {}

  /** Why the worker is or is not in routing, for /status and logs. */
  get health(): { state: 'up' | 'down' | 'ejected' | 'draining' | 'removed'; why: string } {
    if (this.removed) return { state: 'removed', why: 'removed from the table' };
    if (this.draining) return { state: 'draining', why: 'drained: takes nothing new' };
    if (!this.checkUp) return { state: 'down', why: this.checkReason };
    if (this.ejected) return { state: 'ejected', why: this.ejectReason };
    return { state: 'up', why: this.checkReason === '' ? 'ok' : this.checkReason };
  }

  countError(reason: string): void {
    this.errors.set(reason, (this.errors.get(reason) ?? 0) + 1);
  }
}

/** A worker's new weight and connection limit, one entry of a batch. */
export interface WorkerChange {
  readonly worker: Worker;
  readonly weight: number;
  readonly limit: number;
}

/** Who else follows the table: the scheduler (queues), the proxy (connections), metrics. */
export interface TableListener {
  added?(w: Worker): void;
  /** After the worker left the table; its in-flight requests still finish. */
  removed?(w: Worker): void;
  /** The worker became routable (added healthy, came back up, ejection ended). */
  routable?(w: Worker): void;
  /** The worker stopped being routable (down, ejected, draining, removed). */
  unroutable?(w: Worker): void;
  /** Its weight or connection limit changed. */
  changed?(w: Worker): void;
  /** Health changed in any way (for metrics of transitions and logs). */
  health?(w: Worker, from: string, to: string): void;
}

export interface TableOptions {
  connectionsPerWorker: number;
  /** First passive ejection; doubles while the worker keeps failing, up to ejectionMaxMs. */
  failTimeoutMs: number;
  ejectionMaxMs: number;
  healthFall: number;
  healthRise: number;
  /** Workers that join a running table stay out of routing until their first status check passes. */
  holdNewWorkers?: boolean;
}

/**
 * The table of workers: membership, limits, health and live state, and the
 * only place that changes a worker's in-flight count. Every change reaches the
 * policy through its event hooks, in order and synchronously, so policies keep
 * their structures instead of scanning; it keeps the count of routable workers
 * with a free connection so admission never scans either.
 */
export class WorkerTable {
  private readonly byId = new Map<string, Worker>();
  /** The array handed to the policy; replaced, never edited in place, so a pick never sees a half-edit. */
  private list: Worker[] = [];
  private readonly listeners: TableListener[] = [];
  private routable_ = 0;
  private free_ = 0;
  /** Removed workers whose requests still run, by id, until a worker at the same address takes their count. */
  private readonly leaving = new Map<string, Worker>();
  /** Workers prepareAdd built ahead, by the spec they were built from; add takes them (a spec never added is collected with it). */
  private readonly prebuilt = new WeakMap<WorkerSpec, Worker>();

  constructor(
    private balancer_: Balancer,
    private readonly clock: Clock,
    private options: TableOptions,
  ) {}

  get balancer(): Balancer {
    return this.balancer_;
  }

  get workers(): readonly Worker[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  /** Workers in routing. */
  get routableCount(): number {
    return this.routable_;
  }

  /** Workers in routing with a free connection. */
  get freeCount(): number {
    return this.free_;
  }

  listen(listener: TableListener): void {
    this.listeners.push(listener);
  }

  setOptions(options: TableOptions): void {
    this.options = options;
  }

  get(id: string): Worker | undefined {
    return this.byId.get(id);
  }

  /** A worker named by id, configured address, origin or `host:port`. */
  find(name: string): Worker | undefined {
    const byId = this.byId.get(name);
    if (byId) return byId;
    const origin = originOf(name);
    for (const w of this.list) if (w.url === name || w.origin === origin) return w;
    return undefined;
  }

  /**
   * Adds the workers whose id is not present (in one batch, so a ring is built once); returns those added.
   * With `holdNewWorkers` and `hold`, they join out of routing until their first status check passes
   * (the workers a proxy starts with are trusted: `hold` false).
   */
  add(specs: readonly WorkerSpec[], hold = true): Worker[] {
    const added: Worker[] = [];
    // Per worker, only what must be done per worker: 10,000 of them make this one step long.
    for (const spec of specs) {
      if (this.byId.has(spec.id)) continue;
      const w = this.built(spec);
      // In the table from here: a second spec with this id in the batch is skipped.
      this.byId.set(w.id, w);
      const before = this.leaving.size === 0 ? undefined : this.leaving.get(spec.id);
      if (before !== undefined) {
        this.leaving.delete(spec.id);
        if (before.origin === w.origin) {
          // The same worker back while its earlier requests run: they count against its limit.
          w.inFlight = before.inFlight;
          before.successor = w;
        }
      }
      added.push(w);
    }
    if (added.length === 0) return added;
    const held = hold && this.options.holdNewWorkers === true;
    for (const w of added) {
      if (held) {
        w.awaitingCheck = true;
        w.checkUp = false;
        w.checkReason = 'new: not routed until its first status check passes';
        continue;
      }
      w.routable = true;
      this.routable_++;
      // A limit of 0 (a process's share of a worker smaller than the number of processes) is never free.
      if (w.inFlight < w.limit) this.free_++;
    }
    this.list = [...this.list, ...added];
    if (this.balancer_.addedMany) this.balancer_.addedMany(added);
    else for (const w of added) this.balancer_.added?.(w);
    for (const w of added) {
      for (const l of this.listeners) l.added?.(w);
      if (w.routable) for (const l of this.listeners) l.routable?.(w);
    }
    return added;
  }

  /**
   * Lets the policy work out ahead, a slice at a time, what `add(specs)` will
   * need (Balancer.prepare), so that the add itself is one short step.
   */
  async prepareAdd(specs: readonly WorkerSpec[], pause: () => Promise<void>): Promise<void> {
    const ids = new Set<string>();
    const fresh = specs.filter((s) => !this.byId.has(s.id) && !ids.has(s.id) && ids.add(s.id));
    // The workers themselves are built ahead too: 10,000 of them built at once (and the young-generation
    // collection that copies them all) held the event loop for 10 to 40 ms of the add.
    for (let i = 0; i < fresh.length; i++) {
      if (i > 0 && i % BUILD_SLICE === 0) await pause();
      const spec = fresh[i]!;
      this.prebuilt.set(spec, this.newWorker(spec));
    }
    await this.prepare({ kind: 'add', workers: fresh.map((s) => ({ id: s.id, url: s.address, weight: s.weight })) }, pause);
  }

  /** The worker for `spec`: the one prepareAdd built, when it still fits the table's options, else a new one. */
  private built(spec: WorkerSpec): Worker {
    const ready = this.prebuilt.get(spec);
    if (ready !== undefined) {
      this.prebuilt.delete(spec);
      if (ready.limit === (spec.connections ?? this.options.connectionsPerWorker)) return ready;
    }
    return this.newWorker(spec);
  }

  private newWorker(spec: WorkerSpec): Worker {
    return new Worker(spec.id, spec.address, spec.url, spec.weight, spec.connections ?? this.options.connectionsPerWorker);
  }

  /** As prepareAdd, for `updateMany(changes)`. */
  prepareUpdate(changes: readonly WorkerChange[], pause: () => Promise<void>): Promise<void> {
    const moved = changes.filter(({ worker: w, weight }) => !w.removed && w.weight !== weight);
    return this.prepare({ kind: 'change', workers: moved.map(({ worker: w, weight }) => ({ id: w.id, url: w.url, weight })) }, pause);
  }

  /** As prepareAdd, for `remove(workers)`. */
  prepareRemove(workers: readonly Worker[], pause: () => Promise<void>): Promise<void> {
    const members = workers.filter((w) => this.byId.get(w.id) === w);
    return this.prepare({ kind: 'remove', workers: members.map((w) => ({ id: w.id, url: w.url, weight: w.weight })) }, pause);
  }

  private async prepare(batch: PlannedBatch, pause: () => Promise<void>): Promise<void> {
    if (batch.workers.length > 0) await this.balancer_.prepare?.(batch, pause);
  }

  /**
   * Status checks stopped: what they said no longer counts, since nothing
   * would ever bring a worker they took down back up. Workers still waiting
   * for their first check are trusted, as workers are without checks.
   */
  trustUnchecked(): void {
    for (const w of this.list) {
      if (w.awaitingCheck) {
        this.passedFirstCheck(w);
        continue;
      }
      w.checkFailures = 0;
      w.checkSuccesses = 0;
      w.checkReason = '';
      if (!w.checkUp) this.setState(w, () => { w.checkUp = true; });
    }
  }

  /** Takes workers out of the table at once; their queues go back to the shared queue, in-flight requests finish. */
  remove(workers: readonly Worker[]): void {
    const gone = new Set(workers.filter((w) => this.byId.get(w.id) === w));
    if (gone.size === 0) return;
    for (const w of gone) {
      this.byId.delete(w.id);
      if (w.inFlight > 0) this.leaving.set(w.id, w);
      this.setState(w, () => { w.removed = true; });
      w.ejectTimer?.cancel();
    }
    this.list = this.list.filter((w) => !gone.has(w));
    const leaving = [...gone];
    if (this.balancer_.removedMany) this.balancer_.removedMany(leaving);
    else for (const w of leaving) this.balancer_.removed?.(w);
    for (const w of leaving) for (const l of this.listeners) l.removed?.(w);
  }

  /** The worker takes nothing new; its queue moves to the shared queue; what runs there finishes. */
  drain(w: Worker): void {
    this.setState(w, () => { w.draining = true; });
  }

  /** Back into routing after a drain (unless down or ejected for other reasons). */
  undrain(w: Worker): void {
    w.retiring = false;
    this.setState(w, () => { w.draining = false; });
  }

  /** Drains the workers and removes each once its last request ends (those idle now, in one batch). */
  retire(workers: readonly Worker[]): void {
    for (const w of workers) {
      w.retiring = true;
      this.drain(w);
    }
    this.remove(workers.filter((w) => w.inFlight === 0));
  }

  /** New weight or connection limit, for requests placed from now on. */
  update(w: Worker, weight: number, limit: number): void {
    this.updateMany([{ worker: w, weight, limit }]);
  }

  /** New weights and limits for a batch of workers: the policy re-places them in one pass. */
  updateMany(changes: readonly WorkerChange[]): void {
    const changed: Worker[] = [];
    for (const { worker: w, weight, limit } of changes) {
      if (w.removed || (w.weight === weight && w.limit === limit)) continue;
      const wasFree = w.routable && w.inFlight < w.limit;
      w.weight = weight;
      w.limit = limit;
      const isFree = w.routable && w.inFlight < w.limit;
      this.free_ += Number(isFree) - Number(wasFree);
      changed.push(w);
    }
    if (changed.length === 0) return;
    if (this.balancer_.changedMany) this.balancer_.changedMany(changed);
    else for (const w of changed) this.balancer_.changed?.(w);
    for (const w of changed) for (const l of this.listeners) l.changed?.(w);
  }

  /** Switches the policy: the new one learns every worker in one batch. */
  setBalancer(balancer: Balancer): void {
    this.balancer_ = balancer;
    if (balancer.addedMany) balancer.addedMany(this.list);
    else for (const w of this.list) balancer.added?.(w);
  }

  pick(fn: LambdaInfo): Worker | undefined {
    return this.balancer_.pick(fn, this.list) as Worker | undefined;
  }

  /** A request was dispatched to `w` (the scheduler's call, one per lease dispatch). */
  take(w: Worker, fn?: LambdaInfo): void {
    w.inFlight++;
    if (w.routable && w.inFlight === w.limit) this.free_--;
    this.balancer_.taken?.(w, fn);
  }

  /** A request dispatched to `w` ended (the scheduler's call, one per take). */
  drop(w: Worker, fn?: LambdaInfo): void {
    w.inFlight--;
    if (w.removed) {
      if (w.inFlight === 0 && this.leaving.get(w.id) === w) this.leaving.delete(w.id);
      // The request counted on the worker that replaced this one too.
      if (w.successor !== undefined) this.drop(w.successor);
      return;
    }
    if (w.routable && w.inFlight === w.limit - 1) this.free_++;
    this.balancer_.dropped?.(w, fn);
    if (w.retiring && w.inFlight === 0) this.remove([w]);
  }

  /** Passive health: out of routing for a back-off that doubles while the worker keeps failing. */
  eject(w: Worker, reason: string): void {
    if (w.removed || w.ejected) return;
    w.ejections++;
    const ms = Math.min(this.options.failTimeoutMs * 2 ** Math.min(w.ejections - 1, 30), this.options.ejectionMaxMs);
    w.ejectReason = `ejected for ${ms} ms after ${reason} (ejection ${w.ejections} in a row)`;
    this.setState(w, () => { w.ejected = true; });
    w.ejectTimer = this.clock.setTimer(ms, () => {
      w.ejectTimer = undefined;
      this.setState(w, () => { w.ejected = false; });
    });
  }

  /** A request to `w` succeeded: the ejection back-off starts over. */
  succeeded(w: Worker): void {
    w.ejections = 0;
  }

  /** One active check's result; `fall` failures in a row take the worker down, `rise` successes bring it back. */
  checked(w: Worker, ok: boolean, why: string): void {
    if (w.removed) return;
    if (w.awaitingCheck) {
      if (ok) return this.passedFirstCheck(w);
      w.checkFailures++;
      w.checkReason = `new: not routed until its first status check passes (last: ${why})`;
      return;
    }
    if (ok) {
      w.checkFailures = 0;
      w.checkSuccesses++;
      if (!w.checkUp && w.checkSuccesses >= this.options.healthRise) {
        w.checkReason = '';
        this.setState(w, () => { w.checkUp = true; });
      }
    } else {
      w.checkSuccesses = 0;
      w.checkFailures++;
      if (w.checkUp && w.checkFailures >= this.options.healthFall) {
        w.checkReason = `down after ${w.checkFailures} failed status checks (last: ${why})`;
        this.setState(w, () => { w.checkUp = false; });
      } else if (!w.checkUp) {
        w.checkReason = `down after ${w.checkFailures} failed status checks (last: ${why})`;
      }
    }
  }

  private passedFirstCheck(w: Worker): void {
    w.awaitingCheck = false;
    w.checkFailures = 0;
    w.checkSuccesses = 1;
    w.checkReason = '';
    this.setState(w, () => { w.checkUp = true; });
  }

  /** Takes another table's active-check verdict (a serving process follows its primary's polls). */
  setVerdict(w: Worker, up: boolean, why: string): void {
    if (w.removed) return;
    w.checkReason = why;
    this.setState(w, () => { w.checkUp = up; });
  }

  /** The worker's own word on its state replaces the table's guesses. */
  reported(w: Worker, report: WorkerReport): void {
    w.lastReport = this.clock.now();
    if (report.packages !== undefined) {
      w.packages = new Set(report.packages);
      w.reportsPackages = true;
    }
    if (report.inFlight !== undefined) {
      w.reportedInFlight = report.inFlight;
      // What the worker runs beyond this proxy's own requests is other replicas' load. Our count is
      // taken as the answer arrives, so a request of ours that reached the worker after it answered,
      // or that it finished before, makes the estimate low; it can be high only by requests the
      // worker still counted after sending their last byte. The next report corrects either.
      const external = Math.max(0, report.inFlight - w.inFlight);
      if (external !== w.external) {
        w.external = external;
        // Only the policy re-keys: the limit, free count and connections do not depend on it.
        if (!w.removed) this.balancer_.changed?.(w);
      }
    }
    if (report.cores !== undefined) w.cores = report.cores;
  }

  /** Records that `w` now holds the function's packages (between reports, the table's guess). */
  routed(w: Worker, fn: LambdaInfo): void {
    const pkgs = fn.packages;
    for (let i = 0; i < pkgs.length; i++) w.packages.add(pkgs[i]!);
  }

  /** Applies a health-state change and tells the policy and listeners if routability moved. */
  private setState(w: Worker, change: () => void): void {
    const before = w.health.state;
    const wasRoutable = w.routable;
    change();
    const nowRoutable = !w.removed && !w.draining && w.checkUp && !w.ejected;
    const after = w.health.state;
    if (before !== after) for (const l of this.listeners) l.health?.(w, before, after);
    if (nowRoutable === wasRoutable) return;
    w.routable = nowRoutable;
    const hasFree = w.inFlight < w.limit;
    if (nowRoutable) {
      this.routable_++;
      if (hasFree) this.free_++;
      this.balancer_.up?.(w);
      for (const l of this.listeners) l.routable?.(w);
    } else {
      this.routable_--;
      if (hasFree) this.free_--;
      this.balancer_.down?.(w);
      for (const l of this.listeners) l.unroutable?.(w);
    }
  }
}

function originOf(name: string): string {
  try {
    return new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(name) ? name : `http://${name}`).origin;
  } catch {
    return name;
  }
}
