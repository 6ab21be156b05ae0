// pipbench's text log (evaluation/run_workload.py): one line per answered
// request in completion order, then a section per handler and an aggregate.
// Numbers are printed with Python's %d, i.e. truncated to integers; we do the
// same so that tools written for the original logs read ours.
//
//   [2018-05-01T12:00:00.123Z] handler: hdl0_0 status: 200 in: 1234 ms
//   ...
//
//   Handler: 'hdl0_0'
//   	Avg latency: 1234
//   	Total requests: 7
//
//   Aggregate: 
//   	Avg latency: 1500
//   	Throughput: 42
//   	Failed requests: 0
//
// As in the original, per-handler and aggregate latency and counts cover
// successful requests only, and "Throughput" is a count, not a rate. Unlike
// the original (which counted only HTTP 500), "Failed requests" counts every
// failure, network errors included; those are logged with status 0.

import { isSuccess, type RequestRecord } from './stats.js';

export interface TextLogEntry {
  /** Completion time as written in the log. */
  readonly time: string;
  readonly handler: string;
  readonly status: number;
  /** Whole milliseconds (truncated). */
  readonly latencyMs: number;
}

export interface TextLogHandlerSection {
  /** Truncated mean over successful requests; undefined when the handler had none. */
  readonly avgLatencyMs: number | undefined;
  /** Successful requests. */
  readonly totalRequests: number;
}

export interface TextLogAggregate {
  readonly avgLatencyMs: number | undefined;
  /** Successful requests (a count, as pipbench prints it). */
  readonly throughput: number;
  readonly failedRequests: number;
}

export interface TextLog {
  readonly entries: TextLogEntry[];
  /** In order of first appearance in the entries. */
  readonly handlers: Map<string, TextLogHandlerSection>;
  readonly aggregate: TextLogAggregate;
}

export class TextLogParseError extends Error {
  constructor(readonly lineNumber: number, message: string) {
    super(`text log line ${lineNumber}: ${message}`);
    this.name = 'TextLogParseError';
  }
}

function completionOrder(records: readonly RequestRecord[]): RequestRecord[] {
  return [...records].sort((a, b) => a.startEpochMs + a.latencyMs - (b.startEpochMs + b.latencyMs));
}

/** Renders records in pipbench's text log format. */
export function formatTextLog(records: readonly RequestRecord[]): string {
  const ordered = completionOrder(records);
  const lines: string[] = [];
  for (const r of ordered) {
    const time = new Date(r.startEpochMs + r.latencyMs).toISOString();
    lines.push(`[${time}] handler: ${r.handler} status: ${r.status} in: ${Math.trunc(r.latencyMs)} ms`);
  }
  lines.push('');

  const perHandler = new Map<string, number[]>();
  for (const r of ordered) {
    const list = perHandler.get(r.handler) ?? [];
    if (isSuccess(r.status)) list.push(r.latencyMs);
    perHandler.set(r.handler, list);
  }
  for (const [handler, latencies] of perHandler) {
    lines.push(`Handler: '${handler}'`);
    if (latencies.length > 0) lines.push(`\tAvg latency: ${truncatedMean(latencies)}`);
    lines.push(`\tTotal requests: ${latencies.length}`, '');
  }

  const ok = ordered.filter((r) => isSuccess(r.status)).map((r) => r.latencyMs);
  lines.push('Aggregate: ');
  if (ok.length > 0) lines.push(`\tAvg latency: ${truncatedMean(ok)}`);
  lines.push(`\tThroughput: ${ok.length}`);
  lines.push(`\tFailed requests: ${ordered.length - ok.length}`);
  return lines.join('\n') + '\n';
}

function truncatedMean(values: readonly number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return Math.trunc(sum / values.length);
}

const ENTRY = /^\[([^\]]+)\] handler: (\S+) status: (-?\d+) in: (-?\d+) ms$/;
const HANDLER = /^Handler: '(.*)'$/;
const FIELD = /^\t(Avg latency|Total requests|Throughput|Failed requests): (-?\d+)$/;

/** Parses a log written by formatTextLog or by the original run_workload.py. */
export function parseTextLog(text: string): TextLog {
  const lines = text.split(/\r?\n/);
  const entries: TextLogEntry[] = [];
  const handlers = new Map<string, TextLogHandlerSection>();
  let aggregate: TextLogAggregate | undefined;

  let section: { kind: 'handler'; name: string; fields: Map<string, number> } | { kind: 'aggregate'; fields: Map<string, number> } | undefined;
  const closeSection = (lineNumber: number): void => {
    if (!section) return;
    const f = section.fields;
    if (section.kind === 'handler') {
      const total = f.get('Total requests');
      if (total === undefined) throw new TextLogParseError(lineNumber, `handler '${section.name}' has no "Total requests"`);
      handlers.set(section.name, { avgLatencyMs: f.get('Avg latency'), totalRequests: total });
    } else {
      const throughput = f.get('Throughput');
      const failed = f.get('Failed requests');
      if (throughput === undefined || failed === undefined) {
        throw new TextLogParseError(lineNumber, 'aggregate section needs "Throughput" and "Failed requests"');
      }
      aggregate = { avgLatencyMs: f.get('Avg latency'), throughput, failedRequests: failed };
    }
    section = undefined;
  };

  lines.forEach((raw, index) => {
    const lineNumber = index + 1;
    const line = raw.replace(/ +$/, '');
    if (line === '') { closeSection(lineNumber); return; }
    const entry = ENTRY.exec(line);
    if (entry && !section) {
      entries.push({ time: entry[1] as string, handler: entry[2] as string, status: Number(entry[3]), latencyMs: Number(entry[4]) });
      return;
    }
    const handler = HANDLER.exec(line);
    if (handler) { closeSection(lineNumber); section = { kind: 'handler', name: handler[1] as string, fields: new Map() }; return; }
    if (line === 'Aggregate:') { closeSection(lineNumber); section = { kind: 'aggregate', fields: new Map() }; return; }
    const field = FIELD.exec(raw);
    if (field && section) { section.fields.set(field[1] as string, Number(field[2])); return; }
    throw new TextLogParseError(lineNumber, `unrecognised line: ${JSON.stringify(raw.slice(0, 120))}`);
  });
  closeSection(lines.length);
  if (!aggregate) throw new TextLogParseError(lines.length, 'no "Aggregate:" section (log truncated?)');
  return { entries, handlers, aggregate };
}
