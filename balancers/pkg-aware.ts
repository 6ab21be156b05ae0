import { createPackageAware, packageAwareSettings } from './package-aware.js';
import type { Policy } from './types.js';

/**
 * `pkg-aware`: PASch as published. The function's largest package picks two
 * candidate workers on a consistent-hash ring, the less loaded one runs it
 * (waiting in its queue if need be) while under `loadThreshold`; past it, the
 * least-loaded worker with a free connection.
 */
export const pkgAwarePolicy: Policy = {
  name: 'pkg-aware',
  settings: packageAwareSettings,
  create: (settings, env) => createPackageAware('pkg-aware', settings, 'least-loaded', env),
};
