// Tables and ratios for the proxy-overhead benchmark.

import { percentile } from '../pipbench/stats.js';
import type { LoadResult } from './load.js';

export type TargetKind = 'direct' | 'nginx' | 'warmroute' | 'bare' | 'raw' | 'reply-from' | 'http-proxy';

/**
 * The Node proxies in common use that warmroute is held against (the issue's
 * "1.5x the best Node proxy"). node-bare and node-raw are not among them: they
 * are this project's own minimal proxies, floors of what Node can do.
 */
export const NODE_PROXY_KINDS: readonly TargetKind[] = ['reply-from', 'http-proxy'];

export interface TargetSpec {
  /** Row name and --targets key, e.g. "nginx-rr". */
  readonly name: string;
  readonly kind: TargetKind;
  /** The proxy's policy name; "-" for direct. */
  readonly policy: string;
  /** Proxy processes (warmroute's `processes`, nginx's `worker_processes`); default 1. */
  readonly processes?: number;
}

export interface Row {
  readonly target: string;
  readonly kind: TargetKind;
  readonly policy: string;
  readonly status: 'measured' | 'skipped' | 'failed';
  /** Why a row was skipped or failed. */
  readonly note?: string;
  readonly load?: LoadResult;
  /** Peak RSS of the proxy's processes (VmHWM), MiB; absent for direct. */
  readonly peakRssMiB?: number;
  /** Proxy CPU time (user + system, all its processes) per response during the measured run, microseconds. */
  readonly cpuMicrosPerRequest?: number;
  /** The part of cpuMicrosPerRequest spent in the kernel (system time): socket reads and writes, loopback TCP. */
  readonly kernelMicrosPerRequest?: number;
}

export interface Ratios {
  readonly requestsPerSec: number | null;
  readonly p99: number | null;
}

export interface RowWithRatios extends Row {
  readonly vsNginx: Ratios;
  readonly vsDirect: Ratios;
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

function ratios(row: Row, baseline: Row | undefined): Ratios {
  if (row.load === undefined || baseline?.load === undefined) return { requestsPerSec: null, p99: null };
  const rps = row.load.requestsPerSec / baseline.load.requestsPerSec;
  const p99 = row.load.latencyP99Ms / baseline.load.latencyP99Ms;
  return { requestsPerSec: Number.isFinite(rps) ? round(rps, 3) : null, p99: Number.isFinite(p99) ? round(p99, 3) : null };
}

/** Adds each row's req/s and p99 relative to nginx round-robin and to direct, both from the same run. */
export function withRatios(rows: readonly Row[], nginxBaseline: string, directBaseline: string): RowWithRatios[] {
  const nginx = rows.find((r) => r.target === nginxBaseline && r.status === 'measured');
  const direct = rows.find((r) => r.target === directBaseline && r.status === 'measured');
  return rows.map((row) => ({ ...row, vsNginx: ratios(row, nginx), vsDirect: ratios(row, direct) }));
}

/** Each warmroute row's req/s against the best measured Node proxy of NODE_PROXY_KINDS in the same run. */
export interface NodeProxyComparison {
  /** The target name of the faster of the measured Node proxies. */
  readonly reference: string;
  readonly referenceRequestsPerSec: number;
  readonly rows: readonly { readonly target: string; readonly requestsPerSec: number; readonly ratio: number }[];
}

/** undefined when no Node proxy or no warmroute row was measured. */
export function nodeProxyComparison(rows: readonly Row[]): NodeProxyComparison | undefined {
  const measured = rows.filter((r): r is Row & { load: LoadResult } => r.status === 'measured' && r.load !== undefined);
  const best = measured.filter((r) => NODE_PROXY_KINDS.includes(r.kind)).reduce<(Row & { load: LoadResult }) | undefined>((a, r) => (a === undefined || r.load.requestsPerSec > a.load.requestsPerSec ? r : a), undefined);
  const warmroute = measured.filter((r) => r.kind === 'warmroute');
  if (best === undefined || warmroute.length === 0 || best.load.requestsPerSec <= 0) return undefined;
  return {
    reference: best.target,
    referenceRequestsPerSec: best.load.requestsPerSec,
    rows: warmroute.map((r) => ({ target: r.target, requestsPerSec: r.load.requestsPerSec, ratio: round(r.load.requestsPerSec / best.load.requestsPerSec, 3) })),
  };
}

const fixed = (n: number | undefined, digits: number): string => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits));
const ratio = (n: number | null): string => (n === null ? '-' : `${n.toFixed(2)}x`);

export const tableHeader = ['target', 'req/s', 'mean ms', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'peak RSS MiB', 'CPU µs/req', 'of which kernel', 'req/s vs nginx-rr', 'p99 vs nginx-rr', 'req/s vs direct', 'p99 vs direct'];

/** One table row's cells; skipped and failed rows carry their note instead of numbers. */
export function cells(row: RowWithRatios): string[] {
  if (row.load === undefined) return [row.target, `${row.status}: ${row.note ?? ''}`, ...tableHeader.slice(2).map(() => '')];
  const l = row.load;
  return [
    row.target,
    fixed(l.requestsPerSec, 0),
    fixed(l.latencyMeanMs, 2),
    fixed(l.latencyP50Ms, 2),
    fixed(l.latencyP99Ms, 2),
    String(l.errors),
    String(l.non2xx),
    fixed(row.peakRssMiB, 1),
    fixed(row.cpuMicrosPerRequest, 0),
    fixed(row.kernelMicrosPerRequest, 0),
    ratio(row.vsNginx.requestsPerSec),
    ratio(row.vsNginx.p99),
    ratio(row.vsDirect.requestsPerSec),
    ratio(row.vsDirect.p99),
  ];
}

export function markdownTable(rows: readonly RowWithRatios[]): string {
  const lines = [`| ${tableHeader.join(' | ')} |`, `| --- | ${tableHeader.slice(1).map(() => '---:').join(' | ')} |`];
  for (const row of rows) {
    const c = cells(row);
    // A skipped row's note spans the table in spirit; markdown has no colspan, so it sits in the second cell.
    lines.push(`| ${c.map((x) => x.replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Fixed-width text table for the terminal. */
export function textTable(rows: readonly RowWithRatios[]): string {
  const header = ['target', 'req/s', 'mean', 'p50', 'p99', 'err', 'non2xx', 'RSS MiB', 'CPU µs/req', 'kernel', 'rps/nginx', 'p99/nginx', 'rps/direct', 'p99/direct'];
  const measured = rows.filter((r) => r.load !== undefined).map((r) => cells(r));
  const widths = header.map((h, i) => Math.max(h.length, ...measured.map((c) => c[i]!.length)));
  const line = (c: readonly string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  const out = [line(header)];
  for (const row of rows) {
    out.push(row.load === undefined ? `${row.target.padEnd(widths[0]!)}  ${row.status}: ${row.note ?? ''}` : line(cells(row)));
  }
  return out.join('\n');
}

/**
 * --rounds: every target measured once per round, each time in a fresh process. A target's
 * row is its run with the median req/s (nearest rank: the lower middle for an even number of
 * rounds), so every figure of a row comes from one real run. Unmeasured rounds are left out.
 */
export function medianRows(rounds: readonly (readonly Row[])[]): Row[] {
  const first = rounds[0] ?? [];
  return first.map((row) => {
    const runs = rounds.map((r) => r.find((x) => x.target === row.target)).filter((r): r is Row => r !== undefined);
    const measured = runs.filter((r) => r.status === 'measured' && r.load !== undefined).sort((a, b) => a.load!.requestsPerSec - b.load!.requestsPerSec);
    return measured.length === 0 ? runs.find((r) => r.status === 'failed') ?? row : measured[Math.max(0, Math.ceil(measured.length / 2) - 1)]!;
  });
}

/** A ratio in each round (paired: both sides measured in the same round), with its median and range. */
export interface RoundRatio {
  readonly target: string;
  readonly perRound: readonly (number | null)[];
  readonly median: number | null;
  readonly min: number | null;
  readonly max: number | null;
}

function spread(target: string, perRound: readonly (number | null)[]): RoundRatio {
  const values = perRound.filter((v): v is number => v !== null).sort((a, b) => a - b);
  return {
    target,
    perRound,
    median: values.length === 0 ? null : percentile(values, 50),
    min: values.length === 0 ? null : values[0]!,
    max: values.length === 0 ? null : values[values.length - 1]!,
  };
}

/** Each target's req/s against nginx round-robin of its own round. */
export function roundRatiosVsNginx(rounds: readonly (readonly Row[])[], nginxBaseline: string, directBaseline: string): RoundRatio[] {
  const per = rounds.map((r) => withRatios(r, nginxBaseline, directBaseline));
  const targets = (rounds[0] ?? []).map((r) => r.target).filter((t) => t !== nginxBaseline && t !== directBaseline);
  return targets.map((t) => spread(t, per.map((rows) => rows.find((r) => r.target === t)?.vsNginx.requestsPerSec ?? null)));
}

/** Each warmroute target's req/s against the faster Node proxy of its own round. */
export function roundRatiosVsNodeProxy(rounds: readonly (readonly Row[])[]): RoundRatio[] {
  const per = rounds.map((r) => nodeProxyComparison(r));
  const targets = (rounds[0] ?? []).filter((r) => r.kind === 'warmroute').map((r) => r.target);
  return targets.map((t) => spread(t, per.map((c) => c?.rows.find((r) => r.target === t)?.ratio ?? null)));
}

/** The markdown table of one kind of round ratio. */
export function roundRatioTable(ratios: readonly RoundRatio[], rounds: number): string {
  const header = ['target', ...Array.from({ length: rounds }, (_, i) => `round ${i + 1}`), 'median', 'min', 'max'];
  const lines = [`| ${header.join(' | ')} |`, `| --- | ${header.slice(1).map(() => '---:').join(' | ')} |`];
  for (const r of ratios) lines.push(`| ${[r.target, ...r.perRound.map(ratio), ratio(r.median), ratio(r.min), ratio(r.max)].join(' | ')} |`);
  return lines.join('\n');
}
