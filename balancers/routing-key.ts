import type { LambdaInfo } from './types.js';

/**
 * What package-aware policies hash: the function's largest package, so that
 * functions sharing it meet the same warm cache; a function without packages
 * has nothing to share and hashes its own name.
 */
export function routingKey(fn: LambdaInfo): string {
  return fn.packages.length > 0 ? fn.packages[0] : fn.name;
}
