// pipbench's real package repository: one wheel per package of the table (a
// find-links folder) with a PEP 503 simple/ index beside the wheels, and one
// handler folder per function (lambda_func.py, packages.txt), the shape
// OpenLambda's workers read. Deterministic for a seed: fixed zip times, files
// in a fixed order, data drawn from the project's one seeded generator.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync, type Zippable } from 'fflate';
import { seededRandom } from '../random.js';
import { handlerSource, initSource, installCostSource, pythonNameTable, WHEEL_VERSION, type PythonNames } from './python-source.js';
import type { PackageInfo, RegistryEntry } from '../package-info.js';

export { pythonNames, pythonNameTable, WHEEL_VERSION, COMPILE_MS_PER_KIB, type PythonNames } from './python-source.js';

export interface RepositoryOptions {
  /** Multiplies `bytes`, `compressedBytes` and `importMem`. */
  sizeScale: number;
  /** Multiplies `installMs` and `importMs`. */
  costScale: number;
  /** Seeds the incompressible data, with the package's name. */
  seed: number;
}

/**
 * Scales for the thesis workload (100 handlers, 5 workers) on a 2-core machine:
 * real sizes (they cost little), a quarter of the CPU, since pip's own start-up
 * adds an unscaled cost to every install. pipbench/README.md "--wheels" gives the figures.
 */
export const REPOSITORY_DEFAULTS: RepositoryOptions = { sizeScale: 1, costScale: 0.25, seed: 1 };

/** One wheel written: where, how large, and what it will take once installed. */
export interface WheelSummary extends PythonNames {
  /** Size of the .whl file. */
  readonly wheelBytes: number;
  /** Bytes pip writes (every file of the wheel; the .pyc files pip compiles come on top). */
  readonly installedBytes: number;
  /** Hex sha256 of the .whl, as the simple index links it. */
  readonly sha256: string;
  /** The scaled costs the package carries. */
  readonly installMs: number;
  readonly importMs: number;
  readonly importMem: number;
}

export interface RepositorySummary {
  /** The find-links folder. */
  readonly dir: string;
  /** The PEP 503 index (`<dir>/simple`). */
  readonly simpleDir: string;
  /** In the table's order. */
  readonly wheels: readonly WheelSummary[];
}

export const SIMPLE_DIR = 'simple';
/** The zip epoch: a wheel's bytes do not depend on when or in which time zone it was built. */
const ZIP_TIME = new Date(1980, 0, 1, 0, 0, 0);
const FILE_ATTRS = { os: 3, attrs: 0o644 << 16, mtime: ZIP_TIME } as const;
const FILLER_LINE = 'pipbench filler: compressible bytes that bring the installed size up to the package table\'s\n';

function validateRepositoryOptions(opts: RepositoryOptions): void {
  for (const key of ['sizeScale', 'costScale'] as const) {
    const v = opts[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${key} must be a positive finite number, got ${v}`);
  }
  if (!Number.isSafeInteger(opts.seed)) throw new Error(`seed must be an integer, got ${opts.seed}`);
}

/** Urlsafe base64 without padding, as RECORD wants its hashes. */
function recordHash(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64url');
}

function incompressibleBytes(length: number, seed: number, name: string): Uint8Array {
  const random = seededRandom(`pipbench-wheel\u0000${seed}\u0000${name}`);
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let i = 0;
  for (; i + 4 <= length; i += 4) view.setUint32(i, Math.floor(random.next() * 4294967296), true);
  for (; i < length; i++) out[i] = random.int(256);
  return out;
}

function fillerBytes(length: number): Uint8Array {
  const line = new TextEncoder().encode(FILLER_LINE);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += line.length) out.set(line.subarray(0, Math.min(line.length, length - i)), i);
  return out;
}

/** A path in the wheel, its content, and whether it is deflated or stored. */
type WheelFile = readonly [string, Uint8Array, 'deflate' | 'store'];

interface WheelParts {
  /** In archive order; dist-info last, RECORD added by zipWheel. */
  readonly files: readonly WheelFile[];
  readonly distInfo: string;
}

/** The archive: every file, then RECORD (each file's hash and size, RECORD itself unhashed), deflated or stored. */
function zipWheel(parts: WheelParts): { zip: Uint8Array; installedBytes: number } {
  const record = parts.files.map(([path, data]) => `${path},sha256=${recordHash(data)},${data.length}\n`).join('') + `${parts.distInfo}/RECORD,,\n`;
  const all: WheelFile[] = [...parts.files, [`${parts.distInfo}/RECORD`, new TextEncoder().encode(record), 'deflate']];
  const zippable: Zippable = {};
  for (const [path, data, how] of all) zippable[path] = [data, { ...FILE_ATTRS, level: how === 'store' ? 0 : 6 }];
  return { zip: zipSync(zippable), installedBytes: all.reduce((sum, [, data]) => sum + data.length, 0) };
}

function scaledCosts(pkg: PackageInfo, opts: RepositoryOptions): Pick<WheelSummary, 'installMs' | 'importMs' | 'importMem'> & { compressed: number; installed: number } {
  return {
    installMs: pkg.installMs * opts.costScale,
    importMs: pkg.importMs * opts.costScale,
    importMem: Math.round(pkg.importMem * opts.sizeScale),
    compressed: Math.round(pkg.compressedBytes * opts.sizeScale),
    installed: Math.round(Math.max(pkg.bytes, pkg.compressedBytes) * opts.sizeScale),
  };
}

/**
 * One package's wheel. Its code and metadata come first; then incompressible
 * data (stored) brings the archive to about `compressedBytes`, and compressible
 * filler (deflated to almost nothing) the installed files to about `bytes`, both
 * times the size scale. Where code and metadata alone exceed a target, the
 * package is that much larger.
 */
export function buildWheel(pkg: PackageInfo, names: ReadonlyMap<string, PythonNames>, opts: RepositoryOptions): { wheel: Uint8Array; summary: WheelSummary } {
  const own = names.get(pkg.name);
  if (own === undefined) throw new Error(`package "${pkg.name}" has no Python names`);
  const deps = pkg.deps.map((dep) => {
    const found = names.get(dep);
    if (found === undefined) throw new Error(`package "${pkg.name}" depends on "${dep}", which the package table lacks`);
    return found;
  });
  const costs = scaledCosts(pkg, opts);
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const distInfo = `${own.wheelFile.split('-')[0] as string}-${WHEEL_VERSION}.dist-info`;
  const metadata =
    `Metadata-Version: 2.1\nName: ${own.distribution}\nVersion: ${WHEEL_VERSION}\n` +
    `Summary: pipbench package ${pkg.name} (level ${pkg.level})\n` +
    deps.map((d) => `Requires-Dist: ${d.distribution}\n`).join('');
  const wheelInfo = 'Wheel-Version: 1.0\nGenerator: pipbench\nRoot-Is-Purelib: true\nTag: py3-none-any\n';
  const code: WheelFile[] = [
    [`${own.importName}/__init__.py`, text(initSource(own, deps, costs.importMs, costs.importMem)), 'deflate'],
    [`${own.importName}/_install_cost.py`, text(installCostSource(own, costs.installMs)), 'deflate'],
  ];
  const meta: WheelFile[] = [
    [`${distInfo}/METADATA`, text(metadata), 'deflate'],
    [`${distInfo}/WHEEL`, text(wheelInfo), 'deflate'],
    [`${distInfo}/top_level.txt`, text(`${own.importName}\n`), 'deflate'],
  ];
  const withData = (blob: Uint8Array, filler: Uint8Array): WheelParts => ({
    files: [...code, [`${own.importName}/data/blob.dat`, blob, 'store'], [`${own.importName}/data/filler.dat`, filler, 'deflate'], ...meta],
    distInfo,
  });
  // First pass without data: what code, metadata and the filler's deflate take.
  const bare = zipWheel(withData(new Uint8Array(0), new Uint8Array(0)));
  const fillerFirst = Math.max(0, costs.installed - bare.installedBytes);
  const probe = zipWheel(withData(new Uint8Array(0), fillerBytes(fillerFirst)));
  const blobLength = Math.max(0, costs.compressed - probe.zip.length);
  const fillerLength = Math.max(0, fillerFirst - blobLength);
  const built = zipWheel(withData(incompressibleBytes(blobLength, opts.seed, pkg.name), fillerBytes(fillerLength)));
  const sha256 = createHash('sha256').update(built.zip).digest('hex');
  return {
    wheel: built.zip,
    summary: { ...own, wheelBytes: built.zip.length, installedBytes: built.installedBytes, sha256, installMs: costs.installMs, importMs: costs.importMs, importMem: costs.importMem },
  };
}

/** Removes what an earlier run wrote into a folder: wheels and the simple index only, nothing else. */
async function clearRepository(dir: string): Promise<void> {
  for (const entry of await readdir(dir)) if (entry.endsWith('.whl')) await rm(join(dir, entry), { force: true });
  await rm(join(dir, SIMPLE_DIR), { recursive: true, force: true });
}

function simpleIndexHtml(title: string, links: readonly (readonly [string, string])[]): string {
  const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  return (
    `<!DOCTYPE html>\n<html>\n<head><meta name="pypi:repository-version" content="1.0"><title>${escape(title)}</title></head>\n<body>\n` +
    links.map(([href, text]) => `<a href="${escape(href)}">${escape(text)}</a><br>\n`).join('') +
    '</body>\n</html>\n'
  );
}

/**
 * Writes one wheel per package into `dir` (created if missing; wheels and
 * `simple/` of an earlier run are removed first) and the PEP 503 index
 * `dir/simple/`. The same table and options give the same bytes.
 */
export async function writePackageRepository(
  packages: readonly PackageInfo[],
  dir: string,
  options: Partial<RepositoryOptions> = {},
): Promise<RepositorySummary> {
  const opts: RepositoryOptions = { ...REPOSITORY_DEFAULTS, ...options };
  validateRepositoryOptions(opts);
  const names = pythonNameTable(packages.map((p) => p.name));
  for (const pkg of packages) {
    const missing = pkg.deps.find((dep) => !names.has(dep));
    if (missing !== undefined) throw new Error(`package "${pkg.name}" depends on "${missing}", which the package table lacks`);
  }
  await mkdir(dir, { recursive: true });
  await clearRepository(dir);
  const wheels: WheelSummary[] = [];
  for (const pkg of packages) {
    const { wheel, summary } = buildWheel(pkg, names, opts);
    await writeFile(join(dir, summary.wheelFile), wheel);
    wheels.push(summary);
  }
  const simpleDir = join(dir, SIMPLE_DIR);
  const byDistribution = [...wheels].sort((a, b) => (a.distribution < b.distribution ? -1 : a.distribution > b.distribution ? 1 : 0));
  await mkdir(simpleDir, { recursive: true });
  await writeFile(join(simpleDir, 'index.html'), simpleIndexHtml('Simple index', byDistribution.map((w) => [`${w.distribution}/`, w.distribution])));
  for (const w of byDistribution) {
    await mkdir(join(simpleDir, w.distribution), { recursive: true });
    const link: [string, string] = [`../../${w.wheelFile}#sha256=${w.sha256}`, w.wheelFile];
    await writeFile(join(simpleDir, w.distribution, 'index.html'), simpleIndexHtml(`Links for ${w.distribution}`, [link]));
  }
  return { dir, simpleDir, wheels };
}

export interface HandlersSummary {
  readonly dir: string;
  /** Handler folders written, in registry order. */
  readonly handlers: readonly string[];
}

/**
 * Writes `dir/<handle>/lambda_func.py` and `dir/<handle>/packages.txt` (the
 * distribution names, one a line, in the registry's order) for every handler.
 * Every package a handler lists must be in `packages` (the table the
 * repository was written from). Handler folders of an earlier run that the
 * registry no longer names are removed.
 */
export async function writeHandlers(
  registry: readonly RegistryEntry[],
  dir: string,
  packages: readonly PackageInfo[],
): Promise<HandlersSummary> {
  const names = pythonNameTable(packages.map((p) => p.name));
  const handles = new Set(registry.map((e) => e.handle));
  for (const entry of registry) {
    if (!/^[A-Za-z0-9_.-]+$/.test(entry.handle) || entry.handle === '.' || entry.handle === '..') {
      throw new Error(`handler "${entry.handle}" cannot name a folder (letters, digits, "_", "." and "-" only)`);
    }
  }
  // Every name is resolved before anything is written: a bad registry leaves the folder as it was.
  const resolved = registry.map((entry) => ({
    handle: entry.handle,
    pkgs: [...new Set(entry.pkgs)].map((name) => {
      const found = names.get(name);
      if (found === undefined) throw new Error(`handler "${entry.handle}" needs package "${name}", which the package table lacks`);
      return found;
    }),
  }));
  await mkdir(dir, { recursive: true });
  for (const entry of await readdir(dir)) {
    if (handles.has(entry)) continue;
    const old = join(dir, entry);
    const isOurs = await stat(join(old, 'lambda_func.py')).then(() => true, () => false);
    if (isOurs) await rm(old, { recursive: true, force: true });
  }
  for (const { handle, pkgs } of resolved) {
    const folder = join(dir, handle);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'lambda_func.py'), handlerSource(handle, pkgs));
    await writeFile(join(folder, 'packages.txt'), pkgs.map((p) => `${p.distribution}\n`).join(''));
  }
  return { dir, handlers: registry.map((e) => e.handle) };
}
