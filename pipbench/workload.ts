// The workload as the worker and the runner see it: which packages each handler
// needs, what each package costs, and which handlers the runner draws from.
import { ConfigError, describeValue, parseJsonText } from '../src/config-error.js';
import { parsePackageTable as parseCostTable, type PackageCost } from '../src/packages.js';
import { parseRegistryText } from '../src/registry.js';
import { readFile } from 'node:fs/promises';
import { DEFAULT_SEED, fillPackageTable, levelFromName, loadCostSamples, type CostSamples } from './generate/index.js';
import type { PackageInfo, RegistryEntry } from './package-info.js';

export interface Workload {
  /** handler -> packages, largest first (the olscheduler registry). */
  registry: Map<string, readonly string[]>;
  /** Every package named in the registry (and any further ones a package table listed). */
  packages: Map<string, PackageInfo>;
  /** The handler list the runner draws from (handlers.txt; defaults to the registry's keys). */
  handlers: string[];
}

export interface LoadWorkloadOptions {
  /** Path to an olscheduler registry JSON: [{"handle", "pkgs"}]. */
  registry: string;
  /** Path to a packages.json (ours or pipbench's spec format); names it lacks are filled in. */
  packages?: string;
  /** Path to a handler list, one handle a line. */
  handlers?: string;
  /** Seed of the fill-in for package names without an entry. */
  seed?: number;
  /** Directory of the measured cost samples; defaults to pipbench/data. */
  samplesDir?: string;
}

export async function loadWorkload(opts: LoadWorkloadOptions): Promise<Workload> {
  const entries = parseRegistry(await readText(opts.registry, 'registry'), opts.registry);
  const registry = new Map<string, readonly string[]>(entries.map((e) => [e.handle, e.pkgs]));

  const known = new Map<string, PackageInfo>();
  if (opts.packages !== undefined) {
    for (const info of parsePackageTable(await readText(opts.packages, 'package table'), opts.packages)) {
      known.set(info.name, info);
    }
  }
  const missing = entries.some((e) => e.pkgs.some((p) => !known.has(p)));
  const samples: CostSamples | undefined = missing ? await loadCostSamples(opts.samplesDir) : undefined;
  const packages = samples ? fillPackageTable(entries, known, opts.seed ?? DEFAULT_SEED, samples) : known;

  let handlers = entries.map((e) => e.handle);
  if (opts.handlers !== undefined) {
    handlers = checkedHandlerList(await readText(opts.handlers, 'handler list'), opts.handlers, registry);
  }
  return { registry, packages, handlers };
}

/** Why a file could not be read (or parsed), in a few words: the one wording of pipbench's file errors. */
export function fileErrorReason(err: unknown): string {
  const code = err && typeof err === 'object' && 'code' in err ? String(err.code) : '';
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}

/** A file's text; an Error naming what it is, the path and why it cannot be read. */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${fileErrorReason(err)}`);
  }
}

/** An olscheduler registry through the proxy's own parser; the package order of each entry is kept as given. */
export function parseRegistry(text: string, path: string): RegistryEntry[] {
  const functions = parseRegistryText(text, path);
  if (functions.size === 0) throw new Error(`${path}: the registry lists no handlers`);
  return [...functions.values()].map((fn) => ({ handle: fn.name, pkgs: [...fn.packages] }));
}

/** A pipbench handler file: one name a line; blank lines and `#` comments are skipped. */
export function parseHandlerList(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

function checkedHandlerList(text: string, path: string, registry: ReadonlyMap<string, unknown>): string[] {
  const handlers = parseHandlerList(text);
  if (handlers.length === 0) throw new Error(`${path}: the handler list is empty`);
  const unknown = handlers.find((h) => !registry.has(h));
  if (unknown !== undefined) throw new Error(`${path}: handler "${unknown}" is not in the registry`);
  return handlers;
}

/**
 * Reads a package table: our packages.json, or pipbench's own spec format
 * ({name, popularity, deps, compressed, uncompressed, install_cpu, import_cpu, import_mem},
 * times in seconds), so graphs made by the original tool can be used as they are.
 * Names, sizes and costs go through the proxy's own parser (src/packages.ts), so
 * both read the same file the same way; the fields only pipbench uses are read here.
 */
function parsePackageTable(text: string, path: string): PackageInfo[] {
  const data = parseJsonText(text, path);
  const costs = parseCostTable(data, path);
  return (data as Record<string, unknown>[]).map((item) => {
    const name = item.name as string;
    const cost = costs.get(name) as PackageCost;
    const number = (key: string, fallback?: number): number => {
      const value = item[key];
      if (value === undefined && fallback !== undefined) return fallback;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new ConfigError(`${path}: package "${name}" needs "${key}": a non-negative number, got ${describeValue(value)}`);
      }
      return value;
    };
    const deps = item.deps ?? [];
    if (!Array.isArray(deps) || !deps.every((d): d is string => typeof d === 'string')) {
      throw new ConfigError(`${path}: package "${name}" has "deps" that is not an array of names`);
    }
    const spec = !('bytes' in item) && 'uncompressed' in item;
    return {
      name,
      level: number('level', levelOrZero(name)),
      deps: [...deps],
      popularity: number('popularity', 1),
      compressedBytes: number(spec ? 'compressed' : 'compressedBytes'),
      bytes: cost.sizeBytes,
      installMs: cost.installMs,
      importMs: cost.importMs,
      importMem: number(spec ? 'import_mem' : 'importMem'),
    };
  });
}

function levelOrZero(name: string): number {
  return levelFromName(name) ?? 0;
}

/** Sum of installed sizes of the given packages (unknown names count 0). */
export function footprintBytes(names: Iterable<string>, packages: ReadonlyMap<string, PackageInfo>): number {
  let total = 0;
  for (const name of new Set(names)) total += packages.get(name)?.bytes ?? 0;
  return total;
}
