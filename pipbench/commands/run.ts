// `pipbench run`: send a workload to a URL, record every request, print a summary.

import { createProgressBar } from '../progress.js';
import { formatRecordsCsv, formatRecordsJsonl, runWorkload, DEFAULT_DRAIN_MS } from '../runner.js';
import { formatSummary } from '../stats.js';
import { formatTextLog } from '../textlog.js';
import {
  assertOutputDirectory, loadHandlerNames, LOAD_OPTIONS, parseFlags, parseHandlerChoice, parseLoadFlags, parseNumberFlag, PROCESS_IO, reportingUsageErrors,
  UsageError, writeOutputFile, type CommandIO,
} from './support.js';

export const HELP = `usage: pipbench run --target URL (--handlers FILE | --registry FILE) [flags]

Sends POST {target}/runLambda/{handler} for a duration and records every request.

  --target URL            base URL of the proxy or worker (required)
  --handlers FILE         handler list, one name a line (repeats weight the draw)
  --registry FILE         olscheduler registry; its names are the handlers when
                          --handlers is absent, and validate them when present
  --mode sync|async       sync: closed loop, each runner waits for its answer (default)
                          async: open loop, one request every --wait ms / at --rate
  --runners N             sync only: concurrent runners (default 1)
  --wait MS               async: milliseconds between requests; sync: think time (default 0)
  --rate N                async: requests per second (instead of --wait)
  --duration SECONDS      how long to send (default 10)
  --drain SECONDS         then wait this long for outstanding answers; the rest
                          count as failures (default ${DEFAULT_DRAIN_MS / 1000})
  --choice uniform|rotate handler choice (default uniform)
  --rotation-period SECONDS  rotate: the window moves every period (default 60)
  --rotation-slice N      rotate: window size, a fraction of the list (0.2) or a
                          number of handlers (20) (default 0.2)
  --seed N                seeds the handler draw (default 1)
  --out FILE              every request as .csv or .jsonl
  --log FILE              pipbench's text log format
  --quiet                 no progress bar
  --help                  this text
`;

function outputFormat(path: string): 'csv' | 'jsonl' {
  if (path.endsWith('.csv')) return 'csv';
  if (path.endsWith('.jsonl') || path.endsWith('.ndjson')) return 'jsonl';
  throw new UsageError(`--out ${path}: the file name must end in .csv or .jsonl`);
}

function parseTarget(value: string | undefined): string {
  if (value === undefined) throw new UsageError('--target URL is required (e.g. http://127.0.0.1:9080)');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--target must be a URL like http://127.0.0.1:9080, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--target must be an http(s) URL, got "${value}"`);
  return value;
}

export function main(argv: string[], io: CommandIO = PROCESS_IO): Promise<number> {
  return reportingUsageErrors('run', io, () => runCommand(argv, io));
}

async function runCommand(argv: string[], io: CommandIO): Promise<number> {
  const values = parseFlags(argv, {
    target: { type: 'string' },
    handlers: { type: 'string' },
    registry: { type: 'string' },
    ...LOAD_OPTIONS,
    duration: { type: 'string' },
    drain: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
    log: { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout.write(HELP);
    return 0;
  }

  const target = parseTarget(values.target);
  const { mode, waitMs: intervalMs, runners } = parseLoadFlags(values, { mode: 'sync', runners: 1 });
  const durationSec = parseNumberFlag('duration', values.duration, { exclusiveMin: 0 }) ?? 10;
  const drainSec = parseNumberFlag('drain', values.drain, { min: 0 }) ?? DEFAULT_DRAIN_MS / 1000;
  const seed = parseNumberFlag('seed', values.seed, { integer: true }) ?? 1;
  const choice = parseHandlerChoice(values);
  const outFormat = values.out !== undefined ? outputFormat(values.out) : undefined;
  if (values.out !== undefined) await assertOutputDirectory('out', values.out);
  if (values.log !== undefined) await assertOutputDirectory('log', values.log);
  const handlers = await loadHandlerNames(values.handlers, values.registry);

  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once('SIGINT', onSignal);
  let answered = 0;
  let failed = 0;
  const bar = createProgressBar({ total: Math.ceil(durationSec), unit: 's', quiet: values.quiet === true });
  const startedAt = performance.now();
  let sent = 0;
  const ticker = setInterval(() => {
    const elapsedSec = (performance.now() - startedAt) / 1000;
    const draining = elapsedSec > durationSec ? `, draining ${sent - answered} outstanding` : '';
    bar.update(elapsedSec, `${answered} answered, ${failed} failed${draining}`);
  }, 250);
  let result;
  try {
    result = await runWorkload({
      target, handlers, mode, runners, intervalMs, choice, seed,
      durationMs: durationSec * 1000,
      drainMs: drainSec * 1000,
      signal: stop.signal,
      onSend: () => { sent++; },
      onRecord: (r) => {
        answered++;
        if (r.status < 200 || r.status >= 300) failed++;
      },
    });
  } finally {
    clearInterval(ticker);
    bar.stop();
    process.removeListener('SIGINT', onSignal);
  }

  if (values.out !== undefined) {
    await writeOutputFile('out', values.out, outFormat === 'csv' ? formatRecordsCsv(result.records) : formatRecordsJsonl(result.records));
  }
  if (values.log !== undefined) await writeOutputFile('log', values.log, formatTextLog(result.records));
  io.stdout.write(formatSummary(result.summary));
  if (result.unansweredAtDrain > 0) {
    io.stdout.write(`${result.unansweredAtDrain} request(s) had no answer ${drainSec} s after the end and count as failures\n`);
  }
  if (result.summary.successes === 0) {
    const firstError = result.records.find((r) => r.error !== '')?.error ?? 'no requests were sent';
    io.stderr.write(`pipbench run: no request succeeded (first error: ${firstError})\n`);
    return 1;
  }
  return 0;
}
