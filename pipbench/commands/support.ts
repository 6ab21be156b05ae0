// What every pipbench command shares: where it writes, how bad input ends it,
// and the one set of flag readers (numbers, words, lists, files, the recorded
// command line).
import { readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { UsageError } from '../../src/usage-error.js';
import { parseRegistryText } from '../../src/registry.js';
import type { HandlerChoice, RotationSlice } from '../runner.js';
import { fileErrorReason, parseHandlerList } from '../workload.js';

export { UsageError };

/** A file named on the command line is missing, unreadable or malformed: exit code 1, like the other pipbench commands. */
export class InputError extends UsageError {
  override readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** Where a command writes its text; tests pass their own to read it back. */
export interface CommandIO {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Stops a long-running command (the worker) as SIGINT/SIGTERM do, for callers in the same process. */
  readonly stop?: AbortSignal;
}

export const PROCESS_IO: CommandIO = { stdout: process.stdout, stderr: process.stderr };

/** The signals that stop a long-running command: Ctrl-C, and kill, a service manager or a CI timeout. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** Resolves on SIGINT, SIGTERM or the caller's `stop`: how a long-running command (worker, demo) waits for its end. */
export function stopRequested(stop: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      for (const signal of STOP_SIGNALS) process.off(signal, done);
      stop?.removeEventListener('abort', done);
      resolve();
    };
    for (const signal of STOP_SIGNALS) process.once(signal, done);
    if (stop?.aborted) done();
    else stop?.addEventListener('abort', done, { once: true });
  });
}

/** Runs a command's body; bad input becomes a one-line message and its exit code, never a stack trace. */
export async function reportingUsageErrors(command: string, io: CommandIO, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`pipbench ${command}: ${err.message}\n${err instanceof InputError ? '' : `(see pipbench ${command} --help)\n`}`);
      return err.exitCode;
    }
    throw err;
  }
}

/** The one parser of numeric flags: a finite number within the limits, else a UsageError naming the flag. */
export function parseNumberFlag(
  flag: string,
  value: string | undefined,
  limits: { min?: number; exclusiveMin?: number; max?: number; integer?: boolean } = {},
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got "${value}"`);
  if (limits.integer && !Number.isInteger(n)) throw new UsageError(`--${flag} must be a whole number, got "${value}"`);
  if (limits.min !== undefined && n < limits.min) throw new UsageError(`--${flag} must be at least ${limits.min}, got ${value}`);
  if (limits.exclusiveMin !== undefined && n <= limits.exclusiveMin) throw new UsageError(`--${flag} must be greater than ${limits.exclusiveMin}, got ${value}`);
  if (limits.max !== undefined && n > limits.max) throw new UsageError(`--${flag} must be at most ${limits.max}, got ${value}`);
  return n;
}

/** One of the allowed words, or the fallback when the flag is absent. */
export function parseChoice<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}; got "${value}"`);
}

/** A comma-separated list of names; undefined when the flag is absent, a UsageError when it names nothing. */
export function parseList(flag: string, value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${flag} needs a comma-separated list, got "${value}"`);
  return items;
}

/** One positive number per worker, comma-separated (--worker-cores, --worker-weights). */
export function parseNumberList(flag: string, value: string | undefined, count: number): number[] | undefined {
  const items = parseList(flag, value);
  if (!items) return undefined;
  if (items.length !== count) throw new UsageError(`--${flag} needs one value per worker (${count}), got ${items.length}`);
  return items.map((item) => {
    const n = Number(item);
    if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${flag}: "${item}" is not a positive number`);
    return n;
  });
}

/** "0.2" is a fraction of the handler list, "20" a number of handlers, "20%" a percentage as in pipbench configs. */
export function parseRotationSlice(value: string): RotationSlice {
  const percent = /^(\d+(?:\.\d+)?)%$/.exec(value.trim());
  if (percent) {
    const p = Number(percent[1]);
    if (p > 0 && p <= 100) return { fraction: p / 100 };
  } else {
    const n = Number(value);
    if (value.trim() !== '' && Number.isFinite(n) && n > 0) {
      if (n <= 1 && !(n === 1 && /^\d+$/.test(value.trim()))) return { fraction: n };
      if (Number.isInteger(n)) return { count: n };
    }
  }
  throw new UsageError(`--rotation-slice must be a fraction in (0, 1], a percentage like 20%, or a whole number of handlers; got "${value}"`);
}

/** What parseFlags read: flag name -> its text, or true for a boolean flag. */
export type FlagValues = Readonly<Record<string, string | boolean | undefined>>;

/** A flag's text; undefined when it is absent or a boolean flag. */
export function stringFlag(values: FlagValues, flag: string): string | undefined {
  const value = values[flag];
  return typeof value === 'string' ? value : undefined;
}

/** The flags parseLoadFlags and parseHandlerChoice read, for parseFlags. */
export const LOAD_OPTIONS = {
  mode: { type: 'string' },
  wait: { type: 'string' },
  rate: { type: 'string' },
  runners: { type: 'string' },
  choice: { type: 'string' },
  'rotation-period': { type: 'string' },
  'rotation-slice': { type: 'string' },
} as const;

/** --choice, --rotation-period, --rotation-slice (run, experiment, simulate): how the runner draws handlers. */
export function parseHandlerChoice(values: FlagValues): HandlerChoice {
  const period = stringFlag(values, 'rotation-period');
  const slice = stringFlag(values, 'rotation-slice');
  if (parseChoice('choice', stringFlag(values, 'choice'), ['uniform', 'rotate'] as const, 'uniform') === 'uniform') {
    if (period !== undefined || slice !== undefined) throw new UsageError('--rotation-period and --rotation-slice need --choice rotate');
    return { kind: 'uniform' };
  }
  const periodSec = parseNumberFlag('rotation-period', period, { exclusiveMin: 0 }) ?? 60;
  return { kind: 'rotate', periodMs: periodSec * 1000, slice: parseRotationSlice(slice ?? '0.2') };
}

/**
 * --mode, --wait, --rate, --runners (run, experiment, simulate): async sends one
 * request every `waitMs` (from --wait or --rate, else `defaultWaitMs`), sync
 * runs closed-loop runners with --wait as think time.
 */
export function parseLoadFlags(
  values: FlagValues,
  defaults: { readonly mode: 'async' | 'sync'; readonly waitMs?: number; readonly runners: number },
): { mode: 'async' | 'sync'; waitMs: number; runners: number } {
  // The default first in the message's list.
  const mode = parseChoice('mode', stringFlag(values, 'mode'), [defaults.mode, defaults.mode === 'sync' ? 'async' : 'sync'], defaults.mode);
  const wait = parseNumberFlag('wait', stringFlag(values, 'wait'), { min: 0 });
  const rate = parseNumberFlag('rate', stringFlag(values, 'rate'), { exclusiveMin: 0 });
  const runners = parseNumberFlag('runners', stringFlag(values, 'runners'), { min: 1, integer: true });
  if (mode === 'sync') {
    if (rate !== undefined) throw new UsageError('--rate applies to --mode async only');
    return { mode, waitMs: wait ?? 0, runners: runners ?? defaults.runners };
  }
  if (runners !== undefined) throw new UsageError('--runners applies to --mode sync only; async sends one request every --wait ms');
  if (wait !== undefined && rate !== undefined) throw new UsageError('give either --wait or --rate, not both');
  const waitMs = rate !== undefined ? 1000 / rate : (wait ?? defaults.waitMs);
  if (waitMs === undefined) throw new UsageError('--mode async needs --wait MS or --rate N');
  if (!(waitMs > 0)) throw new UsageError('--wait must be greater than 0 in async mode');
  return { mode, waitMs, runners: defaults.runners };
}

/** An argument as a POSIX shell reads it back: the recorded command line of a result can be pasted and rerun. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Reads a file, turning "no such file" and friends into a UsageError that names the flag and path. */
export async function readInputFile(flag: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InputError(`--${flag} ${path}: ${fileErrorReason(err)}`);
  }
}

/** Reads the file a flag names and parses it; what the parser rejects (its message names the file) is an InputError naming the flag. */
export async function parseInputFile<T>(flag: string, path: string, parse: (text: string, path: string) => T): Promise<T> {
  const text = await readInputFile(flag, path);
  try {
    return parse(text, path);
  } catch (err) {
    throw new InputError(`--${flag} ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function writeOutputFile(flag: string, path: string, content: string): Promise<void> {
  try {
    await writeFile(path, content);
  } catch (err) {
    // A file to be written is missing only when its folder is; other reasons in the one wording of file errors.
    const missingFolder = err && typeof err === 'object' && 'code' in err && err.code === 'ENOENT';
    throw new InputError(`--${flag} ${path}: cannot write (${missingFolder ? 'its directory does not exist' : fileErrorReason(err)})`);
  }
}

/** Loads the handler list from --handlers and/or --registry, rejecting names the registry lacks. */
export async function loadHandlerNames(handlersPath: string | undefined, registryPath: string | undefined): Promise<string[]> {
  if (handlersPath === undefined && registryPath === undefined) throw new UsageError('give --handlers FILE or --registry FILE');
  let registryNames: string[] | undefined;
  if (registryPath !== undefined) {
    const text = await readInputFile('registry', registryPath);
    try {
      registryNames = [...parseRegistryText(text, 'registry').keys()];
    } catch (err) {
      throw new InputError(`--registry ${registryPath}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (handlersPath === undefined) {
    if (!registryNames || registryNames.length === 0) throw new InputError(`--registry ${registryPath}: no functions in it`);
    return registryNames;
  }
  const handlers = parseHandlerList(await readInputFile('handlers', handlersPath));
  if (handlers.length === 0) throw new InputError(`--handlers ${handlersPath}: no handler names in it`);
  if (registryNames) {
    const known = new Set(registryNames);
    const unknown = [...new Set(handlers.filter((h) => !known.has(h)))];
    if (unknown.length > 0) {
      const shown = unknown.slice(0, 5).map((h) => `"${h}"`).join(', ');
      throw new InputError(`--handlers ${handlersPath}: ${unknown.length} handler(s) not in registry ${registryPath}: ${shown}${unknown.length > 5 ? ', ...' : ''}`);
    }
  }
  return handlers;
}

/** Fails before a long run, not after it, when an output file could not be written. */
export async function assertOutputDirectory(flag: string, path: string): Promise<void> {
  const dir = dirname(path);
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch { /* reported below */ }
  if (!isDir) throw new InputError(`--${flag} ${path}: directory ${dir} does not exist`);
}

/** The one flag reader of pipbench's commands: named flags only; an unknown or malformed flag is a UsageError. */
export function parseFlags<const O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true as const, allowPositionals: false as const }).values;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** A comma-separated list of numbers, each read by parseNumberFlag with the same limits. */
export function parseNumberListFlag(
  flag: string,
  value: string | undefined,
  limits: { min?: number; exclusiveMin?: number; max?: number; integer?: boolean } = {},
): number[] | undefined {
  const items = parseList(flag, value);
  return items === undefined ? undefined : [...new Set(items.map((item) => parseNumberFlag(flag, item, limits) as number))];
}
