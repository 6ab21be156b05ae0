import { createPackageAware } from './pkg-aware.js';
import type { BalancerFactory } from './types.js';

/**
 * `pkg-aware-ring`: PASch whose overflow follows the hash ring. Below the load
 * threshold it picks exactly as `pkg-aware`; once the home worker is at the
 * threshold, the function goes to the next worker clockwise from its key that
 * is under the threshold, rather than to the globally least-loaded worker. A
 * function's overflow thus stays on a fixed, short list of workers that warm up
 * for it, as in consistent hashing with bounded loads, while the two-choice home
 * pick and the fixed threshold of PASch are kept.
 */
export const createPkgAwareRing: BalancerFactory = (options) => createPackageAware(options, 'ring');
