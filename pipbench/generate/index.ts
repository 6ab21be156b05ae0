// The package generator: a leveled dependency graph with Zipf popularity,
// heavy-tailed sizes and measured install/import costs, and handlers that import
// Zipf-chosen packages. The numbers behind each choice are in pipbench/README.md.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { WeightedSampler, lognormal, poisson, seededRandom, zipfWeights, type Random } from '../random.js';
import type { PackageInfo, RegistryEntry } from '../package-info.js';

export const DEFAULT_SEED = 1;

/** Size model (see README "Sizes"): compressed archive lognormal, installed = archive x expansion. */
export const SIZE_MODEL = {
  compressedMedianBytes: 64 * 1024,
  compressedSigma: 1.6,
  minCompressedBytes: 2 * 1024,
  maxCompressedBytes: 256 * 1024 * 1024,
  expansionMedian: 3,
  expansionSigma: 0.35,
  minExpansion: 1.2,
} as const;

/** Graph shape (see README "Graph"). */
export const GRAPH_MODEL = {
  /** Level k holds levelDecay^k of the packages (before rounding): most packages have no dependencies. */
  levelDecay: 0.5,
  /** Zipf exponent of package popularity by rank; deps are chosen in proportion to it. */
  popularityZipf: 1,
  /** Mean number of dependencies beyond the one on the level just below. */
  extraDepsMean: 1.5,
} as const;

/** Samples measured by the OpenLambda team, one value per measured package. */
export interface CostSamples {
  installMs: number[];
  importMs: number[];
  importMem: number[];
}

export interface GenerateOptions {
  packages: number;
  handlers: number;
  levels: number;
  seed: number;
  /** Zipf exponent of the handlers' import choice over packages ranked by popularity. */
  zipf: number;
  /** Mean number of packages a handler imports directly (at least 1; 1 + Poisson(mean - 1)). */
  importsMean: number;
  /** Times each handler appears in the handler list. */
  repeat: number;
}

export interface GeneratedWorkload {
  packages: PackageInfo[];
  registry: RegistryEntry[];
  handlerList: string[];
}

/** pipbench/data (the measured cost samples, the thesis's data), whether this module runs from source or from dist/. */
export function dataDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes(join('dist', 'pipbench')) ? join(here, '..', '..', '..', 'pipbench', 'data') : join(here, '..', 'data');
}

export async function loadCostSamples(dir = dataDir()): Promise<CostSamples> {
  const installPath = join(dir, 'install.json');
  const importPath = join(dir, 'import.json');
  let texts: [string, string];
  try {
    texts = [await readFile(installPath, 'utf8'), await readFile(importPath, 'utf8')];
  } catch (err) {
    throw new Error(`cannot read the measured cost samples (install.json, import.json) in ${dir}: ${(err as Error).message}`);
  }
  return parseCostSamples(texts[0], texts[1], installPath, importPath);
}

/** Parses pipbench's JSON-lines samples; like pipbench, only `pass2` import rows count. */
export function parseCostSamples(installText: string, importText: string, installPath: string, importPath: string): CostSamples {
  const rows = (text: string, path: string): Record<string, unknown>[] =>
    text.split(/\r?\n/).flatMap((line, i) => {
      if (line.trim() === '') return [];
      try {
        const row = JSON.parse(line) as unknown;
        if (typeof row === 'object' && row !== null && !Array.isArray(row)) return [row as Record<string, unknown>];
      } catch {
        // reported below with the line number
      }
      throw new Error(`${path}: line ${i + 1} is not a JSON object`);
    });
  const num = (row: Record<string, unknown>, key: string, path: string): number => {
    const value = row[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new Error(`${path}: a row lacks a non-negative "${key}"`);
    return value;
  };
  const samples: CostSamples = { installMs: [], importMs: [], importMem: [] };
  for (const row of rows(installText, installPath)) samples.installMs.push(num(row, 'install_ms', installPath));
  for (const row of rows(importText, importPath)) {
    if (row.stage !== 'pass2') continue;
    samples.importMs.push(num(row, 'import_ms', importPath));
    samples.importMem.push(num(row, 'mem', importPath));
  }
  if (samples.installMs.length === 0) throw new Error(`${installPath}: no install samples`);
  if (samples.importMs.length === 0) throw new Error(`${importPath}: no "pass2" import samples`);
  return samples;
}

type PackageCosts = Pick<PackageInfo, 'compressedBytes' | 'bytes' | 'installMs' | 'importMs' | 'importMem'>;

/**
 * Sizes and costs of one package, drawn from a stream seeded by (seed, name) alone,
 * so a name gets the same numbers whatever else is generated and in whatever order.
 */
export function drawPackageCosts(name: string, seed: number, samples: CostSamples): PackageCosts {
  const random = seededRandom(`${seed}\u0000${name}`);
  const m = SIZE_MODEL;
  const compressed = clamp(Math.round(lognormal(random, m.compressedMedianBytes, m.compressedSigma)), m.minCompressedBytes, m.maxCompressedBytes);
  const expansion = Math.max(m.minExpansion, lognormal(random, m.expansionMedian, m.expansionSigma));
  return {
    compressedBytes: compressed,
    bytes: Math.round(compressed * expansion),
    // Independent draws, as pipbench does: the measured packages' costs do not follow their sizes either.
    installMs: random.pick(samples.installMs),
    importMs: random.pick(samples.importMs),
    importMem: random.pick(samples.importMem),
  };
}

/** pipbench names packages `level<k>pkg<i>`; the level is read from the name where it parses. */
export function levelFromName(name: string): number | undefined {
  const match = /^level(\d+)pkg\d+$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * PackageInfo for a name seen only in an existing registry: level from the name
 * where it parses (else 0), no known deps (the registry already lists each
 * handler's transitive closure), popularity 1 (unknown: all equal).
 */
export function synthesizePackageInfo(name: string, seed: number, samples: CostSamples): PackageInfo {
  return { name, level: levelFromName(name) ?? 0, deps: [], popularity: 1, ...drawPackageCosts(name, seed, samples) };
}

/**
 * The known table plus synthesized entries for every registry name it lacks.
 * An olscheduler registry lists each handler's packages largest first, and
 * package-aware routing hashes `pkgs[0]`; so the drawn sizes are not given per
 * name but handed out in the order the lists imply (sizeRankFromLists): the
 * largest drawn size to the package that comes first, and so on. Install and
 * import costs stay drawn per name.
 */
export function fillPackageTable(
  registry: readonly RegistryEntry[],
  known: ReadonlyMap<string, PackageInfo>,
  seed: number,
  samples: CostSamples,
): Map<string, PackageInfo> {
  const table = new Map(known);
  const missing = new Set<string>();
  for (const entry of registry) for (const name of entry.pkgs) if (!table.has(name)) missing.add(name);
  if (missing.size === 0) return table;
  const drawn = new Map([...missing].map((name) => [name, synthesizePackageInfo(name, seed, samples)]));
  const sizes = [...drawn.values()]
    .map((p) => ({ bytes: p.bytes, compressedBytes: p.compressedBytes }))
    .sort((a, b) => b.bytes - a.bytes || b.compressedBytes - a.compressedBytes);
  const ranked = sizeRankFromLists(registry).filter((name) => missing.has(name));
  ranked.forEach((name, i) => table.set(name, { ...(drawn.get(name) as PackageInfo), ...(sizes[i] as { bytes: number; compressedBytes: number }) }));
  return table;
}

/**
 * Every package of the registry, ordered so that as many lists as possible read
 * largest first: Kahn's topological order over "a comes right before b in some
 * list", the ready package with the smallest name first. The lists partly
 * contradict each other (cycles); when none is ready, the package that the
 * fewest remaining lists put after another goes next. Depends only on the set
 * of lists, not on their order in the file.
 */
export function sizeRankFromLists(registry: readonly RegistryEntry[]): string[] {
  const after = new Map<string, Map<string, number>>();
  const incoming = new Map<string, number>();
  const node = (name: string): void => {
    if (!after.has(name)) after.set(name, new Map());
    if (!incoming.has(name)) incoming.set(name, 0);
  };
  for (const entry of registry) {
    const pkgs = [...new Set(entry.pkgs)];
    pkgs.forEach(node);
    for (let i = 0; i + 1 < pkgs.length; i++) {
      const edges = after.get(pkgs[i] as string) as Map<string, number>;
      const to = pkgs[i + 1] as string;
      edges.set(to, (edges.get(to) ?? 0) + 1);
      incoming.set(to, (incoming.get(to) as number) + 1);
    }
  }
  const remaining = new Set([...after.keys()].sort(compareNames));
  const order: string[] = [];
  while (remaining.size > 0) {
    let pick: string | undefined;
    let fewest = Number.POSITIVE_INFINITY;
    for (const name of remaining) {
      const n = incoming.get(name) as number;
      if (n < fewest) {
        fewest = n;
        pick = name;
        if (n === 0) break;
      }
    }
    const chosen = pick as string;
    remaining.delete(chosen);
    order.push(chosen);
    for (const [to, count] of after.get(chosen) as Map<string, number>) {
      if (remaining.has(to)) incoming.set(to, (incoming.get(to) as number) - count);
    }
  }
  return order;
}

/** Handlers whose list is non-increasing in installed size under `packages`. */
export function consistentHandlers(registry: readonly RegistryEntry[], packages: ReadonlyMap<string, PackageInfo>): number {
  const size = (n: string): number => packages.get(n)?.bytes ?? 0;
  return registry.filter((e) => e.pkgs.every((p, i) => i === 0 || size(e.pkgs[i - 1] as string) >= size(p))).length;
}

/** Largest installed size first; ties by name so the order is stable. */
export function sortLargestFirst(names: Iterable<string>, packages: ReadonlyMap<string, PackageInfo>): string[] {
  const size = (n: string): number => packages.get(n)?.bytes ?? 0;
  return [...names].sort((a, b) => size(b) - size(a) || compareNames(a, b));
}

/** Compares names with digit runs as numbers (level2pkg10 after level2pkg9). */
export function compareNames(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i] as string;
    const y = pb[i] as string;
    if (x === y) continue;
    if (i % 2 === 1) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** Level sizes proportional to levelDecay^k, each at least 1, summing to total (largest remainder). */
export function levelSizes(total: number, levels: number): number[] {
  if (total < levels) throw new Error(`${total} packages cannot fill ${levels} levels (need at least one package per level)`);
  const weights = Array.from({ length: levels }, (_, k) => Math.pow(GRAPH_MODEL.levelDecay, k));
  const sum = weights.reduce((a, b) => a + b, 0);
  const spare = total - levels;
  const exact = weights.map((w) => (spare * w) / sum);
  const sizes = exact.map((x) => 1 + Math.floor(x));
  let left = total - sizes.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((x, k) => ({ k, r: x - Math.floor(x) })).sort((p, q) => q.r - p.r || p.k - q.k);
  for (const { k } of byRemainder) {
    if (left === 0) break;
    sizes[k] = (sizes[k] as number) + 1;
    left--;
  }
  return sizes;
}

/** Each handler listed `repeat` times, the whole list over again each round (like handlers_1000.txt). */
export function repeatHandlers(handles: readonly string[], repeat: number): string[] {
  const list: string[] = [];
  for (let r = 0; r < repeat; r++) list.push(...handles);
  return list;
}

export function generateWorkload(opts: GenerateOptions, samples: CostSamples): GeneratedWorkload {
  validateGenerateOptions(opts);
  const random = seededRandom(`pipbench-graph\u0000${opts.seed}`);

  const names: string[][] = levelSizes(opts.packages, opts.levels).map((size, k) =>
    Array.from({ length: size }, (_, i) => `level${k}pkg${i}`),
  );
  const all = names.flat();

  // Popularity: a random rank per package, weight 1/rank^s.
  const order = shuffle(all, random);
  const popularity = new Map<string, number>();
  order.forEach((name, i) => popularity.set(name, 1 / Math.pow(i + 1, GRAPH_MODEL.popularityZipf)));
  const levelSamplers = names.map((level) => new WeightedSampler(level.map((n) => popularity.get(n) as number)));

  const packages = new Map<string, PackageInfo>();
  names.forEach((level, k) => {
    for (const name of level) {
      const deps = new Set<string>();
      if (k > 0) {
        // One dependency on the level just below is what makes the package level k.
        deps.add(pickAtLevel(k - 1, names, levelSamplers, random));
        const extra = poisson(random, GRAPH_MODEL.extraDepsMean);
        for (let j = 0; j < extra; j++) deps.add(pickAtLevel(random.int(k), names, levelSamplers, random));
      }
      packages.set(name, {
        name,
        level: k,
        deps: [...deps].sort(compareNames),
        popularity: popularity.get(name) as number,
        ...drawPackageCosts(name, opts.seed, samples),
      });
    }
  });

  const importSampler = new WeightedSampler(zipfWeights(order.length, opts.zipf));
  const registry: RegistryEntry[] = [];
  for (let h = 0; h < opts.handlers; h++) {
    const wanted = Math.min(order.length, 1 + poisson(random, opts.importsMean - 1));
    const imports = new Set<string>();
    for (let draws = 0; imports.size < wanted && draws < 100 * wanted + 10_000; draws++) {
      imports.add(order[importSampler.sample(random)] as string);
    }
    // A handler importing nearly every package would take Zipf draws for ages to hit the rarest; take them in rank order.
    for (let i = 0; imports.size < wanted; i++) imports.add(order[i] as string);
    registry.push({ handle: `hdl${h}`, pkgs: sortLargestFirst(closure(imports, packages), packages) });
  }

  return {
    packages: [...packages.values()],
    registry,
    handlerList: repeatHandlers(registry.map((e) => e.handle), opts.repeat),
  };
}

function validateGenerateOptions(opts: GenerateOptions): void {
  const positiveInt = (key: keyof GenerateOptions): void => {
    const v = opts[key];
    if (!Number.isInteger(v) || v < 1) throw new Error(`${key} must be a positive integer, got ${v}`);
  };
  positiveInt('packages');
  positiveInt('handlers');
  positiveInt('levels');
  positiveInt('repeat');
  if (!Number.isInteger(opts.seed)) throw new Error(`seed must be an integer, got ${opts.seed}`);
  if (!(opts.zipf > 0) || !Number.isFinite(opts.zipf)) throw new Error(`zipf must be a positive number, got ${opts.zipf}`);
  if (!(opts.importsMean >= 1) || !Number.isFinite(opts.importsMean)) throw new Error(`importsMean must be at least 1, got ${opts.importsMean}`);
}

function pickAtLevel(level: number, names: readonly string[][], samplers: readonly WeightedSampler[], random: Random): string {
  return (names[level] as string[])[(samplers[level] as WeightedSampler).sample(random)] as string;
}

function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** The packages plus all their transitive dependencies. */
export function closure(roots: Iterable<string>, packages: ReadonlyMap<string, PackageInfo>): Set<string> {
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length > 0) {
    const name = stack.pop() as string;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const dep of packages.get(name)?.deps ?? []) if (!seen.has(dep)) stack.push(dep);
  }
  return seen;
}

/** A registry as given, with a package table filled in for its names (pipbench generate --from-registry). */
export function workloadFromRegistry(registry: readonly RegistryEntry[], seed: number, repeat: number, samples: CostSamples): GeneratedWorkload {
  const table = fillPackageTable(registry, new Map(), seed, samples);
  const packages = [...table.values()].sort((a, b) => a.level - b.level || compareNames(a.name, b.name));
  return {
    packages,
    registry: registry.map((e) => ({ handle: e.handle, pkgs: [...e.pkgs] })),
    handlerList: repeatHandlers(registry.map((e) => e.handle), repeat),
  };
}

export function formatPackagesJson(packages: readonly PackageInfo[]): string {
  const lines = packages.map((p) =>
    JSON.stringify({
      name: p.name,
      level: p.level,
      deps: p.deps,
      popularity: p.popularity,
      compressedBytes: p.compressedBytes,
      bytes: p.bytes,
      installMs: p.installMs,
      importMs: p.importMs,
      importMem: p.importMem,
    }),
  );
  return `[\n  ${lines.join(',\n  ')}\n]\n`;
}

/** One handler a line: diff-friendly and still plain JSON. */
export function formatRegistryJson(registry: readonly RegistryEntry[]): string {
  const lines = registry.map((e) => JSON.stringify({ handle: e.handle, pkgs: e.pkgs }));
  return `[\n  ${lines.join(',\n  ')}\n]\n`;
}

export function formatHandlerList(handlers: readonly string[]): string {
  return handlers.map((h) => `${h}\n`).join('');
}

export const OUTPUT_FILES = { packages: 'packages.json', registry: 'registry.json', handlers: 'handlers.txt' } as const;

export async function writeWorkloadFiles(dir: string, workload: GeneratedWorkload): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string][] = [
    [join(dir, OUTPUT_FILES.packages), formatPackagesJson(workload.packages)],
    [join(dir, OUTPUT_FILES.registry), formatRegistryJson(workload.registry)],
    [join(dir, OUTPUT_FILES.handlers), formatHandlerList(workload.handlerList)],
  ];
  for (const [path, text] of files) await writeFile(path, text);
  return files.map(([path]) => path);
}
