// The worker's package cache on disk: one folder per package under the cache
// folder, as OpenLambda keeps them. An install writes into a temporary folder
// and is renamed into place, so a failed one leaves nothing half-written;
// concurrent needs of one package share its install; the missing packages
// of one request are installed together (one pip start-up); the folder is bounded,
// and the least recently used package not in use is evicted by really
// deleting its folder.
import { randomBytes } from 'node:crypto';
import { readdirSync, renameSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../src/usage-error.js';
import { PackageDisk } from '../model/caches.js';
import { InvocationError } from '../worker.js';
import { quoteNames } from './pip.js';

/**
 * Installs the packages into `target` (an empty scratch folder) and leaves each
 * one's files in `folders.get(name)` (an empty folder each); throws an
 * InvocationError naming the problem.
 */
export type Installer = (names: readonly string[], target: string, folders: ReadonlyMap<string, string>) => Promise<void>;

export interface PackageCacheOptions {
  dir: string;
  /** Bytes of installed files kept; Infinity = unbounded. */
  limitBytes: number;
  install: Installer;
  /** Told after packages were deleted, so that interpreters importing them go too. */
  onEvict?: (names: readonly string[]) => void;
  /** Batch installs running at once (each is one pip process). */
  parallelInstalls?: number;
}

/** Batch installs (pip processes) running at once by default. */
export const PARALLEL_INSTALLS = 4;

/** Temporary and deleted folders start with a dot, so that no package name can clash with them. */
const TEMP_PREFIX = '.tmp-';
const TRASH_PREFIX = '.trash-';

/** The cache folder exists (created if missing) and takes a file; else a UsageError naming it (a start-up problem). */
export async function prepareCacheDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    const probe = join(dir, `${TEMP_PREFIX}probe-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (err) {
    throw new UsageError(`the cache folder ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await folderBytes(path);
    else total += (await lstat(path)).size;
  }
  return total;
}

function requestTimeError(err: unknown, dir: string, names: readonly string[]): InvocationError {
  if (err instanceof InvocationError) return err;
  const name = quoteNames(names);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new InvocationError(500, 'disk_full', `no space left on the cache's disk (${dir}) while installing ${name}`);
  if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM' || code === 'ENOENT' || code === 'ENOTDIR') {
    return new InvocationError(500, 'cache_unwritable', `cannot write package ${name} into the cache ${dir} (${code})`);
  }
  return new InvocationError(500, 'install_failed', `installing ${name} into ${dir} failed: ${(err as Error).message}`);
}

export class PackageCache {
  /** Packages installed. */
  installs = 0;
  /** Batch installs run (pip processes). */
  installBatches = 0;
  /** Which packages are installed, their bytes, recency and pins. */
  private readonly disk: PackageDisk;
  private readonly installing = new Map<string, Promise<void>>();
  private readonly deletions = new Set<Promise<void>>();
  private readonly waitingForSlot: (() => void)[] = [];
  private runningInstalls = 0;

  private constructor(private readonly opts: PackageCacheOptions) {
    this.disk = new PackageDisk(opts.limitBytes, true);
  }

  get used(): number {
    return this.disk.used;
  }

  get evictions(): number {
    return this.disk.evictions;
  }

  /** Opens the cache folder: leftovers of an interrupted run are removed, complete package folders kept. */
  static async open(opts: PackageCacheOptions): Promise<PackageCache> {
    await prepareCacheDir(opts.dir);
    const cache = new PackageCache(opts);
    const found: { name: string; bytes: number; mtime: number }[] = [];
    for (const entry of await readdir(opts.dir, { withFileTypes: true })) {
      const path = join(opts.dir, entry.name);
      if (entry.name.startsWith(TEMP_PREFIX) || entry.name.startsWith(TRASH_PREFIX)) await rm(path, { recursive: true, force: true });
      else if (entry.isDirectory()) found.push({ name: entry.name, bytes: await folderBytes(path), mtime: (await stat(path)).mtimeMs });
    }
    for (const f of found.sort((a, b) => a.mtime - b.mtime)) cache.disk.add(f.name, f.bytes);
    cache.trim();
    return cache;
  }

  get installingCount(): number {
    return this.installing.size;
  }

  /** The package folders on disk now, least recently used first. */
  onDisk(): string[] {
    let present: string[];
    try {
      present = readdirSync(this.opts.dir).filter((n) => !n.startsWith('.'));
    } catch {
      return [];
    }
    const order = new Map(this.disk.names().map((n, i) => [n, i]));
    return present.sort((a, b) => (order.get(a) ?? -1) - (order.get(b) ?? -1) || a.localeCompare(b));
  }

  folder(name: string): string {
    return join(this.opts.dir, name);
  }

  /**
   * Pins the packages and installs the missing ones; returns those that were
   * not on disk. On failure every pin is dropped again and the first error thrown,
   * once every install it started has ended.
   */
  async acquire(names: readonly string[]): Promise<string[]> {
    for (const n of names) this.disk.pin(n);
    const cold = names.filter((n) => !this.disk.has(n));
    for (const n of names) this.disk.touch(n);
    const fresh = cold.filter((n) => !this.installing.has(n));
    if (fresh.length > 0) {
      const batch = this.installNow(fresh).finally(() => {
        for (const n of fresh) this.installing.delete(n);
      });
      for (const n of fresh) this.installing.set(n, batch);
    }
    const waits = [...new Set(cold.map((n) => this.installing.get(n) as Promise<void>))];
    const outcomes = await Promise.allSettled(waits);
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) {
      this.release(names);
      throw failed.reason;
    }
    return cold;
  }

  release(names: readonly string[]): void {
    for (const n of names) this.disk.unpin(n);
    this.trim();
  }

  /** Waits for installs under way (and their temporary folders) to end, and deleted folders to be gone. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.installing.values()]);
    while (this.deletions.size > 0) await Promise.all([...this.deletions]);
  }

  /** One pip call for all `names`; each package lands in its own folder, or none does. */
  private async installNow(names: readonly string[]): Promise<void> {
    await this.slot();
    const temps = new Map<string, string>();
    let scratch: string | undefined;
    try {
      scratch = await mkdtemp(join(this.opts.dir, `${TEMP_PREFIX}batch-`));
      for (const n of names) temps.set(n, await mkdtemp(join(this.opts.dir, `${TEMP_PREFIX}${n}-`)));
      this.installBatches++;
      await this.opts.install(names, scratch, temps);
      for (const [name, temp] of temps) {
        const bytes = await folderBytes(temp);
        const final = this.folder(name);
        // A folder of that name that the cache does not know (left by hand) makes way for the new one.
        await rm(final, { recursive: true, force: true });
        await rename(temp, final);
        temps.delete(name);
        this.disk.add(name, bytes);
        this.installs++;
      }
    } catch (err) {
      throw requestTimeError(err, this.opts.dir, [...temps.keys()].length > 0 ? [...temps.keys()] : names);
    } finally {
      const left = [...temps.values(), ...(scratch === undefined ? [] : [scratch])];
      await Promise.all(left.map((d) => rm(d, { recursive: true, force: true }).catch(() => undefined)));
      this.freeSlot();
    }
    this.trim();
  }

  private async slot(): Promise<void> {
    if (this.runningInstalls < (this.opts.parallelInstalls ?? PARALLEL_INSTALLS)) {
      this.runningInstalls++;
      return;
    }
    await new Promise<void>((resolve) => this.waitingForSlot.push(resolve));
  }

  private freeSlot(): void {
    const next = this.waitingForSlot.shift();
    // The slot passes straight to the next install waiting for one.
    if (next) next();
    else this.runningInstalls--;
  }

  private trim(): void {
    const evicted = this.disk.trim();
    for (const name of evicted) this.delete(name);
    if (evicted.length > 0) this.opts.onEvict?.(evicted);
  }

  /** Out of the package's place at once (a rename), then removed from disk in the background. */
  private delete(name: string): void {
    const trash = join(this.opts.dir, `${TRASH_PREFIX}${name}-${randomBytes(4).toString('hex')}`);
    try {
      renameSync(this.folder(name), trash);
    } catch {
      return; // already gone
    }
    const removal = rm(trash, { recursive: true, force: true }).catch(() => undefined);
    this.deletions.add(removal);
    void removal.finally(() => this.deletions.delete(removal));
  }
}
