// One package installed by pip from the local repository, without the network
// and without its dependencies (each has its own folder), as OpenLambda does.
import { pythonNames } from '../wheels.js';
import { InvocationError } from '../worker.js';
import type { ChildProcesses } from './children.js';

export interface PipSetup {
  /** The interpreter whose pip installs (its real executable). */
  python: string;
  /** The find-links folder of wheels. */
  repo: string;
  children: ChildProcesses;
}

/** Installs `name` into `target` (an empty folder); an InvocationError names the package and why it failed. */
export async function pipInstall(setup: PipSetup, name: string, target: string): Promise<void> {
  const args = [
    '-m', 'pip', 'install',
    '--no-index', '--find-links', setup.repo, '--no-deps',
    '--target', target,
    '--no-cache-dir', '--disable-pip-version-check', '--no-input', '--quiet',
    // The distribution name the repository's wheel carries (pipbench/wheels.ts names it from the table's).
    pythonNames(name).distribution,
  ];
  // Only the repository counts: a user's pip configuration must not add an index or options.
  const env = { ...process.env, PIP_CONFIG_FILE: '/dev/null', PYTHONNOUSERSITE: '1' };
  const result = await setup.children.run(setup.python, args, env);
  if (result.code === 0) return;
  throw pipFailure(name, setup.repo, target, result.stderr, result.code, result.signal);
}

function pipFailure(name: string, repo: string, target: string, stderr: string, code: number | null, signal: NodeJS.Signals | null): InvocationError {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const last = lines.filter((l) => l.startsWith('ERROR:')).pop() ?? lines.pop() ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
  if (/No matching distribution found|Could not find a version that satisfies/.test(stderr)) {
    return new InvocationError(500, 'package_missing', `package "${name}" is not in the repository ${repo}`);
  }
  if (/No space left on device|ENOSPC|Errno 28/.test(stderr)) {
    return new InvocationError(500, 'disk_full', `no space left on the cache's disk while installing "${name}" into ${target}`);
  }
  if (/Permission denied|Read-only file system|Errno 13|Errno 30/.test(stderr)) {
    return new InvocationError(500, 'cache_unwritable', `cannot write package "${name}" into ${target}: ${last}`);
  }
  if (/BadZipFile|is invalid|not a zip file|not a valid wheel|Wheel .* located at|has an invalid wheel|RECORD/.test(stderr)) {
    return new InvocationError(500, 'corrupt_wheel', `the wheel of package "${name}" in ${repo} is corrupt: ${last}`);
  }
  return new InvocationError(500, 'install_failed', `pip could not install package "${name}" from ${repo}: ${last}`);
}
