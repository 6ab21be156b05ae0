// Loaded into the proxy by `npm run bench:memory` (node --import this file): on SIGUSR2 it appends
// one JSON line to MEMORY_PROBE_FILE with what holds the process's memory at that moment: the
// kernel's view (/proc/self/status: resident anonymous and file-backed pages, threads), V8's heap
// by space, its code and malloc figures, and Node's external memory. Nothing is collected first,
// so a sample shows the heap as it is under load, not what a full collection would leave.

import { appendFileSync, readFileSync } from 'node:fs';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapCodeStatistics, getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';

/** One sample, all sizes in bytes. */
export interface MemorySample {
  readonly seq: number;
  readonly rss: number;
  readonly rssAnon: number;
  readonly rssFile: number;
  /** Proportional set size: shared pages (the node binary's, with processes: N) divided among the processes that map them. */
  readonly pss: number;
  readonly threads: number;
  readonly heapTotal: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** V8 spaces: committed (physical) and used bytes. */
  readonly spaces: Record<string, { physical: number; used: number }>;
  /** Memory V8 itself took with malloc (compiler zones, tables), outside the spaces. */
  readonly mallocedMemory: number;
  readonly bytecodeAndMetadata: number;
  readonly codeAndMetadata: number;
  /** Garbage collections since the probe was loaded: young-generation scavenges and the rest, count and milliseconds. */
  readonly gc: { minorCount: number; minorMs: number; majorCount: number; majorMs: number };
}

const gcTotals = { minorCount: 0, minorMs: 0, majorCount: 0, majorMs: 0 };

function statusBytes(text: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text);
  return match ? Number(match[1]) * (field === 'Threads' ? 1 : 1024) : 0;
}

function sample(seq: number): MemorySample {
  const status = readFileSync('/proc/self/status', 'utf8');
  const usage = process.memoryUsage();
  const spaces: Record<string, { physical: number; used: number }> = {};
  for (const s of getHeapSpaceStatistics()) spaces[s.space_name] = { physical: s.physical_space_size, used: s.space_used_size };
  const code = getHeapCodeStatistics();
  return {
    seq,
    rss: statusBytes(status, 'VmRSS'),
    rssAnon: statusBytes(status, 'RssAnon'),
    rssFile: statusBytes(status, 'RssFile'),
    pss: statusBytes(readFileSync('/proc/self/smaps_rollup', 'utf8'), 'Pss'),
    threads: statusBytes(status, 'Threads'),
    heapTotal: usage.heapTotal,
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    spaces,
    mallocedMemory: getHeapStatistics().malloced_memory,
    bytecodeAndMetadata: code.bytecode_and_metadata_size,
    codeAndMetadata: code.code_and_metadata_size,
    gc: { ...gcTotals },
  };
}

const file = process.env.MEMORY_PROBE_FILE;
if (file !== undefined && file !== '') {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) {
        gcTotals.minorCount++;
        gcTotals.minorMs += entry.duration;
      } else {
        gcTotals.majorCount++;
        gcTotals.majorMs += entry.duration;
      }
    }
  }).observe({ entryTypes: ['gc'] });
  let seq = 0;
  process.on('SIGUSR2', () => {
    appendFileSync(file, `${JSON.stringify(sample(seq++))}\n`);
  });
}
