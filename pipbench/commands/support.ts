// What every pipbench command shares: where it writes, and how bad input ends it.
import { parseArgs, type ParseArgsConfig } from 'node:util';

import { UsageError } from '../../src/usage-error.js';

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
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${flag} needs a comma-separated list of numbers, got "${value}"`);
  return [...new Set(items.map((item) => parseNumberFlag(flag, item, limits) as number))];
}
