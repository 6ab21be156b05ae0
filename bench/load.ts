// One closed-loop load run with autocannon, with latencies kept exactly.

import autocannon from 'autocannon';
import { percentile } from '../pipbench/stats.js';

export interface LoadOptions {
  readonly url: string;
  readonly connections: number;
  readonly durationSec: number;
  readonly body: string;
}

export interface LoadResult {
  readonly durationSec: number;
  /** Responses of any status. */
  readonly responses: number;
  readonly requestsPerSec: number;
  /** Over 2xx responses, in milliseconds. */
  readonly latencyMeanMs: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencyMaxMs: number;
  /** Connection errors and timeouts (autocannon counts timeouts among errors). */
  readonly errors: number;
  readonly timeouts: number;
  readonly non2xx: number;
}

/** Collects response times in a growing typed array: at ~10^4 responses/s a run holds at most a few million. */
class LatencyRecorder {
  private values = new Float64Array(1 << 16);
  private count = 0;

  record(ms: number): void {
    if (this.count === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.count++] = ms;
  }

  sorted(): Float64Array {
    return this.values.slice(0, this.count).sort();
  }
}

/**
 * POSTs `body` as JSON to `url` over `connections` keep-alive connections, one
 * request outstanding on each, for `durationSec`. autocannon's own histogram
 * rounds latencies down to whole milliseconds, too coarse for a proxy hop on
 * loopback, so each 2xx response time is recorded here from its 'response' event.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const recorder = new LatencyRecorder();
  const instance = autocannon({
    url: options.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: options.body,
    connections: options.connections,
    duration: options.durationSec,
    timeout: 10,
  });
  instance.on('response', (_client, statusCode, _bytes, responseTimeMs) => {
    if (statusCode >= 200 && statusCode < 300) recorder.record(responseTimeMs);
  });
  const result = await instance;
  const sorted = recorder.sorted();
  let sum = 0;
  for (const v of sorted) sum += v;
  const responses = result.requests.total;
  return {
    durationSec: result.duration,
    responses,
    requestsPerSec: result.duration > 0 ? responses / result.duration : 0,
    latencyMeanMs: sorted.length === 0 ? Number.NaN : sum / sorted.length,
    latencyP50Ms: percentile(sorted, 50),
    latencyP99Ms: percentile(sorted, 99),
    latencyMaxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
  };
}
