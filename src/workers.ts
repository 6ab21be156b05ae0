import { Pool } from 'undici';
import type { Balancer, LambdaInfo, WorkerView } from '../balancers/types.js';
import type { WorkerSpec } from './config.js';

export interface PoolOptions {
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

/** One worker as the proxy tracks it. Balancers see it through the read-only WorkerView. */
export class Worker implements WorkerView {
  inFlight = 0;
  healthy = true;
  readonly packages = new Set<string>();
  /** Requests finished by this worker, for /status. */
  served = 0;
  private reviveTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly id: string,
    readonly url: URL,
    readonly weight: number,
    readonly pool: Pool,
  ) {}

  /** Passive health, as nginx's max_fails=1/fail_timeout: out of routing for a while, then tried again. */
  markFailed(failTimeoutMs: number, onChange: () => void): void {
    if (!this.healthy) return;
    this.healthy = false;
    onChange();
    this.reviveTimer = setTimeout(() => {
      this.reviveTimer = undefined;
      this.healthy = true;
      onChange();
    }, failTimeoutMs);
    this.reviveTimer.unref();
  }

  dispose(): Promise<void> {
    if (this.reviveTimer) clearTimeout(this.reviveTimer);
    return this.pool.close();
  }
}

export interface WorkerTableEvents {
  /** Called after any change to membership or health, so capacity and metrics follow. */
  readonly onChange?: (table: WorkerTable) => void;
  readonly onAdded?: (w: Worker) => void;
  readonly onRemoved?: (w: Worker) => void;
}

/** The table of workers: membership, per-worker pools, in-flight counts and the packages each holds. */
export class WorkerTable {
  private readonly byId = new Map<string, Worker>();
  /** The array handed to the balancer; replaced (not mutated) on change so a pick in progress never sees a half-edit. */
  private list: Worker[] = [];
  private healthyCount = 0;

  constructor(
    private readonly balancer: Balancer,
    private readonly poolOptions: PoolOptions,
    private readonly failTimeoutMs: number,
    private readonly events: WorkerTableEvents = {},
  ) {}

  get workers(): readonly Worker[] {
    return this.list;
  }

  get size(): number {
    return this.list.length;
  }

  /** Connections available across healthy workers: the admission limit. */
  get capacity(): number {
    return this.healthyCount * this.poolOptions.connections;
  }

  get(id: string): Worker | undefined {
    return this.byId.get(id);
  }

  /** Adds workers not already present; returns the ones added. */
  add(specs: readonly WorkerSpec[]): Worker[] {
    const added: Worker[] = [];
    for (const spec of specs) {
      const url = new URL(spec.url);
      const id = url.host;
      if (this.byId.has(id)) continue;
      const pool = new Pool(url.origin, {
        connections: this.poolOptions.connections,
        pipelining: 1,
        connectTimeout: this.poolOptions.connectTimeoutMs,
        headersTimeout: this.poolOptions.headersTimeoutMs,
        bodyTimeout: this.poolOptions.bodyTimeoutMs,
        keepAliveTimeout: 30_000,
      });
      const worker = new Worker(id, url, spec.weight, pool);
      this.byId.set(id, worker);
      this.list = [...this.list, worker];
      this.balancer.added?.(worker);
      this.events.onAdded?.(worker);
      added.push(worker);
    }
    if (added.length > 0) this.changed();
    return added;
  }

  /** Removes workers by id (`host:port`) or URL; requests in flight on them finish first. */
  async remove(addresses: readonly string[]): Promise<Worker[]> {
    const removed: Worker[] = [];
    for (const address of addresses) {
      const worker = this.byId.get(address) ?? this.byId.get(hostOf(address));
      if (!worker) continue;
      this.byId.delete(worker.id);
      this.list = this.list.filter((w) => w !== worker);
      this.balancer.removed?.(worker);
      this.events.onRemoved?.(worker);
      removed.push(worker);
    }
    if (removed.length > 0) this.changed();
    await Promise.all(removed.map((w) => w.dispose()));
    return removed;
  }

  pick(fn: LambdaInfo): Worker | undefined {
    return this.balancer.pick(fn, this.list) as Worker | undefined;
  }

  /** Counts a request on a worker and records that the worker now holds the function's packages. */
  begin(worker: Worker, fn: LambdaInfo): void {
    worker.inFlight++;
    const pkgs = fn.packages;
    for (let i = 0; i < pkgs.length; i++) worker.packages.add(pkgs[i]!);
  }

  end(worker: Worker): void {
    worker.inFlight--;
    worker.served++;
  }

  markFailed(worker: Worker): void {
    worker.markFailed(this.failTimeoutMs, () => this.changed());
  }

  async close(): Promise<void> {
    const all = this.list;
    this.list = [];
    this.byId.clear();
    await Promise.all(all.map((w) => w.dispose()));
  }

  private changed(): void {
    let healthy = 0;
    for (const w of this.list) if (w.healthy) healthy++;
    this.healthyCount = healthy;
    this.events.onChange?.(this);
  }
}

function hostOf(address: string): string {
  try {
    return new URL(/^[a-z]+:\/\//i.test(address) ? address : `http://${address}`).host;
  } catch {
    return address;
  }
}
