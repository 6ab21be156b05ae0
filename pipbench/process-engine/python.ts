// The Python the worker runs: checked once at start-up (the interpreter runs,
// pip imports), and resolved to its real executable so that children skip any
// shim in front of it.
import { execFile } from 'node:child_process';
import { UsageError } from '../../src/usage-error.js';

export interface PythonInfo {
  /** The interpreter's own path (sys.executable). */
  executable: string;
  version: string;
  pipVersion: string;
}

const PROBE = [
  'import sys, json',
  'try:',
  '    import pip',
  '    pv = pip.__version__',
  'except Exception as e:',
  '    pv = None',
  'print(json.dumps({"executable": sys.executable, "version": sys.version.split()[0], "pip": pv}))',
].join('\n');

/** Checks that `python` runs and has pip; a UsageError says which is missing and what to install. */
export function checkPython(python: string): Promise<PythonInfo> {
  return new Promise((resolve, reject) => {
    execFile(python, ['-c', PROBE], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not executable' : `failed: ${stderr.trim().split('\n').pop() ?? err.message}`;
        reject(new UsageError(`python "${python}" ${why}; the process engine needs python3 with pip (Debian: apt-get install python3-pip), or give --python PATH`));
        return;
      }
      let probe: { executable?: unknown; version?: unknown; pip?: unknown };
      try {
        probe = JSON.parse(stdout) as typeof probe;
      } catch {
        reject(new UsageError(`python "${python}" did not answer the start-up probe (printed ${JSON.stringify(stdout.slice(0, 80))})`));
        return;
      }
      if (typeof probe.pip !== 'string') {
        reject(new UsageError(`pip is missing for python "${python}" (${String(probe.executable)}); install it (Debian: apt-get install python3-pip)`));
        return;
      }
      resolve({ executable: typeof probe.executable === 'string' && probe.executable !== '' ? probe.executable : python, version: String(probe.version), pipVersion: probe.pip });
    });
  });
}
