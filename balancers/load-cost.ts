import { slotsOf } from './service-time.js';
import { coresOf, psStretch } from './work-model.js';
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

/**
 * pkg-aware's `loadThreshold: "auto"` on a processor-sharing worker: one more
 * warm request at home costs warmMs x psStretch(p, c) with p requests there
 * (its own time and the delay it causes them); going elsewhere costs a cold
 * start, (warmMs + coldMs) x psStretch(0, c) on an idle worker of the same
 * cores. Home is kept while the first is no dearer: the threshold is one more
 * than the largest such p. `warmMs` 0 (no warm run measured yet, a cold start
 * already seen) keeps every request at home. Within [1, connection limit].
 */
export function psAutoThreshold(w: WorkerView, warmMs: number, coldMs: number): number {
  const limit = Math.max(1, w.limit);
  const c = coresOf(w);
  const cold = (warmMs + coldMs) * psStretch(0, c);
  if (!(warmMs > 0)) return limit;
  // psStretch grows with p: the largest p in [0, limit - 1] with warmMs x psStretch(p, c) <= cold.
  if (warmMs * psStretch(0, c) > cold) return 1;
  let lo = 0;
  let hi = limit - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (warmMs * psStretch(mid, c) <= cold) lo = mid;
    else hi = mid - 1;
  }
  return Math.min(limit, lo + 1);
}
