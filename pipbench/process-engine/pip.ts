// Packages installed by pip from the local repository, without the network
// and without their dependencies (each has its own folder), as OpenLambda
// does. A cold start pays one pip start-up, not one per package: every
// missing package of a request goes into one `pip install --target`, and
// each package's files (its RECORD's top-level entries) are then moved into
// that package's own folder, so that the cache still keeps and evicts them
// one by one.
import { readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pythonNames } from '../generate/wheels.js';
import { InvocationError } from '../worker.js';
import type { ChildProcesses } from './children.js';

export interface PipSetup {
  /** The interpreter whose pip installs (its real executable). */
  python: string;
  /** The find-links folder of wheels. */
  repo: string;
  children: ChildProcesses;
}

/** `"a", "b"`: the packages an error is about. */
export function quoteNames(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}

/**
 * Installs `names` with one pip call into `target` (an empty folder), then
 * moves each package's files into `folders.get(name)` (an empty folder each).
 * An InvocationError names the package and why it failed.
 */
export async function pipInstall(setup: PipSetup, names: readonly string[], target: string, folders: ReadonlyMap<string, string>): Promise<void> {
  const args = [
    '-m', 'pip', 'install',
    '--no-index', '--find-links', setup.repo, '--no-deps',
    '--target', target,
    '--no-cache-dir', '--disable-pip-version-check', '--no-input', '--quiet',
    // The distribution names the repository's wheels carry (pipbench/generate/wheels.ts names them from the table's).
    ...names.map((n) => pythonNames(n).distribution),
  ];
  // Only the repository counts: a user's pip configuration must not add an index or options.
  const env = { ...process.env, PIP_CONFIG_FILE: '/dev/null', PYTHONNOUSERSITE: '1' };
  const result = await setup.children.run(setup.python, args, env);
  if (result.code !== 0) throw pipFailure(names, setup.repo, target, result.stderr, result.code, result.signal);
  await splitInstall(target, names, folders);
}

/** The top-level entries (module folders, dist-info) that a package's RECORD lists under `target`. */
async function topLevelEntries(target: string, name: string, distInfos: readonly string[]): Promise<string[]> {
  const bare = pythonNames(name).wheelFile.split('-')[0] as string;
  const distInfo = distInfos.find((d) => d.startsWith(`${bare}-`));
  if (distInfo === undefined) throw new InvocationError(500, 'install_failed', `pip installed no dist-info for package "${name}" into ${target}`);
  const record = await readFile(join(target, distInfo, 'RECORD'), 'utf8');
  const tops = new Set([distInfo]);
  for (const line of record.split('\n')) {
    // A RECORD row is `path,hash,size`; paths with commas are quoted, which our wheels never need.
    const path = line.split(',')[0]?.trim() ?? '';
    const top = path.split('/')[0] ?? '';
    if (top !== '' && top !== '..' && top !== '.') tops.add(top);
  }
  return [...tops];
}

/** Moves every package's top-level entries from the shared pip target into its own folder. */
async function splitInstall(target: string, names: readonly string[], folders: ReadonlyMap<string, string>): Promise<void> {
  const distInfos = (await readdir(target)).filter((e) => e.endsWith('.dist-info'));
  const owner = new Map<string, string>();
  const plan: { name: string; tops: string[] }[] = [];
  for (const name of names) {
    const tops = await topLevelEntries(target, name, distInfos);
    for (const top of tops) {
      const other = owner.get(top);
      if (other !== undefined) throw new InvocationError(500, 'install_failed', `packages "${other}" and "${name}" both install "${top}"; each needs its own folder`);
      owner.set(top, name);
    }
    plan.push({ name, tops });
  }
  for (const { name, tops } of plan) {
    const folder = folders.get(name) as string;
    for (const top of tops) await rename(join(target, top), join(folder, top));
  }
}

/** The table name of the package a pip message names by its distribution or wheel file, if any. */
function namedIn(stderr: string, names: readonly string[], pattern: (n: ReturnType<typeof pythonNames>) => string): string | undefined {
  return names.find((n) => stderr.toLowerCase().includes(pattern(pythonNames(n)).toLowerCase()));
}

function pipFailure(names: readonly string[], repo: string, target: string, stderr: string, code: number | null, signal: NodeJS.Signals | null): InvocationError {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const last = lines.filter((l) => l.startsWith('ERROR:')).pop() ?? lines.pop() ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
  const all = quoteNames(names);
  const missing = /(?:No matching distribution found for|Could not find a version that satisfies the requirement) (\S+)/.exec(stderr);
  if (missing) {
    const name = names.find((n) => pythonNames(n).distribution === (missing[1] as string).toLowerCase()) ?? missing[1];
    return new InvocationError(500, 'package_missing', `package "${name}" is not in the repository ${repo}`);
  }
  if (/No space left on device|ENOSPC|Errno 28/.test(stderr)) {
    return new InvocationError(500, 'disk_full', `no space left on the cache's disk while installing ${all} into ${target}`);
  }
  if (/Permission denied|Read-only file system|Errno 13|Errno 30/.test(stderr)) {
    return new InvocationError(500, 'cache_unwritable', `cannot write package ${all} into ${target}: ${last}`);
  }
  if (/BadZipFile|is invalid|not a zip file|not a valid wheel|Wheel .* located at|has an invalid wheel|RECORD/.test(stderr)) {
    const name = namedIn(stderr, names, (p) => p.wheelFile);
    return new InvocationError(500, 'corrupt_wheel', `the wheel of package ${name ? `"${name}"` : `one of ${all}`} in ${repo} is corrupt: ${last}`);
  }
  return new InvocationError(500, 'install_failed', `pip could not install ${all} from ${repo}: ${last}`);
}
