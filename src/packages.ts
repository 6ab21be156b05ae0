// The optional package table: what each package costs to load, so a policy can weigh packages.
import { readFile } from 'node:fs/promises';
import { ConfigError, describeValue, parseJsonText } from './config-error.js';

export interface PackageCost {
  /** Installed (uncompressed) size. */
  readonly sizeBytes: number;
  /** Wall time of installing the package on a worker that lacks it. */
  readonly installMs: number;
  /** Time of importing it into a fresh interpreter. */
  readonly importMs: number;
}

/** Package name -> cost. Without a table, every package counts the same. */
export type PackageTable = ReadonlyMap<string, PackageCost>;

/** Largest value accepted for a size or a time: beyond it sums lose integer precision. */
const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;

/** Reads and checks a package table file; throws ConfigError naming the file and the entry. */
export async function readPackageTable(path: string): Promise<PackageTable> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`package table ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parsePackageTableText(text, `package table ${path}`);
}

export function parsePackageTableText(text: string, source: string): PackageTable {
  return parsePackageTable(parseJsonText(text, source), source);
}

/**
 * Accepts pipbench's `packages.json` as `pipbench generate` writes it
 * (`{"name", "bytes", "installMs", "importMs", ...}`) and the original
 * pipbench spec format (`{"name", "uncompressed", "install_cpu", "import_cpu", ...}`,
 * times in seconds). Other fields (deps, popularity, level...) are ignored.
 */
export function parsePackageTable(data: unknown, source: string): PackageTable {
  if (!Array.isArray(data)) {
    throw new ConfigError(`${source}: must be a JSON array of {"name", "bytes", "installMs", "importMs"} objects, got ${describeValue(data)}`);
  }
  const table = new Map<string, PackageCost>();
  for (let i = 0; i < data.length; i++) {
    const item: unknown = data[i];
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      throw new ConfigError(`${source}: entry ${i} is ${describeValue(item)}, not a package object`);
    }
    const entry = item as Record<string, unknown>;
    if (typeof entry.name !== 'string' || entry.name === '') {
      throw new ConfigError(`${source}: entry ${i} needs "name" as a non-empty string, got ${describeValue(entry.name)}`);
    }
    const name = entry.name;
    const amount = (key: string, scale = 1): number => {
      const value = entry[key];
      const max = Math.floor(MAX_AMOUNT / scale);
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
        const unit = scale === 1000 ? ' of seconds' : '';
        throw new ConfigError(`${source}: package "${name}" needs "${key}" as a number${unit} from 0 to ${max}, got ${describeValue(value)}`);
      }
      return value * scale;
    };
    const spec = !('bytes' in entry) && 'uncompressed' in entry;
    const cost: PackageCost = spec
      ? { sizeBytes: amount('uncompressed'), installMs: amount('install_cpu', 1000), importMs: amount('import_cpu', 1000) }
      : { sizeBytes: amount('bytes'), installMs: amount('installMs'), importMs: amount('importMs') };
    if (table.has(name)) throw new ConfigError(`${source}: package "${name}" appears twice`);
    table.set(name, Object.freeze(cost));
  }
  return table;
}
