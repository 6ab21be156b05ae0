import { readFile } from 'node:fs/promises';
import type { LambdaInfo } from '../balancers/types.js';

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

  /** Re-reads the file; on error the registry keeps its current contents and the error is thrown. */
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
    throw new Error(`registry ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`registry ${path}: not valid JSON (${(err as Error).message})`);
  }
  return parseRegistry(data, `registry ${path}`);
}

export function parseRegistry(data: unknown, source: string): Map<string, LambdaInfo> {
  if (!Array.isArray(data)) throw new Error(`${source}: must be a JSON array of {"handle": NAME, "pkgs": [PACKAGE, ...]}`);
  const functions = new Map<string, LambdaInfo>();
  data.forEach((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object') throw new Error(`${source}: entry ${i} is not an object`);
    const { handle, pkgs } = entry as { handle?: unknown; pkgs?: unknown };
    if (typeof handle !== 'string' || handle === '') throw new Error(`${source}: entry ${i} needs "handle" as a non-empty string`);
    const packages = pkgs ?? [];
    if (!Array.isArray(packages) || !packages.every((p): p is string => typeof p === 'string')) {
      throw new Error(`${source}: entry ${i} ("${handle}") needs "pkgs" as an array of package names`);
    }
    if (functions.has(handle)) throw new Error(`${source}: handle "${handle}" appears twice`);
    functions.set(handle, Object.freeze({ name: handle, packages: Object.freeze([...packages]) }));
  });
  return functions;
}
