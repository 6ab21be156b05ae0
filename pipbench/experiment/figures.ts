// One run's figures: latency statistics over its successful requests, the
// window and steady-state means, the backlog, the cold share, and the mean per
// minute sent.

import { latencyStats, mean, percentile, sortedAscending, type RunSummary } from '../stats.js';
import type { RunData } from './result.js';

/** One run's figures; latency statistics over successful requests. */
export interface RunFigures extends Omit<RunSummary, 'elapsedSec' | 'minMs'> {
  /** Answers that arrived within the duration (as pipbench's own runner counts): their count and mean. */
  windowAnswers: number;
  windowMeanMs: number;
  windowP50Ms: number;
  windowP80Ms: number;
  windowP99Ms: number;
  /** Requests sent after the warm-up. */
  steadyMeanMs: number;
  backlogAtEnd: number;
  unansweredAtDrain: number;
  coldShare: number;
  /** Mean latency of the requests sent in each minute. */
  perMinuteMeanMs: number[];
}

export function runFigures(run: RunData, warmupMs: number): RunFigures {
  const all: number[] = [];
  const window: number[] = [];
  const steady: number[] = [];
  const minutes = Math.ceil(run.durationMs / 60_000);
  const minuteSum = new Array<number>(minutes).fill(0);
  const minuteCount = new Array<number>(minutes).fill(0);
  for (let i = 0; i < run.sentMs.length; i++) {
    if (run.ok[i] !== 1) continue;
    const sent = run.sentMs[i] as number;
    const lat = run.latencyMs[i] as number;
    all.push(lat);
    if (sent + lat <= run.durationMs) window.push(lat);
    if (sent >= warmupMs) steady.push(lat);
    const m = Math.min(minutes - 1, Math.floor(sent / 60_000));
    minuteSum[m] = (minuteSum[m] as number) + lat;
    minuteCount[m] = (minuteCount[m] as number) + 1;
  }
  const sorted = sortedAscending(all);
  const sortedWindow = sortedAscending(window);
  let cold = 0;
  let invocations = 0;
  for (const w of run.workers) { cold += w.coldInvocations; invocations += w.invocations; }
  return {
    requests: run.sentMs.length,
    successes: all.length,
    failures: run.sentMs.length - all.length,
    throughputPerSec: all.length / (run.elapsedMs / 1000),
    ...latencyStats(sorted),
    windowAnswers: window.length,
    windowMeanMs: mean(sortedWindow),
    windowP50Ms: percentile(sortedWindow, 50),
    windowP80Ms: percentile(sortedWindow, 80),
    windowP99Ms: percentile(sortedWindow, 99),
    steadyMeanMs: mean(steady),
    backlogAtEnd: run.backlogAtEnd,
    unansweredAtDrain: run.unansweredAtDrain,
    coldShare: invocations > 0 ? cold / invocations : Number.NaN,
    perMinuteMeanMs: minuteSum.map((s, m) => (minuteCount[m] as number) > 0 ? s / (minuteCount[m] as number) : Number.NaN),
  };
}
