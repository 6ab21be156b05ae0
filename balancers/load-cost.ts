import { slotsOf } from './service-time.js';
import type { LambdaInfo, PolicyEnv, WorkerView } from './types.js';

/**
 * What loading one of `fn`'s packages costs, in ms: install plus import from
 * the package table (a name the table lacks costs nothing, as `warmroute
 * check` warns); without a table, an equal share of `coldUnitMs`, so a
 * function's whole cold start counts as `coldUnitMs` whatever its list.
 */
export function packageLoadMs(env: PolicyEnv, fn: LambdaInfo, name: string, coldUnitMs: number): number {
  if (env.packageCost !== undefined) {
    const cost = env.packageCost(name);
    return cost !== undefined ? cost.installMs + cost.importMs : 0;
  }
  return fn.packages.length > 0 ? coldUnitMs / fn.packages.length : 0;
}

/** What running `fn` on a worker holding none of its packages costs beyond a warm run, in ms. */
export function coldStartMs(env: PolicyEnv, fn: LambdaInfo, coldUnitMs: number): number {
  let sum = 0;
  for (const p of fn.packages) sum += packageLoadMs(env, fn, p, coldUnitMs);
  return sum;
}

/**
 * pkg-aware's `loadThreshold: "auto"` for one worker and function: wait at
 * home while the expected wait for a slot there is shorter than the cold start
 * it avoids. With `s` slots and a completion every `drainMs` when saturated, a
 * request that finds `p` pending waits about (p - s + 1) x drainMs; that stays
 * under `coldMs` while p < s + coldMs / drainMs (under first-come-first-served
 * cores drainMs = service / s, so this is s x (1 + coldMs / service)). Before
 * anything has finished (no drain rate yet) the threshold is the slots alone.
 * Rounded to the nearest count; always at least 1 and at most the worker's
 * connection limit.
 */
export function autoThreshold(w: WorkerView, coldMs: number, drainMs: number | undefined): number {
  const slots = slotsOf(w);
  const raw = drainMs !== undefined && drainMs > 0 ? slots + coldMs / drainMs : slots;
  const limit = Math.max(1, w.limit);
  return Math.min(limit, Math.max(1, Math.round(raw)));
}
