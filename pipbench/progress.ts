// A progress bar on stderr for long runs. It draws only on a terminal: in
// pipes, CI logs and tests it stays silent so output remains clean.

import cliProgress from 'cli-progress';

export interface ProgressBar {
  /** Sets the position and the text shown after the bar. */
  update(value: number, status: string): void;
  /** Stops drawing and leaves the final line on screen. */
  stop(): void;
}

export interface ProgressOptions {
  readonly total: number;
  /** Units of `total` in the "value/total" display, e.g. "s" or "rows". */
  readonly unit: string;
  readonly quiet?: boolean;
  readonly stream?: NodeJS.WriteStream;
}

const silent: ProgressBar = { update() { /* nothing to draw */ }, stop() { /* nothing to stop */ } };

export function createProgressBar(opts: ProgressOptions): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet || !stream.isTTY) return silent;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `{bar} {value}/{total} ${opts.unit} | {status}`,
      hideCursor: true,
      clearOnComplete: false,
      barsize: 30,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(opts.total, 0, { status: '' });
  let stopped = false;
  return {
    update(value, status) {
      if (!stopped) bar.update(Math.min(opts.total, Math.round(value)), { status });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
