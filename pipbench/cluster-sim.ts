// A small cluster driver in virtual time: requests arrive on a schedule and a
// route function sends each to one of N model workers. It exists to calibrate
// the worker model on the thesis's logs; `pipbench simulate` (the proxy's real
// policies and queues on a virtual clock) replaces it for experiments, which is
// why its interface stays this small.
import { murmur3 } from '../balancers/murmur3.js';
import { createCpu, WorkerModel, type CpuDiscipline, type InvocationResult, type ModelParams } from './model.js';
import { seededRandom } from './random.js';
import { VirtualClock } from './virtual-clock.js';
import type { Workload } from './workload.js';

export interface Arrival {
  /** When the request is sent, ms from the start. */
  readonly atMs: number;
  readonly handler: string;
}

/** Which worker a request goes to; `inFlight[i]` is worker i's count of unanswered requests. */
export type Route = (handler: string, inFlight: readonly number[]) => number;

export interface ClusterOptions {
  workers: number;
  params: ModelParams;
  /**
   * One CPU shared by every worker (workers as processes on one host), instead
   * of one CPU per worker with `params.cores` each.
   */
  sharedHost?: { discipline: CpuDiscipline; cores: number };
}

export interface SimulatedRequest {
  readonly handler: string;
  readonly sentMs: number;
  /** Send to answer; NaN if the simulation ended without an answer (it never does: the driver runs to the end). */
  readonly latencyMs: number;
  readonly worker: number;
  readonly result: InvocationResult | undefined;
}

/** Runs `arrivals` through `route` onto model workers until every request is answered. */
export function simulateCluster(workload: Workload, arrivals: readonly Arrival[], route: Route, opts: ClusterOptions): SimulatedRequest[] {
  if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError(`workers must be a positive integer, got ${opts.workers}`);
  const clock = new VirtualClock();
  const host = opts.sharedHost ? createCpu(clock, opts.sharedHost.discipline, opts.sharedHost.cores) : undefined;
  const workers = Array.from({ length: opts.workers }, (_, i) => new WorkerModel(workload, clock, opts.params, `worker${i + 1}`, host));
  const inFlight = new Array<number>(opts.workers).fill(0);
  const out: SimulatedRequest[] = new Array<SimulatedRequest>(arrivals.length);
  arrivals.forEach((arrival, i) => {
    clock.setTimer(arrival.atMs, () => {
      const w = route(arrival.handler, inFlight);
      if (!Number.isInteger(w) || w < 0 || w >= opts.workers) throw new RangeError(`route returned ${w}; workers are 0..${opts.workers - 1}`);
      inFlight[w] = (inFlight[w] as number) + 1;
      (workers[w] as WorkerModel).invoke(arrival.handler, (result) => {
        inFlight[w] = (inFlight[w] as number) - 1;
        out[i] = { handler: arrival.handler, sentMs: arrival.atMs, latencyMs: clock.now() - arrival.atMs, worker: w, result };
      });
    });
  });
  clock.run();
  return out;
}

/**
 * pipbench's async runner: one request every `waitMs` for `durationMs`, each
 * handler drawn uniformly from `handlers` (the list's repeats weight the draw).
 */
export function fixedRateArrivals(handlers: readonly string[], waitMs: number, durationMs: number, seed: number): Arrival[] {
  if (!(waitMs > 0)) throw new RangeError(`waitMs must be positive, got ${waitMs}`);
  if (handlers.length === 0) throw new RangeError('the handler list is empty');
  const random = seededRandom(`arrivals\u0000${seed}`);
  const out: Arrival[] = [];
  for (let at = 0; at < durationMs; at += waitMs) out.push({ atMs: at, handler: random.pick(handlers) });
  return out;
}

// Stand-ins for the proxy's policies while its balancers are rebuilt; each
// follows the rule of the olscheduler policy of the same name.

export function roundRobinRoute(workers: number): Route {
  let next = 0;
  return () => {
    const w = next;
    next = (next + 1) % workers;
    return w;
  };
}

export function randomRoute(workers: number, seed: number): Route {
  const random = seededRandom(`route\u0000${seed}`);
  return () => random.int(workers);
}

/** Fewest unanswered requests; ties to the lowest index, as olscheduler scans its list. */
export function leastLoadedRoute(): Route {
  return (_handler, inFlight) => leastLoaded(inFlight);
}

function leastLoaded(inFlight: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < inFlight.length; i++) if ((inFlight[i] as number) < (inFlight[best] as number)) best = i;
  return best;
}

/**
 * PASch: the handler's largest package picks a home worker; at `threshold`
 * unanswered requests it spills to the least-loaded worker. The home is the
 * key's murmur3 hash salted by `placementSeed`, modulo the workers: which
 * worker a key lands on is arbitrary in the real system too, so predictions are
 * reported over several placements.
 */
export function packageAwareRoute(workload: Workload, threshold: number, placementSeed: number): Route {
  return (handler, inFlight) => {
    const key = workload.registry.get(handler)?.[0] ?? handler;
    const home = murmur3(key, placementSeed) % inFlight.length;
    return (inFlight[home] as number) < threshold ? home : leastLoaded(inFlight);
  };
}
