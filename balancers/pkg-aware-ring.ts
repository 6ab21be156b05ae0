import { createPackageAware, packageAwareSettings } from './package-aware.js';
import type { Policy } from './types.js';

/**
 * `pkg-aware-ring`: PASch whose overflow follows the hash ring. Below the load
 * threshold it picks exactly as `pkg-aware`; past it, the function goes to the
 * next worker clockwise from its key that is under the threshold and has a free
 * connection, rather than to the globally least-loaded worker, so its overflow
 * stays on a fixed, short list of workers that warm up for it, as in consistent
 * hashing with bounded loads.
 */
export const pkgAwareRingPolicy: Policy = {
  name: 'pkg-aware-ring',
  settings: packageAwareSettings,
  create: (settings, env) => createPackageAware('pkg-aware-ring', settings, 'ring', env),
};
