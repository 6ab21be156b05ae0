import { readFile } from 'node:fs/promises';
import type { LambdaInfo } from '../balancers/types.js';
import { ConfigError, describeValue, parseJsonText } from './config-error.js';
import { isFunctionName, MAX_FUNCTION_NAME } from './route.js';

/** Function name -> packages (largest first), from an olscheduler registry file `[{"handle", "pkgs"}]`. */
export class Registry {
  private functions: Map<string, LambdaInfo>;

  private constructor(functions: Map<string, LambdaInfo>, readonly path: string) {
    this.functions = functions;
  }

  /** A registry that knows every name: each function has no packages (plain proxying, name-hashed). */
  static open(): Registry {
    return new Registry(new Map(), '');
  }

  /** A registry read elsewhere (a primary process hands its processes the one it read). */
  static of(path: string, functions: readonly LambdaInfo[]): Registry {
    return new Registry(new Map(functions.map((f) => [f.name, f])), path);
  }

  /** Every function, in file order. */
  entries(): LambdaInfo[] {
    return [...this.functions.values()];
  }

  /** Reads and checks the file; throws ConfigError naming the file and the problem. */
  static async fromFile(path: string): Promise<Registry> {
    return new Registry(await readRegistryFile(path), path);
  }

  get isOpen(): boolean {
    return this.path === '';
  }

  get size(): number {
    return this.functions.size;
  }

  /** Function names in file order. */
  names(): IterableIterator<string> {
    return this.functions.keys();
  }

  lookup(name: string): LambdaInfo | undefined {
    if (this.path === '') return { name, packages: [] };
    return this.functions.get(name);
  }

  /** Re-reads the file; on error the registry keeps its current contents and the ConfigError is thrown. */
  async reload(): Promise<number> {
    if (this.path === '') return 0;
    this.functions = await readRegistryFile(this.path);
    return this.functions.size;
  }
}

export async function readRegistryFile(path: string): Promise<Map<string, LambdaInfo>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`registry ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseRegistryText(text, `registry ${path}`);
}

/** JSON text -> registry; malformed or too deeply nested JSON is a ConfigError like any other problem. */
export function parseRegistryText(text: string, source: string): Map<string, LambdaInfo> {
  return parseRegistry(parseJsonText(text, source), source);
}

/**
 * Checks a parsed registry: an array of `{"handle": NAME, "pkgs": [PACKAGE, ...]}`
 * with valid, distinct names and non-empty package names. Looks only as deep
 * as the format goes, so any nesting gives a message, never a stack overflow.
 */
export function parseRegistry(data: unknown, source: string): Map<string, LambdaInfo> {
  if (!Array.isArray(data)) throw new ConfigError(`${source}: must be a JSON array of {"handle": NAME, "pkgs": [PACKAGE, ...]}, got ${describeValue(data)}`);
  const functions = new Map<string, LambdaInfo>();
  for (let i = 0; i < data.length; i++) {
    const entry: unknown = data[i];
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw new ConfigError(`${source}: entry ${i} is ${describeValue(entry)}, not a {"handle", "pkgs"} object`);
    }
    const { handle, pkgs } = entry as { handle?: unknown; pkgs?: unknown };
    if (typeof handle !== 'string' || !isFunctionName(handle)) {
      throw new ConfigError(`${source}: entry ${i} has handle ${describeValue(handle)}; a handle is 1 to ${MAX_FUNCTION_NAME} letters, digits, "_", "." and "-", and not "." or ".."`);
    }
    const packages = pkgs ?? [];
    if (!Array.isArray(packages)) {
      throw new ConfigError(`${source}: entry ${i} ("${handle}") needs "pkgs" as an array of package names, got ${describeValue(packages)}`);
    }
    for (let j = 0; j < packages.length; j++) {
      const p: unknown = packages[j];
      if (typeof p !== 'string' || p === '') {
        throw new ConfigError(`${source}: entry ${i} ("${handle}") needs "pkgs" as an array of package names; package ${j} is ${describeValue(p)}`);
      }
    }
    if (functions.has(handle)) throw new ConfigError(`${source}: handle "${handle}" appears twice`);
    functions.set(handle, Object.freeze({ name: handle, packages: Object.freeze([...(packages as string[])]) }));
  }
  return functions;
}
